"""WPO and SPO through SB3's API: validation, spaces, save/load, determinism, callbacks, logging."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import SimpleMultiObsEnv
from stable_baselines3.common.logger import configure
from torch import nn

from sb3_wasserstein import SPO, WPO
from sb3_wasserstein.common.directional import compatible_advantages, directional_advantages
from sb3_wasserstein.common.transport import permuted_within_states, target_marginal

SMALL = dict(n_steps=64, batch_size=32, n_epochs=2, seed=0)


class LinearExtractor(nn.Module):
    """A features extractor with parameters, so that the actor's and the critic's differ when not shared."""

    def __init__(self, observation_space, features_dim: int = 8):
        super().__init__()
        self.features_dim = features_dim
        self.linear = nn.Linear(int(np.prod(observation_space.shape)), features_dim)

    def forward(self, observations):
        return self.linear(observations)


class MultiDiscreteEnv(gym.Env):
    observation_space = spaces.Box(-1, 1, (2,))
    action_space = spaces.MultiDiscrete([3, 3])

    def reset(self, seed=None, options=None):
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(2, dtype=np.float32), 0.0, False, False, {}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(delta=0.0), "`delta` must be a finite number in \\(0.0"),
        (dict(delta=float("nan")), "`delta`"),
        (dict(delta="big"), "`delta` must be a finite number"),
        (dict(beta=-1.0), "`beta` must be a finite number in \\[0.0"),
        (dict(beta="fast"), "`beta` must be 'auto'"),
        (dict(n_candidates=0), "`n_candidates` must be an integer >= 1, got 0"),
        (dict(q_window=0), "`q_window`"),
        (dict(executed_advantage="td"),
         "`executed_advantage` must be one of \\('q_head', 'gae', 'gae_natural', 'gae_mirrored', 'gae_directional', "
         "'gae_compatible'\\), got 'td'"),
        (dict(executed_advantage="gae_mirrored", n_candidates=1), "needs `n_candidates` >= 2 .*got 1"),
        (dict(batch_size=1), "`batch_size`"),
        (dict(n_epochs=0), "`n_epochs`"),
        (dict(gamma=1.5), "`gamma`"),
        (dict(gae_lambda=-0.1), "`gae_lambda`"),
        (dict(learning_rate=float("inf")), "`learning_rate`"),
        (dict(max_grad_norm=0), "`max_grad_norm`"),
        (dict(target_kl=0.0), "`target_kl` must be a finite number in \\(0.0"),
        (dict(debias_spread="yes"), "`debias_spread` must be True or False, got 'yes'"),
        (dict(n_steps=16, batch_size=64), "`n_steps \\* n_envs` \\(16 \\* 1\\) must be at least `batch_size` \\(64\\)"),
    ],
)
def test_bad_hyperparameters_fail_before_training(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WPO("MlpPolicy", "CartPole-v1", **kwargs)


@pytest.mark.parametrize("executed_advantage", ["gae_mirrored", "gae_directional", "gae_compatible"])
def test_box_only_executed_advantages_on_a_discrete_space_fail_before_training(executed_advantage):
    message = f"`executed_advantage='{executed_advantage}'` needs a Box action space, got Discrete"
    with pytest.raises(ValueError, match=message):
        WPO("MlpPolicy", "CartPole-v1", executed_advantage=executed_advantage)


def test_debiased_spread_on_a_discrete_space_fails_before_training():
    with pytest.raises(ValueError, match="`debias_spread=True` needs a Box action space .*got Discrete"):
        WPO("MlpPolicy", "CartPole-v1", debias_spread=True)


def test_bad_lam_fails():
    with pytest.raises(ValueError, match="`lam` must be a finite number in \\(0.0"):
        SPO("MlpPolicy", "CartPole-v1", lam=0.0)


@pytest.mark.parametrize(
    "env_id, cost, message",
    [
        ("CartPole-v1", np.ones((3, 3)), "`cost` must have shape \\(2, 2\\)"),
        ("CartPole-v1", np.array([[0.0, -1.0], [1.0, 0.0]]), "non-negative with a zero diagonal"),
        ("CartPole-v1", np.array([[1.0, 1.0], [1.0, 0.0]]), "zero diagonal"),
        ("CartPole-v1", "euclidean", "Discrete action space must be None or an \\[n, n\\] matrix"),
        ("Pendulum-v1", "manhattan", "must be one of \\('squared_euclidean', 'euclidean', 'mahalanobis'\\)"),
        ("Pendulum-v1", np.zeros((2, 2)), "Box action space must be one of"),
    ],
)
def test_bad_cost_fails(env_id, cost, message):
    with pytest.raises(ValueError, match=message):
        WPO("MlpPolicy", env_id, cost=cost)


def test_unsupported_action_space_is_named():
    with pytest.raises(AssertionError, match="MultiDiscrete"):
        WPO("MlpPolicy", MultiDiscreteEnv())


def record_logs(model, history: dict | None = None):
    """The last value logged under each key; ``history``, if given, also collects every value per key."""
    model.set_logger(configure(None, ["csv"]))
    values = {}
    original = model.logger.record

    def record(key, value, exclude=None):
        values[key] = value
        if history is not None:
            history.setdefault(key, []).append(value)
        original(key, value, exclude)

    model.logger.record = record
    return values


@pytest.mark.parametrize("algorithm", [WPO, SPO])
@pytest.mark.parametrize(
    "env_id, extra",
    [
        ("CartPole-v1", {}),
        ("CartPole-v1", dict(cost=np.array([[0.0, 2.0], [2.0, 0.0]]))),
        ("Pendulum-v1", {}),
        ("Pendulum-v1", dict(cost="euclidean", n_candidates=2)),
        ("Pendulum-v1", dict(cost="mahalanobis", beta=0.5)),
        ("Pendulum-v1", dict(beta=lambda progress: 0.3 + progress)),
    ],
)
def test_train_logs_the_design_note_keys(algorithm, env_id, extra):
    model = algorithm("MlpPolicy", env_id, **SMALL, **extra)
    logs = record_logs(model)
    model.learn(128)
    expected = {"beta", "transport_cost", "dual_objective", "q_loss", "value_loss", "policy_loss", "entropy", "approx_kl",
                "q_advantage_correlation"}
    if env_id == "Pendulum-v1":
        expected.add("std")
    assert expected <= {key.split("/")[1] for key in logs if key.startswith("train/")}
    assert all(np.isfinite(logs[f"train/{key}"]) for key in expected)
    assert logs["train/approx_kl"] > 0
    if extra.get("beta") is None:
        assert logs["train/transport_cost"] <= model.delta + 1e-6
    elif not callable(extra["beta"]):
        assert logs["train/beta"] == extra["beta"]
    else:
        # The last of the two rollouts is trained at progress_remaining 0 (SB3 updates it after the rollout).
        assert model._current_progress_remaining == 0.0 and logs["train/beta"] == pytest.approx(0.3, abs=1e-12)


@pytest.mark.parametrize("algorithm", [WPO, SPO])
def test_delta_schedule_bounds_each_plan_and_at_zero_leaves_the_policy(algorithm):
    """A callable ``delta`` is the radius at each rollout's ``progress_remaining`` (SB3 updates it after the
    rollout: 0.75, 0.5, 0.25, 0 here); each plan's cost stays within it, and at 0, the last rollout, the critics
    still fit but the policy does not move."""
    model = algorithm("MlpPolicy", "Pendulum-v1", **SMALL, delta=lambda progress: 0.2 * progress)
    history: dict[str, list] = {}
    record_logs(model, history)
    snapshots = []

    class Snapshot(BaseCallback):
        def _on_rollout_end(self):
            snapshots.append({name: p.detach().clone() for name, p in self.model.policy.named_parameters()})

        def _on_step(self):
            return True

    model.learn(256, callback=Snapshot())
    assert history["train/delta"] == pytest.approx([0.15, 0.1, 0.05, 0.0])
    assert len(history["train/transport_cost"]) == 3
    assert all(cost <= radius + 1e-6 for cost, radius in zip(history["train/transport_cost"], history["train/delta"]))
    final = dict(model.policy.named_parameters())
    moved = {name for name, before in snapshots[-1].items() if not th.equal(before, final[name])}
    assert moved and all(name.startswith(("value_net", "mlp_extractor.value_net", "q_net")) for name in moved), moved


@pytest.mark.parametrize("delta", [lambda progress: -0.1 * progress, lambda progress: float("nan")])
def test_a_delta_schedule_starting_outside_the_range_fails_before_training(delta):
    with pytest.raises(ValueError, match="`delta` must be a finite number in \\(0.0"):
        WPO("MlpPolicy", "Pendulum-v1", delta=delta)


@pytest.mark.parametrize("beta", [lambda progress: -1.0, lambda progress: float("nan")])
def test_a_beta_schedule_starting_outside_the_range_fails_before_training(beta):
    with pytest.raises(ValueError, match="`beta` must be a finite number in \\[0.0"):
        WPO("MlpPolicy", "Pendulum-v1", beta=beta)


def test_a_beta_schedule_turning_non_finite_fails_when_it_does():
    with pytest.raises(ValueError, match="`beta` must be a finite number"):
        WPO("MlpPolicy", "Pendulum-v1", beta=lambda progress: 0.1 if progress == 1.0 else float("nan"), **SMALL).learn(64)


@pytest.mark.parametrize("algorithm", [WPO, SPO])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_target_kl_stops_the_projection(algorithm, env_id):
    """A tiny ``target_kl`` stops the projection in its first pass and moves the policy less;
    without one every pass runs."""
    settings = dict(SMALL, n_epochs=5, delta=0.5, learning_rate=1e-2)
    unlimited = algorithm("MlpPolicy", env_id, **settings)
    unlimited_logs = record_logs(unlimited)
    unlimited.learn(64)
    limited = algorithm("MlpPolicy", env_id, target_kl=1e-6, **settings)
    limited_logs = record_logs(limited)
    limited.learn(64)
    assert unlimited_logs["train/projection_epochs"] == 5
    assert limited_logs["train/projection_epochs"] == 1
    assert limited_logs["train/approx_kl"] < unlimited_logs["train/approx_kl"]


@pytest.mark.parametrize("algorithm", [WPO, SPO])
def test_dict_observations(algorithm):
    model = algorithm("MultiInputPolicy", SimpleMultiObsEnv(random_start=False), **SMALL)
    model.learn(128)
    assert model.num_timesteps == 128


@pytest.mark.parametrize("algorithm", [WPO, SPO])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_separate_feature_extractors(algorithm, env_id):
    """With ``share_features_extractor=False`` training runs and the Q head reads the critic's own extractor
    (one with parameters, so that the actor's differs)."""
    model = algorithm("MlpPolicy", env_id, **SMALL, policy_kwargs=dict(
        share_features_extractor=False, features_extractor_class=LinearExtractor))
    model.learn(128)
    observations = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(5)]))
    with th.no_grad():
        features = model.policy.critic_features(observations)
        th.testing.assert_close(features, model.policy.vf_features_extractor(observations))
        assert not th.allclose(features, model.policy.pi_features_extractor(observations))
    assert model.num_timesteps == 128


