"""WPO and SPO: on-policy trust-region updates by optimal transport (design note, sections 1 to 3)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import explained_variance
from torch.nn import functional as F

from sb3_wasserstein.common.costs import BOX_COSTS, box_cost, zero_one_cost
from sb3_wasserstein.common.directional import compatible_advantages, directional_advantages
from sb3_wasserstein.common.mirror import mirrored_actions, mirrored_advantages
from sb3_wasserstein.common.natural import directional_derivative, natural_gradient
from sb3_wasserstein.common.projection import (
    SPREAD_CENTRES,
    categorical_projection_loss,
    decoupled_gaussian_projection_loss,
)
from sb3_wasserstein.common.transport import (
    DualSolution,
    geometry_corrected_marginal,
    permuted_within_states,
    solve_wasserstein_dual,
    target_marginal,
    transport_cost,
    wasserstein_dual,
    wasserstein_plan,
)
from sb3_wasserstein.common.validation import check_algorithm, check_integer, check_real
from sb3_wasserstein.wpo.policies import MlpPolicy, MultiInputPolicy, WassersteinActorCriticPolicy

SelfWPO = TypeVar("SelfWPO", bound="WPO")
GAE_MODELS = {"gae_directional": directional_advantages, "gae_compatible": compatible_advantages}
"""The options whose plan reads GAE's advantage extended to every support point by a model (``common.directional``)."""
BOX_ONLY_ADVANTAGES = ("gae_mirrored", *GAE_MODELS)  # they read the action's offset from the mean
EXECUTED_ADVANTAGES = ("q_head", "gae", "gae_natural", *BOX_ONLY_ADVANTAGES)
NATURAL_CG_STEPS, NATURAL_CG_DAMPING = 15, 0.1  # sb3-contrib TRPO's defaults for the same solve


class Support(NamedTuple):
    """The finite support of the plan at each rollout state, and the old policy on it."""

    actions: th.Tensor | None  # [B, n, d] candidates for Box; None for Discrete (the whole action set)
    source: th.Tensor  # [B, n] old policy's probability of each support point
    cost: th.Tensor  # [B, n, n] or [n, n] ground cost between support points
    old_mean: th.Tensor | None  # [B, d] old Gaussian mean (Box)
    old_log_std: th.Tensor | None  # [B, d] old Gaussian log-std (Box)


