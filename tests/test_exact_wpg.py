"""WPG on an entropy-regularised MDP with a continuous action on a grid: the identities and convergence of section 4."""

import dataclasses
import functools

import pytest
import torch as th

from sb3_wasserstein.exact.fokker_planck import (
    fokker_planck_velocity,
    relative_fisher_information,
    value_rate_along_flow,
)
from sb3_wasserstein.exact.soft_mdp import (
    gibbs_policy,
    q_from_values,
    random_soft_mdp,
    relative_entropy,
    soft_bellman,
    soft_evaluate,
    soft_value_iteration,
)
from sb3_wasserstein.exact.wpg_updates import (
    fit_geometric_rate,
    langevin_density_step,
    langevin_particle_step,
    run_langevin_density,
    run_langevin_particles,
)

th.set_num_threads(1)
SEEDS = [0, 1, 2]


@functools.cache
def model(seed):
    mdp = random_soft_mdp(seed, n_grid=201)
    return mdp, soft_value_iteration(mdp, tolerance=1e-13)


def random_policy(mdp, seed):
    """A smooth, positive, multimodal density: ``log pi = sum_k c_k cos((k+1) 1.3 a + k) - a^2`` plus a constant."""
    generator = th.Generator().manual_seed(seed)
    coefficients = th.randn(mdp.n_states, 4, generator=generator, dtype=th.float64)
    log_density = sum(coefficients[:, k : k + 1] * th.cos(1.3 * (k + 1) * mdp.grid + k) for k in range(4)) - mdp.grid**2
    return th.softmax(log_density, -1) / mdp.spacing


def initial_policy(mdp):
    return mdp.gaussian_policy(th.zeros(mdp.n_states, dtype=th.float64), th.full((mdp.n_states,), 0.5, dtype=th.float64))


