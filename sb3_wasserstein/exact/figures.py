"""Write the convergence figures of ``docs/exact.md``: ``python -m sb3_wasserstein.exact.figures [--out docs]``.

Needs matplotlib (the ``docs`` extra). Each figure is one theorem of the design note, computed exactly.
"""

from __future__ import annotations

import argparse
import os

import torch as th

from sb3_wasserstein.common.costs import zero_one_cost
from sb3_wasserstein.exact.finite_mdp import from_gymnasium, random_mdp, value_iteration
from sb3_wasserstein.exact.fokker_planck import fokker_planck_velocity, value_rate_along_flow
from sb3_wasserstein.exact.soft_mdp import (
    gibbs_policy,
    random_soft_mdp,
    relative_entropy,
    soft_bellman,
    soft_evaluate,
    soft_value_iteration,
)
from sb3_wasserstein.exact.trust_region_updates import (
    geometric_schedule,
    kl_mirror_descent_update,
    run_updates,
    spo_update,
    wpo_update,
)
from sb3_wasserstein.exact.wpg_updates import fit_geometric_rate, run_langevin_density, run_langevin_particles

DISCOUNT = 0.95
SMALLEST_GAP = 1e-16
"""Gaps are drawn on a log scale; exact zeros are drawn at this value."""


def _random_policy(n_states: int, n_actions: int, seed: int) -> th.Tensor:
    generator = th.Generator().manual_seed(seed)
    return th.softmax(2.0 * th.randn(n_states, n_actions, generator=generator, dtype=th.float64), -1)


def _smooth_random_density(mdp, seed: int) -> th.Tensor:
    generator = th.Generator().manual_seed(seed)
    coefficients = th.randn(mdp.n_states, 4, generator=generator, dtype=th.float64)
    log_density = sum(coefficients[:, k : k + 1] * th.cos(1.3 * (k + 1) * mdp.grid + k) for k in range(4)) - mdp.grid**2
    return th.softmax(log_density, -1) / mdp.spacing


def _models():
    return [
        from_gymnasium("FrozenLake-v1", DISCOUNT),
        from_gymnasium("CliffWalking-v1", DISCOUNT),
        from_gymnasium("Taxi-v4", DISCOUNT),
        random_mdp(0),
    ]


