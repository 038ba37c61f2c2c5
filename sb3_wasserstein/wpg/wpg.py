"""WPG: off-policy Wasserstein policy gradient for entropy-regularised RL (design note, section 4)."""

from __future__ import annotations

import math
import warnings
from numbers import Integral
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy, ContinuousCritic
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import get_parameters_by_name, polyak_update
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN
from torch.nn import functional as F

from sb3_wasserstein.common.langevin import langevin_step, squashed_drift
from sb3_wasserstein.common.projection import (
    baselined_negative_log_likelihood,
    gaussian_negative_log_likelihood,
    parametric_wasserstein_surrogate,
    squashed_gaussian_log_prob,
)
from sb3_wasserstein.common.validation import check_algorithm, check_integer, check_real
from sb3_wasserstein.wpg.critic_gradient import has_native_bfloat16, is_relu_mlp, min_q_and_action_gradient
from sb3_wasserstein.wpg.policies import MlpPolicy, MultiInputPolicy, WPGActor, WPGPolicy

SelfWPG = TypeVar("SelfWPG", bound="WPG")

ACTOR_UPDATES = ("langevin", "parametric")
"""``langevin``: move particles by Langevin steps, then fit the policy to them by maximum likelihood;
``parametric``: the small-step limit, the natural parametric Wasserstein gradient (Pfau et al., 2025)."""

DRIFT_CRITICS = ("min", "first")
"""The soft Q whose action gradient drives the particles: ``min``, the twin critics' minimum (as SAC's
actor); ``first``, the first critic alone (as TD3's actor), half the critic passes of the drift."""

DRIFT_PRECISIONS = ("float32", "bfloat16", "auto")
"""The precision of the drift's hidden-layer products (the critics at ``n_particles x batch`` actions): ``float32``,
that of the networks; ``bfloat16``, several times faster on hardware with native bfloat16, most gradients within 1%;
``auto``, bfloat16 where the device has native bfloat16 products and the critics are ReLU networks, else float32 (as
SB3's ``device="auto"`` picks CUDA where there is one)."""


