"""The on-policy throughput script gives all three algorithms the Adam it is asked for, and WPO and SPO the Q head."""

import pytest
from stable_baselines3 import PPO

from sb3_wasserstein import SPO, WPO
from sb3_wasserstein.benchmarks.onpolicy_throughput import SHARED, make_model


@pytest.mark.parametrize("algorithm", [PPO, WPO, SPO])
def test_fused_adam_is_given_to_every_algorithm_and_default_leaves_sb3s(algorithm):
    fused = make_model(algorithm, "Pendulum-v1", seed=0, adam="fused")
    default = make_model(algorithm, "Pendulum-v1", seed=0)
    assert fused.policy.optimizer.defaults["fused"] is True
    assert not default.policy.optimizer.defaults["fused"]
    assert "optimizer_kwargs" not in SHARED["policy_kwargs"]


@pytest.mark.parametrize("algorithm", [WPO, SPO])
def test_q_net_arch_sizes_the_q_head_of_wpo_and_spo_only(algorithm):
    small = make_model(algorithm, "Pendulum-v1", seed=0, q_net_arch=[64, 64])
    default = make_model(algorithm, "Pendulum-v1", seed=0)
    assert [layer.out_features for layer in small.policy.q_net if hasattr(layer, "out_features")] == [64, 64, 1]
    assert [layer.out_features for layer in default.policy.q_net if hasattr(layer, "out_features")] == [256, 256, 1]
    assert "q_net_arch" not in SHARED["policy_kwargs"]
    assert make_model(PPO, "Pendulum-v1", seed=0, q_net_arch=[64, 64]).policy.net_arch == SHARED["policy_kwargs"]["net_arch"]


def test_entry_throughput_builds_each_algorithm_as_the_benchmark_trains_it(tmp_path):
    from stable_baselines3.common.vec_env import VecNormalize

    from sb3_wasserstein.benchmarks.entry_throughput import build_model

    wpo = build_model("wpo", "hyperparams/wpo.yml", "HalfCheetah-v5", seed=0, log_folder=str(tmp_path / "wpo"))
    assert (wpo.n_steps, wpo.batch_size, wpo.delta, wpo.executed_advantage) == (512, 64, 0.05, "gae_mirrored")
    assert [layer.out_features for layer in wpo.policy.q_net if hasattr(layer, "out_features")] == [64, 64, 1]
    assert isinstance(wpo.get_env(), VecNormalize)
    ppo = build_model("ppo", "zoo_configs/baselines/ppo.py", "Hopper-v5", seed=0, log_folder=str(tmp_path / "ppo"))
    assert (type(ppo), ppo.n_steps, ppo.batch_size, ppo.clip_range(1.0)) == (PPO, 512, 32, pytest.approx(0.2))
    assert isinstance(ppo.get_env(), VecNormalize)


def test_build_model_overrides_the_entry_as_the_zoos_hyperparams_do(tmp_path):
    from sb3_wasserstein.benchmarks.entry_throughput import build_model

    wpo = build_model("wpo", "hyperparams/wpo.yml", "HalfCheetah-v5", seed=0, log_folder=str(tmp_path),
                      hyperparams={"delta": 0.02})
    assert (wpo.delta, wpo.n_steps, wpo.executed_advantage) == (0.02, 512, "gae_mirrored")


def test_wpg_entries_set_the_drift_precision_per_env(tmp_path):
    """Hopper-v5's entry computes the drift in bfloat16 where that is native ('auto'); HalfCheetah-v5's keeps the float32
    default."""
    from sb3_wasserstein.benchmarks.entry_throughput import build_model

    hopper = build_model("wpg", "hyperparams/wpg.yml", "Hopper-v5", seed=0, log_folder=str(tmp_path / "hopper"))
    cheetah = build_model("wpg", "hyperparams/wpg.yml", "HalfCheetah-v5", seed=0, log_folder=str(tmp_path / "cheetah"))
    assert (hopper.drift_precision, cheetah.drift_precision) == ("auto", "float32")


@pytest.mark.parametrize("algo", ["wpo", "spo"])
def test_hopper_entries_stop_the_projection_at_trpos_kl_bound(algo, tmp_path):
    """SB3's early stop fires at 1.5 x ``target_kl``: the Hopper-v5 entries set it so that this is TRPO's own bound."""
    from sb3_wasserstein.benchmarks.entry_throughput import build_model

    ours = build_model(algo, f"hyperparams/{algo}.yml", "Hopper-v5", seed=0, log_folder=str(tmp_path / algo))
    trpo = build_model("trpo", "zoo_configs/baselines/trpo.py", "Hopper-v5", seed=0, log_folder=str(tmp_path / "trpo"))
    assert 1.5 * ours.target_kl == pytest.approx(trpo.target_kl, rel=0.01)