def figure_monotone_improvement(plt, path: str) -> None:
    """WPO (dual, delta = 0.05) from a random policy: each state's value, normalised, never decreases."""
    figure, axes = plt.subplots(1, 4, figsize=(14, 3.4), sharey=True)
    for axis, mdp in zip(axes, _models()):
        cost = zero_one_cost(mdp.n_actions).double()
        n_iterations = 8 if mdp.n_states > 100 else 15
        update = lambda policy, k: wpo_update(mdp, policy, cost, delta=0.05)  # noqa: E731
        trajectory = run_updates(mdp, update, n_iterations, _random_policy(mdp.n_states, mdp.n_actions, 0))
        optimal = value_iteration(mdp, tolerance=1e-12)
        values = trajectory.values
        improvable = (optimal - values[0]) > 1e-8
        progress = (values[:, improvable] - values[0, improvable]) / (optimal - values[0])[improvable]
        shown = progress[:, th.randperm(progress.shape[1], generator=th.Generator().manual_seed(0))[:60]]
        axis.plot(shown.numpy(), color="tab:blue", alpha=0.35, linewidth=1)
        worst_step = (values[1:] - values[:-1]).min().item()
        axis.set_title(f"{mdp.name}\nmin over s, k of V_k+1(s) - V_k(s) = {worst_step:.1e}", fontsize=9)
        axis.set_xlabel("iteration k")
    axes[0].set_ylabel("(V_k(s) - V_0(s)) / (V*(s) - V_0(s))")
    figure.suptitle("WPO with exact advantages improves every state's value monotonically (dual multiplier, delta = 0.05)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def figure_spo_to_wpo(plt, path: str) -> None:
    """max_s TV(SPO update, WPO update) against lam, on random MDPs, for a fixed beta and for the dual."""
    lams = [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for axis, multiplier in zip(axes, [{"beta": 0.5}, {"delta": 0.2}]):
        for seed in range(4):
            mdp = random_mdp(seed)
            cost = zero_one_cost(mdp.n_actions).double()
            policy = _random_policy(mdp.n_states, mdp.n_actions, 100 + seed)
            wpo = wpo_update(mdp, policy, cost, **multiplier).policy
            distances = []
            for lam in lams:
                spo = spo_update(mdp, policy, cost, lam, **multiplier).policy
                distances.append(max(0.5 * (spo - wpo).abs().sum(-1).max().item(), SMALLEST_GAP))
            axis.loglog(lams, distances, marker="o", label=f"random MDP {seed}")
        axis.invert_xaxis()
        name = "fixed beta = 0.5" if "beta" in multiplier else "dual multiplier, delta = 0.2"
        axis.set_title(name)
        axis.set_xlabel("entropic strength lam (decreasing)")
    axes[0].set_ylabel("max_s TV(pi_SPO(.|s), pi_WPO(.|s))")
    axes[0].legend(fontsize=8)
    figure.suptitle("SPO's update tends to WPO's as lam -> 0")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def figure_multiplier(plt, path: str) -> None:
    """||V* - V_k||_inf for WPO with a decaying and a fixed multiplier, SPO (dual) and KL mirror descent."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    settings = {"FrozenLake-v1": 0.05, "CliffWalking-v1": 5.0}
    for axis, (name, beta) in zip(axes, settings.items()):
        mdp = from_gymnasium(name, DISCOUNT)
        cost = zero_one_cost(mdp.n_actions).double()
        optimal = value_iteration(mdp, tolerance=1e-12)
        schedule = geometric_schedule(beta, 0.7)
        runs = {
            f"WPO, beta_k = {beta:g} x 0.7^k": lambda policy, k: wpo_update(mdp, policy, cost, beta=schedule(k)),
            f"WPO, fixed beta = {beta:g}": lambda policy, k: wpo_update(mdp, policy, cost, beta=beta),
            "WPO, dual, delta = 0.05": lambda policy, k: wpo_update(mdp, policy, cost, delta=0.05),
            "SPO, dual, delta = 0.05, lam = 0.01": lambda policy, k: spo_update(mdp, policy, cost, 0.01, delta=0.05),
            "KL mirror descent, eta = 1": lambda policy, k: kl_mirror_descent_update(mdp, policy, 1.0),
        }
        for label, update in runs.items():
            gaps = (optimal - run_updates(mdp, update, 30).values).abs().max(-1).values.clamp(min=SMALLEST_GAP)
            axis.semilogy(gaps.numpy(), marker=".", label=label)
        axis.set_title(f"{name}, gamma = {DISCOUNT}, from the uniform policy")
        axis.set_xlabel("iteration k")
        axis.set_ylabel("||V* - V_k||_inf")
        axis.legend(fontsize=7)
    figure.suptitle("A decaying multiplier reaches V*; a fixed large one stalls at a beta-greedy policy")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def figure_wpg_identities(plt, path: str) -> None:
    """The three identities of section 4 on random policies, every state a point."""
    residuals, divergences, gaps, bounds, finite_differences, rates = [], [], [], [], [], []
    step = 1e-5
    for seed in range(3):
        mdp = random_soft_mdp(seed, n_grid=201)
        optimal = soft_value_iteration(mdp, tolerance=1e-13)
        for policy_seed in range(8):
            policy = _smooth_random_density(mdp, 10 * seed + policy_seed)
            evaluation = soft_evaluate(mdp, policy)
            residual = soft_bellman(mdp, evaluation.values) - evaluation.values
            residuals.append(residual)
            divergences.append(mdp.temperature * relative_entropy(mdp, policy, gibbs_policy(mdp, evaluation.q_values)))
            gaps.append((optimal - evaluation.values).abs().max())
            bounds.append(residual.abs().max() / (1.0 - mdp.discount))
            velocity = fokker_planck_velocity(mdp, policy, evaluation.q_values)
            forward = soft_evaluate(mdp, policy + step * velocity).values
            backward = soft_evaluate(mdp, policy - step * velocity).values
            finite_differences.append((forward - backward) / (2.0 * step))
            rates.append(value_rate_along_flow(mdp, policy))
    pairs = [
        (th.cat(divergences), th.cat(residuals), "tau KL(pi || g_pi)(s)", "(T V_pi - V_pi)(s)", "statewise KL"),
        (th.stack(bounds), th.stack(gaps), "||T V_pi - V_pi||_inf / (1 - gamma)", "||V* - V_pi||_inf", "Bellman contraction"),
        (
            th.cat(rates),
            th.cat(finite_differences),
            "(I - gamma P_pi)^-1 [tau^2 I(pi | g_pi)](s)",
            "d/dt V_pi(s), finite differences",
            "Bellman resolvent",
        ),
    ]
    figure, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for axis, (x, y, x_label, y_label, title) in zip(axes, pairs):
        axis.scatter(x.numpy(), y.numpy(), s=12)
        limits = [0.0, 1.05 * max(x.max().item(), y.max().item())]
        axis.plot(limits, limits, color="black", linewidth=0.8, label="y = x")
        error = ((y - x).abs() / x.abs()).max().item()
        if title == "Bellman contraction":
            subtitle = f"max ratio gap / bound {(y / x).max().item():.2f}"
        else:
            subtitle = f"max relative deviation {error:.1e}"
        axis.set_title(f"{title}\n{subtitle}", fontsize=10)
        axis.set_xlabel(x_label)
        axis.set_ylabel(y_label)
        axis.legend(fontsize=8)
    figure.suptitle("WPG's three identities on 24 random policies of 3 random soft MDPs (4 states, 201-point action grid)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def figure_wpg_convergence(plt, path: str) -> None:
    """The optimality gap of WPG as a density for several step sizes, with particles, and the floor against eta."""
    mdp = random_soft_mdp(0, n_grid=201)
    optimal = soft_value_iteration(mdp, tolerance=1e-13)
    zeros = th.zeros(mdp.n_states, dtype=th.float64)
    initial = mdp.gaussian_policy(zeros, zeros + 0.5)
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    step_sizes, floors = [0.2, 0.1, 0.05, 0.025], []
    for step_size in step_sizes:
        gaps = run_langevin_density(mdp, initial, step_size, 400, optimal).gaps
        floors.append(gaps[-1].item())
        rate = fit_geometric_rate(gaps, floors[-1]).rate
        axes[0].semilogy(gaps.numpy(), label=f"density, eta = {step_size}: fitted rate {rate:.3f}")
    generator = th.Generator().manual_seed(0)
    particles = 0.5 * th.randn(mdp.n_states, 1000, generator=generator, dtype=th.float64)
    particle_gaps = run_langevin_particles(mdp, particles, 0.05, 150, optimal, 0.05, generator).gaps
    particle_label = "1000 particles, eta = 0.05\n(kernel density, bandwidth 0.05)"
    axes[0].semilogy(particle_gaps.numpy(), color="gray", alpha=0.8, label=particle_label)
    axes[0].set_xlabel("iteration k")
    axes[0].set_ylabel("||V* - V_pi_k||_inf")
    axes[0].set_title(f"random soft MDP, tau = {mdp.temperature}, gamma = {mdp.discount}")
    axes[0].legend(fontsize=8)
    axes[1].loglog(step_sizes, floors, marker="o", label="floor (gap after 400 iterations)")
    guide = [floors[-1] * (eta / step_sizes[-1]) ** 2 for eta in step_sizes]
    axes[1].loglog(step_sizes, guide, linestyle="--", color="black", label="slope 2 (eta^2)")
    axes[1].set_xlabel("step size eta")
    axes[1].set_ylabel("floor of the optimality gap")
    axes[1].set_title("the unadjusted step's bias shrinks with eta")
    axes[1].legend(fontsize=8)
    figure.suptitle("WPG converges geometrically down to a floor that shrinks with the step size")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


FIGURES = {
    "exact_wpo_monotone.png": figure_monotone_improvement,
    "exact_spo_to_wpo.png": figure_spo_to_wpo,
    "exact_wpo_multiplier.png": figure_multiplier,
    "exact_wpg_identities.png": figure_wpg_identities,
    "exact_wpg_convergence.png": figure_wpg_convergence,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs", help="folder for the PNG files")
    parser.add_argument("--only", nargs="*", default=None, choices=list(FIGURES), help="file names to make (all by default)")
    arguments = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    th.set_num_threads(1)
    os.makedirs(arguments.out, exist_ok=True)
    for name, make in FIGURES.items():
        if arguments.only is None or name in arguments.only:
            make(plt, os.path.join(arguments.out, name))
            print("wrote", os.path.join(arguments.out, name))


if __name__ == "__main__":
    main()