@pytest.mark.parametrize("algorithm", [WPO, SPO])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_save_load_gives_identical_predictions(algorithm, env_id, tmp_path):
    model = algorithm("MlpPolicy", env_id, **SMALL, policy_kwargs=dict(q_net_arch=[32]))
    model.learn(128)
    observations = np.stack([model.observation_space.sample() for _ in range(20)])
    expected, _ = model.predict(observations, deterministic=True)
    model.save(tmp_path / "model")

    alone = algorithm.load(tmp_path / "model", env=None)
    np.testing.assert_array_equal(alone.predict(observations, deterministic=True)[0], expected)
    assert alone.policy.q_net_arch == [32]
    for name, parameter in model.policy.state_dict().items():
        th.testing.assert_close(alone.policy.state_dict()[name], parameter)

    resumed = algorithm.load(tmp_path / "model", env=make_vec_env(env_id, n_envs=1, seed=1))
    resumed.learn(128, reset_num_timesteps=False)
    assert resumed.num_timesteps == 256
    assert resumed._n_updates == 4


@pytest.mark.parametrize(
    "algorithm, override, message",
    [(WPO, dict(executed_advantage="gea"), "`executed_advantage`"), (WPO, dict(n_epochs=0), "`n_epochs`"),
     (WPO, dict(n_candidates=1, executed_advantage="gae_mirrored"), "`n_candidates` >= 2"), (SPO, dict(lam=-1.0), "`lam`")],
)
def test_load_checks_its_overrides(algorithm, override, message, tmp_path):
    """SB3's load() sets keyword overrides without __init__ (rl-zoo3's -i passes the yml's values that way)."""
    algorithm("MlpPolicy", "Pendulum-v1", **SMALL).save(tmp_path / "model")
    with pytest.raises(ValueError, match=message):
        algorithm.load(tmp_path / "model", **override)
    assert algorithm.load(tmp_path / "model", n_epochs=3).n_epochs == 3


