"""Train a model and print its deterministic evaluation return.

    python -m sb3_wasserstein.demo                       # SPO on CartPole-v1, 100k steps
    python -m sb3_wasserstein.demo --algo wpo --env Pendulum-v1 --steps 200000
"""

from __future__ import annotations

import argparse

import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_wasserstein import SPO, WPO

ALGORITHMS = {"wpo": WPO, "spo": SPO}

SETTINGS = {
    # rl-zoo3's PPO entries (without gSDE), with our trust region.
    "CartPole-v1": dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, learning_rate=1e-3,
                        delta=0.1),
    "Pendulum-v1": dict(n_envs=4, n_steps=1024, batch_size=64, gae_lambda=0.95, gamma=0.9, n_epochs=10, learning_rate=1e-3,
                        delta=0.1),
}
"""Settings that reach the learning tests' thresholds (CartPole >= 475 in 100k steps, Pendulum >= -250 in 200k)."""


def train_and_evaluate(algo: str, env_id: str, steps: int, seed: int = 0, verbose: int = 0):
    """Train ``algo`` on ``env_id`` for ``steps`` env steps; return the model and its mean/std return
    over 10 deterministic episodes."""
    settings = dict(SETTINGS.get(env_id, {}))
    env = make_vec_env(env_id, n_envs=settings.pop("n_envs", 1), seed=seed)
    model = ALGORITHMS[algo]("MlpPolicy", env, seed=seed, verbose=verbose, **settings)
    model.learn(steps)
    eval_env = make_vec_env(env_id, n_envs=1, seed=seed + 1000)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    return model, mean, std


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", choices=sorted(ALGORITHMS), default="spo")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="path to save the trained model (zip)")
    args = parser.parse_args()
    th.set_num_threads(1)
    model, mean, std = train_and_evaluate(args.algo, args.env, args.steps, args.seed, verbose=1)
    if args.save:
        model.save(args.save)
    print(f"{args.algo.upper()} on {args.env} after {args.steps} steps: "
          f"mean return {mean:.1f} +- {std:.1f} (10 deterministic episodes)")


if __name__ == "__main__":
    main()
