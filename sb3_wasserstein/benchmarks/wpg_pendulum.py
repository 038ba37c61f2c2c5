"""WPG on Pendulum-v1 for a given actor update, seed and particle count: the runs behind docs/wpg.md's choice of default.

    python -m sb3_wasserstein.benchmarks.wpg_pendulum --actor-update langevin --seed 0 --n-particles 4

rl-zoo3's SAC Pendulum settings (learning rate 1e-3, 1000 random steps first, default networks),
20k steps; a 5-episode deterministic evaluation every 1000 steps; at the end a 10-episode
deterministic evaluation (evaluation env seeded 1000). One torch thread.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_wasserstein import WPG


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actor-update", default="langevin", choices=["langevin", "parametric"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-particles", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20_000)
    arguments = parser.parse_args()
    th.set_num_threads(1)

    model = WPG(
        "MlpPolicy",
        "Pendulum-v1",
        learning_rate=1e-3,
        learning_starts=1000,
        seed=arguments.seed,
        actor_update=arguments.actor_update,
        n_particles=arguments.n_particles,
    )
    with tempfile.TemporaryDirectory() as log_path:  # EvalCallback keeps its history only with a log path
        evaluation_env = Monitor(gym.make("Pendulum-v1"))
        evaluation_env.reset(seed=1)  # later resets continue this stream: reproducible evaluations
        evaluation = EvalCallback(evaluation_env, eval_freq=1000, n_eval_episodes=5, log_path=log_path, verbose=0)
        started = time.perf_counter()
        model.learn(arguments.steps, callback=evaluation)
    seconds = time.perf_counter() - started
    env = Monitor(gym.make("Pendulum-v1"))
    env.reset(seed=1000)
    mean_return, std_return = evaluate_policy(model, env, n_eval_episodes=10, deterministic=True)
    returns = [round(float(np.mean(r))) for r in evaluation.evaluations_results]
    print(
        f"actor_update={arguments.actor_update} n_particles={arguments.n_particles} seed={arguments.seed} "
        f"steps={model.num_timesteps} seconds={seconds:.0f} final_10_episodes={mean_return:.1f}+-{std_return:.1f}"
    )
    print("evaluations every 1000 steps:", returns)


if __name__ == "__main__":
    main()
