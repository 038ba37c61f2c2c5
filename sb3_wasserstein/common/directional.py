"""The executed action's GAE advantage carried to every support point along its direction from the old mean.

Outside the design note (``docs/wpo.md``). Per state, with ``z = (a - mu) / sigma`` the executed action in units of
the old policy's standard deviation, model the advantage near the mean as linear, ``A(x) = g . (x - mu) / sigma``, and
take the least-norm ``g`` that agrees with the one value the rollout measured, ``A(a) = A_gae``:
``g = A_gae z / |z|^2``. A support point ``x`` then gets

    A(x) = A_gae <z_x, z> / |z|^2,    z_x = (x - mu) / sigma:

``A_gae`` at the executed action, ``-A_gae`` at its mirror ``2 mu - a`` (``common.mirror`` with a zero baseline), and
0 across the direction. The plan then moves mass along ``z`` as the policy gradient ``A_gae z / sigma`` would.
"""

from __future__ import annotations

import torch as th


def directional_advantages(
    executed_advantages: th.Tensor, executed: th.Tensor, actions: th.Tensor, mean: th.Tensor, std: th.Tensor
) -> th.Tensor:
    """``A_gae <z_x, z> / |z|^2`` at every support point, ``[B, N]``.

    :param executed_advantages: ``[B]``, GAE's advantage of each state's executed action
    :param executed: ``[B, d]``, the executed actions
    :param actions: ``[B, N, d]``, the support points
    :param mean: ``[B, d]``, the old policy's mean
    :param std: ``[B, d]``, the old policy's standard deviation
    """
    direction = (executed - mean) / std
    offsets = (actions - mean.unsqueeze(1)) / std.unsqueeze(1)
    projections = (offsets @ direction.unsqueeze(-1)).squeeze(-1)
    squared_norm = direction.pow(2).sum(-1, keepdim=True).clamp_min(th.finfo(direction.dtype).tiny)
    return executed_advantages.unsqueeze(1) * projections / squared_norm
