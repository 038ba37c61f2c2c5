"""Projections back onto the policy family: the plan's marginal (WPO/SPO) and WPG's particles.

- WPO and SPO (design note, section 3): the plan's marginal ``q(. | s)`` lives on a finite support
  and the new policy ``pi_theta`` is fitted to it by weighted maximum likelihood.
- WPG (section 4): the Langevin actor update moves particles, then fits the policy to them by
  gradient steps of ``gaussian_negative_log_likelihood`` (or of ``baselined_negative_log_likelihood``,
  the same expected gradient with the particles' draw noise removed); ``parametric_wasserstein_surrogate`` is the
  small-step limit of that projection, the parametric Wasserstein gradient of Pfau et al. (2025).

Losses are averaged over states (and particles).
"""

from __future__ import annotations

import math

import torch as th

SQUASH_EPSILON = 1e-6
"""Added inside ``log(1 - tanh(u)^2)``, as SB3's squashed Gaussian does."""


def diagonal_gaussian_log_density(x: th.Tensor, mean: th.Tensor, log_std: th.Tensor) -> th.Tensor:
    """``log N(x; mean, diag(exp(log_std))^2)``, summed over the last (action) axis; arguments broadcast."""
    standardised = (x - mean) * th.exp(-log_std)
    return -(0.5 * standardised.pow(2) + log_std + 0.5 * math.log(2 * math.pi)).sum(-1)


def categorical_projection_loss(logits: th.Tensor, target: th.Tensor) -> th.Tensor:
    """Cross-entropy ``-E_s sum_a q(a|s) log pi_theta(a|s)`` for discrete actions (``[B, n]`` each)."""
    return -(target * th.log_softmax(logits, dim=-1)).sum(-1).mean()


def gaussian_log_density(support: th.Tensor, mean: th.Tensor, log_std: th.Tensor) -> th.Tensor:
    """``log N(a_j; mean, diag(exp(log_std))^2)`` of each support point, summed over action dimensions.

    ``support`` is ``[B, n, d]``; ``mean`` and ``log_std`` broadcast to ``[B, d]``; the result is ``[B, n]``.
    """
    return diagonal_gaussian_log_density(support, mean.unsqueeze(-2), log_std.unsqueeze(-2))


SPREAD_CENTRES = ("old_mean", "plan_mean")
"""Where ``decoupled_gaussian_projection_loss`` measures the spread from: the old policy's mean, or the weights' own."""

RELIABILITY_FLOOR = 1e-3
"""Floor on ``1 - sum_j w_j^2`` in ``reliability_corrected_squared_deviations`` (weights near one-hot)."""


def reliability_corrected_squared_deviations(support: th.Tensor, weights: th.Tensor) -> th.Tensor:
    """Squared deviations of the support points from their weighted mean, scaled so that their weighted sum is the
    unbiased variance estimate for reliability weights.

    ``m = sum_j w_j a_j`` and ``D_j = (a_j - m)^2 / (1 - sum_j w_j^2)`` per action dimension, so that
    ``sum_j w_j D_j`` has expectation ``sigma^2`` for independent draws of variance ``sigma^2`` and fixed weights
    summing to 1 (Bessel's ``n / (n - 1)`` for uniform weights). ``1 - sum_j w_j^2`` is floored at
    ``RELIABILITY_FLOOR``: one-hot weights give no deviation to scale. ``support`` is ``[B, n, d]``, ``weights``
    ``[B, n]``; the result is ``[B, n, d]``, with the centre detached.
    """
    centre = (weights.unsqueeze(-1) * support).sum(-2).detach()
    correction = 1.0 / (1.0 - weights.pow(2).sum(-1, keepdim=True)).clamp_min(RELIABILITY_FLOOR)
    return (support - centre.unsqueeze(-2)).pow(2) * correction.unsqueeze(-1)


def decoupled_gaussian_projection_loss(
    mean: th.Tensor,
    log_std: th.Tensor,
    old_mean: th.Tensor,
    old_log_std: th.Tensor,
    support: th.Tensor,
    target: th.Tensor,
    spread_target: th.Tensor | None = None,
    spread_centre: str = "old_mean",
) -> tuple[th.Tensor, th.Tensor]:
    """Weighted maximum likelihood with the mean and the spread fitted separately (MPO's decoupling).

    ``mean_loss  = -E_s sum_j q_j log N(a_j; mu_theta(s), sigma_k(s))``  (the mean against the old spread),
    ``spread_loss = -E_s sum_j w_j log N(a_j; mu_k(s), sigma_theta(s))`` (the spread around the old mean),
    with ``q = target`` and ``w = spread_target`` (``q`` when None; e.g. ``geometry_corrected_marginal``).

    Fitting both at once lets a one-hot target collapse the spread (the prototype's failure); apart,
    the spread follows the distance of the chosen candidates from the old mean instead. That distance also
    counts the mean's own shift, ``sum_j w_j (a_j - mu_k)^2 = Var_w + (m_w - mu_k)^2``; with
    ``spread_centre="plan_mean"`` the spread is fitted to the deviations from the weights' own mean instead,
    ``spread_loss = E_s sum_j w_j sum_k [D_jk / (2 sigma_theta,k^2) + log sigma_theta,k]`` with ``D`` from
    ``reliability_corrected_squared_deviations`` (its ``log(2 pi)`` constant left out), stationary at
    ``sigma^2 = sum_j w_j D_j``. Outside the design note.
    ``log_std`` is the unclamped parameter so that its gradient never vanishes.
    """
    mean_loss = -(target * gaussian_log_density(support, mean, old_log_std)).sum(-1).mean()
    spread_weights = target if spread_target is None else spread_target
    if spread_centre == "old_mean":
        spread_loss = -(spread_weights * gaussian_log_density(support, old_mean, log_std)).sum(-1).mean()
    elif spread_centre == "plan_mean":
        deviations = reliability_corrected_squared_deviations(support, spread_weights)
        nll = (0.5 * deviations * th.exp(-2 * log_std).unsqueeze(-2) + log_std.unsqueeze(-2)).sum(-1)
        spread_loss = (spread_weights * nll).sum(-1).mean()
    else:
        raise ValueError(f"`spread_centre` must be one of {SPREAD_CENTRES}, got {spread_centre!r}.")
    return mean_loss, spread_loss


