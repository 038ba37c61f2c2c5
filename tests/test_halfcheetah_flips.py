import csv
import sys

import gymnasium as gym
import numpy as np
import pytest

from sb3_wasserstein.benchmarks import halfcheetah_flips
from sb3_wasserstein.benchmarks.halfcheetah_flips import roll_out


class StandStill:
    """A model that always outputs zero torques, trained without ``VecNormalize``."""

    def predict(self, observation, deterministic=True):
        return np.zeros(6, dtype=np.float32), None

    def get_vec_normalize_env(self):
        return None


class StartUpsideDown(gym.Wrapper):
    """HalfCheetah-v5 reset with the torso pitched by pi (on its back)."""

    def reset(self, **kwargs):
        self.env.reset(**kwargs)
        qpos, qvel = self.unwrapped.data.qpos.copy(), self.unwrapped.data.qvel.copy()
        qpos[2] = np.pi
        self.unwrapped.set_state(qpos, qvel)
        return self.unwrapped._get_obs(), {}


def test_roll_out_counts_the_steps_spent_upside_down():
    upright = roll_out(StandStill(), gym.make("HalfCheetah-v5"), episode_seed=0)
    on_its_back = roll_out(StandStill(), StartUpsideDown(gym.make("HalfCheetah-v5")), episode_seed=0)
    assert upright["upside_down_share"] == 0.0 and upright["first_upside_down_step"] == -1
    assert on_its_back["upside_down_share"] > 0.9 and on_its_back["first_upside_down_step"] == 0
    assert abs(upright["mean_speed"]) < 0.1


class Normalizer:
    """Stands in for ``VecNormalize``: every observation it normalises becomes sevens."""

    def normalize_obs(self, observation):
        return np.full_like(observation, 7.0)


class NormalisedStandStill(StandStill):
    """``StandStill`` trained with ``VecNormalize``: it must only ever see normalised observations."""

    def predict(self, observation, deterministic=True):
        assert np.all(observation == 7.0), "roll_out passed an observation that was not normalised"
        return super().predict(observation, deterministic)

    def get_vec_normalize_env(self):
        return Normalizer()


def test_roll_out_normalises_observations_when_the_model_was_trained_with_vec_normalize():
    assert roll_out(NormalisedStandStill(), gym.make("HalfCheetah-v5"), episode_seed=0)["first_upside_down_step"] == -1


def test_flips_script_records_its_overrides_in_every_row(tmp_path, monkeypatch):
    output = tmp_path / "flips.csv"
    monkeypatch.setattr(sys, "argv", ["halfcheetah_flips", "--algo", "wpo", "-n", "512", "--every", "512",
                                      "--episodes", "1", "--output", str(output), "--hyperparams", "delta:0.02"])
    monkeypatch.setattr(halfcheetah_flips, "roll_out", lambda model, env, episode_seed: {
        "return": model.delta, "upside_down_share": 0.0, "first_upside_down_step": -1, "mean_speed": 0.0})
    halfcheetah_flips.main()
    rows = list(csv.DictReader(output.open()))
    assert [(row["timesteps"], row["return"], row["hyperparams"]) for row in rows] == [("512", "0.02", "delta:0.02")]


def test_flips_script_refuses_a_csv_with_other_columns_before_training(tmp_path, monkeypatch):
    output = tmp_path / "old.csv"
    output.write_text("algo,seed,timesteps\nwpo,3,50000\n")
    monkeypatch.setattr(sys, "argv", ["halfcheetah_flips", "--algo", "wpo", "--output", str(output)])
    monkeypatch.setattr(halfcheetah_flips, "build_model", lambda *args: pytest.fail("training started"))
    with pytest.raises(SystemExit, match="has the columns"):
        halfcheetah_flips.main()
    assert output.read_text() == "algo,seed,timesteps\nwpo,3,50000\n"


def test_summary_gives_each_runs_evaluations_and_its_count_of_episodes_turned_over():
    def row(steps, episode, ret, share, hyperparams=""):
        return dict(algo="wpo", seed="3", timesteps=str(steps), episode=str(episode), **{"return": str(ret)},
                    upside_down_share=str(share), first_upside_down_step="0", mean_speed="0", hyperparams=hyperparams)

    rows = [row(50000, 0, 1000.0, 0.0), row(50000, 1, 3000.0, 0.4), row(100000, 0, 500.0, 0.9), row(100000, 1, 700.0, 0.0),
            row(50000, 0, 2000.0, 0.0, "delta:0.02")]
    assert halfcheetah_flips.summarise(rows) == [
        "wpo seed 3 (entry): 50k 2000 (1), 100k 600 (1); turned over 2 of 4",
        "wpo seed 3 (delta:0.02): 50k 2000 (0); turned over 0 of 1",
    ]


def test_flips_script_without_summary_needs_an_algorithm_and_an_output(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["halfcheetah_flips", "--output", "flips.csv"])
    with pytest.raises(SystemExit):
        halfcheetah_flips.main()
    assert "training needs --algo and --output" in capsys.readouterr().err


def test_summary_refuses_two_runs_of_one_setting_in_one_file():
    row = dict(algo="spo", seed="4", timesteps="50000", episode="0", upside_down_share="0.0", hyperparams="",
               **{"return": "3051.0"})
    with pytest.raises(ValueError, match="appears twice"):
        halfcheetah_flips.summarise([row, dict(row)])


def test_summary_refuses_a_csv_with_other_columns(tmp_path, monkeypatch):
    other = tmp_path / "other.csv"
    other.write_text("algo,seed,timesteps\nwpo,3,50000\n")
    monkeypatch.setattr(sys, "argv", ["halfcheetah_flips", "--summary", str(other)])
    with pytest.raises(SystemExit, match="--summary .* has the columns"):
        halfcheetah_flips.main()