class WPG(OffPolicyAlgorithm):
    """Wasserstein policy gradient (WPG) with the Langevin actor update.

    SAC's critic (twin soft Q networks, Polyak-averaged targets, the soft Bellman target) with a
    different actor update: per state, draw ``n_particles`` pre-squash actions ``u`` from the policy,
    move them by ``langevin_steps`` unadjusted Langevin steps ``u <- u + eta drift(u) + sqrt(2 eta tau) xi``
    towards the Gibbs policy ``∝ exp(Q(s, tanh u) / tau) prod(1 - tanh(u)^2)``, then project the
    policy onto the moved particles by ``projection_steps`` gradient steps of their negative
    log-likelihood. ``tau`` is the entropy coefficient (``ent_coef``).

    :param policy: The policy model to use (``"MlpPolicy"``, ``"MultiInputPolicy"``, or a class)
    :param env: The environment to learn from (if registered in Gym, can be str); ``Box`` actions only
    :param learning_rate: learning rate of Adam for the actor, the critics and the entropy coefficient
        (a float or a schedule of the remaining progress, from 1 to 0)
    :param buffer_size: size of the replay buffer, in transitions
    :param learning_starts: how many steps to collect transitions for before learning starts
    :param batch_size: minibatch size, in states, of each gradient step
    :param tau: the soft update coefficient of the target critics ("Polyak update"), in (0, 1]
    :param gamma: the discount factor, in [0, 1]
    :param train_freq: update the model every ``train_freq`` steps, or a tuple like ``(5, "step")``
    :param gradient_steps: gradient steps after each rollout; -1: as many as environment steps
    :param action_noise: the action noise type (None by default)
    :param replay_buffer_class: replay buffer class to use (None: selected automatically)
    :param replay_buffer_kwargs: keyword arguments for the replay buffer on creation
    :param optimize_memory_usage: memory-efficient variant of the replay buffer
    :param n_steps: n-step returns for the critic (SB3's ``NStepReplayBuffer``) when > 1
    :param ent_coef: the temperature ``tau`` of the entropy regularisation (in reward units): a float
        > 0, or ``"auto"`` to learn it towards ``target_entropy`` (``"auto_0.1"``: start at 0.1)
    :param target_update_interval: update the target critics every this many gradient steps
    :param target_entropy: target entropy (nats) when learning ``ent_coef``; ``"auto"``: ``-dim(A)``
    :param actor_update: ``"langevin"`` (particles moved by Langevin steps, then projected) or
        ``"parametric"`` (the small-step limit: the natural parametric Wasserstein gradient)
    :param n_particles: particles drawn from the policy per state for the actor update
    :param langevin_steps: Langevin steps per actor update (``"langevin"`` mode)
    :param langevin_step_size: the Langevin step size ``eta``, in pre-squash action units squared per
        unit of Q (the step moves ``u`` by ``eta grad_u Q`` plus noise of variance ``2 eta tau``)
    :param projection_steps: gradient steps of the negative log-likelihood of the moved particles
        per actor update (``"langevin"`` mode)
    :param projection_baseline: subtract the negative log-likelihood of the particles before they moved
        (``"langevin"`` mode): the same expected gradient, without the noise of the particles' draw
    :param drift_critic: the soft Q of the drift: ``"min"`` (the twin critics' minimum, as SAC's actor)
        or ``"first"`` (the first critic alone, as TD3's actor: half the drift's critic passes)
    :param drift_precision: the precision of the drift's hidden-layer products: ``"float32"``, ``"bfloat16"``
        (most gradients within 1% of float32's; several times faster on CPUs with AVX512-BF16 or AMX and on
        recent GPUs, slower elsewhere, where WPG warns; needs ReLU critics, SB3's default) or ``"auto"``
        (bfloat16 where it is native and the critics are ReLU networks, else float32)
    :param stats_window_size: window size for the rollout logging, in episodes
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments for the policy on creation (as SAC's, without gSDE)
    :param verbose: verbosity level: 0 none, 1 info, 2 debug
    :param seed: seed for the pseudo random generators
    :param device: device (cpu, cuda, ...) on which the code should be run
    :param _init_setup_model: whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: WPGPolicy
    algorithm_name: ClassVar[str] = "WPG"
    actor: WPGActor
    critic: ContinuousCritic
    critic_target: ContinuousCritic

    def __init__(
        self,
        policy: str | type[WPGPolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule = 3e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        target_update_interval: int = 1,
        target_entropy: str | float = "auto",
        actor_update: str = "langevin",
        n_particles: int = 4,
        langevin_steps: int = 1,
        langevin_step_size: float = 0.05,
        projection_steps: int = 1,
        projection_baseline: bool = False,
        drift_critic: str = "min",
        drift_precision: str = "float32",
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        if policy_kwargs is not None and policy_kwargs.get("use_sde", False):
            raise ValueError("WPG does not support gSDE: policy_kwargs['use_sde'] must be False.")
        if env is not None:
            env = maybe_make_env(env, verbose)
            if not isinstance(env.action_space, spaces.Box):
                raise ValueError(
                    f"WPG supports Box action spaces only (its actor is a tanh-squashed Gaussian); got {env.action_space}."
                )
        super().__init__(
            policy,
            env,  # type: ignore[arg-type]
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            use_sde=False,
            supported_action_spaces=(spaces.Box,),
            support_multi_env=True,
        )

        self.target_entropy = target_entropy
        self.log_ent_coef: th.Tensor | None = None
        self.ent_coef = ent_coef
        self.target_update_interval = target_update_interval
        self.ent_coef_optimizer: th.optim.Adam | None = None
        self.actor_update = actor_update
        self.n_particles = n_particles
        self.langevin_steps = langevin_steps
        self.langevin_step_size = langevin_step_size
        self.projection_steps = projection_steps
        self.projection_baseline = projection_baseline
        self.drift_critic = drift_critic
        self.drift_precision = drift_precision
        self._saved_by = self.algorithm_name  # saved with the model: load() restores the file's before _setup_model

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        # Here, not in __init__, so that a loaded model's values (SB3's load() sets its keyword overrides; rl-zoo3's -i
        # passes the yml's that way) are checked too.
        check_algorithm(self.algorithm_name, self._saved_by, self.policy_class, self.policy_aliases)
        validate_hyperparameters(**{name: getattr(self, name) for name in CHECKED_HYPERPARAMETERS})
        super()._setup_model()
        self._create_aliases()
        drift_dtype = self._drift_dtype()  # raises here, before training, for bfloat16 with critics it cannot take
        if self.drift_precision == "auto" and self.verbose >= 1:
            print(f"Drift in {'bfloat16' if drift_dtype == th.bfloat16 else 'float32'} (drift_precision='auto')")
        if self.drift_precision == "bfloat16" and has_native_bfloat16(self.device) is False:
            warnings.warn(
                f"drift_precision='bfloat16' on a device without native bfloat16 products ({self.device}; a CPU needs "
                "AVX512-BF16 or AMX): there the drift runs several times slower than with drift_precision='float32'.",
                stacklevel=3,  # the line that built or loaded the model
            )
        self.batch_norm_stats = get_parameters_by_name(self.critic, ["running_"])
        self.batch_norm_stats_target = get_parameters_by_name(self.critic_target, ["running_"])
        if self.target_entropy == "auto":
            self.target_entropy = float(-np.prod(self.action_space.shape).astype(np.float32))  # type: ignore[attr-defined]
        else:
            self.target_entropy = float(self.target_entropy)

        # The temperature, fixed or learnt as SAC does (https://arxiv.org/abs/1812.05905), in log-space.
        if isinstance(self.ent_coef, str) and self.ent_coef.startswith("auto"):
            init_value = float(self.ent_coef.split("_")[1]) if "_" in self.ent_coef else 1.0
            self.log_ent_coef = th.log(th.ones(1, device=self.device) * init_value).requires_grad_(True)
            self.ent_coef_optimizer = th.optim.Adam([self.log_ent_coef], lr=self.lr_schedule(1))
        else:
            self.ent_coef_tensor = th.tensor(float(self.ent_coef), device=self.device)

    def _create_aliases(self) -> None:
        self.actor = self.policy.actor
        self.critic = self.policy.critic
        self.critic_target = self.policy.critic_target

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers += [self.ent_coef_optimizer]
        self._update_learning_rate(optimizers)

        logs: dict[str, list[float]] = {}

        def record(key: str, value: th.Tensor | float) -> None:
            logs.setdefault(key, []).append(float(value))

        for gradient_step in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
            observations = replay_data.observations

            # 1. Particles from the policy; the projection below fits the unclamped log-std.
            mean, log_std = self.actor.gaussian_parameters(observations)
            noise, particles, sampling_log_std = self._draw_particles(mean, log_std)
            log_prob = squashed_gaussian_log_prob(particles, mean.detach(), sampling_log_std)

            # 2. Temperature.
            if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                ent_coef = th.exp(self.log_ent_coef.detach())
                assert isinstance(self.target_entropy, float)
                ent_coef_loss = -(self.log_ent_coef * (log_prob + self.target_entropy).detach()).mean()
                record("ent_coef_loss", ent_coef_loss.item())
                self.ent_coef_optimizer.zero_grad()
                ent_coef_loss.backward()
                self.ent_coef_optimizer.step()
            else:
                ent_coef = self.ent_coef_tensor
            temperature = ent_coef.item()
            record("ent_coef", temperature)

            # 3. Critic: the soft Bellman target with the target critics.
            with th.no_grad():
                next_actions, next_log_prob = self.actor.action_log_prob(replay_data.next_observations)
                next_q_values = th.cat(self.critic_target(replay_data.next_observations, next_actions), dim=1)
                next_q_values, _ = th.min(next_q_values, dim=1, keepdim=True)
                next_q_values = next_q_values - ent_coef * next_log_prob.reshape(-1, 1)
                target_q_values = replay_data.rewards + (1 - replay_data.dones) * discounts * next_q_values
            current_q_values = self.critic(observations, replay_data.actions)
            critic_loss = 0.5 * sum(F.mse_loss(current_q, target_q_values) for current_q in current_q_values)
            assert isinstance(critic_loss, th.Tensor)
            record("critic_loss", critic_loss.item())
            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()

            # 4. Actor: the drift of the particles along the updated soft Q, then the update.
            with th.no_grad():
                critic_features = self.critic.extract_features(observations, self.critic.features_extractor)
            drift, q_values = self._drift(critic_features, particles, temperature)
            record("actor_loss", (temperature * log_prob - q_values).mean().item())
            if self.actor_update == "langevin":
                moved = self._langevin_particles(critic_features, particles, drift, temperature)
                record("particle_displacement", (moved - particles).norm(dim=-1).mean().item())
                for step in range(self.projection_steps):
                    if step > 0:
                        mean, log_std = self.actor.gaussian_parameters(observations)
                    if self.projection_baseline:
                        projection_loss = baselined_negative_log_likelihood(moved, particles, mean, log_std)
                    else:
                        projection_loss = gaussian_negative_log_likelihood(moved, mean, log_std)
                    self.actor.optimizer.zero_grad()
                    projection_loss.backward()
                    self.actor.optimizer.step()
                moved_nll = projection_loss
                if self.projection_baseline:  # log the moved particles' likelihood, not the baselined loss
                    with th.no_grad():
                        moved_nll = gaussian_negative_log_likelihood(moved, mean, log_std)
                record("projection_nll", moved_nll.item())
            else:
                # The surrogate's sigma must be the one the particles were drawn with (clamped); its gradient still
                # reaches the unclamped log-std, so a log-std above the clamp can come back down.
                drawn_log_std = log_std + (sampling_log_std - log_std).detach()
                surrogate = parametric_wasserstein_surrogate(mean, drawn_log_std, noise, drift, temperature)
                self.actor.optimizer.zero_grad()
                surrogate.backward()
                self.actor.optimizer.step()

            # 5. Target critics.
            if gradient_step % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        for key, values in logs.items():
            self.logger.record(f"train/{key}", np.mean(values))

    def _draw_particles(self, mean: th.Tensor, log_std: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """``n_particles`` pre-squash actions per state, ``u = mean + sigma * noise`` (``[n_particles, batch, action_dim]``).

        Drawn with SB3's clamped log-std, the policy as it acts; returns the noise, the particles (detached) and that
        log-std.
        """
        sampling_log_std = log_std.detach().clamp(LOG_STD_MIN, LOG_STD_MAX)
        noise = th.randn((self.n_particles, *mean.shape), device=self.device)
        return noise, mean.detach() + th.exp(sampling_log_std) * noise, sampling_log_std

    def _langevin_particles(
        self, features: th.Tensor, particles: th.Tensor, drift: th.Tensor, temperature: float
    ) -> th.Tensor:
        """The particles after ``langevin_steps`` unadjusted Langevin steps; ``drift`` is :meth:`_drift` at ``particles``."""
        moved = particles
        for step in range(self.langevin_steps):
            if step > 0:
                drift, _ = self._drift(features, moved, temperature)
            moved = langevin_step(moved, drift, self.langevin_step_size, temperature, th.randn_like(moved))
        return moved

    def _drift_dtype(self) -> th.dtype | None:
        """The dtype of the drift's hidden-layer products (``None``: the networks' own) that ``drift_precision`` names.

        Refuses ``"bfloat16"`` for critics that are not ReLU networks. Called at construction and at each drift, so
        that a value assigned after construction is checked too.
        """
        if self.drift_precision == "float32":
            return None
        relu_critics = all(is_relu_mlp(q_net) for q_net in self.critic.q_networks)
        if self.drift_precision == "auto":
            return th.bfloat16 if relu_critics and has_native_bfloat16(self.device) else None
        if not relu_critics:
            raise ValueError(
                f"`drift_precision={self.drift_precision!r}` needs ReLU critics (Linear and ReLU layers only), and this "
                "policy's are not: use drift_precision='float32' or policy_kwargs=dict(activation_fn=nn.ReLU)."
            )
        return th.bfloat16

    def _drift(self, features: th.Tensor, particles: th.Tensor, temperature: float) -> tuple[th.Tensor, th.Tensor]:
        """``squashed_drift`` at the particles, with ``grad_a Q(s, tanh u)`` from ``min_q_and_action_gradient``.

        ``Q`` is ``min_i Q_i`` or ``Q_1`` (``drift_critic``), computed in ``drift_precision``. ``features``
        are the critic's features of the batch's states (``[batch, features_dim]``, computed once for all
        particles); returns the drift (shaped like the particles, ``[n_particles, batch, action_dim]``) and ``Q`` at the
        particles (``[n_particles, batch]``), both detached.
        """
        q_networks = self.critic.q_networks if self.drift_critic == "min" else self.critic.q_networks[:1]
        q_values, action_gradient = min_q_and_action_gradient(q_networks, features, th.tanh(particles), self._drift_dtype())
        return squashed_drift(particles, action_gradient, temperature), q_values

    def learn(
        self: SelfWPG,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "WPG",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfWPG:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "actor", "critic", "critic_target"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts = ["policy", "actor.optimizer", "critic.optimizer"]
        if self.ent_coef_optimizer is not None:
            saved_pytorch_variables = ["log_ent_coef"]
            state_dicts.append("ent_coef_optimizer")
        else:
            saved_pytorch_variables = ["ent_coef_tensor"]
        return state_dicts, saved_pytorch_variables


CHECKED_HYPERPARAMETERS = (
    "learning_rate", "buffer_size", "learning_starts", "batch_size", "tau", "gamma", "train_freq", "gradient_steps",
    "n_steps", "ent_coef", "target_update_interval", "target_entropy", "actor_update", "n_particles", "langevin_steps",
    "langevin_step_size", "projection_steps", "projection_baseline", "drift_critic", "drift_precision",
)
"""The attributes ``validate_hyperparameters`` checks, each under its constructor argument's name."""


