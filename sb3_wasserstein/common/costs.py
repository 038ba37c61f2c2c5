"""Ground costs ``d(a, a')`` on the action support (design note, section 3)."""

from __future__ import annotations

import torch as th

BOX_COSTS = ("squared_euclidean", "euclidean", "mahalanobis")
"""The ground costs offered on ``Box`` action spaces."""


def zero_one_cost(n_actions: int) -> th.Tensor:
    """``d(i, j) = 1[i != j]`` on a discrete action set: the Wasserstein distance is then total variation."""
    return 1.0 - th.eye(n_actions)


def box_cost(support: th.Tensor, kind: str, scale: th.Tensor | None = None) -> th.Tensor:
    """Pairwise cost between the support points of each state.

    ``support`` is ``[B, n, d]``; the result is ``[B, n, n]`` with

    - ``squared_euclidean``: ``d(a, a') = ||a - a'||^2`` (the W2 cost, the default);
    - ``euclidean``: ``d(a, a') = ||a - a'||`` (the W1 cost);
    - ``mahalanobis``: ``d(a, a') = sum_k ((a_k - a'_k) / sigma_k(s))^2``, in units of the old policy's
      standard deviation ``scale`` (``[B, d]``), so that ``delta`` keeps its meaning as the policy narrows.
    """
    difference = support.unsqueeze(-2) - support.unsqueeze(-3)
    if kind == "mahalanobis":
        if scale is None:
            raise ValueError("The mahalanobis cost needs the old policy's standard deviation as `scale`.")
        difference = difference / scale[:, None, None, :]
    squared = difference.pow(2).sum(-1)
    if kind == "euclidean":
        return squared.sqrt()
    if kind in ("squared_euclidean", "mahalanobis"):
        return squared
    raise ValueError(f"Unknown Box cost {kind!r}: expected one of {BOX_COSTS}.")
