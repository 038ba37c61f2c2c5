"""WPG as an SB3 algorithm: learning, save/load, replay buffer, seeding, logging and hyperparameter checks."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_wasserstein import WPG

th.set_num_threads(1)

SMALL = dict(learning_starts=50, batch_size=32, policy_kwargs=dict(net_arch=[32, 32]))
TANH_CRITICS = {**SMALL, "policy_kwargs": {"net_arch": [32, 32], "activation_fn": th.nn.Tanh}}
"""``SMALL`` with Tanh critics, which the drift's hand back-propagation does not take."""


def observations(n=8):
    """A fixed batch of Pendulum observations (the first of n seeded episodes)."""
    env = gym.make("Pendulum-v1")
    return np.stack([env.reset(seed=i)[0] for i in range(n)])


@pytest.mark.parametrize("actor_update, projection_baseline", [("langevin", False), ("langevin", True), ("parametric", False)])
def test_trains_and_logs(actor_update, projection_baseline):
    options = dict(actor_update=actor_update, projection_baseline=projection_baseline)
    model = WPG("MlpPolicy", "Pendulum-v1", seed=0, **options, **SMALL)
    model.learn(150)  # under one episode: nothing dumped yet, the values wait in the logger
    logged = set(model.logger.name_to_value)
    expected = {"train/actor_loss", "train/critic_loss", "train/ent_coef", "train/ent_coef_loss"}
    if actor_update == "langevin":
        expected |= {"train/particle_displacement", "train/projection_nll"}
    assert expected <= logged
    assert model._n_updates > 0


def test_fixed_ent_coef_logs_no_ent_coef_loss():
    model = WPG("MlpPolicy", "Pendulum-v1", ent_coef=0.1, seed=0, **SMALL)
    model.learn(120)
    logged = model.logger.name_to_value
    assert logged["train/ent_coef"] == pytest.approx(0.1) and "train/ent_coef_loss" not in logged
    assert model.ent_coef_tensor.item() == pytest.approx(0.1)


def test_same_seed_gives_identical_actions():
    actions = []
    for _ in range(2):
        model = WPG("MlpPolicy", "Pendulum-v1", seed=3, **SMALL)
        model.learn(120)
        actions.append(model.predict(observations(), deterministic=True)[0])
    np.testing.assert_array_equal(actions[0], actions[1])
    other = WPG("MlpPolicy", "Pendulum-v1", seed=4, **SMALL).learn(120)
    assert not np.array_equal(actions[0], other.predict(observations(), deterministic=True)[0])


def test_save_load_predictions_buffer_and_continued_learning(tmp_path):
    model = WPG("MlpPolicy", "Pendulum-v1", seed=0, ent_coef="auto_0.5", drift_precision="bfloat16", **SMALL)
    model.learn(120)
    obs = observations()
    expected = model.predict(obs, deterministic=True)[0]
    model.save(tmp_path / "wpg")
    model.save_replay_buffer(tmp_path / "buffer")

    # Inference: no environment, no buffer.
    loaded = WPG.load(tmp_path / "wpg", device="cpu")
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], expected)
    assert loaded.n_particles == model.n_particles and loaded.actor_update == model.actor_update
    assert loaded.drift_precision == "bfloat16"
    th.testing.assert_close(loaded.log_ent_coef, model.log_ent_coef)

    # Training resumes: the buffer round-trips and num_timesteps continues.
    resumed = WPG.load(tmp_path / "wpg", env=gym.make("Pendulum-v1"), device="cpu")
    resumed.load_replay_buffer(tmp_path / "buffer")
    assert resumed.replay_buffer.size() == model.replay_buffer.size() == 120
    np.testing.assert_array_equal(resumed.replay_buffer.observations, model.replay_buffer.observations)
    np.testing.assert_array_equal(resumed.replay_buffer.actions, model.replay_buffer.actions)
    updates = resumed._n_updates
    resumed.learn(60, reset_num_timesteps=False)
    assert resumed.num_timesteps == 180
    assert resumed._n_updates > updates
    assert not np.array_equal(resumed.predict(obs, deterministic=True)[0], expected)


