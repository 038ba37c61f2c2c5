"""The WPG actor update on the action grid: as a density, and with particles (design note, section 4).

One WPG iteration evaluates the current policy exactly (``Q_{pi_k}``) and moves it by one unadjusted
Langevin step ``a <- a + eta grad_a Q_{pi_k}(s, a) + sqrt(2 eta tau) xi``. As a density this is the
law of the moved particles,

    pi_{k+1}(a' | s) = ∫ pi_k(a | s) N(a'; a + eta grad_a Q_{pi_k}(s, a), 2 eta tau) da,

a step of length ``eta`` along the Fokker-Planck flow ``d_t pi = -div(pi grad_a Q) + tau Laplace pi``
(first order in ``eta``). Its fixed point is the Gibbs policy of ``Q`` only up to the ``O(eta)`` bias of
the unadjusted step, so the optimality gap contracts geometrically down to a floor that shrinks with
``eta``. The particle version moves samples with :func:`sb3_wasserstein.common.langevin.langevin_step`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch as th

from sb3_wasserstein.common.langevin import langevin_step
from sb3_wasserstein.exact.soft_mdp import SoftGridMDP, soft_evaluate


def action_gradient(mdp: SoftGridMDP, q_values: th.Tensor) -> th.Tensor:
    """``grad_a Q(s, a)`` on the grid, by second-order finite differences."""
    return th.gradient(q_values, spacing=(mdp.spacing,), dim=-1, edge_order=2)[0]


def langevin_density_step(mdp: SoftGridMDP, policy: th.Tensor, q_values: th.Tensor, step_size: float) -> th.Tensor:
    """The law of one Langevin step from ``pi`` ``[S, M]``: ``pi'(a_j) = sum_i w_ji pi(a_i)``.

    ``w_ji ∝ exp(-(a_j - a_i - eta grad_a Q(a_i))^2 / (4 eta tau))``, normalised over ``j`` so that the mass
    ``h pi(a_i)`` of each grid point is spread over the grid (a Gaussian truncated to ``[-b, b]``).
    """
    means = mdp.grid + step_size * action_gradient(mdp, q_values)
    log_kernel = -((mdp.grid[None, :, None] - means[:, None, :]) ** 2) / (4.0 * step_size * mdp.temperature)
    return th.einsum("sji,si->sj", th.softmax(log_kernel, dim=1), policy)


def _interpolate(mdp: SoftGridMDP, values: th.Tensor, points: th.Tensor) -> th.Tensor:
    """Linear interpolation of grid functions ``[S, M]`` at ``points [S, N]``."""
    position = ((points - mdp.grid[0]) / mdp.spacing).clamp(0.0, len(mdp.grid) - 1.0)
    left = position.floor().long().clamp(max=len(mdp.grid) - 2)
    fraction = position - left
    return (1.0 - fraction) * values.gather(1, left) + fraction * values.gather(1, left + 1)


def langevin_particle_step(
    mdp: SoftGridMDP, particles: th.Tensor, q_values: th.Tensor, step_size: float, generator: th.Generator
) -> th.Tensor:
    """One WPG particle step: ``langevin_step`` with the drift ``grad_a Q`` at the particles ``[S, N]``.

    Particles that leave ``[-b, b]`` are clipped to it, as the environment would clip the action.
    """
    drift = _interpolate(mdp, action_gradient(mdp, q_values), particles)
    noise = th.randn(particles.shape, generator=generator, dtype=particles.dtype)
    moved = langevin_step(particles, drift, step_size, mdp.temperature, noise)
    return moved.clamp(mdp.grid[0].item(), mdp.grid[-1].item())


def particle_density(mdp: SoftGridMDP, particles: th.Tensor, bandwidth: float) -> th.Tensor:
    """A Gaussian kernel density estimate of the particles on the grid, normalised there."""
    log_kernel = -0.5 * ((mdp.grid[None, :, None] - particles[:, None, :]) / bandwidth) ** 2
    density = log_kernel.exp().mean(-1)
    return density / mdp.integrate(density)[:, None]


class GeometricFit(NamedTuple):
    """``rate = exp(slope)`` of the least-squares line through ``log gap_k``, its ``r_squared``, and the points used."""

    rate: float
    r_squared: float
    n_points: int


def fit_geometric_rate(gaps: th.Tensor, floor: float) -> GeometricFit:
    """Fit ``gap_k ≈ C rate^k`` on the iterates whose gap is above ``10 floor`` (the transient before the floor)."""
    above = gaps > 10.0 * floor
    iterations = th.arange(len(gaps), dtype=th.float64)[above]
    logs = gaps[above].log()
    centred = iterations - iterations.mean()
    slope = (centred * (logs - logs.mean())).sum() / (centred**2).sum()
    residual = logs - logs.mean() - slope * centred
    r_squared = 1.0 - (residual**2).sum() / ((logs - logs.mean()) ** 2).sum()
    return GeometricFit(slope.exp().item(), r_squared.item(), int(above.sum()))


class WPGRun(NamedTuple):
    """Optimality gaps ``||V* - V_{pi_k}||_inf`` ``[K + 1]`` and the last policy ``[S, M]``."""

    gaps: th.Tensor
    policy: th.Tensor


def run_langevin_density(
    mdp: SoftGridMDP, policy: th.Tensor, step_size: float, n_iterations: int, optimal_values: th.Tensor
) -> WPGRun:
    """Iterate ``pi_{k+1} = langevin_density_step(pi_k, Q_{pi_k})``, recording the optimality gap."""
    gaps = []
    for _ in range(n_iterations):
        evaluation = soft_evaluate(mdp, policy)
        gaps.append((optimal_values - evaluation.values).abs().max())
        policy = langevin_density_step(mdp, policy, evaluation.q_values, step_size)
    gaps.append((optimal_values - soft_evaluate(mdp, policy).values).abs().max())
    return WPGRun(th.stack(gaps), policy)


def run_langevin_particles(
    mdp: SoftGridMDP,
    particles: th.Tensor,
    step_size: float,
    n_iterations: int,
    optimal_values: th.Tensor,
    bandwidth: float,
    generator: th.Generator,
) -> WPGRun:
    """The particle version: ``Q_{pi_k}`` from the kernel density of the particles, then one Langevin step each.

    The gaps are those of the kernel density estimates, so they carry its smoothing and sampling error.
    """
    gaps = []
    for _ in range(n_iterations + 1):
        density = particle_density(mdp, particles, bandwidth)
        evaluation = soft_evaluate(mdp, density)
        gaps.append((optimal_values - evaluation.values).abs().max())
        particles = langevin_particle_step(mdp, particles, evaluation.q_values, step_size, generator)
    return WPGRun(th.stack(gaps), density)
