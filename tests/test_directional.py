"""The executed action's advantage carried along its direction: against a least-norm solve and the mirror."""

import torch as th

from sb3_wasserstein.common.directional import directional_advantages
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
