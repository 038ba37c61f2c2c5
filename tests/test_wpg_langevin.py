"""WPG's Langevin step and projections on one-state problems whose Gibbs policy is known."""

import math

import numpy as np
import pytest
import torch as th

from sb3_wasserstein.common.langevin import langevin_step, squashed_drift
from sb3_wasserstein.common.projection import (
    baselined_negative_log_likelihood,
    decoupled_gaussian_projection_loss,
    diagonal_gaussian_log_density,
    gaussian_negative_log_likelihood,
    parametric_wasserstein_surrogate,
    squashed_gaussian_log_prob,
)

th.set_num_threads(1)

# Q(a) = -(a - m)^2 / (2c): the Gibbs policy exp(Q / tau) is N(m, tau c).
M, C, TEMPERATURE = 1.5, 0.5, 0.2


def quadratic_q_gradient(actions):
    return -(actions - M) / C


def run_langevin_projection(step_size, n_particles=16, iterations=4000, seed=0, baseline=False):
    """The Langevin actor update on one state: draw particles, one Langevin step, one Adam step of the NLL
    (with ``baseline``, of the NLL minus that of the unmoved particles).

    Returns the mean and variance of the Gaussian averaged over the last half of the iterations
    (the particle noise makes the parameters jitter around their fixed point).
    """
    generator = th.Generator().manual_seed(seed)
    mean = th.zeros(1, 1, requires_grad=True)
    log_std = th.zeros(1, 1, requires_grad=True)
    optimizer = th.optim.Adam([mean, log_std], lr=3e-3)
    means, variances = [], []
    for iteration in range(iterations):
        particles = (mean + log_std.exp() * th.randn(n_particles, 1, 1, generator=generator)).detach()
        noise = th.randn(particles.shape, generator=generator)
        moved = langevin_step(particles, quadratic_q_gradient(particles), step_size, TEMPERATURE, noise)
        if baseline:
            loss = baselined_negative_log_likelihood(moved, particles, mean, log_std)
        else:
            loss = gaussian_negative_log_likelihood(moved, mean, log_std)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if iteration >= iterations // 2:
            means.append(mean.item())
            variances.append(math.exp(2 * log_std.item()))
    return float(np.mean(means)), float(np.mean(variances))


@pytest.mark.parametrize("baseline", [False, True])
@pytest.mark.parametrize("step_size", [0.05, 0.2])
def test_langevin_projection_converges_to_gibbs_gaussian(step_size, baseline):
    """Fixed point N(m, tau c / (1 - eta / (2c))): the Gibbs law N(m, tau c) up to the discrete step's known bias.

    Tolerance: mean within 0.03 of m; variance within 6% of the corrected value. With 16
    particles and Adam at 3e-3 the time-averaged parameters land within about 3% (seeds 0 and 1).
    At eta = 0.2 the bias is 25%, so the uncorrected tau c fails the bound: the test resolves it.
    A wrong drift sign, a missing noise term or a factor 2 in the noise all miss by far more.
    The baselined loss has the same fixed point.
    """
    mean, variance = run_langevin_projection(step_size, iterations=4000 if step_size < 0.1 else 3000, baseline=baseline)
    corrected = TEMPERATURE * C / (1.0 - step_size / (2.0 * C))
    assert abs(mean - M) < 0.03
    assert variance == pytest.approx(corrected, rel=0.06)


def test_exact_refit_shrinks_the_variance():
    """The control the design note records: refitting the Gaussian exactly to the few moved particles
    (moment matching) each iteration is biased low, which is why the projection takes gradient steps."""
    generator = th.Generator().manual_seed(0)
    mean, std = 0.0, 1.0
    variances = []
    for iteration in range(3000):
        particles = mean + std * th.randn(4, generator=generator)
        moved = langevin_step(particles, quadratic_q_gradient(particles), 0.05, TEMPERATURE, th.randn(4, generator=generator))
        mean, std = moved.mean().item(), moved.std(unbiased=False).item()
        if iteration >= 1000:
            variances.append(std**2)
    assert np.mean(variances) < 0.8 * TEMPERATURE * C


