"""Learning: a fixed seed and budget must reach a return threshold (deterministic, 10 episodes).

Training stops as soon as an evaluation clears the threshold; the test fails if none does within
the budget.
"""

import pytest
from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.env_util import make_vec_env

from sb3_wasserstein import SPO, WPO
from sb3_wasserstein.demo import SETTINGS


def reaches(algorithm, env_id, settings, budget, threshold, eval_freq):
    settings = dict(settings)
    env = make_vec_env(env_id, n_envs=settings.pop("n_envs"), seed=0)
    model = algorithm("MlpPolicy", env, seed=0, **settings)
    evaluation = EvalCallback(
        make_vec_env(env_id, n_envs=1, seed=1000),
        callback_on_new_best=StopTrainingOnRewardThreshold(threshold),
        n_eval_episodes=10,
        eval_freq=eval_freq // env.num_envs,
        deterministic=True,
        verbose=0,
    )
    model.learn(budget, callback=evaluation)
    print(f"{algorithm.__name__} {env_id}: best {evaluation.best_mean_reward:.1f} after {model.num_timesteps} steps")
    return evaluation.best_mean_reward


@pytest.mark.learning
@pytest.mark.parametrize("algorithm", [WPO, SPO])
def test_cartpole(algorithm):
    assert reaches(algorithm, "CartPole-v1", SETTINGS["CartPole-v1"], 100_000, 475, eval_freq=5_000) >= 475


@pytest.mark.learning
@pytest.mark.parametrize("algorithm", [WPO, SPO])
def test_pendulum(algorithm):
    assert reaches(algorithm, "Pendulum-v1", SETTINGS["Pendulum-v1"], 200_000, -250, eval_freq=8_192) >= -250
