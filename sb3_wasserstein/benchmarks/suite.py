"""Run a benchmark suite of ``zoo_configs/`` through the zoo entry point, then aggregate it.

    python -m sb3_wasserstein.benchmarks.suite zoo_configs/onpolicy.yml --envs CartPole-v1 Pendulum-v1 --workers 2
    python -m sb3_wasserstein.benchmarks.suite zoo_configs/onpolicy.yml --aggregate-only

The seeds are the suite's ``seeds``, or an env's own ``seeds`` where it lists them.
Every (env, algorithm, seed) cell is one ``python -m sb3_wasserstein.zoo train`` process, in its own
log folder ``<log_folder>/seed<seed>/``; ``--workers`` of them run at once (one torch thread each).
Each finished run appends a row (wall time, env steps per second, the machine's CPU and the day the run started, as
one machine's speed moves from day to day) to ``<out>/<suite>_runs.csv`` and
writes its learning curve (rl-zoo3's ``evaluations.npz`` as text) to
``<out>/curves/<suite>/<env>_<algo>_seed<seed>.csv``. Its training log (``--verbose 1``: the
``train/`` figures of every iteration) is kept as ``<log_folder>/seed<seed>/<algo>_<env>.log``.
A cell with a curve there counts as done and is skipped on the next call, so results survive the
(uncommitted) ``logs/`` folder, and a killed session loses only the runs it was in. Stopping the
runner (SIGTERM, Ctrl-C) stops its training processes too; their cells stay to do. Aggregation
reads those curves for every finished cell of the suite and writes ``<out>/<suite>_summary.csv``
(final return: mean, std and IQM over seeds; the late mean, each run's mean evaluation over the last tenth of its
steps, averaged over seeds; the gap to the best baseline with its 95% interval, paired by seed, and the
steps-per-second ratio to the suite's ``speed_baseline``, both over the seeds that every algorithm has finished, the
ratio only over seeds whose two runs were timed on the same machine) and one learning-curve PNG per env.
``--collect <csv>`` also writes every evaluation of the selected cells that have finished to one CSV (env, algo,
seed, timesteps, mean and std of the episode returns), as the held-out files of ``docs/`` hold them.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch as th
import yaml

from sb3_wasserstein.benchmarks import write_rows

RUNS_FIELDS = ["env", "algo", "seed", "n_timesteps", "seconds", "steps_per_second", "status", "machine"]
"""The columns of ``<suite>_runs.csv``; rows written before ``machine`` existed read it as empty (not recorded)."""


class Cell(NamedTuple):
    env: str
    algo: str
    seed: int


def suite_cells(suite: dict) -> list[Cell]:
    """Every (env, algorithm, seed) cell of the suite: the suite's ``seeds``, or an env's own ``seeds`` where it lists them."""
    return [
        Cell(env, algo, seed)
        for env, settings in suite["envs"].items()
        for seed in settings.get("seeds", suite["seeds"])
        for algo in suite["algorithms"]
    ]


def run_folder(suite: dict, cell: Cell) -> Path:
    """rl-zoo3's run folder of one cell (the first run id, as each seed has its own log folder)."""
    return Path(suite["log_folder"]) / f"seed{cell.seed}" / cell.algo / f"{cell.env}_1"


def curve_file(suite: dict, cell: Cell, out: Path) -> Path:
    """Where a finished cell's learning curve is kept (under ``out``, so it can be committed)."""
    return out / "curves" / suite["suite"] / f"{cell.env}_{cell.algo}_seed{cell.seed}.csv"


def is_done(suite: dict, cell: Cell, out: Path) -> bool:
    return curve_file(suite, cell, out).exists()