def test_parametric_wasserstein_gradient_converges_to_gibbs_gaussian():
    """The natural parametric Wasserstein gradient has the Gibbs law N(m, tau c) as exact fixed point.

    Tolerance: mean within 0.03, variance within 8% of tau c (no discretisation bias here).
    """
    generator = th.Generator().manual_seed(1)
    mean = th.zeros(1, 1, requires_grad=True)
    log_std = th.zeros(1, 1, requires_grad=True)
    optimizer = th.optim.Adam([mean, log_std], lr=3e-3)
    means, variances = [], []
    for iteration in range(4000):
        noise = th.randn(16, 1, 1, generator=generator)
        particles = (mean + log_std.exp() * noise).detach()
        loss = parametric_wasserstein_surrogate(mean, log_std, noise, quadratic_q_gradient(particles), TEMPERATURE)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if iteration >= 2000:
            means.append(mean.item())
            variances.append(math.exp(2 * log_std.item()))
    assert abs(np.mean(means) - M) < 0.03
    assert np.mean(variances) == pytest.approx(TEMPERATURE * C, rel=0.08)


def per_draw_projection_gradients(loss_fn, step_size=0.05, mu=0.4, sigma=0.7, nodes=40):
    """Gradients of a projection loss in ``(mean, log_std)`` at each node of a Gauss-Hermite grid over the
    draw ``xi`` and the Langevin noise ``xi'`` (one Langevin step on a non-quadratic Q), with the grid's
    probability weights: the exact expectation and variance of the stochastic gradient, by enumeration.
    """
    points, weights = np.polynomial.hermite_e.hermegauss(nodes)
    weights = weights / weights.sum()
    xi, xi_langevin = (th.as_tensor(grid, dtype=th.float64).reshape(-1) for grid in np.meshgrid(points, points))
    probability = th.as_tensor(np.outer(weights, weights).reshape(-1), dtype=th.float64)
    n = len(xi)  # one state per node, so each state's gradient is that draw's
    mean = th.full((n, 1), mu, dtype=th.float64, requires_grad=True)
    log_std = th.full((n, 1), math.log(sigma), dtype=th.float64, requires_grad=True)
    particles = (mu + sigma * xi).reshape(1, n, 1)
    drift = quadratic_q_gradient(particles) + 0.8 * th.sin(3.0 * particles)
    moved = langevin_step(particles, drift, step_size, TEMPERATURE, xi_langevin.reshape(1, n, 1))
    gradients = th.autograd.grad(n * loss_fn(moved, particles, mean, log_std), (mean, log_std))
    gradients = th.cat(gradients, dim=1)  # [nodes^2, 2]: (d mean, d log_std) per draw
    expectation = (probability[:, None] * gradients).sum(0)
    variance = (probability[:, None] * (gradients - expectation) ** 2).sum(0)
    return expectation, variance


def test_baselined_nll_has_the_nll_expected_gradient_with_less_variance():
    """Subtracting the unmoved particles' NLL leaves the expected gradient exact (to quadrature precision)
    and removes most of its variance: 0.06x the plain variance for the mean and 0.20x for the log-std here
    (what is left comes from the displacement, ``eta grad Q`` plus the Langevin noise, about 0.15 against
    the draw's spread of 0.7)."""
    plain_mean, plain_variance = per_draw_projection_gradients(
        lambda moved, _, mean, log_std: gaussian_negative_log_likelihood(moved, mean, log_std)
    )
    baselined_mean, baselined_variance = per_draw_projection_gradients(baselined_negative_log_likelihood)
    th.testing.assert_close(baselined_mean, plain_mean, atol=1e-10, rtol=0.0)
    assert plain_mean.abs().min() > 1e-3  # a real gradient, not two zeros
    assert (baselined_variance < 0.25 * plain_variance).all()


def smooth_q(actions):
    """A Q with curvature and coupling between action dimensions, for the gradient identities below."""
    return -2.0 * (actions - 0.3).pow(2).sum(-1) + 0.2 * th.sin(3.0 * actions).prod(-1)


def test_squashed_drift_is_tau_times_the_gradient_of_the_log_target():
    """``tau grad_u log[exp(Q(tanh u) / tau) prod_k (1 - tanh(u_k)^2)]`` by autograd, against the closed form."""
    generator = th.Generator().manual_seed(4)
    pre_squash = th.randn(5, 4, 2, generator=generator, dtype=th.float64, requires_grad=True)
    log_target = smooth_q(th.tanh(pre_squash)) / TEMPERATURE + th.log(1 - th.tanh(pre_squash).pow(2)).sum(-1)
    expected, = th.autograd.grad(TEMPERATURE * log_target.sum(), pre_squash)
    actions = th.tanh(pre_squash.detach()).requires_grad_(True)
    action_gradient, = th.autograd.grad(smooth_q(actions).sum(), actions)
    th.testing.assert_close(squashed_drift(pre_squash.detach(), action_gradient, TEMPERATURE), expected, rtol=0, atol=1e-12)


