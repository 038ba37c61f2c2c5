"""Env steps per second of a suite's algorithms with their benchmark entries, side by side in one run.

    python -m sb3_wasserstein.benchmarks.entry_throughput zoo_configs/onpolicy.yml --env Walker2d-v5 --steps 8192 --rounds 3
    python -m sb3_wasserstein.benchmarks.entry_throughput zoo_configs/offpolicy.yml --env HalfCheetah-v5 \\
        --warmup 10000 --steps 3000 --rounds 2
    python -m sb3_wasserstein.benchmarks.entry_throughput zoo_configs/onpolicy.yml --env HalfCheetah-v5 \\
        --algos wpo ppo --hyperparams n_candidates:2

Each algorithm of the suite file is built by rl-zoo3's ``ExperimentManager`` from its ``conf_file``, as the
benchmark's ``train`` builds it (env wrappers, ``n_envs``, normalisation, schedules), then trained for
``--warmup`` steps untimed (e.g. an off-policy entry's ``learning_starts``) and ``--steps`` steps timed, without
evaluations, on one torch thread. Rounds interleave the algorithms so that machine load hits them alike. Writes
one CSV row per timed run (with the torch version and the CPU model) and prints each algorithm's median steps per
second and its median ratio, round by round, to the suite's ``speed_baseline``. ``--hyperparams`` overrides the
entries of every algorithm but the baseline (rl-zoo3's syntax), ``--baseline-hyperparams`` the baseline's; each row
records them. E.g. PPO with the multi-tensor Adam our policies default to (its Walker2d entry has no ``policy_kwargs``):

    python -m sb3_wasserstein.benchmarks.entry_throughput zoo_configs/onpolicy.yml --env Walker2d-v5 --algos wpo ppo \
        --baseline-hyperparams policy_kwargs:"dict(optimizer_kwargs=dict(eps=1e-5, foreach=True))"
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch as th
import yaml
from rl_zoo3.utils import StoreDict

from sb3_wasserstein.benchmarks.suite import machine_name
from sb3_wasserstein.zoo import register
from sb3_wasserstein.zoo.experiment import PluginExperimentManager

FIELDS = ["env", "algo", "round", "warmup", "steps", "steps_per_second", "hyperparams", "torch", "machine"]


def build_model(algo: str, conf_file: str, env_id: str, seed: int, log_folder: str, hyperparams: dict | None = None):
    """``algo`` on ``env_id`` with its entry in ``conf_file``, built by rl-zoo3's experiment manager; ``hyperparams``
    override the entry's values, as the zoo's ``--hyperparams`` does."""
    register()
    manager = PluginExperimentManager(argparse.Namespace(), algo, env_id, log_folder, eval_freq=-1, seed=seed,
                                      config=conf_file, verbose=0, hyperparams=hyperparams)
    with contextlib.redirect_stdout(io.StringIO()):  # rl-zoo3 prints the hyperparameters and log path
        model, _ = manager.setup_experiment()
    return model


def overrides_text(hyperparams: dict) -> str:
    """``hyperparams`` as the zoo's ``--hyperparams`` takes them, ``key:value`` separated by spaces (for a CSV row)."""
    return " ".join(f"{key}:{value!r}" for key, value in hyperparams.items())


def steps_per_second(algo: str, conf_file: str, env_id: str, steps: int, warmup: int = 0, seed: int = 0,
                     hyperparams: dict | None = None) -> float:
    """Env steps per second of ``steps`` training steps after ``warmup`` untimed ones, the entry overridden by
    ``hyperparams``. An on-policy ``learn`` ends on a whole rollout, so the rate counts the steps it trained."""
    with tempfile.TemporaryDirectory() as log_folder:
        model = build_model(algo, conf_file, env_id, seed, log_folder, hyperparams)
        if warmup:
            model.learn(warmup)
        steps_before = model.num_timesteps
        start = time.perf_counter()
        model.learn(steps, reset_num_timesteps=not warmup)
        seconds = time.perf_counter() - start
        model.get_env().close()
    return (model.num_timesteps - steps_before) / seconds


def ratios_to_baseline(rows: list[dict], baseline: str) -> dict[str, float]:
    """Each algorithm's median, over rounds, of its steps per second over the baseline's in the same round."""
    by_round = {(row["algo"], row["round"]): row["steps_per_second"] for row in rows}
    ratios: dict[str, list[float]] = {}
    for (algo, round_), speed in by_round.items():
        ratios.setdefault(algo, []).append(speed / by_round[(baseline, round_)])
    return {algo: float(np.median(values)) for algo, values in ratios.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", help="a suite file of zoo_configs/")
    parser.add_argument("--env", required=True)
    parser.add_argument("--algos", nargs="+", default=None, help="default: every algorithm of the suite")
    parser.add_argument("--steps", type=int, default=8192)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", default=None, help="default: docs/throughput_<suite>_<env>.csv")
    parser.add_argument("--hyperparams", type=str, nargs="+", action=StoreDict, default={},
                        help="override the entries but the baseline's, e.g. n_candidates:2 (as rl-zoo3's train)")
    parser.add_argument("--baseline-hyperparams", type=str, nargs="+", action=StoreDict, default={},
                        help="override the baseline's entry, as --hyperparams the others'")
    args = parser.parse_args()
    suite = yaml.safe_load(Path(args.suite).read_text())
    algos = args.algos or list(suite["algorithms"])
    unknown = [algo for algo in algos if algo not in suite["algorithms"]]
    if args.env not in suite["envs"] or unknown or suite["speed_baseline"] not in algos:
        raise SystemExit(f"--env must be one of {list(suite['envs'])} and --algos among {list(suite['algorithms'])} "
                         f"including the baseline {suite['speed_baseline']!r}; got {args.env!r}, {algos}")
    th.set_num_threads(1)
    rows = []
    output = Path(args.output or f"docs/throughput_{suite['suite']}_{args.env}.csv")
    with output.open("w", newline="") as file:  # row by row: a stopped run keeps the rounds it finished
        writer = csv.DictWriter(file, fieldnames=FIELDS)
        writer.writeheader()
        for round_ in range(args.rounds):
            for algo in algos:
                overrides = args.baseline_hyperparams if algo == suite["speed_baseline"] else args.hyperparams
                speed = steps_per_second(algo, suite["algorithms"][algo]["conf_file"], args.env, args.steps, args.warmup,
                                         hyperparams=overrides)
                rows.append(dict(env=args.env, algo=algo, round=round_, warmup=args.warmup, steps=args.steps,
                                 steps_per_second=round(speed, 1),
                                 hyperparams=overrides_text(overrides),
                                 torch=th.__version__, machine=machine_name()))
                writer.writerow(rows[-1])
                file.flush()
                print(f"round {round_} {algo}: {speed:.1f} steps/s", flush=True)
    for algo, ratio in ratios_to_baseline(rows, suite["speed_baseline"]).items():
        median = np.median([row["steps_per_second"] for row in rows if row["algo"] == algo])
        print(f"{algo}: {median:.1f} steps/s, {ratio:.2f}x {suite['speed_baseline']}")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