def validate_hyperparameters(**values: Any) -> None:
    """Raise a ``ValueError`` naming the hyperparameter, its value and what is allowed, for the first bad one."""
    if not callable(values["learning_rate"]):
        check_real("learning_rate", values["learning_rate"], 0.0, low_inclusive=True)  # 0: rl-zoo3's enjoy loads so
    check_integer("buffer_size", values["buffer_size"], 1)
    check_integer("learning_starts", values["learning_starts"], 0)
    check_integer("batch_size", values["batch_size"], 1)
    check_real("tau", values["tau"], 0.0, 1.0)
    check_real("gamma", values["gamma"], 0.0, 1.0, low_inclusive=True)
    if values["gradient_steps"] != -1:
        check_integer("gradient_steps", values["gradient_steps"], 1)
    check_integer("n_steps", values["n_steps"], 1)
    check_integer("target_update_interval", values["target_update_interval"], 1)
    train_freq = values["train_freq"]
    frequency, unit = train_freq if isinstance(train_freq, tuple) and len(train_freq) == 2 else (train_freq, "step")
    unit = getattr(unit, "value", unit)  # a loaded model's is SB3's TrainFreq, its unit an Enum
    is_count = isinstance(frequency, Integral) and not isinstance(frequency, bool) and frequency >= 1
    if not is_count or unit not in ("step", "episode"):
        raise ValueError(f"`train_freq` must be an integer >= 1 or a tuple (integer >= 1, 'step' or 'episode'), "
                         f"got {train_freq!r}.")
    ent_coef = values["ent_coef"]
    if isinstance(ent_coef, str):
        prefix, underscore, initial = ent_coef.partition("_")
        if prefix != "auto" or (underscore and not _is_positive_number(initial)):
            raise ValueError(f"`ent_coef` must be a number > 0, 'auto', or 'auto_<initial value > 0>' such as 'auto_0.1', "
                             f"got {ent_coef!r}.")
    else:
        check_real("ent_coef", ent_coef, 0.0)
    if values["target_entropy"] != "auto":
        check_real("target_entropy", values["target_entropy"], -math.inf)
    if values["actor_update"] not in ACTOR_UPDATES:
        raise ValueError(f"`actor_update` must be one of {ACTOR_UPDATES}, got {values['actor_update']!r}.")
    check_integer("n_particles", values["n_particles"], 1)
    check_integer("langevin_steps", values["langevin_steps"], 1)
    check_real("langevin_step_size", values["langevin_step_size"], 0.0)
    check_integer("projection_steps", values["projection_steps"], 1)
    if not isinstance(values["projection_baseline"], bool):
        raise ValueError(f"`projection_baseline` must be True or False, got {values['projection_baseline']!r}.")
    if values["drift_critic"] not in DRIFT_CRITICS:
        raise ValueError(f"`drift_critic` must be one of {DRIFT_CRITICS}, got {values['drift_critic']!r}.")
    if values["drift_precision"] not in DRIFT_PRECISIONS:
        raise ValueError(f"`drift_precision` must be one of {DRIFT_PRECISIONS}, got {values['drift_precision']!r}.")


def _is_positive_number(text: str) -> bool:
    try:
        return math.isfinite(float(text)) and float(text) > 0
    except ValueError:
        return False