def test_multiple_envs_callbacks_and_progress_bar():
    calls = {"rollout_end": 0, "step": 0}

    class Counter(BaseCallback):
        def _on_rollout_end(self):
            calls["rollout_end"] += 1

        def _on_step(self):
            calls["step"] += 1
            return True

    model = SPO("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=4, seed=0), n_steps=16, batch_size=32, n_epochs=1, seed=0)
    model.learn(256, callback=Counter(), progress_bar=True)
    assert model.num_timesteps == 256
    assert calls == {"rollout_end": 4, "step": 64}


@pytest.mark.parametrize("algorithm", [WPO, SPO])
def test_same_seed_same_actions(algorithm):
    def actions():
        model = algorithm("MlpPolicy", "Pendulum-v1", **SMALL)
        model.learn(192)
        observations = np.stack([np.array([np.cos(t), np.sin(t), 0.1 * t], dtype=np.float32) for t in range(10)])
        return model.predict(observations, deterministic=True)[0]

    np.testing.assert_array_equal(actions(), actions())


def test_q_head_evaluates_clipped_candidates():
    model = WPO("MlpPolicy", "Pendulum-v1", **SMALL)
    observation = th.zeros(1, 3)
    far = th.tensor([[[10.0], [2.0], [-10.0], [-2.0]]])
    q_values = model.policy.q_values(observation, far)
    assert q_values[0, 0] == q_values[0, 1]
    assert q_values[0, 2] == q_values[0, 3]


def _plan_with_a_flat_q_head(env_id: str, executed_advantage: str):
    """One rollout of an unconstrained (``beta`` 0) WPO whose Q head is then set constant at ``c``, a value between
    two of the rollout's GAE advantages (so that no executed action ties with it); returns the rollout, ``c``,
    the support, the old distribution and the plan's target marginal."""
    model = WPO("MlpPolicy", env_id, **SMALL, beta=0.0, executed_advantage=executed_advantage)
    model.learn(64)
    rollout = next(model.rollout_buffer.get(batch_size=None))
    middle = rollout.advantages.sort().values[len(rollout.advantages) // 2 - 1 :][:2]
    flat_q = middle.mean().item()
    last_layer = model.policy.q_net[-1]
    th.nn.init.zeros_(last_layer.weight)
    th.nn.init.constant_(last_layer.bias, flat_q)
    with th.no_grad():
        support, old = model._support(rollout.observations, rollout.actions)
        advantages = model._support_advantages(rollout, support)
        target = target_marginal(model._solve(advantages, support, model._radius()).plan, support.source.double())
    return model, rollout, flat_q, support, old, target


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_gae_at_the_executed_action_drives_the_plan(env_id):
    """With ``executed_advantage="gae"`` and a Q head constant at ``c``, the unconstrained plan
    (``beta`` 0) hands every state's mass to its executed action exactly where its GAE advantage exceeds ``c``."""
    model, rollout, flat_q, support, _, target = _plan_with_a_flat_q_head(env_id, "gae")
    executed = target.gather(1, model._executed_index(rollout, support)).squeeze(1)
    above = rollout.advantages > flat_q
    assert 0 < above.sum() < len(above)
    th.testing.assert_close(executed[above], th.ones_like(executed[above]))
    th.testing.assert_close(executed[~above], th.zeros_like(executed[~above]))


def test_mirrored_gae_puts_the_mirror_on_the_support_and_credits_it():
    """With ``executed_advantage="gae_mirrored"`` the support's second point is ``2 mu - a``, and with a Q head
    constant at ``c`` the unconstrained plan hands each state's mass to the executed action where its GAE
    advantage exceeds ``c``, and to the mirror (advantage ``2c - A``) where it falls below."""
    _, rollout, flat_q, support, old, target = _plan_with_a_flat_q_head("Pendulum-v1", "gae_mirrored")
    th.testing.assert_close(support.actions[:, 1], 2 * old.mean - rollout.actions)
    above = rollout.advantages > flat_q
    assert 0 < above.sum() < len(above)
    th.testing.assert_close(target[above, 0], th.ones_like(target[above, 0]))
    th.testing.assert_close(target[~above, 1], th.ones_like(target[~above, 1]))


@pytest.mark.parametrize(
    "executed_advantage, model", [("gae_directional", directional_advantages), ("gae_compatible", compatible_advantages)]
)
def test_a_gae_model_hands_each_state_to_the_point_it_rates_highest(executed_advantage, model):
    """With ``executed_advantage="gae_directional"`` or ``"gae_compatible"`` the Q head plays no part in the plan: the
    unconstrained plan hands each state's mass to the support point with the largest ``A_gae <phi(z_x), phi(z)> /
    |phi(z)|^2`` (``phi(z) = z``, or the whitened score)."""
    _, rollout, _, support, old, target = _plan_with_a_flat_q_head("Pendulum-v1", executed_advantage)
    modelled = model(rollout.advantages, rollout.actions, support.actions, old.mean, old.stddev)
    th.testing.assert_close(target.argmax(1), modelled.argmax(1))
    th.testing.assert_close(target.max(1).values, th.ones(len(target), dtype=target.dtype))


@pytest.mark.parametrize("algorithm", [WPO, SPO])
def test_debiased_spread_is_fitted_to_the_geometry_corrected_marginal(algorithm):
    """With ``debias_spread`` the spread's weights are the plan's marginal less the same plan's marginal for
    advantages shuffled within each state, plus ``pi_k``; without it they are the plan's marginal."""
    model = algorithm("MlpPolicy", "Pendulum-v1", **SMALL, debias_spread=True)
    model.learn(64)
    rollout = next(model.rollout_buffer.get(batch_size=None))
    with th.no_grad():
        support, _ = model._support(rollout.observations, rollout.actions)
        advantages = model._support_advantages(rollout, support)
        solution = model._solve(advantages, support, model._radius())
        source = support.source.double()
        target = target_marginal(solution.plan, source)
        th.manual_seed(1)
        spread_target = model._spread_target(advantages, support, solution.beta, target)
        th.manual_seed(1)
        null_plan = model._plan(permuted_within_states(advantages), support.cost.double(), solution.beta)
    th.testing.assert_close(spread_target, (target - target_marginal(null_plan, source) + source).float())
    th.testing.assert_close(spread_target.sum(1), th.ones(len(spread_target)))
    assert not th.allclose(spread_target, target.float())
    model.debias_spread = False
    th.testing.assert_close(model._spread_target(advantages, support, solution.beta, target), target.float())
