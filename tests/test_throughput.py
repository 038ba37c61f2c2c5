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
