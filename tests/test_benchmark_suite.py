"""The benchmark runner: runs cells through the zoo entry point, skips finished ones, aggregates."""

import csv
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sb3_wasserstein.benchmarks.suite import (
    RUNS_FIELDS,
    Cell,
    aggregate,
    append_run_row,
    collect_curves,
    curve_file,
    interquartile_mean,
    late_mean,
    machine_name,
    main,
    markdown_table,
    paired_interval,
    suite_cells,
)


@pytest.mark.parametrize("values", [[1.0, 2.0, 3.0, 4.0], [5.0, 1.0, 3.0], [2.0], list(range(10))])
def test_interquartile_mean_matches_the_expanded_definition(values):
    # IQM: the mean of the middle 50% of the sample, each value repeated 4 times so that the
    # quartiles fall on whole elements.
    expanded = np.sort(np.repeat(values, 4))
    quarter = len(expanded) // 4
    assert interquartile_mean(np.array(values)) == pytest.approx(expanded[quarter : len(expanded) - quarter].mean())


def test_paired_interval_is_the_t_interval_and_covers_the_mean_gap_95_percent_of_the_time():
    # Two seeds: mean 1, sample std sqrt(2), so the half width is t_{0.975, 1} = 12.7062 (a table value) times 1.
    assert paired_interval(np.array([0.0, 2.0])) == pytest.approx((1 - 12.7062, 1 + 12.7062), abs=1e-4)
    assert np.isnan(paired_interval(np.array([3.0]))).all()  # one seed: no spread to go by
    # Coverage by simulation: three seeds' gaps drawn around a true gap of 10.
    rng = np.random.default_rng(0)
    covered = [low <= 10.0 <= high for low, high in map(paired_interval, rng.normal(10.0, 50.0, size=(4000, 3)))]
    assert np.mean(covered) == pytest.approx(0.95, abs=0.01)


def test_late_mean_averages_the_evaluations_of_the_last_tenth_of_the_steps():
    steps = np.arange(10_000, 1_000_001, 10_000)  # a 1M run evaluated every 10k: 900k to 1M is 11 evaluations
    returns = np.where(steps >= 900_000, 3000.0, 0.0)
    returns[-1] = 1900.0  # a dip of 1100 at the last evaluation moves the late mean by 100
    assert late_mean(steps, returns) == pytest.approx((10 * 3000.0 + 1900.0) / 11)
    assert late_mean(np.array([200, 400]), np.array([10.0, 30.0])) == 30.0  # a short run: the last evaluation


def test_an_env_may_list_its_own_seeds():
    suite = dict(seeds=[0, 1], algorithms={"wpo": {}, "ppo": {}},
                 envs={"CartPole-v1": {}, "Hopper-v5": {"seeds": [0, 1, 2]}})
    cells = suite_cells(suite)
    assert sorted({cell.seed for cell in cells if cell.env == "CartPole-v1"}) == [0, 1]
    assert sorted({cell.seed for cell in cells if cell.env == "Hopper-v5"}) == [0, 1, 2]
    assert len(cells) == 2 * (2 + 3)


