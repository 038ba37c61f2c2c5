"""The executed action's mirror image through the old mean, and its first-order advantage (``docs/wpo.md``).

Outside the design note. For a Gaussian ``pi_k(.|s) = N(mu, Sigma)``, the reflection ``a~ = 2 mu - a`` of a draw
``a`` is a draw of ``pi_k`` too (the antithetic draw). If the advantage is linear in the action near the mean,
``A(a') = A(mu) + g . (a' - mu)``, then ``A(a~) = 2 A(mu) - A(a)`` exactly. So with GAE's estimate at the
executed action and a baseline ``b`` standing in for ``A(mu)``, the mirror's advantage is ``2 b - A_gae(s, a)``:
where the executed action did worse than the baseline its mirror is credited as better by as much.
"""

from __future__ import annotations

import torch as th


def mirrored_actions(executed: th.Tensor, mean: th.Tensor) -> th.Tensor:
    """``2 mu - a``, per state: ``executed`` and ``mean`` are ``[B, d]``."""
    return 2.0 * mean - executed


def mirrored_advantages(executed_advantages: th.Tensor, baseline: th.Tensor) -> th.Tensor:
    """``A(2 mu - a) = 2 b - A(a)``, the first-order estimate at the mirror, per state: both inputs ``[B]``."""
    return 2.0 * baseline - executed_advantages
