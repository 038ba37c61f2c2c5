"""RL Zoo integration: rl-zoo3's own train, enjoy and -optimize run WPO, SPO and WPG through our entry point.

Each run is tiny (a few hundred steps) and calls the entry point's ``main()`` in this process with
rl-zoo3's own flags, writing under ``tmp_path``.
"""

import sys

import numpy as np
import pytest
import torch as th
import yaml

pytest.importorskip("rl_zoo3")  # the `zoo` extra
optuna = pytest.importorskip("optuna")

from sb3_wasserstein import WPG, WPO  # noqa: E402
from sb3_wasserstein.zoo import default_hyperparams_file, register  # noqa: E402
from sb3_wasserstein.zoo.__main__ import main  # noqa: E402

th.set_num_threads(1)

# Tiny budgets: on-policy rollouts of 64 steps per env, off-policy updates from step 100 on, one env step per
# off-policy rollout (so a run stops at exactly n steps; WPG's Pendulum entry collects 7 at a time).
TINY = {
    "wpo": ["n_steps:64", "batch_size:32", "n_epochs:1", "n_envs:2"],
    "spo": ["n_steps:64", "batch_size:32", "n_epochs:1", "n_envs:2"],
    "wpg": ["learning_starts:100", "buffer_size:1000", "batch_size:32", "train_freq:1", "gradient_steps:1",
            "policy_kwargs:dict(net_arch=[32,32])"],
}


@pytest.fixture(autouse=True)
def keep_argv(monkeypatch):
    """rl-zoo3 parses sys.argv; restore it after each test."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))


def train(algo, env, folder, *flags, n=256):
    main(["train", "--algo", algo, "--env", env, "-n", str(n), "-f", str(folder), "--seed", "0", "--verbose", "0",
          *flags, "-params", *TINY[algo]])


def run_folder(folder, algo, env, run=1):
    return folder / algo / f"{env}_{run}"


@pytest.mark.parametrize(
    "algo, env",
    [("wpo", "Pendulum-v1"), ("wpo", "CartPole-v1"), ("spo", "Pendulum-v1"), ("spo", "CartPole-v1"), ("wpg", "Pendulum-v1")],
)
def test_train_writes_model_config_and_evaluations_then_enjoy_runs(tmp_path, capsys, algo, env):
    train(algo, env, tmp_path, "--eval-freq", "128", "--eval-episodes", "1", n=256)
    run = run_folder(tmp_path, algo, env)
    assert (run / f"{env}.zip").is_file()
    config = yaml.load((run / env / "config.yml").read_text(), Loader=yaml.UnsafeLoader)
    assert dict(config)["policy"] == "MlpPolicy" and ("delta" in dict(config) or algo == "wpg")
    args = yaml.load((run / env / "args.yml").read_text(), Loader=yaml.UnsafeLoader)
    assert dict(args)["conf_file"] == str(default_hyperparams_file(algo))  # our yml, not rl-zoo3's
    evaluations = np.load(run / "evaluations.npz")
    assert len(evaluations["timesteps"]) >= 1 and evaluations["results"].shape[1] == 1

    capsys.readouterr()
    main(["enjoy", "--algo", algo, "--env", env, "-f", str(tmp_path), "--no-render", "-n", "50", "--seed", "0"])
    out = capsys.readouterr().out
    assert f"Loading {run / env}.zip" in out


def test_a_conf_file_given_by_an_abbreviated_flag_is_used_and_an_abbreviated_algo_gets_ours(tmp_path):
    """rl-zoo3's parser accepts abbreviations (``--conf``, ``--alg``): the choice of yml follows what it parsed."""
    mine = tmp_path / "mine.yml"
    entries = yaml.safe_load(default_hyperparams_file("wpo").read_text())
    mine.write_text(yaml.safe_dump({"Pendulum-v1": {**entries["Pendulum-v1"], "delta": 0.077}}))
    train("wpo", "Pendulum-v1", tmp_path, "--conf", str(mine), "--eval-freq", "-1", n=128)
    config = dict(yaml.load((run_folder(tmp_path, "wpo", "Pendulum-v1") / "Pendulum-v1" / "config.yml").read_text(),
                            Loader=yaml.UnsafeLoader))
    assert config["delta"] == 0.077

    main(["train", "--alg", "wpo", "--env", "Pendulum-v1", "-n", "128", "-f", str(tmp_path / "abbreviated"),
          "--eval-freq", "-1", "--verbose", "0", "-params", *TINY["wpo"]])
    args = dict(yaml.load((run_folder(tmp_path / "abbreviated", "wpo", "Pendulum-v1") / "Pendulum-v1" / "args.yml")
                          .read_text(), Loader=yaml.UnsafeLoader))
    assert args["conf_file"] == str(default_hyperparams_file("wpo"))