def test_suite_runs_then_skips_then_aggregates(tmp_path, monkeypatch, capsys):
    suite = dict(suite="tiny", speed_baseline="ppo", seeds=[0], log_folder=str(tmp_path / "logs"), eval_freq=200,
                 eval_episodes=2, n_eval_envs=1,
                 envs={"CartPole-v1": {"n_timesteps": 512}},
                 algorithms={"wpo": {"conf_file": "hyperparams/wpo.yml"},
                             "ppo": {"conf_file": "zoo_configs/baselines/ppo.py", "baseline": True}})
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(suite))
    out = tmp_path / "out"
    monkeypatch.setattr("sys.argv", ["suite", str(path), "--out", str(out), "--workers", "2"])
    handler_before = signal.getsignal(signal.SIGTERM)
    main()
    with (out / "tiny_runs.csv").open() as handle:
        runs = list(csv.DictReader(handle))
    assert sorted(row["algo"] for row in runs) == ["ppo", "wpo"]
    day = r"\d{4}-\d{2}-\d{2}"  # the machine's speed moves from day to day: runs of different days do not pair
    assert all(row["status"] == "ok" and re.fullmatch(f"{re.escape(machine_name())}, {day}", row["machine"]) for row in runs)

    curve = np.loadtxt(out / "curves" / "tiny" / "CartPole-v1_wpo_seed0.csv", delimiter=",", skiprows=1, ndmin=2)
    assert curve[:, 0].tolist() == [200, 400] and np.all(curve[:, 1] >= 8)  # CartPole lasts at least 8 steps

    log = (tmp_path / "logs" / "seed0" / "wpo_CartPole-v1.log").read_text()
    assert "train/" in log and "beta" in log  # the training log is kept
    assert signal.getsignal(signal.SIGTERM) is handler_before  # the runner's stop handler is gone again
    shutil.rmtree(tmp_path / "logs")  # the curves, not the logs, record what is done
    main()
    assert "2 of 2 runs already done; running 0" in capsys.readouterr().out
    with (out / "tiny_summary.csv").open() as handle:
        summary = {row["algo"]: row for row in csv.DictReader(handle)}
    assert summary["wpo"]["best_baseline"] == "ppo" and summary["wpo"]["seeds"] == summary["wpo"]["shared_seeds"] == "1"
    assert float(summary["ppo"]["speed_vs_baseline"]) == 1.0
    assert (out / "tiny_CartPole-v1.png").exists()


@pytest.mark.parametrize("flag, value", [("--envs", "CartPole-v0"), ("--algos", "wop"), ("--seeds", "7")])
def test_a_name_or_seed_the_suite_lacks_is_refused(flag, value, tmp_path, monkeypatch, capsys):
    suite = dict(suite="tiny", seeds=[0, 1], envs={"CartPole-v1": {}}, algorithms={"wpo": {}})
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(suite))
    monkeypatch.setattr("sys.argv", ["suite", str(path), "--out", str(tmp_path / "out"), flag, value])
    with pytest.raises(SystemExit):
        main()
    assert f"{flag}: " in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_table_marks_cells_whose_baseline_has_not_run():
    row = dict(env="Hopper-v5", algo="wpo", seeds=1, final_mean=1000.0, final_std=0.0, final_iqm=1000.0, late_mean=950.0,
               steps_per_second=300.0, shared_seeds=0, best_baseline="", gap_to_best_baseline=float("nan"),
               speed_vs_baseline=float("nan"))
    line = markdown_table([row]).splitlines()[-1]
    assert line == "| Hopper-v5 | wpo | 1 | 1000.0 ± 0.0 | 1000.0 | 950.0 | n/a | 300 | n/a |"


def test_partial_suite_compares_only_seeds_every_algorithm_has(tmp_path):
    # wpo has finished seeds 0 and 1, ppo only seed 0: the gap and the speed ratio use seed 0 alone,
    # while wpo's own mean covers both of its seeds.
    suite = dict(suite="tiny", speed_baseline="ppo", algorithms={"wpo": {}, "ppo": {"baseline": True}})
    finished = {("wpo", 0): (100.0, 50.0), ("wpo", 1): (300.0, 70.0), ("ppo", 0): (150.0, 100.0)}  # final return, steps/s
    with (tmp_path / "tiny_runs.csv").open("w") as handle:  # the columns from before `machine`, as old files have
        handle.write("env,algo,seed,n_timesteps,seconds,steps_per_second,status\n")
        for (algo, seed), (final, fps) in finished.items():
            path = curve_file(suite, Cell("Hopper-v5", algo, seed), tmp_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"timesteps,mean_return,std_return\n10,0.0,0.0\n20,{final},0.0\n")
            handle.write(f"Hopper-v5,{algo},{seed},20,1.0,{fps},ok\n")
    cells = [Cell("Hopper-v5", algo, seed) for seed in (0, 1) for algo in ("wpo", "ppo")]
    rows = {row["algo"]: row for row in aggregate(suite, cells, tmp_path)}
    assert rows["wpo"]["final_mean"] == 200.0 and rows["wpo"]["seeds"] == 2
    assert rows["wpo"]["late_mean"] == 200.0  # evaluations at 10 and 20 steps: only the final one is from 18 on
    assert rows["wpo"]["shared_seeds"] == 1 and rows["wpo"]["gap_to_best_baseline"] == -50.0
    assert rows["wpo"]["speed_vs_baseline"] == 0.5
    assert "| -50.0 (ppo, 1) |" in markdown_table(list(rows.values()))