def test_entry_throughput_ratios_are_per_round_then_the_median():
    from sb3_wasserstein.benchmarks.entry_throughput import ratios_to_baseline

    # Per round 0.8, 0.9, 0.3 (median 0.8); the ratio of the medians would be 60 / 100 = 0.6, and against round 0's
    # baseline the median would be 0.6 as well.
    rows = [dict(algo="ppo", round=0, steps_per_second=100.0), dict(algo="wpo", round=0, steps_per_second=80.0),
            dict(algo="ppo", round=1, steps_per_second=50.0), dict(algo="wpo", round=1, steps_per_second=45.0),
            dict(algo="ppo", round=2, steps_per_second=200.0), dict(algo="wpo", round=2, steps_per_second=60.0)]
    assert ratios_to_baseline(rows, "ppo") == {"ppo": 1.0, "wpo": pytest.approx(0.8)}


def test_entry_throughput_counts_the_steps_learn_trained(monkeypatch):
    """WPG's Pendulum entry collects 7 steps a rollout: ``learn(10)`` trains 14, and the rate says so."""
    import types

    from sb3_wasserstein.benchmarks import entry_throughput

    clock = iter([0.0, 1.0])  # the timed learn() takes one second
    monkeypatch.setattr(entry_throughput, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    assert entry_throughput.steps_per_second("wpg", "hyperparams/wpg.yml", "Pendulum-v1", 10) == 14.0


@pytest.mark.parametrize("learning_starts", [0, 3])
def test_offpolicy_throughput_times_the_steps_after_learning_starts(learning_starts):
    from sb3_wasserstein.benchmarks.offpolicy_throughput import measure

    result = measure("SAC", "Pendulum-v1", steps=5, learning_starts=learning_starts, seed=0)
    assert result["timed_steps"] == 5 and result["steps_per_second"] > 0


def test_entry_throughput_writes_each_round_as_it_finishes(tmp_path, monkeypatch):
    """A run stopped in its second measurement keeps the first one's row."""
    import csv
    import sys

    from sb3_wasserstein.benchmarks import entry_throughput

    speeds = iter([123.4])

    def measured_then_stopped(*args, **kwargs):
        return next(speeds)  # StopIteration at the second call, as if the run were stopped there

    monkeypatch.setattr(entry_throughput, "steps_per_second", measured_then_stopped)
    output = tmp_path / "throughput.csv"
    monkeypatch.setattr(sys, "argv", ["entry_throughput", "zoo_configs/offpolicy.yml", "--env", "Pendulum-v1",
                                      "--output", str(output)])
    with pytest.raises(StopIteration):
        entry_throughput.main()
    rows = list(csv.DictReader(output.open()))
    assert [(row["algo"], row["round"], row["steps_per_second"]) for row in rows] == [("wpg", "0", "123.4")]


@pytest.mark.parametrize("baseline_flag, baseline_given, baseline_text",
                         [([], {}, ""), (["--baseline-hyperparams", "n_epochs:5"], {"n_epochs": 5}, "n_epochs:5")])
def test_entry_throughput_overrides_every_entry_but_the_baselines(baseline_flag, baseline_given, baseline_text,
                                                                  tmp_path, monkeypatch):
    """``--hyperparams`` reaches the compared algorithm and not the baseline, ``--baseline-hyperparams`` the baseline
    alone, and each row records what it got."""
    import csv
    import sys

    from sb3_wasserstein.benchmarks import entry_throughput

    given = {}

    def record(algo, *args, hyperparams=None, **kwargs):
        given[algo] = hyperparams
        return 100.0

    monkeypatch.setattr(entry_throughput, "steps_per_second", record)
    output = tmp_path / "throughput.csv"
    monkeypatch.setattr(sys, "argv", ["entry_throughput", "zoo_configs/onpolicy.yml", "--env", "HalfCheetah-v5",
                                      "--algos", "wpo", "ppo", "--rounds", "1", "--output", str(output),
                                      "--hyperparams", "n_candidates:2", *baseline_flag])
    entry_throughput.main()
    assert given == {"wpo": {"n_candidates": 2}, "ppo": baseline_given}
    rows = list(csv.DictReader(output.open()))
    assert [(row["algo"], row["hyperparams"]) for row in rows] == [("wpo", "n_candidates:2"), ("ppo", baseline_text)]
