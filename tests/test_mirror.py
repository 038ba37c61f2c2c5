"""The mirrored support point and its first-order advantage against the closed form."""

import torch as th

from sb3_wasserstein.common.mirror import mirrored_actions, mirrored_advantages


def test_mirrored_advantage_is_exact_for_an_advantage_linear_in_the_action():
    # A(s, a) = c(s) + g(s) . (a - mu(s)): the first-order estimate at 2 mu - a, from A(a) and the baseline
    # b = A(mu) = c, is the advantage there.
    generator = th.Generator().manual_seed(0)
    mean, executed, slope = (th.randn(16, 3, generator=generator, dtype=th.float64) for _ in range(3))
    offset = th.randn(16, generator=generator, dtype=th.float64)

    def advantage(actions):
        return offset + (slope * (actions - mean)).sum(-1)

    mirror = mirrored_actions(executed, mean)
    th.testing.assert_close(mirror - mean, mean - executed)
    th.testing.assert_close(mirrored_advantages(advantage(executed), offset), advantage(mirror))
