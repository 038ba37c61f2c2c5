"""Environment steps per second of WPG next to SB3's SAC, side by side, same networks, batch and gradient steps.

    python -m sb3_wasserstein.benchmarks.offpolicy_throughput --env HalfCheetah-v5 --steps 3000 --learning-starts 1000 \
        --output docs/wpg_throughput.csv

Each algorithm collects ``learning_starts`` random steps first (not timed), then the timed
``steps`` of training (one gradient step per environment step). The runs alternate between the
algorithms ``--repeats`` times so that load from other processes hits them alike; the CSV has one
row per run and the summary prints the ratio WPG / SAC per repeat and its median. One torch thread.
``--profile N`` runs each model's training under cProfile and prints its ``N`` functions of largest
cumulative time (where the time goes; profiling slows both algorithms).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from pathlib import Path

import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback

from sb3_wasserstein import WPG
from sb3_wasserstein.benchmarks import write_rows
from sb3_wasserstein.benchmarks.suite import machine_name


class StepTimer(BaseCallback):
    """Wall time of the environment steps after ``learning_starts`` (the training phase)."""

    def __init__(self, learning_starts: int):
        super().__init__()
        self.learning_starts = learning_starts
        self.started_at: float | None = None
        self.timed_steps = 0

    def _on_training_start(self) -> None:
        if self.learning_starts == 0:  # no random steps: the first step is timed too
            self.started_at = time.perf_counter()

    def _on_step(self) -> bool:
        if self.started_at is None and self.num_timesteps == self.learning_starts:
            self.started_at = time.perf_counter()
        elif self.started_at is not None:
            self.timed_steps += 1
        return True


def measure(name: str, env_id: str, steps: int, learning_starts: int, seed: int, profile: int = 0, **kwargs) -> dict:
    algorithm = {"SAC": SAC, "WPG": WPG}[name.split("-")[0]]
    model = algorithm(
        "MlpPolicy", env_id, learning_starts=learning_starts, batch_size=256, gradient_steps=1, seed=seed, **kwargs
    )
    timer = StepTimer(learning_starts)
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    model.learn(learning_starts + steps, callback=timer)
    if profiler:
        profiler.disable()
        print(f"--- {name}: the {profile} functions of largest cumulative time")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
    elapsed = time.perf_counter() - timer.started_at
    return dict(algorithm=name, env=env_id, timed_steps=timer.timed_steps, seconds=round(elapsed, 2),
                steps_per_second=round(timer.timed_steps / elapsed, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--parametric", action="store_true", help="also time WPG's parametric actor update")
    parser.add_argument("--also-particles", type=int, default=None,
                        help="also time the Langevin update with this many particles")
    parser.add_argument("--first-critic", action="store_true", help="also time the Langevin update with drift_critic='first'")
    parser.add_argument("--bfloat16-drift", action="store_true",
                        help="also time the Langevin update with drift_precision='bfloat16'")
    parser.add_argument("--profile", type=int, default=0, help="print this many functions of a cProfile of each run")
    parser.add_argument("--output", type=Path, default=Path("docs/wpg_throughput.csv"))
    arguments = parser.parse_args()
    th.set_num_threads(1)

    variants = {"SAC": {}, "WPG-langevin": dict(actor_update="langevin")}
    if arguments.parametric:
        variants["WPG-parametric"] = dict(actor_update="parametric")
    if arguments.also_particles is not None:
        variants[f"WPG-langevin-n{arguments.also_particles}"] = dict(n_particles=arguments.also_particles)
    if arguments.first_critic:
        variants["WPG-langevin-first-critic"] = dict(drift_critic="first")
    if arguments.bfloat16_drift:
        variants["WPG-langevin-bfloat16-drift"] = dict(drift_precision="bfloat16")
    rows = []
    for repeat in range(arguments.repeats):
        for name, kwargs in variants.items():
            row = measure(name, arguments.env, arguments.steps, arguments.learning_starts, seed=repeat,
                          profile=arguments.profile, **kwargs)
            row.update(repeat=repeat, torch=th.__version__, machine=machine_name())
            rows.append(row)
            print(row, flush=True)
    write_rows(arguments.output, rows)
    for name in variants:
        if name == "SAC":
            continue
        ratios = [
            round(wpg["steps_per_second"] / sac["steps_per_second"], 3)
            for wpg, sac in zip((r for r in rows if r["algorithm"] == name), (r for r in rows if r["algorithm"] == "SAC"))
        ]
        print(f"{name} / SAC steps per second: median ratio {statistics.median(ratios):.2f}, per repeat {ratios}")


if __name__ == "__main__":
    main()