def test_dict_observations():
    class DictPendulum(gym.ObservationWrapper):
        def __init__(self, env):
            super().__init__(env)
            self.observation_space = gym.spaces.Dict({"state": env.observation_space})

        def observation(self, observation):
            return {"state": observation}

    model = WPG("MultiInputPolicy", DictPendulum(gym.make("Pendulum-v1")), seed=0, **SMALL)
    model.learn(80)
    assert model._n_updates > 0


def test_discrete_action_space_is_rejected():
    with pytest.raises(ValueError, match=r"Box action spaces only.*Discrete\(2\)"):
        WPG("MlpPolicy", "CartPole-v1")


BAD_HYPERPARAMETERS = [
    ("n_particles", 0),
    ("n_particles", 2.5),
    ("langevin_steps", 0),
    ("langevin_step_size", 0.0),
    ("langevin_step_size", float("inf")),
    ("langevin_step_size", -0.1),
    ("projection_steps", 0),
    ("projection_baseline", "yes"),
    ("projection_baseline", 1),
    ("tau", 0.0),
    ("tau", 1.5),
    ("gamma", -0.1),
    ("gamma", 1.01),
    ("ent_coef", 0.0),
    ("ent_coef", "automatic"),
    ("ent_coef", "auto_-1"),
    ("ent_coef", "auto_x"),
    ("ent_coef", "auto_"),
    ("actor_update", "svgd"),
    ("drift_critic", "mean"),
    ("drift_precision", "float16"),
    ("learning_rate", -1e-3),
    ("batch_size", 0),
    ("buffer_size", 0),
    ("learning_starts", -1),
    ("gradient_steps", 0),
    ("target_update_interval", 0),
    ("train_freq", 0),
    ("train_freq", 1.5),
    ("train_freq", (4, "epoch")),
    ("train_freq", (0, "episode")),
    ("target_entropy", "high"),
]