def test_parametric_surrogate_descends_the_fisher_preconditioned_pfau_gradient():
    """Minus the surrogate's gradient, per state, is Pfau et al.'s ``E[grad_theta grad_u log pi(u) . v(u)]`` with
    ``v = drift - tau grad_u log pi``, by autograd over the particles, times the inverse Fisher metric of
    ``(mean, log_std)``: ``sigma^2`` for the mean, ``1/2`` for the log-std."""
    generator = th.Generator().manual_seed(5)
    n_particles, n_states, action_dim = 7, 3, 2
    mean = th.randn(n_states, action_dim, generator=generator, dtype=th.float64, requires_grad=True)
    log_std = (0.3 * th.randn(n_states, action_dim, generator=generator, dtype=th.float64)).requires_grad_(True)
    noise = th.randn(n_particles, n_states, action_dim, generator=generator, dtype=th.float64)
    particles = (mean + log_std.exp() * noise).detach()
    drift = -4.0 * (particles - 0.3)  # any drift field: the identity holds pointwise
    surrogate = parametric_wasserstein_surrogate(mean, log_std, noise, drift, TEMPERATURE)
    mean_gradient, log_std_gradient = th.autograd.grad(surrogate, (mean, log_std))

    at = particles.clone().requires_grad_(True)
    parameters = mean.detach().clone().requires_grad_(True), log_std.detach().clone().requires_grad_(True)
    score, = th.autograd.grad(diagonal_gaussian_log_density(at, *parameters).sum(), at, create_graph=True)
    velocity = (drift - TEMPERATURE * score).detach()
    pfau_mean, pfau_log_std = th.autograd.grad((score * velocity).sum() / n_particles, parameters)
    variance = (2 * log_std.detach()).exp()
    th.testing.assert_close(-n_states * mean_gradient, variance * pfau_mean, rtol=0, atol=1e-12)
    th.testing.assert_close(-n_states * log_std_gradient, pfau_log_std / 2, rtol=0, atol=1e-12)


def test_decoupled_projection_fits_the_mean_and_the_spread_apart():
    """The mean loss is stationary at the target's weighted mean of the support and does not see the new
    log-std; the spread loss is stationary at the weighted variance around the old mean and does not see the new
    mean (design note, section 3: fitting both at once lets a one-hot target collapse the spread)."""
    generator = th.Generator().manual_seed(6)
    n_states, n_support, action_dim = 4, 5, 2
    support = th.randn(n_states, n_support, action_dim, generator=generator, dtype=th.float64)
    target = th.softmax(th.randn(n_states, n_support, generator=generator, dtype=th.float64), -1)
    spread_target = th.softmax(th.randn(n_states, n_support, generator=generator, dtype=th.float64), -1)
    old_mean = th.randn(n_states, action_dim, generator=generator, dtype=th.float64)
    old_log_std = 0.2 * th.randn(n_states, action_dim, generator=generator, dtype=th.float64)

    weighted_mean = (target.unsqueeze(-1) * support).sum(1)
    weighted_variance = (spread_target.unsqueeze(-1) * (support - old_mean.unsqueeze(1)).pow(2)).sum(1)
    for new_mean, new_log_std in [(weighted_mean, 0.5 * weighted_variance.log()), (old_mean, old_log_std + 1.0)]:
        mean = new_mean.clone().requires_grad_(True)
        log_std = new_log_std.clone().requires_grad_(True)
        mean_loss, spread_loss = decoupled_gaussian_projection_loss(
            mean, log_std, old_mean, old_log_std, support, target, spread_target)
        assert th.autograd.grad(mean_loss, log_std, allow_unused=True)[0] is None
        assert th.autograd.grad(spread_loss, mean, allow_unused=True)[0] is None
        at_optimum = new_mean is weighted_mean
        mean_gradient, = th.autograd.grad(mean_loss, mean)
        log_std_gradient, = th.autograd.grad(spread_loss, log_std)
        assert (mean_gradient.abs().max() < 1e-12) == at_optimum
        assert (log_std_gradient.abs().max() < 1e-12) == at_optimum