def test_gap_interval_pairs_the_seeds(tmp_path):
    # Per-seed differences -50, 50, 150: mean 50, sample std 100, half width t_{0.975, 2} 100 / sqrt(3) = 248.4.
    suite = dict(suite="tiny", speed_baseline="ppo", algorithms={"wpo": {}, "ppo": {"baseline": True}})
    finals = {("wpo", 0): 100.0, ("wpo", 1): 200.0, ("wpo", 2): 300.0, ("ppo", 0): 150.0, ("ppo", 1): 150.0,
              ("ppo", 2): 150.0}
    write_finished_runs(tmp_path, suite, {key: (final, 10.0, "A") for key, final in finals.items()})
    cells = [Cell("Hopper-v5", algo, seed) for seed in (0, 1, 2) for algo in ("wpo", "ppo")]
    rows = {row["algo"]: row for row in aggregate(suite, cells, tmp_path)}
    assert rows["wpo"]["gap_to_best_baseline"] == pytest.approx(50.0)
    assert (rows["wpo"]["gap_ci95_low"], rows["wpo"]["gap_ci95_high"]) == pytest.approx((-198.4, 298.4), abs=0.1)
    assert "| +50.0 [-198.4, +298.4] (ppo, 3) |" in markdown_table(list(rows.values()))


def write_finished_runs(folder: Path, suite: dict, finished: dict) -> None:
    """Curves and a runs CSV for ``finished``: {(algo, seed): (final return, steps/s, machine)} on Hopper-v5."""
    for (algo, seed), (final, fps, machine) in finished.items():
        path = curve_file(suite, Cell("Hopper-v5", algo, seed), folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"timesteps,mean_return,std_return\n10,0.0,0.0\n20,{final},0.0\n")
        append_run_row(folder / "tiny_runs.csv", dict(env="Hopper-v5", algo=algo, seed=seed, n_timesteps=20, seconds=1.0,
                                                      steps_per_second=fps, status="ok", machine=machine))


def test_collect_writes_the_selected_finished_cells_evaluations_to_one_csv(tmp_path, monkeypatch, capsys):
    suite = dict(suite="tiny", speed_baseline="ppo", seeds=[0, 1], log_folder=str(tmp_path / "logs"),
                 envs={"Hopper-v5": {}}, algorithms={"wpo": {}, "ppo": {"baseline": True}})
    write_finished_runs(tmp_path, suite, {("wpo", 0): (100.0, 10.0, "A"), ("ppo", 0): (150.0, 10.0, "A"),
                                          ("wpo", 1): (300.0, 10.0, "A")})  # ppo's seed 1 has not finished
    assert [(row["algo"], row["seed"]) for row in collect_curves(suite, suite_cells(suite), tmp_path)] == [
        ("wpo", 0), ("wpo", 0), ("ppo", 0), ("ppo", 0), ("wpo", 1), ("wpo", 1)]

    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(suite))
    collected = tmp_path / "heldout.csv"
    monkeypatch.setattr("sys.argv", ["suite", str(path), "--out", str(tmp_path), "--aggregate-only", "--seeds", "1",
                                     "--collect", str(collected)])
    main()
    with collected.open(newline="") as handle:
        assert handle.read() == ("env,algo,seed,timesteps,mean_return,std_return\r\n"
                                 "Hopper-v5,wpo,1,10,0.0000,0.0000\r\nHopper-v5,wpo,1,20,300.0000,0.0000\r\n")
    assert "2 evaluations of the selected cells written to" in capsys.readouterr().out

    monkeypatch.setattr("sys.argv", ["suite", str(path), "--out", str(tmp_path), "--aggregate-only", "--seeds", "1",
                                     "--algos", "ppo", "--collect", str(tmp_path / "none.csv")])
    with pytest.raises(SystemExit, match="--collect: none of the selected cells has finished"):
        main()
    assert not (tmp_path / "none.csv").exists()