def save_curve(suite: dict, cell: Cell, out: Path) -> None:
    """Copy a finished run's evaluations (steps, mean and std of the episode returns) to its curve file."""
    data = np.load(run_folder(suite, cell) / "evaluations.npz")
    path = curve_file(suite, cell, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = np.column_stack([data["timesteps"], data["results"].mean(axis=1), data["results"].std(axis=1)])
    np.savetxt(path, table, fmt=["%d", "%.4f", "%.4f"], delimiter=",", header="timesteps,mean_return,std_return", comments="")


def curve_table(suite: dict, cell: Cell, out: Path) -> np.ndarray:
    """A finished cell's curve file as ``[n, 3]``: evaluation steps, mean and std of the episode returns."""
    return np.loadtxt(curve_file(suite, cell, out), delimiter=",", skiprows=1, ndmin=2)


def load_curve(suite: dict, cell: Cell, out: Path) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation steps and mean returns of a finished cell."""
    table = curve_table(suite, cell, out)
    return table[:, 0], table[:, 1]


def collect_curves(suite: dict, cells: list[Cell], out: Path) -> list[dict]:
    """One row per evaluation of every finished cell of ``cells``, in their order: env, algo, seed, timesteps, mean
    and std of the episode returns."""
    rows = []
    for cell in cells:
        if not is_done(suite, cell, out):
            continue
        rows.extend(dict(env=cell.env, algo=cell.algo, seed=cell.seed, timesteps=int(steps), mean_return=f"{mean:.4f}",
                         std_return=f"{std:.4f}") for steps, mean, std in curve_table(suite, cell, out))
    return rows


def train_command(suite: dict, cell: Cell) -> list[str]:
    algorithm = suite["algorithms"][cell.algo]
    return [
        sys.executable, "-m", "sb3_wasserstein.zoo", "train",
        "--algo", cell.algo, "--env", cell.env,
        "-n", str(int(suite["envs"][cell.env]["n_timesteps"])),
        "--seed", str(cell.seed),
        "--eval-freq", str(suite["eval_freq"]), "--eval-episodes", str(suite["eval_episodes"]),
        "--n-eval-envs", str(suite.get("n_eval_envs", 1)),
        "-f", str(Path(suite["log_folder"]) / f"seed{cell.seed}"),
        "--conf-file", algorithm["conf_file"],
        "--num-threads", "1", "--verbose", "1",
    ]  # fmt: skip


def machine_name() -> str:
    """The CPU model (``model name`` of ``/proc/cpuinfo``, else what ``platform`` knows) and the vector instructions
    torch's kernels use on it, e.g. ``AMD EPYC (AVX2)``: one model name covers CPUs of several generations.

    Steps per second compare only between runs on one machine.
    """
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model} ({th.backends.cpu.get_cpu_capability()})"


def append_run_row(runs_csv: Path, row: dict) -> None:
    """Append one run's row to ``runs_csv``, first rewriting a file of older columns (missing ones left empty)."""
    rows, rewrite = [row], not runs_csv.exists()
    if not rewrite:
        with runs_csv.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames != RUNS_FIELDS:
                rows, rewrite = [*reader, row], True
    with runs_csv.open("w" if rewrite else "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RUNS_FIELDS, restval="")
        if rewrite:
            writer.writeheader()
        writer.writerows(rows)


_running: set[subprocess.Popen] = set()  # the training processes of this runner, stopped with it
_running_lock = threading.Lock()
_runs_csv_lock = threading.Lock()
_stopping = threading.Event()


def stop_runs(signum: int, frame) -> None:
    """Signal handler (SIGTERM, SIGINT): end the running cells, start no more, and exit.

    Their cells keep no curve, so the next call runs them again; finished cells are untouched.
    """
    with _running_lock:
        _stopping.set()
        for process in _running:
            process.terminate()
    raise SystemExit(128 + signum)


def run_cell(suite: dict, cell: Cell, out: Path) -> None:
    """Train one cell from scratch, save its curve and append its timing to ``<out>/<suite>_runs.csv``."""
    log = Path(suite["log_folder"]) / f"seed{cell.seed}" / f"{cell.algo}_{cell.env}.log"
    with _running_lock:
        if _stopping.is_set():  # the runner is stopping: leave this cell's old run folder and log alone
            return
        shutil.rmtree(run_folder(suite, cell).parent / f"{cell.env}_1", ignore_errors=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        start, day = time.perf_counter(), time.strftime("%Y-%m-%d", time.gmtime())
        with log.open("w") as handle:
            process = subprocess.Popen(train_command(suite, cell), stdout=handle, stderr=subprocess.STDOUT,
                                       env={**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
        _running.add(process)
    returncode = process.wait()
    with _running_lock:
        _running.discard(process)
        if _stopping.is_set():  # stopped with the runner: not a result, the cell stays to do
            return
    seconds = time.perf_counter() - start
    n_timesteps = int(suite["envs"][cell.env]["n_timesteps"])
    folder = run_folder(suite, cell)
    finished = returncode == 0 and (folder / f"{cell.env}.zip").exists() and (folder / "evaluations.npz").exists()
    if finished:
        save_curve(suite, cell, out)
    status = "ok" if finished else f"failed ({returncode}), see {log}"
    runs_csv = out / f"{suite['suite']}_runs.csv"
    speed = f"{n_timesteps / seconds:.1f}"
    row = dict(env=cell.env, algo=cell.algo, seed=cell.seed, n_timesteps=n_timesteps, seconds=f"{seconds:.1f}",
               steps_per_second=speed, status=status, machine=f"{machine_name()}, {day}")
    with _runs_csv_lock:  # two cells finishing together: one header, written first
        append_run_row(runs_csv, row)
    print(f"{cell.env} {cell.algo} seed {cell.seed}: {status}, {seconds:.0f} s", flush=True)


def interquartile_mean(values: np.ndarray) -> float:
    """Mean of the middle half of the sorted values (IQM), with fractional weights at the quartiles."""
    values = np.sort(values)
    n = len(values)
    weights = np.clip(np.minimum(np.arange(1, n + 1), n - np.arange(n)) - n / 4, 0, 1)
    return float(np.sum(weights * values) / np.sum(weights))


LATE_FRACTION = 0.1
"""The late mean averages each run's evaluations over this last fraction of its steps (from 900k on in a 1M run)."""


def late_mean(steps: np.ndarray, returns: np.ndarray, fraction: float = LATE_FRACTION) -> float:
    """Mean evaluation return at ``steps >= (1 - fraction) * steps[-1]``: the final level, less at the mercy of one dip."""
    return float(returns[steps >= (1 - fraction) * steps[-1]].mean())


class Speed(NamedTuple):
    steps_per_second: float
    machine: str  # empty: not recorded (rows from before the column)


def read_speeds(runs_csv: Path) -> dict[tuple[str, str, int], Speed]:
    """Env steps per second and machine of every finished cell, keyed by (env, algo, seed).

    A cell run again replaces its earlier timing.
    """
    speeds = {}
    if runs_csv.exists():
        with runs_csv.open() as handle:
            for row in csv.DictReader(handle):
                if row["status"] == "ok":
                    speed = Speed(float(row["steps_per_second"]), row.get("machine") or "")
                    speeds[(row["env"], row["algo"], int(row["seed"]))] = speed
    return speeds


def paired_interval(differences: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Student's t interval for the mean of per-seed differences ``d_s = ours_s - baseline_s``.

    ``mean(d) -/+ t_{(1 + confidence) / 2, n - 1} std(d) / sqrt(n)``, with ``std`` the sample standard deviation
    (``ddof=1``). The two runs of a seed share its environment seeds, so their difference is one draw of the gap;
    the interval assumes the draws are independent and roughly normal. ``(nan, nan)`` for fewer than two seeds.
    """
    from scipy import stats

    n = len(differences)
    if n < 2:
        return np.nan, np.nan
    half_width = stats.t.ppf((1 + confidence) / 2, n - 1) * np.std(differences, ddof=1) / np.sqrt(n)
    return float(np.mean(differences) - half_width), float(np.mean(differences) + half_width)


def compare_to_baselines(suite: dict, env: str, algo: str, finals: dict, speeds: dict) -> dict:
    """Gap to the best baseline and speed ratio, over the seeds that every algorithm of the suite has finished on ``env``.

    Restricting both sides to the same seeds keeps a partial suite honest: averaging whatever is
    done would compare, say, two seeds of ours with one of the baseline. The gap's interval is
    :func:`paired_interval` of the per-seed differences on those seeds. The speed ratio further
    keeps only the seeds whose two runs were timed on the same machine (or both before machines were
    recorded): a ratio across two machines measures the machines. ``finals`` maps (env, algo) to
    {seed: final return}; ``speeds`` is :func:`read_speeds`.
    """
    shared = set.intersection(*(set(finals.get((env, name), {})) for name in suite["algorithms"]))
    if not shared:
        return dict(shared_seeds=0, best_baseline="", gap_to_best_baseline=np.nan, gap_ci95_low=np.nan,
                    gap_ci95_high=np.nan, speed_vs_baseline=np.nan)

    def mean_final(name: str) -> float:
        return float(np.mean([finals[(env, name)][seed] for seed in shared]))

    def speed_ratio(baseline: str) -> float:
        timed = [seed for seed in shared if (env, algo, seed) in speeds and (env, baseline, seed) in speeds
                 and speeds[(env, algo, seed)].machine == speeds[(env, baseline, seed)].machine]
        if not timed:
            return np.nan
        ours = np.mean([speeds[(env, algo, seed)].steps_per_second for seed in timed])
        return float(ours / np.mean([speeds[(env, baseline, seed)].steps_per_second for seed in timed]))

    best = max((name for name, spec in suite["algorithms"].items() if spec.get("baseline")), key=mean_final)
    differences = np.array([finals[(env, algo)][seed] - finals[(env, best)][seed] for seed in sorted(shared)])
    low, high = paired_interval(differences) if algo != best else (np.nan, np.nan)  # the best baseline: the reference
    speed_baseline = suite.get("speed_baseline")
    return dict(shared_seeds=len(shared), best_baseline=best, gap_to_best_baseline=float(differences.mean()),
                gap_ci95_low=low, gap_ci95_high=high,
                speed_vs_baseline=speed_ratio(speed_baseline) if speed_baseline else np.nan)


def aggregate(suite: dict, cells: list[Cell], out: Path) -> list[dict]:
    """Final returns over seeds, steps per second, and learning-curve PNGs; returns the summary rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speeds = read_speeds(out / f"{suite['suite']}_runs.csv")
    finals: dict[tuple[str, str], dict[int, float]] = {}
    rows = []
    for env in dict.fromkeys(cell.env for cell in cells if is_done(suite, cell, out)):
        figure, axis = plt.subplots(figsize=(6, 4))
        for algo in dict.fromkeys(cell.algo for cell in cells):
            curves = {cell.seed: load_curve(suite, cell, out) for cell in cells
                      if cell.env == env and cell.algo == algo and is_done(suite, cell, out)}
            if not curves:
                continue
            finals[(env, algo)] = {seed: returns[-1] for seed, (_, returns) in curves.items()}
            values = np.array(list(finals[(env, algo)].values()))
            timed = [speeds[(env, algo, seed)] for seed in curves if (env, algo, seed) in speeds]
            rows.append(dict(env=env, algo=algo, seeds=len(curves), final_mean=values.mean(), final_std=values.std(),
                             final_iqm=interquartile_mean(values),
                             late_mean=np.mean([late_mean(steps, returns) for steps, returns in curves.values()]),
                             steps_per_second=np.mean([speed.steps_per_second for speed in timed]) if timed else np.nan,
                             machines="; ".join(sorted({speed.machine or "not recorded" for speed in timed}))))
            length = min(len(steps) for steps, _ in curves.values())
            steps = next(iter(curves.values()))[0][:length]
            stacked = np.stack([returns[:length] for _, returns in curves.values()])
            axis.plot(steps, stacked.mean(0), label=f"{algo} ({len(curves)} seeds)")
            axis.fill_between(steps, stacked.min(0), stacked.max(0), alpha=0.2)
        axis.set(title=env, xlabel="env steps", ylabel="eval return (line: mean, band: min-max)")
        axis.legend()
        figure.tight_layout()
        figure.savefig(out / f"{suite['suite']}_{env}.png", dpi=100)
        plt.close(figure)

    for row in rows:
        row.update(compare_to_baselines(suite, row["env"], row["algo"], finals, speeds))
    with (out / f"{suite['suite']}_summary.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["env"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The summary rows as a markdown table; gaps (with their 95% interval, paired by seed) and speed ratios are over
    the seeds every algorithm has finished."""
    lines = ["| env | algo | seeds | final return, mean ± std | IQM | last tenth, mean "
             "| vs best baseline [95% interval] (shared seeds) | steps/s | speed vs baseline |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:  # an env where some algorithm has no finished seed yet shows "n/a"
        gap = "n/a"
        if r["shared_seeds"]:
            interval = "" if np.isnan(r["gap_ci95_low"]) else f" [{r['gap_ci95_low']:+.1f}, {r['gap_ci95_high']:+.1f}]"
            gap = f"{r['gap_to_best_baseline']:+.1f}{interval} ({r['best_baseline']}, {r['shared_seeds']})"
        speed = "n/a" if np.isnan(r["speed_vs_baseline"]) else f"{r['speed_vs_baseline']:.2f}x"
        lines.append(f"| {r['env']} | {r['algo']} | {r['seeds']} | {r['final_mean']:.1f} ± {r['final_std']:.1f} | "
                     f"{r['final_iqm']:.1f} | {r['late_mean']:.1f} | {gap} | {r['steps_per_second']:.0f} | {speed} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", type=Path, help="a suite file of zoo_configs/")
    parser.add_argument("--envs", nargs="*", help="only these envs (default: all of the suite)")
    parser.add_argument("--algos", nargs="*", help="only these algorithms (default: all of the suite)")
    parser.add_argument("--seeds", nargs="*", type=int, help="only these seeds (default: the suite's)")
    parser.add_argument("--workers", type=int, default=2, help="runs at once (one core each)")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--aggregate-only", action="store_true")
    parser.add_argument("--collect", type=Path, help="also write the selected finished cells' evaluations to this CSV")
    args = parser.parse_args()

    suite = yaml.safe_load(args.suite.read_text())
    for name in args.envs or []:
        if name not in suite["envs"]:
            parser.error(f"--envs: {name!r} is not in {args.suite} (has {sorted(suite['envs'])})")
    for name in args.algos or []:
        if name not in suite["algorithms"]:
            parser.error(f"--algos: {name!r} is not in {args.suite} (has {sorted(suite['algorithms'])})")
    every_cell = suite_cells(suite)
    suite_seeds = sorted({cell.seed for cell in every_cell})
    for seed in args.seeds or []:
        if seed not in suite_seeds:
            parser.error(f"--seeds: {seed} is not a seed of {args.suite} (has {suite_seeds}; list it there to run it)")
    cells = [
        cell
        for cell in every_cell
        if (not args.envs or cell.env in args.envs)
        and (not args.seeds or cell.seed in args.seeds)
        and (not args.algos or cell.algo in args.algos)
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.aggregate_only:
        todo = [cell for cell in cells if not is_done(suite, cell, args.out)]
        print(f"{len(cells) - len(todo)} of {len(cells)} runs already done; running {len(todo)} on {args.workers} workers")
        previous_handlers = {number: signal.signal(number, stop_runs) for number in (signal.SIGTERM, signal.SIGINT)}
        try:
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(lambda cell: run_cell(suite, cell, args.out), todo))
        finally:
            for number, handler in previous_handlers.items():
                signal.signal(number, handler)
    print(markdown_table(aggregate(suite, every_cell, args.out)))  # every finished cell of the suite
    if args.collect is not None:
        rows = collect_curves(suite, cells, args.out)
        if not rows:
            sys.exit(f"--collect: none of the selected cells has finished under {args.out}; {args.collect} not written")
        write_rows(args.collect, rows)
        print(f"{len(rows)} evaluations of the selected cells written to {args.collect}")


if __name__ == "__main__":
    main()
