"""The on-policy throughput script gives all three algorithms the Adam it is asked for, and only that."""

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
