"""The executed action's advantage extended to the support: against a least-norm solve, the mirror, and the sign of
PPO's log-std gradient."""

import math

import pytest
import torch as th

from sb3_wasserstein.common.directional import compatible_advantages, directional_advantages
from sb3_wasserstein.common.mirror import mirrored_actions, mirrored_advantages


def _batch(n_states=16, n_support=5, dim=3):
    generator = th.Generator().manual_seed(0)
    mean, executed = (th.randn(n_states, dim, generator=generator, dtype=th.float64) for _ in range(2))
    std = th.rand(n_states, dim, generator=generator, dtype=th.float64) + 0.1
    actions = th.randn(n_states, n_support, dim, generator=generator, dtype=th.float64)
    actions[:, 0] = executed
    advantages = th.randn(n_states, generator=generator, dtype=th.float64)
    return advantages, executed, actions, mean, std


def test_directional_advantages_are_the_least_norm_linear_model_through_the_executed_value():
    # Per state, the least-norm g with g . z = A_gae (z the whitened executed action), by a pseudo-inverse,
    # evaluated at every whitened support point.
    advantages, executed, actions, mean, std = _batch()
    result = directional_advantages(advantages, executed, actions, mean, std)
    for state in range(len(advantages)):
        direction = ((executed[state] - mean[state]) / std[state]).view(1, -1)
        slope = th.linalg.pinv(direction) @ advantages[state].view(1)
        expected = ((actions[state] - mean[state]) / std[state]) @ slope
        th.testing.assert_close(result[state], expected)
    th.testing.assert_close(result[:, 0], advantages)


def test_directional_advantage_of_the_mirror_is_the_mirror_advantage_with_a_zero_baseline():
    advantages, executed, actions, mean, std = _batch()
    actions[:, 1] = mirrored_actions(executed, mean)
    result = directional_advantages(advantages, executed, actions, mean, std)
    th.testing.assert_close(result[:, 1], mirrored_advantages(advantages, th.zeros_like(advantages)))


def test_an_executed_action_at_the_mean_gives_finite_zero_advantages():
    advantages, executed, actions, mean, std = _batch()
    executed[0] = mean[0]
    result = directional_advantages(advantages, executed, actions, mean, std)
    assert th.isfinite(result).all()
    th.testing.assert_close(result[0], th.zeros_like(result[0]))


def test_compatible_advantages_are_the_least_norm_model_in_the_whitened_score_through_the_executed_value():
    # Per state, the least-norm w with w . phi(z) = A_gae, phi(z) = (z, (z^2 - 1) / sqrt(2)), by a pseudo-inverse.
    advantages, executed, actions, mean, std = _batch()
    result = compatible_advantages(advantages, executed, actions, mean, std)

    def score(z):
        return th.cat([z, (z**2 - 1) / math.sqrt(2)], dim=-1)

    for state in range(len(advantages)):
        features = score((executed[state] - mean[state]) / std[state]).view(1, -1)
        weights = th.linalg.pinv(features) @ advantages[state].view(1)
        expected = score((actions[state] - mean[state]) / std[state]) @ weights
        th.testing.assert_close(result[state], expected)
    th.testing.assert_close(result[:, 0], advantages)


@pytest.mark.parametrize("z", [-2.5, -1.3, -0.6, 0.2, 0.9, 1.7])
@pytest.mark.parametrize("advantage", [-1.0, 2.0])
def test_compatible_advantages_move_the_spread_as_ppos_log_std_gradient_and_directional_ones_do_not(z, advantage):
    # One action dimension, support {a, 2 mu - a, mu}: the pair at +-z against the mean is the advantage's curvature.
    # Its sign must be that of PPO's per-sample log-std gradient, A (z^2 - 1); the linear model has none.
    mean, std = th.tensor([[0.3]], dtype=th.float64), th.tensor([[0.5]], dtype=th.float64)
    executed = mean + z * std
    actions = th.stack([executed, 2 * mean - executed, mean], dim=1)
    advantages = th.tensor([advantage], dtype=th.float64)
    compatible = compatible_advantages(advantages, executed, actions, mean, std)[0]
    directional = directional_advantages(advantages, executed, actions, mean, std)[0]
    curvature = (compatible[0] + compatible[1]) / 2 - compatible[2]
    assert th.sign(curvature) == math.copysign(1.0, advantage * (z**2 - 1))
    th.testing.assert_close((directional[0] + directional[1]) / 2 - directional[2], th.tensor(0.0, dtype=th.float64))


def test_an_executed_action_at_the_mean_gives_finite_compatible_advantages_that_favour_the_mean():
    # z = 0: phi(0) = (0, -1 / sqrt(2) per dimension), so A(x) = A_gae (1 - |z_x|^2 / d): A_gae at the mean itself.
    advantages, executed, actions, mean, std = _batch()
    executed[0] = mean[0]
    actions[0, 1] = mean[0]
    result = compatible_advantages(advantages, executed, actions, mean, std)
    assert th.isfinite(result).all()
    offsets = (actions[0] - mean[0]) / std[0]
    th.testing.assert_close(result[0], advantages[0] * (1 - offsets.pow(2).sum(-1) / offsets.shape[-1]))
    th.testing.assert_close(result[0, 1], advantages[0])