def test_nll_and_log_prob_match_torch():
    generator = th.Generator().manual_seed(2)
    mean, log_std = th.randn(5, 3, generator=generator), th.randn(5, 3, generator=generator) * 0.3
    particles = th.randn(7, 5, 3, generator=generator)
    normal = th.distributions.Normal(mean, log_std.exp())
    expected_nll = -normal.log_prob(particles).sum(-1).mean()
    th.testing.assert_close(gaussian_negative_log_likelihood(particles, mean, log_std), expected_nll)
    expected_log_prob = normal.log_prob(particles).sum(-1) - th.log(1 - th.tanh(particles) ** 2 + 1e-6).sum(-1)
    th.testing.assert_close(squashed_gaussian_log_prob(particles, mean, log_std), expected_log_prob)


def bimodal_q(actions):
    """Two wells at a = -0.6 and a = 0.5, of different depths, on the action interval (-1, 1)."""
    return -3.0 * (actions + 0.6) ** 2 * (actions - 0.5) ** 2 + 0.1 * actions


def wasserstein_1_to_gibbs(samples, temperature):
    """W1 between the samples' empirical law and the Gibbs density exp(Q / tau) on (-1, 1): the integral
    of the absolute difference of the CDFs, on a fine grid."""
    grid = np.linspace(-1.0, 1.0, 4001)
    density = np.exp(bimodal_q(th.as_tensor(grid)).numpy() / temperature)
    gibbs_cdf = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(grid))])
    gibbs_cdf /= gibbs_cdf[-1]
    empirical_cdf = np.searchsorted(np.sort(samples), grid, side="right") / len(samples)
    return float(np.trapezoid(np.abs(empirical_cdf - gibbs_cdf), grid)), grid, gibbs_cdf


def run_squashed_langevin(temperature, step_size, n_particles, n_steps, seed=0):
    """Pre-squash particles moved by the squashed drift; returns the actions tanh(u)."""
    generator = th.Generator().manual_seed(seed)
    particles = 0.3 * th.randn(n_particles, 1, generator=generator)
    for _ in range(n_steps):
        actions = th.tanh(particles).requires_grad_(True)
        (gradient,) = th.autograd.grad(bimodal_q(actions).sum(), actions)
        drift = squashed_drift(particles, gradient, temperature)
        particles = langevin_step(particles, drift, step_size, temperature, th.randn(particles.shape, generator=generator))
    return th.tanh(particles).squeeze(-1).numpy()


def test_squashed_langevin_samples_the_gibbs_policy_on_a_bimodal_q():
    """After many steps the actions tanh(u) follow exp(Q(a) / tau) on (-1, 1), both modes with the right mass.

    Bound: W1 < 0.015 (the wells are 1.1 apart, the left one holds 27% of the mass). Measured:
    0.005 with 20000 particles, eta = 0.01 and 6000 steps (time 60, enough to cross the barrier;
    after 2000 steps at eta = 0.005 it was still 0.054); dropping the tanh Jacobian term of the
    drift gives more than 0.03 (checked below).
    """
    temperature = 0.1
    actions = run_squashed_langevin(temperature, step_size=0.01, n_particles=20_000, n_steps=6000)
    distance, grid, gibbs_cdf = wasserstein_1_to_gibbs(actions, temperature)
    assert distance < 0.015
    # Both modes present with their Gibbs mass (the mass left of the barrier near a = -0.05).
    barrier = -0.05
    gibbs_left = float(np.interp(barrier, grid, gibbs_cdf))
    assert np.mean(actions < barrier) == pytest.approx(gibbs_left, abs=0.02)
    assert 0.1 < gibbs_left < 0.9


def test_bimodal_bound_rejects_a_wrong_drift():
    """The distance bound above can fail: without the tanh Jacobian term the law is visibly different."""
    temperature = 0.1
    generator = th.Generator().manual_seed(0)
    particles = 0.3 * th.randn(20_000, 1, generator=generator)
    for _ in range(6000):
        actions = th.tanh(particles).requires_grad_(True)
        (gradient,) = th.autograd.grad(bimodal_q(actions).sum(), actions)
        drift = gradient * (1.0 - th.tanh(particles) ** 2)  # missing -2 tau tanh(u)
        particles = langevin_step(particles, drift, 0.01, temperature, th.randn(particles.shape, generator=generator))
    distance, _, _ = wasserstein_1_to_gibbs(th.tanh(particles).squeeze(-1).numpy(), temperature)
    assert distance > 0.03
