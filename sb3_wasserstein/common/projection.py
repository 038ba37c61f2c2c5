"""Projection of a target on the support back onto the policy family (design note, section 3).

The plan's marginal ``q(. | s)`` lives on a finite support; the new policy ``pi_theta`` is fitted to it
by weighted maximum likelihood. Each function returns the loss averaged over states.
"""

from __future__ import annotations

import math

import torch as th


def categorical_projection_loss(logits: th.Tensor, target: th.Tensor) -> th.Tensor:
    """Cross-entropy ``-E_s sum_a q(a|s) log pi_theta(a|s)`` for discrete actions (``[B, n]`` each)."""
    return -(target * th.log_softmax(logits, dim=-1)).sum(-1).mean()


def gaussian_log_density(support: th.Tensor, mean: th.Tensor, log_std: th.Tensor) -> th.Tensor:
    """``log N(a_j; mean, diag(exp(log_std))^2)`` of each support point, summed over action dimensions.

    ``support`` is ``[B, n, d]``; ``mean`` and ``log_std`` broadcast to ``[B, d]``; the result is ``[B, n]``.
    """
    standardised = (support - mean.unsqueeze(-2)) * th.exp(-log_std).unsqueeze(-2)
    return -(0.5 * standardised.pow(2) + log_std.unsqueeze(-2) + 0.5 * math.log(2 * math.pi)).sum(-1)


def decoupled_gaussian_projection_loss(
    mean: th.Tensor,
    log_std: th.Tensor,
    old_mean: th.Tensor,
    old_log_std: th.Tensor,
    support: th.Tensor,
    target: th.Tensor,
) -> tuple[th.Tensor, th.Tensor]:
    """Weighted maximum likelihood with the mean and the spread fitted separately (MPO's decoupling).

    ``mean_loss  = -E_s sum_j q_j log N(a_j; mu_theta(s), sigma_k(s))``  (the mean against the old spread),
    ``spread_loss = -E_s sum_j q_j log N(a_j; mu_k(s), sigma_theta(s))`` (the spread around the old mean).

    Fitting both at once lets a one-hot target collapse the spread (the prototype's failure); apart,
    the spread follows the distance of the chosen candidates from the old mean instead.
    ``log_std`` is the unclamped parameter so that its gradient never vanishes.
    """
    mean_loss = -(target * gaussian_log_density(support, mean, old_log_std)).sum(-1).mean()
    spread_loss = -(target * gaussian_log_density(support, old_mean, log_std)).sum(-1).mean()
    return mean_loss, spread_loss
