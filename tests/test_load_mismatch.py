"""A file saved by one algorithm, loaded with another: a clear error before any network is built, the file intact."""

import pytest
from stable_baselines3 import PPO, SAC

from sb3_wasserstein import SPO, WPG, WPO


def _saved(algorithm, path):
    kwargs = dict(learning_starts=0, buffer_size=100) if algorithm in (WPG, SAC) else dict(n_steps=16, batch_size=16)
    algorithm("MlpPolicy", "Pendulum-v1", **kwargs).save(path)
    return path.with_suffix(".zip")


@pytest.mark.parametrize(
    "saver, loader, message",
    [
        (WPO, SPO, "saved by WPO: load it with WPO.load, not SPO.load"),
        (SPO, WPO, "saved by SPO: load it with SPO.load, not WPO.load"),
        (WPG, WPO, "saved by WPG: load it with WPG.load, not WPO.load"),
        (WPO, WPG, "saved by WPO: load it with WPO.load, not WPG.load"),
        (PPO, WPO, "WPO needs a policy derived from one of MlpPolicy .*WassersteinActorCriticPolicy.*got .*ActorCriticPolicy"),
        (PPO, SPO, "SPO needs a policy derived from one of MlpPolicy"),
        (SAC, WPG, "WPG needs a policy derived from one of MlpPolicy .*WPGPolicy.*got .*SACPolicy"),
    ],
)
def test_loading_another_algorithms_file_names_it(saver, loader, message, tmp_path):
    path = _saved(saver, tmp_path / "model")
    saved_bytes = path.read_bytes()
    with pytest.raises(ValueError, match=message):
        loader.load(path)
    assert path.read_bytes() == saved_bytes
    assert type(saver.load(path)) is saver


def test_a_policy_of_another_family_is_refused_on_creation():
    from stable_baselines3.common.policies import ActorCriticPolicy

    with pytest.raises(ValueError, match="WPO needs a policy derived from"):
        WPO(ActorCriticPolicy, "Pendulum-v1")