def test_speed_ratio_uses_only_seeds_timed_on_one_machine(tmp_path):
    # Seed 0's two runs shared a machine, seed 1's did not: the ratio is seed 0's alone, while each
    # algorithm's own steps/s averages both seeds and lists both machines.
    suite = dict(suite="tiny", speed_baseline="ppo", algorithms={"wpo": {}, "ppo": {"baseline": True}})
    write_finished_runs(tmp_path, suite, {("wpo", 0): (1.0, 40.0, "A"), ("ppo", 0): (1.0, 80.0, "A"),
                                          ("wpo", 1): (1.0, 10.0, "B"), ("ppo", 1): (1.0, 90.0, "A")})
    cells = [Cell("Hopper-v5", algo, seed) for seed in (0, 1) for algo in ("wpo", "ppo")]
    rows = {row["algo"]: row for row in aggregate(suite, cells, tmp_path)}
    assert rows["wpo"]["speed_vs_baseline"] == 0.5 and rows["wpo"]["shared_seeds"] == 2
    assert rows["wpo"]["steps_per_second"] == 25.0 and rows["wpo"]["machines"] == "A; B"

    write_finished_runs(tmp_path, suite, {("wpo", 0): (1.0, 40.0, "B")})  # seed 0 rerun elsewhere: no pair left
    rows = {row["algo"]: row for row in aggregate(suite, cells, tmp_path)}
    assert np.isnan(rows["wpo"]["speed_vs_baseline"]) and "| 25 | n/a |" in markdown_table(list(rows.values()))


def test_runs_file_without_the_machine_column_is_upgraded_in_place(tmp_path):
    runs_csv = tmp_path / "tiny_runs.csv"
    runs_csv.write_text("env,algo,seed,n_timesteps,seconds,steps_per_second,status\nHopper-v5,ppo,0,20,1.0,80.0,ok\n")
    append_run_row(runs_csv, dict(env="Hopper-v5", algo="wpo", seed=0, n_timesteps=20, seconds=1.0,
                                  steps_per_second=40.0, status="ok", machine="A"))
    with runs_csv.open() as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == RUNS_FIELDS
    found = [(row["algo"], row["steps_per_second"], row["machine"]) for row in rows]
    assert found == [("ppo", "80.0", ""), ("wpo", "40.0", "A")]


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc: Linux only)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process parents from /proc")
def test_stopping_the_runner_stops_its_training_process(tmp_path):
    suite = dict(suite="tiny", speed_baseline="ppo", seeds=[0, 1], log_folder=str(tmp_path / "logs"), eval_freq=1000,
                 eval_episodes=1, envs={"CartPole-v1": {"n_timesteps": 10_000_000}},
                 algorithms={"ppo": {"conf_file": "zoo_configs/baselines/ppo.py", "baseline": True}})
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(suite))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "sb3_wasserstein.benchmarks.suite", str(path), "--out", str(out), "--workers", "1"]
    runner = subprocess.Popen(command)
    deadline = time.monotonic() + 60
    while not children_of(runner.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    (training,) = children_of(runner.pid)
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=60) == 128 + signal.SIGTERM
    assert not Path(f"/proc/{training}").exists()  # ended and reaped by the runner, not left behind
    assert not (out / "tiny_runs.csv").exists()  # neither the stopped cell nor the next one left a row
    assert not list(out.glob("curves/**/*.csv"))
