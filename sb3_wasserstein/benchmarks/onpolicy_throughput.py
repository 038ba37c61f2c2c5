"""Env steps per second of WPO and SPO next to SB3 PPO, same settings, side by side in one run.

    python -m sb3_wasserstein.benchmarks.onpolicy_throughput --env HalfCheetah-v5 --steps 8192 --rounds 2
    python -m sb3_wasserstein.benchmarks.onpolicy_throughput --rounds 4 --adam default fused

Settings are rl-zoo3's PPO entry for HalfCheetah (n_steps 512, batch 64, 20 epochs, 256x256 ReLU nets)
shared by all three; rounds interleave the algorithms so that machine load hits them alike. ``--adam fused``
gives all three torch's fused Adam (``policy_kwargs=dict(optimizer_kwargs=dict(fused=True))``) instead of
SB3's default, the per-parameter loop; WPO and SPO take two optimizer steps per minibatch (critic, projection)
where PPO takes one. Writes ``docs/throughput_onpolicy.csv`` (one row per run, with the Adam, the torch version and
the CPU model) and prints the ratios to PPO for each Adam.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from torch import nn

from sb3_wasserstein import SPO, WPO
from sb3_wasserstein.benchmarks.suite import machine_name

SHARED = dict(n_steps=512, batch_size=64, n_epochs=20, gamma=0.98, gae_lambda=0.92, learning_rate=2e-5, max_grad_norm=0.8,
              policy_kwargs=dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[256, 256], vf=[256, 256])))


def make_model(algorithm, env_id: str, seed: int, adam: str = "default"):
    """``algorithm`` with the shared settings, and torch's fused Adam if ``adam == "fused"`` (SB3's default otherwise)."""
    settings = dict(SHARED, policy_kwargs=dict(SHARED["policy_kwargs"]))
    if adam == "fused":
        settings["policy_kwargs"]["optimizer_kwargs"] = dict(fused=True)
    return algorithm("MlpPolicy", make_vec_env(env_id, n_envs=1, seed=seed), seed=seed, **settings)


def steps_per_second(algorithm, env_id: str, steps: int, seed: int, adam: str = "default") -> float:
    model = make_model(algorithm, env_id, seed, adam)
    start = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--steps", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--adam", nargs="+", choices=("default", "fused"), default=["default"],
                        help="Adam implementations to time, each for all three algorithms in every round")
    parser.add_argument("--out", type=Path, default=Path("docs/throughput_onpolicy.csv"))
    args = parser.parse_args()
    th.set_num_threads(1)

    rows = []
    for round_index in range(args.rounds):
        for adam in args.adam:
            for algorithm in (PPO, WPO, SPO):
                fps = steps_per_second(algorithm, args.env, args.steps, seed=round_index, adam=adam)
                rows.append(dict(round=round_index, algorithm=algorithm.__name__, adam=adam, env=args.env, steps=args.steps,
                                 steps_per_second=fps, torch=th.__version__, machine=machine_name()))
                print(f"round {round_index} {algorithm.__name__:4s} {adam:7s} Adam {fps:7.1f} steps/s", flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for adam in args.adam:
        mean = {name: np.mean([r["steps_per_second"] for r in rows if r["algorithm"] == name and r["adam"] == adam])
                for name in ("PPO", "WPO", "SPO")}
        for name in ("WPO", "SPO"):
            print(f"{adam} Adam, {name}: {mean[name]:.0f} steps/s, {mean[name] / mean['PPO']:.2f}x PPO ({mean['PPO']:.0f})")


if __name__ == "__main__":
    main()