def test_enjoy_loads_wpg_with_a_one_transition_buffer(tmp_path):
    WPG("MlpPolicy", "Pendulum-v1", buffer_size=10_000, learning_starts=10, seed=0).save(tmp_path / "wpg")
    register(inference=True)
    from rl_zoo3.utils import ALGOS

    try:
        model = ALGOS["wpg"].load(tmp_path / "wpg")
        assert isinstance(model, WPG) and model.replay_buffer.buffer_size == 1
    finally:
        register()
    assert ALGOS["wpg"] is WPG


def test_default_hyperparams_cover_the_listed_envs():
    mujoco = ["InvertedPendulum-v5", "InvertedDoublePendulum-v5", "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5",
              "Ant-v5", "Humanoid-v5", "Swimmer-v5", "Reacher-v5", "MountainCarContinuous-v0", "Pendulum-v1"]
    for algo, extra in [("wpo", ["CartPole-v1", "Acrobot-v1"]), ("spo", ["CartPole-v1", "Acrobot-v1"]), ("wpg", [])]:
        text = default_hyperparams_file(algo).read_text()
        entries = yaml.safe_load(text)
        assert set(mujoco + extra) <= set(entries), algo
        for env in entries:  # each entry is preceded by a comment saying tuned or starting point
            lines = text[: text.index(f"\n{env}:")].rstrip().splitlines()
            comment = lines[-1] if lines[-1].startswith("#") else ""
            for line in reversed(lines[:-1]):
                if not line.startswith("#"):
                    break
                comment = line + comment
            assert "tuned" in comment.lower() or "measured" in comment.lower(), (algo, env)


@pytest.mark.parametrize("algo", ["wpo", "spo", "wpg"])
def test_samplers_give_hyperparameters_the_algorithm_accepts(algo):
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
    from rl_zoo3.utils import ALGOS

    register()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        params = HYPERPARAMS_SAMPLER[algo](trial, 1, 1, {"using_her_replay_buffer": False, "her_kwargs": {}})
        assert HYPERPARAMS_CONVERTER[algo](trial.params) == params  # what --trial-id replays
        model = ALGOS[algo]("MlpPolicy", "Pendulum-v1", **params)
        box = {"cost", "debias_spread", "spread_centre"}
        searched = {"wpo": {"delta", "n_candidates", "executed_advantage", "target_kl", *box},
                    "spo": {"delta", "n_candidates", "executed_advantage", "target_kl", "lam", *box},
                    "wpg": {"langevin_step_size", "langevin_steps", "n_particles"}}[algo]
        for name in searched | {"learning_rate", "gamma"}:
            assert name in params and getattr(model, name) == params[name]


@pytest.mark.parametrize("algo", ["wpo", "spo"])
def test_a_trial_whose_minibatch_was_cut_to_the_rollout_replays_as_it_ran(algo):
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER

    register()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"n_steps_pow": 5, "batch_size_pow": 9})  # 512 asked, 32 steps x 8 envs = 256 in a rollout
    trial = study.ask()
    params = HYPERPARAMS_SAMPLER[algo](trial, 0, 8, {"using_her_replay_buffer": False, "her_kwargs": {}})
    assert params["batch_size"] == 256
    assert HYPERPARAMS_CONVERTER[algo](trial.params)["batch_size"] == 256


