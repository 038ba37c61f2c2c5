"""Whether a HalfCheetah-v5 policy's poor deterministic episodes are ones where the cheetah turned over.

    python -m sb3_wasserstein.benchmarks.halfcheetah_flips --algo wpo --seed 3 -n 600000 --every 50000 \\
        --output docs/halfcheetah_flips.csv [--hyperparams delta:0.02]

Trains ``algo`` from its benchmark entry (built by rl-zoo3's experiment manager, as the suite's ``train`` builds it)
and every ``--every`` steps runs ``--episodes`` deterministic episodes on a fresh HalfCheetah-v5 (observations
normalised with the training statistics of that moment). Per episode it records the return, the share of steps with
the torso upside down (``cos`` of the root's pitch, observation 1, below 0: the hinge is unbounded), the step of
the first such step (-1: none) and the mean forward speed (observation 8). One CSV row per episode, written as
each evaluation ends. ``--hyperparams`` overrides values of the entry (rl-zoo3's syntax); each row records them.

    python -m sb3_wasserstein.benchmarks.halfcheetah_flips --summary docs/halfcheetah_flips.csv

prints, per run (algorithm, seed, overrides), each evaluation's mean return with the number of its episodes that
turned over in brackets, and the count over all of them: the tables of docs/wpo.md.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from collections import defaultdict
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th
from rl_zoo3.utils import StoreDict
from stable_baselines3.common.callbacks import BaseCallback

from sb3_wasserstein.benchmarks.entry_throughput import build_model, overrides_text

CONF_FILES = {"wpo": "hyperparams/wpo.yml", "spo": "hyperparams/spo.yml", "ppo": "zoo_configs/baselines/ppo.py"}
FIELDS = ["algo", "seed", "timesteps", "episode", "return", "upside_down_share", "first_upside_down_step", "mean_speed",
          "hyperparams"]


def roll_out(model, env: gym.Env, episode_seed: int) -> dict:
    """One deterministic episode of ``model`` on HalfCheetah-v5 ``env``, observations normalised as in training
    (when the model's env is a ``VecNormalize``)."""
    vec_normalize = model.get_vec_normalize_env()
    observation, _ = env.reset(seed=episode_seed)
    total, pitches, speeds, done = 0.0, [], [], False
    while not done:
        pitches.append(observation[1])
        speeds.append(observation[8])
        model_input = observation if vec_normalize is None else vec_normalize.normalize_obs(observation)
        action, _ = model.predict(model_input, deterministic=True)
        observation, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        done = terminated or truncated
    upside_down = np.cos(np.array(pitches)) < 0
    first = int(np.argmax(upside_down)) if upside_down.any() else -1
    return {"return": round(total, 1), "upside_down_share": round(float(upside_down.mean()), 3),
            "first_upside_down_step": first, "mean_speed": round(float(np.mean(speeds)), 2)}


class FlipCheck(BaseCallback):
    """Every ``every`` steps, ``episodes`` deterministic episodes, each appended to ``output`` as a row."""

    def __init__(self, algo: str, seed: int, every: int, episodes: int, output: Path, hyperparams: str = ""):
        super().__init__()
        self.algo, self.seed, self.every, self.episodes, self.output = algo, seed, every, episodes, output
        self.hyperparams = hyperparams
        self.next_check = every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_check:  # with several envs the step count moves by more than one
            self.next_check += self.every
            env = gym.make("HalfCheetah-v5")
            rows = [roll_out(self.model, env, episode_seed=10_000 + episode) for episode in range(self.episodes)]
            env.close()
            with self.output.open("a", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=FIELDS)
                for episode, row in enumerate(rows):
                    writer.writerow(dict(algo=self.algo, seed=self.seed, timesteps=self.num_timesteps, episode=episode,
                                         **row, hyperparams=self.hyperparams))
            returns = [row["return"] for row in rows]
            print(f"{self.num_timesteps}: mean return {np.mean(returns):.1f} +- {np.std(returns):.1f}", flush=True)
        return True


def summarise(rows: list[dict]) -> list[str]:
    """One line per run (rows sharing algorithm, seed and overrides, in the order they first appear): each
    evaluation as ``<steps>k <mean return> (<episodes turned over>)``, then ``turned over <k> of <n>``.

    The rows do not name their run, so two runs of one algorithm, seed and overrides in one file cannot be told
    apart: an episode number repeated within an evaluation raises instead of mixing them."""
    runs: dict[tuple, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        evaluation = runs[row["algo"], row["seed"], row["hyperparams"]][int(row["timesteps"])]
        if any(other["episode"] == row["episode"] for other in evaluation):
            raise ValueError(f"episode {row['episode']} of {row['algo']} seed {row['seed']} ({row['hyperparams'] or 'entry'}) "
                             f"at {row['timesteps']} steps appears twice: the file holds two runs of it; keep one.")
        evaluation.append(row)
    lines = []
    for (algo, seed, hyperparams), evaluations in runs.items():
        cells, turned, episodes = [], 0, 0
        for steps, episode_rows in sorted(evaluations.items()):
            over = sum(float(row["upside_down_share"]) > 0 for row in episode_rows)
            mean = np.mean([float(row["return"]) for row in episode_rows])
            cells.append(f"{steps // 1000}k {mean:.0f} ({over})")
            turned, episodes = turned + over, episodes + len(episode_rows)
        name = f"{algo} seed {seed} ({hyperparams or 'entry'})"
        lines.append(f"{name}: {', '.join(cells)}; turned over {turned} of {episodes}")
    return lines


def check_columns(path: Path, option: str) -> None:
    """Exit with a message unless the CSV at ``path`` has this script's columns, in its order."""
    with path.open(newline="") as handle:
        header = next(csv.reader(handle), [])
    if header != FIELDS:
        raise SystemExit(f"{option} {path} has the columns {header}, and this script writes {FIELDS}: "
                         "give a new file, or add the missing columns first.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary", type=Path, help="print the runs of this CSV (as written by this script); no training")
    parser.add_argument("--algo", choices=sorted(CONF_FILES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-n", "--n-timesteps", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=50_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--hyperparams", type=str, nargs="+", action=StoreDict, default={},
                        help="override the entry's values, e.g. delta:0.02 (as rl-zoo3's train)")
    args = parser.parse_args()
    if args.summary is not None:
        check_columns(args.summary, "--summary")
        with args.summary.open(newline="") as handle:
            print("\n".join(summarise(list(csv.DictReader(handle)))))
        return
    if args.algo is None or args.output is None:
        parser.error("training needs --algo and --output (or give --summary <csv> to summarise one)")
    if args.every < 1 or args.episodes < 1:
        parser.error(f"--every and --episodes must be at least 1, got {args.every} and {args.episodes}")
    th.set_num_threads(1)
    if not args.output.exists():
        with args.output.open("w", newline="") as handle:
            csv.DictWriter(handle, fieldnames=FIELDS).writeheader()
    check_columns(args.output, "--output")
    with tempfile.TemporaryDirectory() as log_folder:
        model = build_model(args.algo, CONF_FILES[args.algo], "HalfCheetah-v5", args.seed, log_folder, args.hyperparams)
        check = FlipCheck(args.algo, args.seed, args.every, args.episodes, args.output, overrides_text(args.hyperparams))
        model.learn(args.n_timesteps, callback=check)


if __name__ == "__main__":
    main()
