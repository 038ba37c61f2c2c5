"""Entropy-regularised MDP with one continuous action per state, on a fine action grid (design note, sections 4-5).

The action interval ``[-b, b]`` is represented by ``M`` equally spaced points ``a_1, ..., a_M`` with
spacing ``h``. A policy is a density on the grid, ``[S, M]`` with ``h sum_j pi(a_j | s) = 1``, and every
integral ``∫ f(a) da`` is the Riemann sum ``h sum_j f(a_j)``. With that one quadrature the identities
of section 4 hold exactly for the grid problem, so the tests can check them to rounding.

Notation: temperature ``tau``, soft values ``V_pi(s) = ∫ pi (Q_pi - tau log pi) da`` and
``Q_pi(s, a) = r(s, a) + gamma sum_{s'} P(s' | s, a) V_pi(s')``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch as th

DTYPE = th.float64


@dataclass(frozen=True)
class SoftGridMDP:
    """``S`` states, a grid of ``M`` actions, rewards ``r [S, M]``, transitions ``P [S, M, S]``,
    discount ``gamma``, temperature ``tau`` and initial distribution ``mu [S]``."""

    grid: th.Tensor
    rewards: th.Tensor
    transitions: th.Tensor
    discount: float
    temperature: float
    initial: th.Tensor

    @property
    def spacing(self) -> float:
        """The grid step ``h``."""
        return (self.grid[1] - self.grid[0]).item()

    @property
    def n_states(self) -> int:
        return self.rewards.shape[0]

    def integrate(self, values: th.Tensor) -> th.Tensor:
        """``∫ f(a) da ≈ h sum_j f(a_j)`` over the last axis."""
        return self.spacing * values.sum(-1)

    def gaussian_policy(self, means: th.Tensor, stds: th.Tensor) -> th.Tensor:
        """Gaussian densities ``N(m_s, sigma_s^2)`` restricted to the grid and normalised there."""
        log_density = -0.5 * ((self.grid - means[:, None]) / stds[:, None]) ** 2
        return th.softmax(log_density, -1) / self.spacing


def random_soft_mdp(
    seed: int,
    n_states: int = 4,
    n_grid: int = 401,
    action_bound: float = 2.0,
    discount: float = 0.9,
    temperature: float = 0.1,
) -> SoftGridMDP:
    """A seeded smooth model: ``r(s, a) = -k_s (a - c_s)^2 / 2 + 0.2 sin(w_s a + phi_s)``,
    ``P(.|s, a) = softmax(W_s + U_s a)``, with ``k_s`` in ``[1, 2]`` and the peaks ``c_s`` in ``[-0.8, 0.8]``,
    so that every Gibbs policy sits well inside ``[-b, b]``."""
    generator = th.Generator().manual_seed(seed)
    uniform = lambda *shape: th.rand(*shape, generator=generator, dtype=DTYPE)  # noqa: E731
    grid = th.linspace(-action_bound, action_bound, n_grid, dtype=DTYPE)
    curvature, peak = 1.0 + uniform(n_states, 1), 1.6 * uniform(n_states, 1) - 0.8
    frequency, phase = 1.0 + 2.0 * uniform(n_states, 1), 6.3 * uniform(n_states, 1)
    rewards = -0.5 * curvature * (grid - peak) ** 2 + 0.2 * th.sin(frequency * grid + phase)
    offsets = th.randn(n_states, 1, n_states, generator=generator, dtype=DTYPE)
    slopes = th.randn(n_states, 1, n_states, generator=generator, dtype=DTYPE)
    transitions = th.softmax(offsets + slopes * grid[None, :, None], -1)
    initial = th.full((n_states,), 1.0 / n_states, dtype=DTYPE)
    return SoftGridMDP(grid, rewards, transitions, discount, temperature, initial)


class SoftValues(NamedTuple):
    """``V_pi [S]`` and ``Q_pi [S, M]``."""

    values: th.Tensor
    q_values: th.Tensor


def entropy(mdp: SoftGridMDP, policy: th.Tensor) -> th.Tensor:
    """The differential entropy ``H(pi(.|s)) = -∫ pi log pi da`` per state."""
    return -mdp.integrate(th.special.xlogy(policy, policy))


def policy_transitions(mdp: SoftGridMDP, policy: th.Tensor) -> th.Tensor:
    """``P_pi[s, s'] = ∫ pi(a | s) P(s' | s, a) da``."""
    return mdp.spacing * th.einsum("sa,sat->st", policy, mdp.transitions)


def q_from_values(mdp: SoftGridMDP, values: th.Tensor) -> th.Tensor:
    """``Q_V(s, a) = r(s, a) + gamma sum_{s'} P(s' | s, a) V(s')``."""
    return mdp.rewards + mdp.discount * mdp.transitions @ values


def soft_evaluate(mdp: SoftGridMDP, policy: th.Tensor) -> SoftValues:
    """Exact soft policy evaluation: ``V_pi = (I - gamma P_pi)^{-1} (r_pi + tau H(pi))``, ``Q_pi = Q_{V_pi}``."""
    eye = th.eye(mdp.n_states, dtype=DTYPE)
    reward = mdp.integrate(policy * mdp.rewards) + mdp.temperature * entropy(mdp, policy)
    values = th.linalg.solve(eye - mdp.discount * policy_transitions(mdp, policy), reward)
    return SoftValues(values, q_from_values(mdp, values))


def resolvent(mdp: SoftGridMDP, policy: th.Tensor, source: th.Tensor) -> th.Tensor:
    """``(I - gamma P_pi)^{-1} u`` for a per-state ``u [S]``."""
    eye = th.eye(mdp.n_states, dtype=DTYPE)
    return th.linalg.solve(eye - mdp.discount * policy_transitions(mdp, policy), source)


def soft_bellman(mdp: SoftGridMDP, values: th.Tensor) -> th.Tensor:
    """The soft Bellman optimality operator ``(T V)(s) = tau log ∫ exp(Q_V(s, a) / tau) da``."""
    tau = mdp.temperature
    return tau * (th.logsumexp(q_from_values(mdp, values) / tau, -1) + th.log(th.tensor(mdp.spacing, dtype=DTYPE)))


def gibbs_policy(mdp: SoftGridMDP, q_values: th.Tensor) -> th.Tensor:
    """``g(a | s) = exp(Q(s, a) / tau) / ∫ exp(Q(s, a') / tau) da'``."""
    return th.softmax(q_values / mdp.temperature, -1) / mdp.spacing


def relative_entropy(mdp: SoftGridMDP, policy: th.Tensor, reference: th.Tensor) -> th.Tensor:
    """``KL(pi(.|s) || g(.|s)) = ∫ pi log(pi / g) da`` per state."""
    return mdp.integrate(th.special.xlogy(policy, policy) - policy * reference.log())


def soft_value_iteration(mdp: SoftGridMDP, tolerance: float = 1e-12, max_iterations: int = 100_000) -> th.Tensor:
    """The optimal soft values ``V* = T V*`` by value iteration, to ``||V - V*||_inf <= tolerance``."""
    values = th.zeros(mdp.n_states, dtype=DTYPE)
    for _ in range(max_iterations):
        updated = soft_bellman(mdp, values)
        change = (updated - values).abs().max().item()
        values = updated
        if mdp.discount / (1.0 - mdp.discount) * change <= tolerance:
            return values
    raise RuntimeError(f"Soft value iteration did not reach {tolerance} in {max_iterations} iterations.")
