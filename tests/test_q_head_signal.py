"""The Q-head signal diagnostic: its score is WPO's health figure, its linear model is linear, its data is a rollout."""

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from sb3_wasserstein import WPO
from sb3_wasserstein.benchmarks.q_head_signal import AdvantageModel, collect, correlation


def test_correlation_is_that_of_the_executed_advantage_over_the_support_mean_with_gae():
    rng = np.random.default_rng(0)
    values, gae = rng.normal(size=(50, 5)), rng.normal(size=50)
    expected = np.corrcoef(values[:, 0] - values.mean(1), gae)[0, 1]
    assert np.isclose(correlation(th.tensor(values), th.tensor(gae)), expected)
    exact = th.tensor(values)
    exact[:, 0] = th.tensor(gae) * 2.0 + 1.0 + exact[:, 1:].sum(1) / 4.0  # executed minus support mean = 0.8 * (2 gae + 1)
    assert np.isclose(correlation(exact, th.tensor(gae)), 1.0)


def test_linear_model_is_odd_about_the_policy_mean():
    th.manual_seed(0)
    model = AdvantageModel("linear", obs_dim=3, action_dim=2, low=-th.ones(2), high=th.ones(2))
    obs, mu, sigma = th.randn(8, 3), th.randn(8, 2), th.rand(8, 2) + 0.1
    offsets = th.randn(8, 4, 2)
    with th.no_grad():
        plus = model(obs, mu.unsqueeze(1) + offsets, mu, sigma)
        minus = model(obs, mu.unsqueeze(1) - offsets, mu, sigma)
        at_mean = model(obs, mu.unsqueeze(1), mu, sigma)
    assert th.allclose(plus, -minus, atol=1e-6)
    assert th.allclose(at_mean, th.zeros_like(at_mean))
    assert plus.abs().max() > 1e-3


def test_mlp_model_clips_actions_to_the_bounds_it_is_given():
    th.manual_seed(0)
    model = AdvantageModel("mlp", obs_dim=3, action_dim=1, low=-2 * th.ones(1), high=2 * th.ones(1))
    obs, mu, sigma = th.randn(1, 3), th.zeros(1, 1), th.ones(1, 1)
    with th.no_grad():
        values = model(obs, th.tensor([[[1.5], [2.0], [9.0]]]), mu, sigma)
    assert values[0, 0] != values[0, 1] and values[0, 1] == values[0, 2]  # 1.5 is inside the bounds, 9 clips to 2


def test_collect_reads_a_saved_zoo_run(tmp_path):
    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=1, seed=0))
    WPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0).learn(64).save(tmp_path / "Pendulum-v1.zip")
    (tmp_path / "Pendulum-v1").mkdir()
    env.save(str(tmp_path / "Pendulum-v1" / "vecnormalize.pkl"))
    _, data = collect("wpo", "Pendulum-v1", tmp_path, steps=100, seed=0)
    assert {key: tuple(value.shape) for key, value in data.items()} == {
        "obs": (100, 3), "act": (100, 1), "adv": (100,), "mu": (100, 1), "sigma": (100, 1), "low": (1,), "high": (1,)}
    assert data["low"].item() == -2.0 and data["high"].item() == 2.0  # Pendulum's bounds, which the mlp clips to
    assert all(value.dtype == th.float32 and th.isfinite(value).all() for value in data.values())
    assert data["adv"].std() > 0
