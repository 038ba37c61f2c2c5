"""log_medians reads back what SB3's logger printed: per window, the medians of the recorded values."""

import io

import numpy as np
import pytest
from stable_baselines3.common.logger import HumanOutputFormat, Logger

from sb3_wasserstein.benchmarks.log_medians import main, read_tables, window_medians


def _printed_log(steps, stds, kls):
    """What ``--verbose 1`` prints for dumps at ``steps``: SB3's own table writer, with a text figure and an
    evaluation table between them."""
    stream = io.StringIO()
    logger = Logger(folder=None, output_formats=[HumanOutputFormat(stream)])
    for step, std, kl in zip(steps, stds, kls):
        logger.record("time/total_timesteps", step)
        logger.record("train/std", std)
        logger.record("train/approx_kl", kl)
        logger.record("train/note", "text is skipped")
        logger.dump(step)
        if step % 400 == 0:
            logger.record("eval/mean_reward", -1.0)
            logger.record("time/total_timesteps", step)
            logger.dump(step)
    return stream.getvalue()


def test_window_medians_are_the_medians_of_the_recorded_values():
    rng = np.random.default_rng(0)
    steps = list(range(100, 1001, 100))
    stds, kls = rng.uniform(0.1, 1.0, len(steps)), rng.uniform(0.001, 0.1, len(steps))
    records = read_tables(_printed_log(steps, stds, kls).splitlines())
    assert len(records) == len(steps) + 2  # and the two evaluation tables
    rows = window_medians(records, 300, ["train/std", "train/approx_kl", "eval/mean_reward"])
    assert [(row["from_step"], row["to_step"]) for row in rows] == [(0, 300), (300, 600), (600, 900), (900, 1200)]
    for row in rows:
        inside = [i for i, step in enumerate(steps) if row["from_step"] < step <= row["to_step"]]
        # SB3 prints 3 significant digits; the medians are of those printed values
        assert float(row["train/std"]) == pytest.approx(np.median(stds[inside]), abs=1e-3)
        assert float(row["train/approx_kl"]) == pytest.approx(np.median(kls[inside]), rel=0.01)
    assert [row["eval/mean_reward"] for row in rows] == ["", "-1", "-1", ""]  # evaluations at 400 and 800
    assert [row["from_step"] for row in window_medians(records, 300, ["eval/mean_reward"])] == [300, 600]


def test_a_log_without_tables_is_refused(tmp_path, capsys):
    log = tmp_path / "empty.log"
    log.write_text("Loading hyperparameters\n")
    with pytest.raises(SystemExit):
        main([str(log)])
    assert "holds no table with time/total_timesteps" in capsys.readouterr().err