@pytest.mark.parametrize("seed", SEEDS)
def test_soft_value_iteration_finds_the_fixed_point_of_its_gibbs_policy(seed):
    mdp, optimal = model(seed)
    th.testing.assert_close(soft_bellman(mdp, optimal), optimal, rtol=0, atol=1e-12)
    myopic = gibbs_policy(mdp, mdp.rewards)  # Gibbs in the reward alone: not optimal
    assert (optimal - soft_evaluate(mdp, myopic).values).min().item() > 1e-3
    optimal_policy = gibbs_policy(mdp, q_from_values(mdp, optimal))
    th.testing.assert_close(soft_evaluate(mdp, optimal_policy).values, optimal, rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_soft_bellman_residual_is_tau_kl_to_the_gibbs_policy_in_every_state(seed):
    mdp, _ = model(seed)
    for policy_seed in range(5):
        policy = random_policy(mdp, 10 * seed + policy_seed)
        evaluation = soft_evaluate(mdp, policy)
        residual = soft_bellman(mdp, evaluation.values) - evaluation.values
        divergence = relative_entropy(mdp, policy, gibbs_policy(mdp, evaluation.q_values))
        assert residual.min().item() > 1e-3  # far from optimal: the identity is not 0 = 0
        th.testing.assert_close(residual, mdp.temperature * divergence, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_bellman_contraction_bounds_the_optimality_gap(seed):
    mdp, optimal = model(seed)
    for policy_seed in range(5):
        policy = random_policy(mdp, 10 * seed + policy_seed)
        values = soft_evaluate(mdp, policy).values
        gap = optimal - values
        bound = (soft_bellman(mdp, values) - values).abs().max().item() / (1.0 - mdp.discount)
        assert gap.min().item() >= -1e-12  # V* dominates every policy's value
        assert gap.abs().max().item() <= bound + 1e-12
        # not vacuous: the bound is within a small factor of the gap
        assert bound <= 3.0 * gap.abs().max().item()


@pytest.mark.parametrize("seed", SEEDS)
def test_value_rate_along_the_flow_is_the_resolvent_of_tau2_fisher_information(seed):
    mdp, _ = model(seed)
    step = 1e-5
    for policy_seed in range(3):
        policy = random_policy(mdp, 10 * seed + policy_seed)
        velocity = fokker_planck_velocity(mdp, policy, soft_evaluate(mdp, policy).q_values)
        th.testing.assert_close(mdp.integrate(velocity), th.zeros(mdp.n_states, dtype=th.float64), rtol=0, atol=1e-12)
        assert (policy - step * velocity.abs()).min().item() > 0.0
        forward = soft_evaluate(mdp, policy + step * velocity).values
        backward = soft_evaluate(mdp, policy - step * velocity).values
        finite_difference = (forward - backward) / (2.0 * step)
        predicted = value_rate_along_flow(mdp, policy)
        assert predicted.min().item() > 1.0  # the flow improves every state, at a rate well above rounding
        th.testing.assert_close(finite_difference, predicted, rtol=1e-7, atol=0)


def test_fisher_information_on_the_grid_approximates_the_continuous_one():
    """Against ``∫ pi |grad_a log(pi / g)|^2 da`` by central differences, on a coarse and a fine grid."""
    errors = []
    for n_grid in (101, 401):
        mdp = random_soft_mdp(0, n_grid=n_grid)
        policy = random_policy(mdp, 3)
        gibbs = gibbs_policy(mdp, soft_evaluate(mdp, policy).q_values)
        score = th.gradient(policy.log() - gibbs.log(), spacing=(mdp.spacing,), dim=-1, edge_order=2)[0]
        continuous = mdp.integrate(policy * score**2)
        errors.append(((relative_fisher_information(mdp, policy, gibbs) - continuous) / continuous).abs().max().item())
    assert errors[1] < errors[0] / 8.0 and errors[1] < 5e-3, errors  # second order in h


@pytest.mark.parametrize("policy_std", [0.5, 0.1])
def test_density_step_is_the_law_of_the_particle_step(policy_std):
    """Particles drawn on the grid from pi and moved by ``langevin_step`` follow ``langevin_density_step`` (KS distance).

    The controls: the drift reversed (the wide policy, where the drift shows), and the Langevin noise's variance
    halved or doubled (the narrow one, where the noise dominates the step)."""
    mdp, _ = model(0)
    policy = mdp.gaussian_policy(th.zeros(mdp.n_states, dtype=th.float64),
                                 th.full((mdp.n_states,), policy_std, dtype=th.float64))
    q_values = soft_evaluate(mdp, policy).q_values
    generator = th.Generator().manual_seed(0)
    n_particles = 20_000
    indices = th.multinomial(policy * mdp.spacing, n_particles, replacement=True, generator=generator)
    particles = langevin_particle_step(mdp, mdp.grid[indices], q_values, 0.1, generator)

    def ks_distance(density):
        cumulative = th.cumsum(density * mdp.spacing, -1)  # mass of [a_1 - h/2, a_j + h/2]
        edges = mdp.grid + mdp.spacing / 2
        empirical = (particles[:, None, :] <= edges[None, :, None]).double().mean(-1)
        return (cumulative - empirical).abs().max().item()

    assert ks_distance(langevin_density_step(mdp, policy, q_values, 0.1)) < 0.016  # KS at level 1e-4
    if policy_std == 0.5:
        assert ks_distance(langevin_density_step(mdp, policy, -q_values, 0.1)) > 0.05
    else:  # the noise's variance is 2 eta tau: tau halved or doubled halves or doubles it
        for factor in (0.5, 2.0):
            other = dataclasses.replace(mdp, temperature=factor * mdp.temperature)
            assert ks_distance(langevin_density_step(other, policy, q_values, 0.1)) > 0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_wpg_density_converges_geometrically_to_a_floor_that_shrinks_with_the_step(seed):
    mdp, optimal = model(seed)
    floors = []
    for step_size, n_iterations in ((0.1, 150), (0.05, 250)):
        gaps = run_langevin_density(mdp, initial_policy(mdp), step_size, n_iterations, optimal).gaps
        floor = gaps[-1].item()
        assert (gaps[-10:] / floor - 1.0).abs().max().item() < 1e-2, "not yet on its floor"
        rate, r_squared, n_points = fit_geometric_rate(gaps, floor)
        assert n_points >= 8 and rate < 0.9 and r_squared > 0.9, (step_size, rate, r_squared, n_points)
        assert gaps[0].item() > 100.0 * floor
        floors.append(floor)
    assert floors[1] < 0.5 * floors[0], floors  # the discretisation bias shrinks with eta (about 4x: O(eta^2))


def test_wpg_particles_approach_the_optimum():
    mdp, optimal = model(0)
    generator = th.Generator().manual_seed(1)
    particles = 0.5 * th.randn(mdp.n_states, 1000, generator=generator, dtype=th.float64)
    gaps = run_langevin_particles(mdp, particles, 0.05, 60, optimal, 0.05, generator).gaps
    assert gaps[-20:].max().item() < 0.02 * gaps[0].item(), gaps
