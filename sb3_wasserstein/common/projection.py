"""Projecting WPG's particle flow back onto the Gaussian policy family (design note, section 4).

Two ways, both pure, batched functions of the Gaussian's parameters:

- ``gaussian_negative_log_likelihood``: the Langevin actor update moves particles, then fits the
  policy to them by gradient steps of this loss;
- ``parametric_wasserstein_surrogate``: the small-step limit of that projection, the parametric
  Wasserstein gradient of Pfau et al. (2025), with the Gaussian's Fisher metric on its parameters.

Shapes: particles are ``[n_particles, batch, action_dim]``, Gaussian parameters ``[batch, action_dim]``.
"""

from __future__ import annotations

import math

import torch as th

SQUASH_EPSILON = 1e-6
"""Added inside ``log(1 - tanh(u)^2)``, as SB3's squashed Gaussian does."""


def gaussian_negative_log_likelihood(particles: th.Tensor, mean: th.Tensor, log_std: th.Tensor) -> th.Tensor:
    """Mean negative log-likelihood of the particles under the diagonal Gaussian ``N(mean, exp(log_std)^2)``.

    ``NLL = mean_{i, s} sum_k [ (u_ik - mu_k(s))^2 / (2 sigma_k(s)^2) + log sigma_k(s) + log(2 pi) / 2 ]``.

    Minimising it over the Gaussian's parameters projects the particle cloud onto the Gaussian
    family (moment matching in the limit). Pass the *unclamped* log-std: a clamp has no gradient
    beyond its bound, and then the spread can no longer follow the particles.
    """
    z = (particles - mean) * th.exp(-log_std)
    per_dimension = 0.5 * z.pow(2) + log_std + 0.5 * math.log(2.0 * math.pi)
    return per_dimension.sum(-1).mean()


def squashed_gaussian_log_prob(pre_squash: th.Tensor, mean: th.Tensor, log_std: th.Tensor) -> th.Tensor:
    """``log pi(tanh u)`` for ``u ~ N(mean, exp(log_std)^2)``: the Gaussian log-density minus the tanh Jacobian.

    ``log pi(a) = sum_k [ log N(u_k; mu_k, sigma_k) - log(1 - tanh(u_k)^2 + eps) ]``, ``a = tanh(u)``,
    exactly as SB3's ``SquashedDiagGaussianDistribution``. Shape: particles' without the last axis.
    """
    z = (pre_squash - mean) * th.exp(-log_std)
    gaussian = -(0.5 * z.pow(2) + log_std + 0.5 * math.log(2.0 * math.pi)).sum(-1)
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