@pytest.mark.parametrize(
    "n_actions, offered",
    [(1, ("q_head", "gae", "gae_natural", "gae_mirrored", "gae_directional", "gae_compatible")),
     (0, ("q_head", "gae", "gae_natural"))],
)
def test_wpo_sampler_offers_the_box_advantages_costs_and_spread_options_only_for_box_actions(n_actions, offered):
    from sb3_wasserstein.zoo.samplers import sample_wpo_params

    trial = optuna.create_study().ask()  # rl-zoo3 passes n_actions = 0 for a non-Box action space
    sample_wpo_params(trial, n_actions, 1, {"using_her_replay_buffer": False, "her_kwargs": {}})
    assert trial.distributions["executed_advantage"].choices == offered
    assert trial.distributions["target_kl"].choices == (None, 0.01, 0.03)
    costs = trial.distributions["cost"].choices if "cost" in trial.distributions else None
    assert costs == (("squared_euclidean", "mahalanobis") if n_actions > 0 else None)
    debias = trial.distributions["debias_spread"].choices if "debias_spread" in trial.distributions else None
    assert debias == ((False, True) if n_actions > 0 else None)
    centres = trial.distributions["spread_centre"].choices if "spread_centre" in trial.distributions else None
    assert centres == (("old_mean", "plan_mean") if n_actions > 0 else None)


def test_optimize_records_trials_and_a_second_worker_adds_to_the_study(tmp_path):
    storage = tmp_path / "study.log"
    flags = ["-optimize", "--n-trials", "2", "--storage", str(storage), "--study-name", "wpo-pendulum",
             "--sampler", "random", "--pruner", "none", "--no-optim-plots", "--n-evaluations", "1",
             "--eval-episodes", "1"]
    for expected in (2, 4):
        train("wpo", "Pendulum-v1", tmp_path, *flags, n=128)
        study = optuna.load_study(
            study_name="wpo-pendulum",
            storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(storage))),
        )
        assert len(study.trials) == expected
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
        assert {"delta", "n_candidates", "learning_rate"} <= set(study.trials[0].params)


@pytest.mark.parametrize("algo, cls", [("wpo", WPO), ("wpg", WPG)])
def test_resume_from_checkpoint_continues_the_step_count_and_replay_buffer(tmp_path, algo, cls):
    first_flags = ["--eval-freq", "-1", "--save-freq", "128"] + (["--save-replay-buffer"] if algo == "wpg" else [])
    train(algo, "Pendulum-v1", tmp_path, *first_flags, n=256)
    first = run_folder(tmp_path, algo, "Pendulum-v1", 1)
    checkpoint = sorted(first.glob("rl_model_*_steps.zip"))[0]
    steps_at_checkpoint = cls.load(checkpoint).num_timesteps
    assert 0 < steps_at_checkpoint < 256

    # Saving during the resumed run too: a checkpoint and a best model (rl-zoo3's EvalCallback).
    resume_flags = ["--eval-freq", "64", "--eval-episodes", "1", "--save-freq", "64", "-i", str(checkpoint)]
    train(algo, "Pendulum-v1", tmp_path, *resume_flags, *(["--save-replay-buffer"] if algo == "wpg" else []), n=128)
    second = run_folder(tmp_path, algo, "Pendulum-v1", 2)
    resumed = cls.load(second / "Pendulum-v1.zip")
    assert resumed.num_timesteps >= steps_at_checkpoint + 128
    assert "learn" not in vars(resumed)
    assert cls.load(second / "best_model.zip").num_timesteps > steps_at_checkpoint
    assert cls.load(sorted(second.glob("rl_model_*_steps.zip"))[-1]).num_timesteps > steps_at_checkpoint
    if algo == "wpg":
        # rl-zoo3 reloads replay_buffer.pkl from the checkpoint's folder (saved at the end of the first run):
        # its 256 transitions, then the 128 collected after resuming.
        resumed.load_replay_buffer(second / "replay_buffer.pkl")
        assert resumed.replay_buffer.size() == 256 + 128


