"""Env steps per second of WPO and SPO next to SB3 PPO, same settings, side by side in one run.

    python -m sb3_wasserstein.benchmarks.onpolicy_throughput --env HalfCheetah-v5 --steps 8192 --rounds 2
    python -m sb3_wasserstein.benchmarks.onpolicy_throughput --rounds 4 --adam default fused
    python -m sb3_wasserstein.benchmarks.onpolicy_throughput --rounds 4 --q-net-arch 256,256 64,64

Settings are rl-zoo3's PPO entry for HalfCheetah (n_steps 512, batch 64, 20 epochs, 256x256 ReLU nets)
shared by all three; rounds interleave the algorithms so that machine load hits them alike. ``--adam fused``
gives all three torch's fused Adam (``policy_kwargs=dict(optimizer_kwargs=dict(fused=True))``) instead of
SB3's default, the per-parameter loop; WPO and SPO take two optimizer steps per minibatch (critic, projection)
where PPO takes one. ``--q-net-arch`` gives WPO's and SPO's Q head those hidden sizes (``policy_kwargs``
``q_net_arch``; ``256,256``, the V net's, is the policy's default), each timed in every round. Writes
``docs/throughput_onpolicy.csv`` (one row per run, with the Adam, the Q head, the torch version and the CPU model)
and prints the ratios to PPO for each Adam and Q head.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from torch import nn

from sb3_wasserstein import SPO, WPO
from sb3_wasserstein.benchmarks import write_rows
from sb3_wasserstein.benchmarks.suite import machine_name

SHARED = dict(n_steps=512, batch_size=64, n_epochs=20, gamma=0.98, gae_lambda=0.92, learning_rate=2e-5, max_grad_norm=0.8,
              policy_kwargs=dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU,
                                 net_arch=dict(pi=[256, 256], vf=[256, 256])))


def make_model(algorithm, env_id: str, seed: int, adam: str = "default", q_net_arch: list[int] | None = None):
    """``algorithm`` with the shared settings, and torch's fused Adam if ``adam == "fused"`` (SB3's default otherwise),
    and for WPO and SPO a Q head with hidden sizes ``q_net_arch`` (None: the policy's default)."""
    settings = dict(SHARED, policy_kwargs=dict(SHARED["policy_kwargs"]))
    if adam == "fused":
        settings["policy_kwargs"]["optimizer_kwargs"] = dict(fused=True)
    if q_net_arch is not None and algorithm is not PPO:
        settings["policy_kwargs"]["q_net_arch"] = list(q_net_arch)
    return algorithm("MlpPolicy", make_vec_env(env_id, n_envs=1, seed=seed), seed=seed, **settings)


def steps_per_second(algorithm, env_id: str, steps: int, seed: int, adam: str = "default",
                     q_net_arch: list[int] | None = None) -> float:
    model = make_model(algorithm, env_id, seed, adam, q_net_arch)
    start = time.perf_counter()
    model.learn(steps)
    return model.num_timesteps / (time.perf_counter() - start)  # learn() ends on a whole rollout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--steps", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--adam", nargs="+", choices=("default", "fused"), default=["default"],
                        help="Adam implementations to time, each for all three algorithms in every round")
    parser.add_argument("--q-net-arch", nargs="+", type=_layer_sizes, default=[None], metavar="SIZES",
                        help="Q heads to time for WPO and SPO, comma-separated hidden sizes each (default: the policy's)")
    parser.add_argument("--out", type=Path, default=Path("docs/throughput_onpolicy.csv"))
    args = parser.parse_args()
    th.set_num_threads(1)

    runs = [(PPO, None)] + [(algorithm, q_net_arch) for q_net_arch in args.q_net_arch for algorithm in (WPO, SPO)]
    rows = []
    for round_index in range(args.rounds):
        for adam in args.adam:
            for algorithm, q_net_arch in runs:
                fps = steps_per_second(algorithm, args.env, args.steps, seed=round_index, adam=adam, q_net_arch=q_net_arch)
                q_head = _q_head_name(algorithm, q_net_arch)
                rows.append(dict(round=round_index, algorithm=algorithm.__name__, adam=adam, q_net_arch=q_head, env=args.env,
                                 steps=args.steps, steps_per_second=fps, torch=th.__version__, machine=machine_name()))
                print(f"round {round_index} {algorithm.__name__:4s} {adam:7s} Adam, Q head {q_head:8s} {fps:7.1f} steps/s",
                      flush=True)

    write_rows(args.out, rows)
    for adam in args.adam:
        ppo = np.mean([r["steps_per_second"] for r in rows if r["algorithm"] == "PPO" and r["adam"] == adam])
        for algorithm, q_net_arch in runs[1:]:
            q_head = _q_head_name(algorithm, q_net_arch)
            fps = np.mean([r["steps_per_second"] for r in rows
                           if r["algorithm"] == algorithm.__name__ and r["adam"] == adam and r["q_net_arch"] == q_head])
            print(f"{adam} Adam, {algorithm.__name__} (Q head {q_head}): {fps:.0f} steps/s, {fps / ppo:.2f}x PPO ({ppo:.0f})")


def _layer_sizes(text: str) -> list[int]:
    """``"64,64"`` -> ``[64, 64]``."""
    return [int(size) for size in text.split(",")]


def _q_head_name(algorithm, q_net_arch: list[int] | None) -> str:
    """The CSV's ``q_net_arch``: ``"64x64"``, ``"default"`` (the policy's), or empty for PPO, which has none."""
    if algorithm is PPO:
        return ""
    return "default" if q_net_arch is None else "x".join(str(size) for size in q_net_arch)


if __name__ == "__main__":
    main()
