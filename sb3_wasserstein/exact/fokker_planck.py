"""The Wasserstein gradient flow of WPG on the action grid, and the identities of section 4.

The flow ``d_t pi = -div_a(pi grad_a Q_pi) + tau Laplace_a pi`` is discretised on the grid as the
continuous-time Markov chain that jumps to a neighbouring grid point at the rates

    k(a_i -> a_{i+1}) = (tau / h^2) exp((Q(a_{i+1}) - Q(a_i)) / (2 tau)),
    k(a_{i+1} -> a_i) = (tau / h^2) exp((Q(a_i) - Q(a_{i+1})) / (2 tau)).

To first order in ``h`` its flux between neighbours is ``pi grad_a Q - tau grad_a pi``, the flux of the
Fokker-Planck equation; it conserves mass, and it satisfies detailed balance with respect to the Gibbs
policy ``g ∝ exp(Q / tau)``, its stationary law. This is the structure under which the heat flow of a
Markov chain is the Wasserstein gradient flow of the relative entropy (Maas 2011), and it makes the
section-4 identity ``d/dt V_pi = (I - gamma P_pi)^{-1} tau^2 I(pi | g_pi)`` exact on the grid, with the
discrete relative Fisher information of :func:`relative_fisher_information`.
"""

from __future__ import annotations

import torch as th

from sb3_wasserstein.exact.soft_mdp import SoftGridMDP, gibbs_policy, resolvent, soft_evaluate


def fokker_planck_velocity(mdp: SoftGridMDP, policy: th.Tensor, q_values: th.Tensor) -> th.Tensor:
    """``d_t pi`` on the grid for a given ``Q`` ``[S, M]``: ``-div(pi grad_a Q) + tau Laplace pi``, no flux at the ends.

    The mass flowing from ``a_i`` to ``a_{i+1}`` per unit time is
    ``J = h [k(a_i -> a_{i+1}) pi(a_i) - k(a_{i+1} -> a_i) pi(a_{i+1})]`` and ``d_t pi(a_i) = (J_{i-1/2} - J_{i+1/2}) / h``.
    """
    tau, h = mdp.temperature, mdp.spacing
    half_rise = (q_values[:, 1:] - q_values[:, :-1]) / (2.0 * tau)
    flux = (tau / h) * (half_rise.exp() * policy[:, :-1] - (-half_rise).exp() * policy[:, 1:])
    velocity = th.zeros_like(policy)
    velocity[:, :-1] -= flux / h
    velocity[:, 1:] += flux / h
    return velocity


def relative_fisher_information(mdp: SoftGridMDP, policy: th.Tensor, reference: th.Tensor) -> th.Tensor:
    """The relative Fisher information ``I(pi | g) = ∫ pi |grad_a log(pi / g)|^2 da`` per state, on the grid.

    With ``rho = pi / g`` it is ``(1/h) sum_i sqrt(g_i g_{i+1}) (rho_{i+1} - rho_i)(log rho_{i+1} - log rho_i)``,
    which is ``h sum_i m_i ((log rho_{i+1} - log rho_i) / h)^2`` with ``m_i = sqrt(g_i g_{i+1})`` times the
    logarithmic mean of ``rho_i`` and ``rho_{i+1}``, a discretisation of ``pi(a_{i+1/2})``.
    """
    log_ratio = policy.log() - reference.log()
    ratio = log_ratio.exp()
    edge_reference = (reference[:, 1:] * reference[:, :-1]).sqrt()
    products = edge_reference * (ratio[:, 1:] - ratio[:, :-1]) * (log_ratio[:, 1:] - log_ratio[:, :-1])
    return products.sum(-1) / mdp.spacing


def value_rate_along_flow(mdp: SoftGridMDP, policy: th.Tensor) -> th.Tensor:
    """The section-4 resolvent identity's right-hand side: ``(I - gamma P_pi)^{-1} [tau^2 I(pi | g_pi)]``."""
    gibbs = gibbs_policy(mdp, soft_evaluate(mdp, policy).q_values)
    fisher = relative_fisher_information(mdp, policy, gibbs)
    return resolvent(mdp, policy, mdp.temperature**2 * fisher)
