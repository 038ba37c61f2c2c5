"""GAE's advantages regressed on the policy's score over the whole batch: the compatible advantage model.

Outside the design note's Q head (``docs/wpo.md``). Sutton et al. (2000) and Kakade (2001): the model linear in the
policy's score, ``A_w(s, x) = w . grad_theta log pi_theta(x|s)``, fitted to GAE's advantages at the executed pairs
by least squares, has normal equations ``F w = g``, with

    F = E_s E_{a~pi} [grad log pi(a|s) grad log pi(a|s)^T]   (the Fisher information, the Hessian of the KL)
    g = E [A_gae(s, a) grad log pi(a|s)]                      (the policy gradient),

so its ``w`` is the natural gradient, TRPO's direction. One ``w`` for every state: the fit pools the rollout through
the policy network's parameters, where a Q head or a per-state model has one GAE sample per state. The plan reads the
model at every support point ``x``: the derivative of ``log pi_theta(x|s)`` along ``w``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch as th
from sb3_contrib.common.utils import conjugate_gradient_solver
from torch.nn.utils import parameters_to_vector


def directional_derivative(outputs: th.Tensor, params: Sequence[th.Tensor], direction: th.Tensor) -> th.Tensor:
    """``J w``: the derivative of ``outputs`` (any shape, built from ``params`` with its graph) along the flat
    parameter direction ``w``, by differentiating ``(J^T u) . w`` with respect to ``u``."""
    probe = th.zeros_like(outputs, requires_grad=True)
    pulled_back = th.autograd.grad(outputs, params, grad_outputs=probe, create_graph=True)
    return th.autograd.grad(parameters_to_vector(pulled_back) @ direction, probe, retain_graph=True)[0]


def natural_gradient(log_prob: th.Tensor, advantages: th.Tensor, kl: th.Tensor, params: Sequence[th.Tensor],
                     n_steps: int, damping: float) -> th.Tensor:
    """``w = (F + damping I)^-1 g``: the least-squares (ridge) fit of ``advantages`` on the score features, with
    ``g`` from the advantages centred over the batch (the fit's intercept; TRPO normalises them too).

    :param log_prob: ``[B]``, ``log pi_theta(a|s)`` of the executed pairs, with its graph
    :param advantages: ``[B]``, GAE's advantages of those pairs
    :param kl: scalar, the mean ``KL(pi_k || pi_theta)`` over the states, with its graph (at ``theta = theta_k``
        its Hessian is ``F``)
    :param params: the parameters the policy's distribution depends on
    :param n_steps: conjugate-gradient steps (TRPO's ``cg_max_steps``; sb3-contrib's solver, as TRPO's)
    :param damping: added to ``F``'s diagonal (TRPO's ``cg_damping``)
    """
    centred = advantages - advantages.mean()
    g = parameters_to_vector(th.autograd.grad((centred * log_prob).mean(), params, retain_graph=True)).detach()
    kl_gradient = parameters_to_vector(th.autograd.grad(kl, params, create_graph=True))

    def fisher_vector_product(vector: th.Tensor) -> th.Tensor:
        product = parameters_to_vector(th.autograd.grad(kl_gradient @ vector, params, retain_graph=True))
        return product.detach() + damping * vector

    return conjugate_gradient_solver(fisher_vector_product, g, max_iter=n_steps)