class WPO(OnPolicyAlgorithm):
    """Wasserstein Policy Optimization (Song, He, Ding & Zhao, TMLR 2023).

    Each iteration: fit the critics (V on the rollout's lambda-returns, the Q head on the GAE
    advantages of the last ``q_window`` rollouts), build the transport plan of the old policy towards higher advantage on a
    finite action support, choose the multiplier ``beta`` from the dual, and project the plan's
    marginal back onto the policy network by weighted maximum likelihood.

    :param policy: the policy model (``MlpPolicy``, ``MultiInputPolicy`` or a subclass of ``WassersteinActorCriticPolicy``)
    :param env: the environment to learn from (if registered in Gym, can be str)
    :param learning_rate: Adam learning rate of all heads, a float or a schedule of ``progress_remaining``
    :param n_steps: steps per environment per rollout
    :param batch_size: minibatch size of the critic fit and of the projection
    :param n_epochs: passes over the rollout for the critic fit, and again for the projection
    :param gamma: discount factor
    :param gae_lambda: GAE lambda of the advantages and lambda-returns
    :param delta: trust-region radius, in units of the ground cost (e.g. probability mass moved for the 0/1 cost);
        a float, or a callable of ``progress_remaining`` (1 to 0) giving a schedule, as PPO's ``clip_range``
    :param beta: the multiplier: ``"auto"`` solves the dual on each rollout for ``delta``; a float
        ``>= 0`` fixes it; a callable of ``progress_remaining`` (1 to 0) gives a schedule. It multiplies
        the cost against advantages scaled to unit standard deviation on the rollout.
    :param n_candidates: ``M``, actions drawn from the old policy per state for Box spaces (plus the executed one)
    :param cost: the ground cost. Discrete: ``None`` for 0/1, or an ``[n, n]`` matrix, non-negative with a zero
        diagonal. Box: ``"squared_euclidean"`` (W2, default), ``"euclidean"`` (W1) or ``"mahalanobis"``
        (squared distance in units of the old policy's standard deviation).
    :param q_window: number of recent rollouts the Q head is fitted on
    :param executed_advantage: the advantage of the executed action on the support: ``"q_head"``
        (the Q head's, as at every other support point; the design note), ``"gae"`` (the rollout's GAE
        advantage, the estimate the Q head is regressed on), ``"gae_mirrored"`` (Box only, ``n_candidates >= 2``):
        as ``"gae"``, and the first candidate is the executed action's mirror image through the old mean,
        ``2 mu - a``, with the first-order advantage ``2 b - A_gae``, ``b`` the Q head's mean over the other
        candidates (``common.mirror``), ``"gae_directional"`` (Box only): every support point's advantage is
        GAE's at the executed action carried along its direction from the old mean, ``A_gae <z_x, z> / |z|^2`` in
        units of the old std, and the Q head is not used by the plan (``common.directional``), or
        ``"gae_compatible"`` (Box only): as ``"gae_directional"`` with the Gaussian's whitened score
        ``phi(z) = (z, (z^2 - 1) / sqrt(2))`` in place of ``z``, so that the spread is moved too, or
        ``"gae_natural"``: every support point's advantage is the compatible model ``w . grad log pi_k(x|s)``, ``w``
        GAE's least-squares fit over the rollout (the natural gradient, ``common.natural``), and the Q head is not
        used by the plan. Outside the design note; ``docs/wpo.md`` gives what they did
    :param max_grad_norm: gradient clipping norm
    :param target_kl: as PPO's: stop the projection's passes early once a minibatch's
        ``KL(pi_k || pi_theta)`` exceeds ``1.5 * target_kl`` (None: no limit). Outside the design
        note: a limit on each iteration's policy change next to the dual's limit on the mean
        transport cost (``docs/wpo.md`` gives what it did on CartPole-v1)
    :param debias_spread: Box only: fit the spread to the plan's marginal less the marginal the same plan gives
        advantages shuffled within each state (``common.transport.geometry_corrected_marginal``), which moves
        mass towards the middle of the support whatever the advantages say. Outside the design note
        (``docs/wpo.md`` gives what it did); the mean is fitted to the plan's marginal either way
    :param spread_centre: Box only: where the spread's deviations are measured from: ``"old_mean"`` (the old
        policy's mean; the design note) or ``"plan_mean"`` (the spread weights' own mean, with the reliability-weights
        correction ``1 / (1 - sum_j w_j^2)``), so that the mean's shift is not counted as spread
        (``common.projection.decoupled_gaussian_projection_loss``). Outside the design note; ``docs/wpo.md`` gives
        what it did
    :param stats_window_size: episodes averaged in the rollout logs
    :param tensorboard_log: tensorboard log folder (None: no tensorboard)
    :param policy_kwargs: keyword arguments of the policy
    :param verbose: 0 none, 1 training info, 2 debug
    :param seed: seed of the random generators
    :param device: ``cpu``, ``cuda`` or ``auto``
    :param _init_setup_model: whether to build the networks on creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": MlpPolicy, "MultiInputPolicy": MultiInputPolicy}
    policy: WassersteinActorCriticPolicy
    algorithm_name: ClassVar[str] = "WPO"

    def __init__(
        self,
        policy: str | type[WassersteinActorCriticPolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        delta: float | Callable[[float], float] = 0.1,
        beta: str | float | Callable[[float], float] = "auto",
        n_candidates: int = 4,
        cost: str | np.ndarray | None = None,
        q_window: int = 4,
        executed_advantage: str = "q_head",
        max_grad_norm: float = 0.5,
        target_kl: float | None = None,
        debias_spread: bool = False,
        spread_centre: str = "old_mean",
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            gae_lambda=gae_lambda,
            ent_coef=0.0,
            vf_coef=1.0,
            max_grad_norm=max_grad_norm,
            use_sde=False,
            sde_sample_freq=-1,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            device=device,
            seed=seed,
            _init_setup_model=False,
            supported_action_spaces=(spaces.Discrete, spaces.Box),
        )
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.delta = delta
        self.beta = beta
        self.n_candidates = n_candidates
        self.cost = cost
        self.q_window = q_window
        self.executed_advantage = executed_advantage
        self.target_kl = target_kl
        self.debias_spread = debias_spread
        self.spread_centre = spread_centre
        self._saved_by = self.algorithm_name  # saved with the model: load() restores the file's before _setup_model
        if _init_setup_model:
            self._setup_model()

    def _check_hyperparameters(self) -> None:
        """Raise a ``ValueError`` naming the first hyperparameter out of its range, its value and what is allowed.

        Run by ``_setup_model``: on a new model, and on a loaded one after SB3's ``load`` has set its keyword
        overrides (rl-zoo3's ``-i`` passes the yml's values that way).
        """
        if not callable(self.learning_rate):
            check_real("learning_rate", self.learning_rate, 0.0, low_inclusive=True)  # 0: rl-zoo3's enjoy loads so
        check_integer("n_steps", self.n_steps, 1)
        check_integer("batch_size", self.batch_size, 2)
        check_integer("n_epochs", self.n_epochs, 1)
        check_real("gamma", self.gamma, 0.0, 1.0, low_inclusive=True)
        check_real("gae_lambda", self.gae_lambda, 0.0, 1.0, low_inclusive=True)
        delta, beta = self.delta, self.beta
        check_real("delta", delta(1.0) if callable(delta) else delta, 0.0)  # a schedule: its value at the start
        if isinstance(beta, str) and beta != "auto":
            raise ValueError(f"`beta` must be 'auto', a number >= 0 or a callable of progress_remaining, got {beta!r}.")
        if beta != "auto":
            check_real("beta", beta(1.0) if callable(beta) else beta, 0.0, low_inclusive=True)  # a schedule: at the start
        check_integer("n_candidates", self.n_candidates, 1)
        check_integer("q_window", self.q_window, 1)
        if self.executed_advantage not in EXECUTED_ADVANTAGES:
            raise ValueError(f"`executed_advantage` must be one of {EXECUTED_ADVANTAGES}, got {self.executed_advantage!r}.")
        if self.executed_advantage == "gae_mirrored" and self.n_candidates < 2:
            raise ValueError(f"`executed_advantage='gae_mirrored'` needs `n_candidates` >= 2 (the mirror and a baseline's "
                             f"candidates), got {self.n_candidates}.")
        if self.executed_advantage in BOX_ONLY_ADVANTAGES and not isinstance(self.action_space, spaces.Box):
            raise ValueError(f"`executed_advantage={self.executed_advantage!r}` needs a Box action space, "
                             f"got {self.action_space}.")
        check_real("max_grad_norm", self.max_grad_norm, 0.0)
        if self.target_kl is not None:
            check_real("target_kl", self.target_kl, 0.0)
        if not isinstance(self.debias_spread, bool):
            raise ValueError(f"`debias_spread` must be True or False, got {self.debias_spread!r}.")
        if self.debias_spread and not isinstance(self.action_space, spaces.Box):
            raise ValueError(f"`debias_spread=True` needs a Box action space (a Gaussian's spread), got {self.action_space}.")
        if self.spread_centre not in SPREAD_CENTRES:
            raise ValueError(f"`spread_centre` must be one of {SPREAD_CENTRES}, got {self.spread_centre!r}.")
        if self.spread_centre != "old_mean" and not isinstance(self.action_space, spaces.Box):
            raise ValueError(f"`spread_centre={self.spread_centre!r}` needs a Box action space (a Gaussian's spread), "
                             f"got {self.action_space}.")
        if self.env is not None and self.n_steps * self.n_envs < self.batch_size:
            raise ValueError(
                f"`n_steps * n_envs` ({self.n_steps} * {self.n_envs}) must be at least `batch_size` ({self.batch_size})."
            )

    def _checked_cost(self) -> th.Tensor | str:
        """The ground cost for this action space, checked: a ``[n, n]`` tensor (Discrete) or a Box cost name."""
        if isinstance(self.action_space, spaces.Discrete):
            n_actions = int(self.action_space.n)
            if self.cost is None:
                return zero_one_cost(n_actions).to(self.device)
            if isinstance(self.cost, str):
                raise ValueError(f"`cost` for a Discrete action space must be None or an [n, n] matrix, got {self.cost!r}.")
            matrix = th.as_tensor(np.asarray(self.cost, dtype=np.float32))
            if matrix.shape != (n_actions, n_actions):
                raise ValueError(f"`cost` must have shape ({n_actions}, {n_actions}) for {self.action_space}, "
                                 f"got {tuple(matrix.shape)}.")
            if not th.isfinite(matrix).all() or (matrix < 0).any() or (th.diagonal(matrix) != 0).any():
                raise ValueError(f"`cost` must be finite and non-negative with a zero diagonal, got {self.cost!r}.")
            return matrix.to(self.device)
        if len(self.action_space.shape) != 1:
            raise ValueError(f"Box action spaces must be one-dimensional, got shape {self.action_space.shape}.")
        cost = "squared_euclidean" if self.cost is None else self.cost
        if not isinstance(cost, str) or cost not in BOX_COSTS:
            raise ValueError(f"`cost` for a Box action space must be one of {BOX_COSTS}, got {cost!r}.")
        return cost

    def _setup_model(self) -> None:
        check_algorithm(self.algorithm_name, self._saved_by, self.policy_class, self.policy_aliases)
        self._check_hyperparameters()
        self._ground_cost = self._checked_cost()
        super()._setup_model()
        self._q_samples: deque = deque(maxlen=self.q_window)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_ground_cost", "_q_samples"]

    # -- the update, in the order of the design note: critic, plan, dual, projection ---------------------

    def train(self) -> None:
        """One WPO/SPO iteration on the last rollout."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        rollout = next(self.rollout_buffer.get(batch_size=None))
        self._q_samples.append((rollout.observations, rollout.actions, rollout.advantages))

        with th.no_grad():
            support, old_distribution = self._support(rollout.observations, rollout.actions)
            q_correlation = self._q_advantage_correlation(rollout, support)
        value_loss, q_loss = self._fit_critics(rollout)
        radius = self._radius()
        self.logger.record("train/delta", radius)
        if radius == 0.0:  # a schedule at its end: the trust region admits no move, so the policy stays as it is
            return

        with th.no_grad():
            advantages = self._support_advantages(rollout, support)
            solution = self._solve(advantages, support, radius)
            target = target_marginal(solution.plan, support.source.double())
            spread_target = self._spread_target(advantages, support, solution.beta, target)

        policy_loss, projection_epochs = self._project(rollout.observations, support, target.float(), spread_target)

        with th.no_grad():
            new_distribution = self.policy.get_distribution(rollout.observations)
            approx_kl = _per_state_kl(old_distribution, new_distribution.distribution)
            entropy = new_distribution.entropy().mean().item()
            values = self.policy.predict_values(rollout.observations).flatten()

        self._n_updates += 1
        self.logger.record("train/beta", solution.beta)
        self.logger.record("train/transport_cost", solution.transport_cost)
        self.logger.record("train/dual_objective", solution.dual_objective)
        self.logger.record("train/q_loss", q_loss)
        self.logger.record("train/value_loss", value_loss)
        self.logger.record("train/policy_loss", policy_loss)
        self.logger.record("train/projection_epochs", projection_epochs)
        self.logger.record("train/entropy", entropy)
        self.logger.record("train/approx_kl", approx_kl.mean().item())
        self.logger.record("train/q_advantage_correlation", q_correlation)
        self.logger.record("train/explained_variance", explained_variance(values.cpu().numpy(), rollout.returns.cpu().numpy()))
        if support.old_log_std is not None:
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")

    def _support(self, observations, executed: th.Tensor) -> tuple[Support, th.distributions.Distribution]:
        """The support of each state's plan, and the old policy's distribution on the rollout.

        Discrete: the whole action set, weighted by ``pi_k(a|s)``. Box: the executed action and
        ``n_candidates`` draws from ``pi_k(.|s)``, uniformly weighted (all are samples of ``pi_k``); with
        ``executed_advantage="gae_mirrored"`` the first draw is the executed action's mirror ``2 mu - a``.
        """
        # SB3 policies reuse one distribution object: keep the torch distribution it wraps.
        old = self.policy.get_distribution(observations).distribution
        if isinstance(self.action_space, spaces.Discrete):
            return Support(None, old.probs, self._ground_cost, None, None), old
        candidates = old.sample((self.n_candidates,)).transpose(0, 1)
        if self.executed_advantage == "gae_mirrored":
            candidates[:, 0] = mirrored_actions(executed, old.mean)
        actions = th.cat([executed.unsqueeze(1), candidates], dim=1)
        n_support = actions.shape[1]
        source = th.full(actions.shape[:2], 1.0 / n_support, device=actions.device)
        scale = old.stddev
        cost = box_cost(actions, self._ground_cost, scale=scale)
        return Support(actions, source, cost, old.mean, th.log(scale)), old

    def _support_advantages(self, rollout, support: Support) -> th.Tensor:
        """``A_k`` on the support, centred per state and scaled to unit std on the batch.

        From the Q head at every support point; with ``executed_advantage="gae"`` the executed action's
        is the rollout's GAE advantage instead, and with ``"gae_mirrored"`` also the mirror's (the support's
        second point) is ``2 b - A_gae``, ``b`` the Q head's mean over the remaining candidates; with
        ``"gae_directional"`` and ``"gae_compatible"`` every point's is GAE's extended by a model linear in features of
        the whitened action (``GAE_MODELS``); with ``"gae_natural"`` every point's is GAE's compatible model fitted over
        the rollout (``_natural_advantages``). A per-state constant changes neither plan; the scaling makes ``beta``
        and ``lam`` unit-free.
        """
        if self.executed_advantage == "gae_natural":
            q_values = self._natural_advantages(rollout, support)
        elif self.executed_advantage in GAE_MODELS:
            q_values = GAE_MODELS[self.executed_advantage](rollout.advantages, support.actions[:, 0], support.actions,
                                                           support.old_mean, support.old_log_std.exp())
        else:
            q_values = self.policy.q_values(rollout.observations, support.actions)
        if self.executed_advantage in ("gae", "gae_mirrored"):
            q_values = q_values.scatter(1, self._executed_index(rollout, support), rollout.advantages.view(-1, 1))
        if self.executed_advantage == "gae_mirrored":
            q_values[:, 1] = mirrored_advantages(rollout.advantages, q_values[:, 2:].mean(1))
        centred = q_values - q_values.mean(dim=1, keepdim=True)
        return (centred / (centred.std() + 1e-8)).double()

    def _natural_advantages(self, rollout, support: Support) -> th.Tensor:
        """``w . grad log pi_k(x|s)`` at every support point ``x``, ``[B, n]``: the compatible model of GAE's
        advantages, ``w = (F + damping I)^-1 g`` solved as TRPO solves it (``common.natural``)."""
        with th.enable_grad():
            new = self.policy.get_distribution(rollout.observations).distribution
            if support.actions is None:
                executed_log_prob = new.log_prob(rollout.actions.long().flatten())
                support_log_prob = new.logits
            else:
                executed_log_prob = new.log_prob(rollout.actions).sum(-1)
                support_log_prob = new.log_prob(support.actions.transpose(0, 1)).sum(-1).transpose(0, 1)
            params = self._actor_parameters(executed_log_prob)
            kl = _per_state_kl(self._old_distribution(support), new).mean()
            direction = natural_gradient(executed_log_prob, rollout.advantages, kl, params, NATURAL_CG_STEPS,
                                         NATURAL_CG_DAMPING)
            return directional_derivative(support_log_prob, params, direction).detach()

    def _actor_parameters(self, log_prob: th.Tensor) -> list[th.Tensor]:
        """The policy's parameters that ``log_prob`` depends on (the actor's, and a shared extractor's)."""
        candidates = [param for param in self.policy.parameters() if param.requires_grad]
        gradients = th.autograd.grad(log_prob.sum(), candidates, retain_graph=True, allow_unused=True)
        return [param for param, gradient in zip(candidates, gradients, strict=True) if gradient is not None]

    @staticmethod
    def _executed_index(rollout, support: Support) -> th.Tensor:
        """``[B, 1]``: where the executed action sits on each state's support (Box: first; Discrete: its index)."""
        if support.actions is None:
            return rollout.actions.long().view(-1, 1)
        return th.zeros((len(rollout.advantages), 1), dtype=th.long, device=rollout.advantages.device)

    def _q_advantage_correlation(self, rollout, support: Support) -> float:
        """Health of the Q head: correlation of its advantage at the executed actions with GAE's.

        Measured before the Q head sees this rollout, so it is a held-out figure.
        """
        q_values = self.policy.q_values(rollout.observations, support.actions)
        executed = q_values.gather(1, self._executed_index(rollout, support)).squeeze(1)
        q_advantages = executed - (support.source * q_values).sum(1)
        stacked = th.stack([q_advantages, rollout.advantages])
        return th.corrcoef(stacked)[0, 1].item()

    def _fit_critics(self, rollout) -> tuple[float, float]:
        """Regress V on this rollout's lambda-returns, and the Q head on the GAE advantages of the
        executed pairs of the last ``q_window`` rollouts (Q up to the per-state constant V).

        Measured with ``tests/test_learning.py`` (seed 0): with the head fitted to returns, WPO on
        CartPole-v1 peaked at 156 in 100k steps; fitted to advantages it reached 500 within 10k.
        """
        window = self._concatenated_window()
        value_losses, q_losses = [], []
        for _ in range(self.n_epochs):
            for indices in self._minibatches(len(rollout.returns)):
                value_loss, q_loss = self._critic_losses(rollout, window, indices)
                self._step(value_loss + q_loss)
                value_losses.append(value_loss.item())
                q_losses.append(q_loss.item())
        return float(np.mean(value_losses)), float(np.mean(q_losses))

    def _critic_losses(self, rollout, window, indices: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """Squared errors of V on rollout rows ``indices`` and of the Q head on as many random window rows."""
        window_obs, window_actions, window_advantages = window
        window_indices = th.randint(len(window_advantages), (len(indices),), device=self.device)
        values = self.policy.predict_values(_index(rollout.observations, indices)).flatten()
        value_loss = F.mse_loss(values, rollout.returns[indices])
        q_values = self.policy.q_value(_index(window_obs, window_indices), window_actions[window_indices])
        q_loss = F.mse_loss(q_values, window_advantages[window_indices])
        return value_loss, q_loss

    def _solve(self, advantages: th.Tensor, support: Support, radius: float) -> DualSolution:
        """The plan at ``beta``: the dual's solution at ``radius`` for ``beta="auto"``, else the fixed or scheduled
        value."""
        cost = support.cost.double()
        source = support.source.double()
        if self.beta == "auto":
            return self._solve_dual(advantages, cost, source, radius)
        beta = self._scheduled("beta", self.beta) if callable(self.beta) else float(self.beta)
        plan = self._plan(advantages, cost, beta)
        objective = self._dual(beta, advantages, cost, source, radius).item()
        return DualSolution(beta, plan, transport_cost(plan, cost, source).mean().item(), objective)

    # WPO's plan and dual (section 1); SPO overrides these three with its kernel (section 2).
    def _plan(self, advantages: th.Tensor, cost: th.Tensor, beta: float) -> th.Tensor:
        return wasserstein_plan(advantages, cost, beta)

    def _dual(self, beta: float, advantages: th.Tensor, cost: th.Tensor, source: th.Tensor, radius: float) -> th.Tensor:
        return wasserstein_dual(beta, advantages, cost, source, radius)

    def _solve_dual(self, advantages: th.Tensor, cost: th.Tensor, source: th.Tensor, radius: float) -> DualSolution:
        return solve_wasserstein_dual(advantages, cost, source, radius)

    def _spread_target(self, advantages: th.Tensor, support: Support, beta: float, target: th.Tensor) -> th.Tensor:
        """The weights the spread is fitted to: the plan's marginal, or with ``debias_spread`` its geometry-corrected
        version (the same plan at ``beta`` for advantages shuffled within each state gives the part to remove)."""
        if not self.debias_spread:
            return target.float()
        source = support.source.double()
        null_plan = self._plan(permuted_within_states(advantages), support.cost.double(), beta)
        return geometry_corrected_marginal(target, target_marginal(null_plan, source), source).float()

    def _radius(self) -> float:
        """``delta`` now: the float, or the schedule's value."""
        return self._scheduled("delta", self.delta) if callable(self.delta) else self.delta

    def _scheduled(self, name: str, schedule: Callable[[float], float]) -> float:
        """A schedule's value at the current ``progress_remaining``, checked finite and floored at 0 (SB3 updates the
        progress after each rollout, so the last one of ``learn`` sees a progress <= 0)."""
        return max(check_real(name, float(schedule(self._current_progress_remaining)), -math.inf), 0.0)

    def _project(self, observations, support: Support, target: th.Tensor, spread_target: th.Tensor) -> tuple[float, int]:
        """Fit ``pi_theta`` to the plan's marginal by weighted maximum likelihood (a Gaussian's spread to
        ``spread_target``), ``n_epochs`` passes, or fewer when ``target_kl`` stops them; returns the mean loss and
        the passes begun."""
        losses = []
        for epoch in range(self.n_epochs):
            for indices in self._minibatches(len(target)):
                distribution = self.policy.get_distribution(_index(observations, indices)).distribution
                if self.target_kl is not None and self._kl_from_old(support, indices, distribution) > 1.5 * self.target_kl:
                    return float(np.mean(losses)) if losses else 0.0, epoch + 1
                if support.actions is None:
                    loss = categorical_projection_loss(distribution.logits, target[indices])
                else:
                    mean_loss, spread_loss = decoupled_gaussian_projection_loss(
                        distribution.mean,
                        self.policy.log_std.expand_as(distribution.mean),
                        support.old_mean[indices],
                        support.old_log_std[indices],
                        support.actions[indices],
                        target[indices],
                        spread_target[indices],
                        self.spread_centre,
                    )
                    loss = mean_loss + spread_loss
                self._step(loss)
                losses.append(loss.item())
        return float(np.mean(losses)), self.n_epochs

    @staticmethod
    def _old_distribution(support: Support, indices: th.Tensor | slice = slice(None)) -> th.distributions.Distribution:
        """``pi_k`` on the states ``indices`` (all by default), as the support recorded it."""
        if support.actions is None:
            return th.distributions.Categorical(probs=support.source[indices])
        return th.distributions.Normal(support.old_mean[indices], th.exp(support.old_log_std[indices]))

    @classmethod
    def _kl_from_old(cls, support: Support, indices: th.Tensor, new: th.distributions.Distribution) -> float:
        """Mean ``KL(pi_k || pi_theta)`` over the states ``indices``, as PPO's early stop reads it."""
        with th.no_grad():
            return _per_state_kl(cls._old_distribution(support, indices), new).mean().item()

    # -- plumbing -------------------------------------------------------------------------------------

    def _minibatches(self, n_samples: int):
        permutation = th.randperm(n_samples, device=self.device)
        for start in range(0, n_samples, self.batch_size):
            yield permutation[start : start + self.batch_size]

    def _step(self, loss: th.Tensor) -> None:
        optimizer = self.policy.optimizer
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # The optimizer's list of the policy's parameters: walking the module tree for them at every step took 40% of
        # the clip's time (docs/benchmarks.md, throughput after f6d8977).
        th.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], self.max_grad_norm)
        optimizer.step()

    def _concatenated_window(self):
        observations, actions, advantages = zip(*self._q_samples)
        if isinstance(observations[0], dict):
            stacked_obs = {key: th.cat([obs[key] for obs in observations]) for key in observations[0]}
        else:
            stacked_obs = th.cat(observations)
        return stacked_obs, th.cat(actions), th.cat(advantages)

    def learn(
        self: SelfWPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "WPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfWPO:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )


def _per_state_kl(old: th.distributions.Distribution, new: th.distributions.Distribution) -> th.Tensor:
    """``KL(old || new)`` per state, summed over the action dimensions of a diagonal Gaussian."""
    kl = th.distributions.kl_divergence(old, new)
    return kl.sum(-1) if kl.dim() > 1 else kl


def _index(observations, indices: th.Tensor):
    """Rows ``indices`` of a tensor or of every tensor of a Dict observation."""
    if isinstance(observations, dict):
        return {key: value[indices] for key, value in observations.items()}
    return observations[indices]
