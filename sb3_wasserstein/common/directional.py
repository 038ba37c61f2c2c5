"""The executed action's GAE advantage carried to every support point by a model fitted to that one value.

Outside the design note (``docs/wpo.md``). Per state, with ``z = (a - mu) / sigma`` the executed action in units of
the old policy's standard deviation, model the advantage as linear in features ``phi`` of the whitened action,
``A(x) = w . phi(z_x)``, and take the least-norm ``w`` that agrees with the one value the rollout measured,
``A(a) = A_gae``: ``w = A_gae phi(z) / |phi(z)|^2``. A support point ``x`` then gets

    A(x) = A_gae <phi(z_x), phi(z)> / |phi(z)|^2,    z_x = (x - mu) / sigma.

- ``directional_advantages``: ``phi(z) = z``. ``A_gae`` at the executed action, ``-A_gae`` at its mirror
  ``2 mu - a`` (``common.mirror`` with a zero baseline), 0 across the direction. The plan moves mass along ``z`` as
  the policy gradient ``A_gae z / sigma`` moves the mean; the model has no curvature, so it says nothing of the spread.
- ``compatible_advantages``: ``phi(z) = (z, (z^2 - 1) / sqrt(2))``, the Gaussian's score in ``(mu, log sigma)``
  whitened by its Fisher information (``diag(1 / sigma^2, 2)``): the compatible features of Sutton et al. (2000)
  and Kakade (2001), in which ``w`` is the sample's natural policy gradient. Its quadratic part gives a point
  ``A_gae sum_k (z_xk^2 - 1)(z_k^2 - 1) / (2 |phi(z)|^2)``: where a good executed action (``A_gae > 0``) lay beyond
  one std, points far from the mean gain; where it lay within one std, points near the mean gain (and the reverse for
  ``A_gae < 0``), the sign of PPO's and TRPO's gradient ``A_gae (z^2 - 1)`` on ``log sigma``.
"""

from __future__ import annotations

import math

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
    direction, offsets = _whitened(executed, actions, mean, std)
    return _least_norm_extension(executed_advantages, direction, offsets)


def compatible_advantages(
    executed_advantages: th.Tensor, executed: th.Tensor, actions: th.Tensor, mean: th.Tensor, std: th.Tensor
) -> th.Tensor:
    """``A_gae <phi(z_x), phi(z)> / |phi(z)|^2`` with ``phi(z) = (z, (z^2 - 1) / sqrt(2))``, ``[B, N]``.

    Arguments as ``directional_advantages``.
    """
    direction, offsets = _whitened(executed, actions, mean, std)
    return _least_norm_extension(executed_advantages, _score_features(direction), _score_features(offsets))


def _whitened(executed, actions, mean, std) -> tuple[th.Tensor, th.Tensor]:
    """``z`` of the executed actions, ``[B, d]``, and ``z_x`` of the support points, ``[B, N, d]``."""
    return (executed - mean) / std, (actions - mean.unsqueeze(1)) / std.unsqueeze(1)


def _score_features(z: th.Tensor) -> th.Tensor:
    """``(z, (z^2 - 1) / sqrt(2))`` along the last axis: the score in ``(mu, log sigma)``, Fisher-whitened."""
    return th.cat([z, (z.pow(2) - 1.0) / math.sqrt(2.0)], dim=-1)


def _least_norm_extension(executed_advantages: th.Tensor, executed_features: th.Tensor, features: th.Tensor) -> th.Tensor:
    """``A_gae <f_x, f> / |f|^2``: the least-norm linear model in the features through the executed value (0 where
    ``f = 0``)."""
    projections = (features @ executed_features.unsqueeze(-1)).squeeze(-1)
    squared_norm = executed_features.pow(2).sum(-1, keepdim=True).clamp_min(th.finfo(executed_features.dtype).tiny)
    return executed_advantages.unsqueeze(1) * projections / squared_norm