@pytest.mark.parametrize("suite", ["onpolicy", "offpolicy"])
def test_benchmark_suites_name_runnable_configs(suite, monkeypatch):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)  # conf_file paths are relative to the repository root
    config = yaml.safe_load((root / "zoo_configs" / f"{suite}.yml").read_text())
    for env, budget in config["envs"].items():  # the benchmark seeds: 0, 1, 2 at least, each once
        seeds = budget.get("seeds", config["seeds"])
        assert seeds[:3] == [0, 1, 2] and len(set(seeds)) == len(seeds), (env, seeds)
    expected = {"onpolicy": {"wpo", "spo", "ppo", "trpo"}, "offpolicy": {"wpg", "sac"}}[suite]
    assert set(config["algorithms"]) == expected
    register()
    from rl_zoo3.utils import ALGOS

    for algo, spec in config["algorithms"].items():
        assert algo in ALGOS
        conf = Path(spec["conf_file"])
        if conf.suffix == ".py":
            namespace: dict = {}
            exec(conf.read_text(), namespace)
            hyperparams = namespace["hyperparams"]
        else:
            hyperparams = yaml.safe_load(conf.read_text())
        for env, budget in config["envs"].items():
            assert env in hyperparams, (algo, env)
            assert budget["n_timesteps"] > 0
            if spec.get("baseline") and "rl_zoo3_entry" in budget:  # rl-zoo3's tuned v4 entry, unchanged
                assert hyperparams[env] == hyperparams[budget["rl_zoo3_entry"]]


def test_rl_zoo3_plots_read_our_log_folders(tmp_path, monkeypatch):
    pytest.importorskip("seaborn")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for seed in ("0", "1"):
        main(["train", "--algo", "wpo", "--env", "Pendulum-v1", "-n", "256", "-f", str(tmp_path / "logs"), "--seed", seed,
              "--verbose", "0", "--eval-freq", "128", "--eval-episodes", "2", "-params", *TINY["wpo"]])
    from rl_zoo3.plots.all_plots import all_plots

    sys.argv = ["all_plots", "-a", "wpo", "-e", "Pendulum-v1", "-f", str(tmp_path / "logs"), "--no-display",
                "-o", str(tmp_path / "results")]
    all_plots()
    import pickle

    results = pickle.loads((tmp_path / "results.pkl").read_bytes())
    (curve,) = results["Pendulum-v1"].values()  # one algorithm, one folder
    np.testing.assert_array_equal(curve["timesteps"], [128, 256])
    assert len(curve["last_evals"]) == 2  # both seeds


@pytest.mark.parametrize("algo", ["wpo", "spo", "wpg"])
def test_every_default_entry_builds_its_model(algo):
    """Each entry's keys are constructor arguments the algorithm accepts (rl-zoo3's own keys aside)."""
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_wasserstein.zoo import ALGORITHMS
    from sb3_wasserstein.zoo.experiment import PluginExperimentManager

    zoo_keys = {"n_timesteps", "policy", "n_envs", "normalize", "env_wrapper", "frame_stack", "callback"}
    for env, entry in yaml.safe_load(default_hyperparams_file(algo).read_text()).items():
        kwargs = {key: value for key, value in entry.items() if key not in zoo_keys}
        if isinstance(kwargs.get("policy_kwargs"), str):
            kwargs["policy_kwargs"] = eval(kwargs["policy_kwargs"], {"nn": th.nn, "dict": dict})  # as rl-zoo3 does
        kwargs = PluginExperimentManager._preprocess_schedules(kwargs)  # "lin_1e-3" strings, as our train does
        if algo == "wpg":
            kwargs["buffer_size"] = 1000  # do not allocate a million transitions here
        n_envs = entry.get("n_envs", 1)
        model = ALGORITHMS[algo](entry["policy"], make_vec_env(env, n_envs=n_envs), **kwargs)
        assert model.n_envs == n_envs, (algo, env)


def test_train_reads_a_linear_delta_schedule_and_rejects_other_strings():
    from sb3_wasserstein.zoo.experiment import PluginExperimentManager

    hyperparams = PluginExperimentManager._preprocess_schedules(dict(delta="lin_0.05", learning_rate="lin_1e-3"))
    assert hyperparams["delta"](1.0) == pytest.approx(0.05) and hyperparams["delta"](0.25) == pytest.approx(0.0125)
    assert hyperparams["learning_rate"](0.5) == pytest.approx(5e-4)
    assert PluginExperimentManager._preprocess_schedules(dict(delta=0.1))["delta"] == 0.1
    for bad in ("exp_0.05", "lin_", "lin_abc", "0.05"):
        with pytest.raises(ValueError, match=f"`delta` must be a number or 'lin_<initial value>', got '{bad}'"):
            PluginExperimentManager._preprocess_schedules(dict(delta=bad))
