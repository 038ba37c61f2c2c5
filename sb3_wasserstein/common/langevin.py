"""The unadjusted Langevin step of WPG's actor update (design note, section 4)."""

from __future__ import annotations

import math

import torch as th


def langevin_step(
    particles: th.Tensor, drift: th.Tensor, step_size: float, temperature: float, noise: th.Tensor
) -> th.Tensor:
    """One unadjusted Langevin step ``x <- x + eta drift(x) + sqrt(2 eta tau) xi``.

    With ``drift = grad_a Q(s, a)`` the particles follow the discretised diffusion
    ``da = grad_a Q dt + sqrt(2 tau) dW``, whose stationary law is the Gibbs policy
    ``pi*(a|s) ∝ exp(Q(s, a) / tau)``. ``noise`` is standard normal, shaped like ``particles``
    (passed in so that the caller owns the random stream).
    """
    return particles + step_size * drift + math.sqrt(2.0 * step_size * temperature) * noise


def squashed_drift(pre_squash: th.Tensor, action_gradient: th.Tensor, temperature: float) -> th.Tensor:
    """The drift in pre-squash space ``u`` for actions ``a = tanh(u)``.

    The target density of ``u`` is ``∝ exp(Q(s, tanh u) / tau) prod_k (1 - tanh(u_k)^2)``, so
    ``tau grad_u log target = grad_a Q(s, a) (1 - tanh(u)^2) - 2 tau tanh(u)``;
    ``action_gradient`` is ``grad_a Q`` at ``a = tanh(u)``.
    """
    squashed = th.tanh(pre_squash)
    return action_gradient * (1.0 - squashed.pow(2)) - 2.0 * temperature * squashed