def gaussian_negative_log_likelihood(particles: th.Tensor, mean: th.Tensor, log_std: th.Tensor) -> th.Tensor:
    """Mean negative log-likelihood of particles ``[n_particles, B, d]`` under ``N(mean, exp(log_std)^2)`` (``[B, d]``).

    ``NLL = mean_{i, s} sum_k [ (u_ik - mu_k(s))^2 / (2 sigma_k(s)^2) + log sigma_k(s) + log(2 pi) / 2 ]``.

    Minimising it over the Gaussian's parameters projects the particle cloud onto the Gaussian
    family (moment matching in the limit). Pass the *unclamped* log-std: a clamp has no gradient
    beyond its bound, and then the spread can no longer follow the particles.
    """
    return -diagonal_gaussian_log_density(particles, mean, log_std).mean()


def baselined_negative_log_likelihood(
    moved: th.Tensor, particles: th.Tensor, mean: th.Tensor, log_std: th.Tensor
) -> th.Tensor:
    """``gaussian_negative_log_likelihood`` of the moved particles minus that of the particles they started from.

    ``L = mean_{i, s} sum_k [ (u'_ik - mu_k(s))^2 - (u_ik - mu_k(s))^2 ] / (2 sigma_k(s)^2)`` (the ``log sigma``
    terms cancel), with ``u`` the particles drawn from ``N(mean, sigma^2)`` and ``u' = u + d`` the moved ones.
    The subtracted term's gradient is the score of the particles' own draw, zero in expectation, so
    at the policy they were drawn from the expected gradient is the plain negative log-likelihood's,
    and the same fixed point; only the draw's noise cancels. Per particle and action dimension:

        d L / d mean    = -d / sigma^2,
        d L / d log_std = -(2 (u - mu) d + d^2) / sigma^2,

    against the plain ``-(u - mu + d) / sigma^2`` and ``1 - (u - mu + d)^2 / sigma^2``, whose terms in
    ``u - mu`` alone have zero mean and unit-order variance. Shapes as ``gaussian_negative_log_likelihood``.
    """
    return gaussian_negative_log_likelihood(moved, mean, log_std) - gaussian_negative_log_likelihood(
        particles, mean, log_std
    )


def squashed_gaussian_log_prob(pre_squash: th.Tensor, mean: th.Tensor, log_std: th.Tensor) -> th.Tensor:
    """``log pi(tanh u)`` for ``u ~ N(mean, exp(log_std)^2)``: the Gaussian log-density minus the tanh Jacobian.

    ``log pi(a) = sum_k [ log N(u_k; mu_k, sigma_k) - log(1 - tanh(u_k)^2 + eps) ]``, ``a = tanh(u)``,
    exactly as SB3's ``SquashedDiagGaussianDistribution``. Shape: particles' without the last axis.
    """
    gaussian = diagonal_gaussian_log_density(pre_squash, mean, log_std)
    return gaussian - th.log(1.0 - th.tanh(pre_squash).pow(2) + SQUASH_EPSILON).sum(-1)


def parametric_wasserstein_surrogate(
    mean: th.Tensor, log_std: th.Tensor, noise: th.Tensor, drift: th.Tensor, temperature: float
) -> th.Tensor:
    """A loss whose gradient is minus the natural parametric Wasserstein gradient of ``E Q + tau H``.

    The particles are ``u = mean + sigma * noise`` (``noise`` standard normal, detached), ``drift``
    is ``tau grad_u log target(u)`` (for example ``squashed_drift``; ``grad_a Q`` when unsquashed), and
    the Wasserstein velocity is ``v(u) = drift(u) - tau grad_u log pi_theta(u) = drift(u) + tau noise / sigma``.
    Pfau et al.'s update is ``E[ grad_theta grad_u log pi_theta(u) . v(u) ]``; for a diagonal
    Gaussian, preconditioned by the inverse Fisher metric of ``(mean, log_std)`` (``1/sigma^2`` and ``2``
    per dimension), its components are

        d mean    = E[ v ],           d log_std = E[ noise * v ] / sigma,

    which vanish exactly when the mean drift is zero and ``E[noise * drift] = -tau / sigma``: for
    ``Q = -(u - m)^2 / (2c)``, at ``N(m, tau c)``, the Gibbs law. The returned scalar is
    ``-mean_{i, s} sum_k (mean_k * d mean_k + log_std_k * d log_std_k)`` with the directions detached, so
    descending it moves ``(mean, log_std)`` along that natural gradient, and back-propagates it into
    the network that produced them.
    """
    sigma = th.exp(log_std.detach())
    velocity = (drift + temperature * noise / sigma).detach()
    mean_direction = velocity.mean(0)
    log_std_direction = (noise * velocity).mean(0) / sigma
    return -(mean * mean_direction + log_std * log_std_direction).sum(-1).mean()