@pytest.mark.parametrize("name, value", BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_raise_before_anything_is_built(name, value):
    with pytest.raises(ValueError, match=name):
        WPG("MlpPolicy", "Pendulum-v1", **{name: value})


@pytest.mark.parametrize("train_freq", [3, (3, "step"), (1, "episode")])
def test_train_freq_takes_sb3s_forms(train_freq):
    model = WPG("MlpPolicy", "Pendulum-v1", train_freq=train_freq, learning_starts=0, batch_size=8, seed=0)
    model.learn(6)
    assert model.num_timesteps >= 6


@pytest.mark.parametrize("name, value", [("langevin_steps", 0), ("actor_update", "lang"), ("ent_coef", "auto_")])
def test_load_checks_its_overrides(name, value, tmp_path):
    """SB3's load() sets keyword overrides without __init__ (rl-zoo3's -i passes the yml's values that way)."""
    WPG("MlpPolicy", "Pendulum-v1", train_freq=(2, "episode"), seed=0).save(tmp_path / "model")
    with pytest.raises(ValueError, match=name):
        WPG.load(tmp_path / "model", **{name: value})
    assert WPG.load(tmp_path / "model", langevin_steps=3).langevin_steps == 3  # a loaded TrainFreq passes


@pytest.mark.parametrize("actor_update", ["langevin", "parametric"])
def test_train_hands_the_entropy_temperature_to_the_drift_and_fits_the_unclamped_log_std(actor_update, monkeypatch):
    """The drift and the Langevin step get the entropy temperature (``ent_coef``), not the Polyak ``tau``; the
    update reaches a log-std above SB3's clamp (2), where a clamped one would have no gradient."""
    import sb3_wasserstein.wpg.wpg as wpg_module

    temperatures = []

    def recording(function, temperature_index):
        def wrapped(*args):
            temperatures.append(args[temperature_index])
            return function(*args)
        return wrapped

    # squashed_drift(pre_squash, action_gradient, temperature); langevin_step(particles, drift, step_size, temperature, noise)
    monkeypatch.setattr(wpg_module, "squashed_drift", recording(wpg_module.squashed_drift, 2))
    monkeypatch.setattr(wpg_module, "langevin_step", recording(wpg_module.langevin_step, 3))
    model = WPG("MlpPolicy", "Pendulum-v1", ent_coef=0.37, tau=0.005, actor_update=actor_update, learning_starts=0,
                batch_size=8, seed=0)
    with th.no_grad():
        model.actor.log_std.bias.fill_(5.0)
    before = model.actor.log_std.bias.clone()
    model.learn(8)
    assert len(temperatures) >= 8 * (2 if actor_update == "langevin" else 1)
    assert all(temperature == pytest.approx(0.37) for temperature in temperatures)
    assert (model.actor.log_std.bias != before).all()


def test_gsde_is_rejected():
    with pytest.raises(ValueError, match="use_sde"):
        WPG("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(use_sde=True))


@pytest.mark.learning
def test_learns_pendulum():
    """>= -200 mean return (deterministic, 10 episodes) on Pendulum-v1 within 20k steps, seed 0.

    Settings as rl-zoo3's SAC Pendulum entry (learning rate 1e-3, default networks) with WPG's
    defaults (4 particles, 1 Langevin step of 0.05); training stops early once a 5-episode
    deterministic evaluation reaches -170, then the final 10-episode evaluation must be >= -200.
    """
    model = WPG("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, learning_starts=1000, seed=0)
    stop = StopTrainingOnRewardThreshold(reward_threshold=-170)
    evaluation_env = Monitor(gym.make("Pendulum-v1"))
    evaluation_env.reset(seed=1)  # later resets continue this stream: the stopping step is reproducible
    evaluation = EvalCallback(evaluation_env, eval_freq=1000, n_eval_episodes=5, callback_on_new_best=stop, verbose=0)
    model.learn(20_000, callback=evaluation)
    env = Monitor(gym.make("Pendulum-v1"))
    env.reset(seed=1000)
    mean_return, _ = evaluate_policy(model, env, n_eval_episodes=10, deterministic=True)
    print(f"WPG Pendulum-v1: {mean_return:.1f} after {model.num_timesteps} steps")
    assert model.num_timesteps <= 20_000
    assert mean_return >= -200


def test_particle_q_values_match_the_critic_on_tiled_states():
    """The split first layer (state part once per state) gives the critic's own values, for every network."""
    from sb3_wasserstein.wpg.critic_gradient import particle_q_values

    model = WPG("MlpPolicy", "Pendulum-v1", seed=0, **SMALL)
    obs = th.as_tensor(observations(5))
    actions = th.rand(3, 5, 1) * 2 - 1
    features = model.critic.extract_features(obs, model.critic.features_extractor)
    expected = th.cat(model.critic(obs.repeat(3, 1), actions.reshape(15, 1)), dim=1).reshape(3, 5, -1)
    for index, q_network in enumerate(model.critic.q_networks):
        th.testing.assert_close(particle_q_values(q_network, features, actions), expected[..., index])


@pytest.mark.parametrize("drift_critic, expected", [("min", lambda q1, q2: th.minimum(q1, q2)), ("first", lambda q1, q2: q1)])
def test_drift_follows_the_chosen_critic(drift_critic, expected):
    """The drift's action gradient is that of min(Q1, Q2) or of Q1 alone, checked against autograd on the plain critic."""
    from sb3_wasserstein.common.langevin import squashed_drift

    model = WPG("MlpPolicy", "Pendulum-v1", drift_critic=drift_critic, seed=0, **SMALL)
    with th.no_grad():  # make the two critics differ clearly, so that min and Q1 differ
        for parameter in model.critic.q_networks[1].parameters():
            parameter.add_(0.5 * th.randn_like(parameter))
    obs = th.as_tensor(observations(5))
    particles = th.randn(3, 5, 1)
    features = model.critic.extract_features(obs, model.critic.features_extractor)
    drift, q_values = model._drift(features, particles, temperature=0.2)

    actions = th.tanh(particles).reshape(15, 1).requires_grad_(True)
    q1, q2 = model.critic(obs.repeat(3, 1), actions)
    reference = expected(q1, q2)
    (gradient,) = th.autograd.grad(reference.sum(), actions)
    th.testing.assert_close(q_values, reference.detach().reshape(3, 5))
    th.testing.assert_close(drift, squashed_drift(particles, gradient.reshape(3, 5, 1), 0.2))


@pytest.mark.parametrize("n_critics", [1, 2, 3])
@pytest.mark.parametrize("activation", [th.nn.ReLU, th.nn.Tanh])
def test_min_q_and_action_gradient_matches_autograd(n_critics, activation):
    """The hand back-propagation through the attaining network (ReLU) and the autograd path (Tanh)
    both give autograd's gradient of the minimum."""
    from stable_baselines3.common.torch_layers import create_mlp

    from sb3_wasserstein.wpg.critic_gradient import min_q_and_action_gradient

    th.manual_seed(0)
    n_features, action_dim = 4, 3
    q_networks = [th.nn.Sequential(*create_mlp(n_features + action_dim, 1, [16, 8], activation)) for _ in range(n_critics)]
    for q_network in q_networks:  # no offset between the networks, so that each attains the minimum somewhere
        th.nn.init.zeros_(q_network[-1].bias)
    features, actions = th.randn(5, n_features), 3 * th.randn(6, 5, action_dim)
    q_values, gradient = min_q_and_action_gradient(q_networks, features, actions)

    inputs = actions.clone().requires_grad_(True)
    tiled = th.cat([features.expand(6, 5, n_features), inputs], dim=-1)
    every_q = th.stack([q_net(tiled).squeeze(-1) for q_net in q_networks])
    reference = every_q.amin(0)
    (expected_gradient,) = th.autograd.grad(reference.sum(), inputs)
    assert len(every_q.argmin(0).unique()) == n_critics
    th.testing.assert_close(q_values, reference.detach())
    th.testing.assert_close(gradient, expected_gradient)
    assert not q_values.requires_grad and not gradient.requires_grad


def test_bfloat16_drift_agrees_with_float32_to_a_percent():
    """``precision=bfloat16`` computes the hidden layers in bfloat16 (so the results are not float32's): the values within
    1%, the median gradient within 1%, all gradients together within 10% in norm (a ReLU switching between the
    precisions moves a few by more)."""
    from stable_baselines3.common.torch_layers import create_mlp

    from sb3_wasserstein.wpg.critic_gradient import min_q_and_action_gradient

    th.manual_seed(0)
    n_features, action_dim = 17, 6
    q_networks = [th.nn.Sequential(*create_mlp(n_features + action_dim, 1, [256, 256])) for _ in range(2)]
    with th.no_grad():  # the second network lower everywhere, by far more than bfloat16's error
        q_networks[1][-1].bias.sub_(10.0)
    features, actions = th.randn(64, n_features), th.tanh(th.randn(4, 64, action_dim))
    q_values, gradient = min_q_and_action_gradient(q_networks, features, actions)
    q_bf16, gradient_bf16 = min_q_and_action_gradient(q_networks, features, actions, th.bfloat16)

    assert q_bf16.dtype == gradient_bf16.dtype == th.float32
    assert not th.equal(gradient_bf16, gradient)
    th.testing.assert_close(q_bf16, q_values, rtol=0.0, atol=0.01 * q_values.abs().max().item())
    relative_error = (gradient_bf16 - gradient).norm(dim=-1) / gradient.norm(dim=-1)
    assert relative_error.median() < 0.01
    assert (gradient_bf16 - gradient).norm() < 0.1 * gradient.norm()


def test_drift_precision_reaches_the_drift():
    """``drift_precision='bfloat16'`` changes the model's drift (a little); the default computes it in float32."""
    model = WPG("MlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=dict(net_arch=[256, 256]))
    assert model.drift_precision == "float32"
    obs = th.as_tensor(observations(8))
    features = model.critic.extract_features(obs, model.critic.features_extractor)
    particles = th.randn(4, 8, 1)
    drift, q_values = model._drift(features, particles, temperature=0.2)
    model.drift_precision = "bfloat16"
    drift_bf16, q_bf16 = model._drift(features, particles, temperature=0.2)
    assert not th.equal(drift_bf16, drift) and drift_bf16.dtype == th.float32
    th.testing.assert_close(q_bf16, q_values, rtol=0.01, atol=0.01)


def test_default_critics_take_the_hand_back_propagation():
    """SB3's default critic (Linear/ReLU) is recognised, so WPG's drift skips autograd; other activations are not."""
    from sb3_wasserstein.wpg.critic_gradient import is_relu_mlp

    model = WPG("MlpPolicy", "Pendulum-v1", seed=0, **SMALL)
    assert all(is_relu_mlp(q_network) for q_network in model.critic.q_networks)
    tanh_model = WPG("MlpPolicy", "Pendulum-v1", seed=0, **TANH_CRITICS)
    assert not any(is_relu_mlp(q_network) for q_network in tanh_model.critic.q_networks)


def test_bfloat16_drift_refuses_critics_that_are_not_relu_networks():
    """The bfloat16 drift exists only on the hand back-propagation of ReLU critics: asked of others, WPG says so."""
    with pytest.raises(ValueError, match="drift_precision='bfloat16'.*ReLU"):
        WPG("MlpPolicy", "Pendulum-v1", drift_precision="bfloat16", **TANH_CRITICS)
    model = WPG("MlpPolicy", "Pendulum-v1", seed=0, **{**TANH_CRITICS, "learning_starts": 0})
    model.drift_precision = "bfloat16"  # assigned after construction: refused at the first drift
    with pytest.raises(ValueError, match="drift_precision='bfloat16'.*ReLU"):
        model.learn(2)


def test_a_precision_for_networks_that_are_not_relu_networks_raises():
    """``min_q_and_action_gradient`` runs other networks through autograd in their own dtype only: a ``precision`` for
    them raises, naming it, rather than being ignored; without one they go through autograd."""
    from stable_baselines3.common.torch_layers import create_mlp

    from sb3_wasserstein.wpg.critic_gradient import min_q_and_action_gradient

    q_networks = [th.nn.Sequential(*create_mlp(5, 1, [8], th.nn.Tanh))]
    features, actions = th.randn(4, 3), th.randn(2, 4, 2)
    with pytest.raises(ValueError, match="precision=torch.bfloat16 needs ReLU networks"):
        min_q_and_action_gradient(q_networks, features, actions, th.bfloat16)
    q_values, gradient = min_q_and_action_gradient(q_networks, features, actions)
    assert q_values.shape == (2, 4) and gradient.shape == (2, 4, 2)


def test_a_bfloat16_drift_without_native_bfloat16_warns(monkeypatch):
    """``has_native_bfloat16`` reads a CPU's flags; WPG warns at construction where the bfloat16 drift would be emulated
    (slow), and not where it is native or for the float32 drift."""
    import warnings

    from sb3_wasserstein.wpg import critic_gradient, wpg

    cpu = th.device("cpu")
    for flags, expected in [({"avx2"}, False), ({"avx2", "avx512_bf16"}, True), ({"amx_bf16"}, True), (None, None)]:
        monkeypatch.setattr(critic_gradient, "_cpu_flags", lambda flags=flags: flags)
        assert critic_gradient.has_native_bfloat16(cpu) is expected

    monkeypatch.setattr(wpg, "has_native_bfloat16", lambda device: False)
    with pytest.warns(UserWarning, match="drift_precision='bfloat16' on a device without native bfloat16"):
        WPG("MlpPolicy", "Pendulum-v1", drift_precision="bfloat16", **SMALL)
    for native, precision in [(True, "bfloat16"), (False, "float32")]:
        monkeypatch.setattr(wpg, "has_native_bfloat16", lambda device, native=native: native)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            WPG("MlpPolicy", "Pendulum-v1", drift_precision=precision, **SMALL)
        assert not [w for w in caught if "native bfloat16" in str(w.message)]


def test_auto_drift_precision_is_bfloat16_where_native_on_relu_critics_else_float32(monkeypatch):
    """``drift_precision='auto'`` trains as ``'bfloat16'`` where the device multiplies in bfloat16 natively (and the
    critics are ReLU networks), as ``'float32'`` elsewhere, and never raises for other critics."""
    from sb3_wasserstein.wpg import wpg

    def trained(precision: str, native: bool, **kwargs) -> np.ndarray:
        monkeypatch.setattr(wpg, "has_native_bfloat16", lambda device: native)
        model = WPG("MlpPolicy", "Pendulum-v1", seed=0, drift_precision=precision, **{**SMALL, **kwargs}).learn(120)
        return model.predict(observations(), deterministic=True)[0]

    np.testing.assert_array_equal(trained("auto", native=True), trained("bfloat16", native=True))
    np.testing.assert_array_equal(trained("auto", native=False), trained("float32", native=False))
    assert not np.array_equal(trained("bfloat16", native=True), trained("float32", native=True))
    monkeypatch.setattr(wpg, "has_native_bfloat16", lambda device: True)
    assert WPG("MlpPolicy", "Pendulum-v1", drift_precision="auto", **TANH_CRITICS)._drift_dtype() is None
