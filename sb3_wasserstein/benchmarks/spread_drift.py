"""How far a plan narrows a Gaussian policy's spread when the advantages say nothing about the actions.

    python -m sb3_wasserstein.benchmarks.spread_drift --deltas 0.1 0.3 1.0 --out docs/spread_drift.csv

Per state: the executed action and ``--candidates`` draws of ``N(0, I)`` in ``--dim`` dimensions (a support
as WPO's on a Box, in units of the old std), advantages drawn independently of them (standard normal), the
Mahalanobis cost. For each radius the dual is solved on ``--states`` states (WPO's plan and SPO's with
``--lam``), and the spread is fitted as the projection fits it: ``sigma^2 = sum_j w_j a_j^2`` around the old
mean, ``w`` the plan's marginal or its ``geometry_corrected_marginal``. The CSV gives the change of
``sigma^2`` per iteration (its mean over states and action dimensions, with its standard error over states)
and the std it compounds to after ``--iterations`` iterations with nothing else moving it (1M steps of
512-step rollouts are 1953).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch as th

from sb3_wasserstein.benchmarks import write_rows
from sb3_wasserstein.common.costs import box_cost
from sb3_wasserstein.common.transport import (
    geometry_corrected_marginal,
    permuted_within_states,
    sinkhorn_plan,
    solve_sinkhorn_dual,
    solve_wasserstein_dual,
    target_marginal,
    wasserstein_plan,
)


def variance_changes(delta: float, method: str, n_states: int, n_support: int, dim: int, lam: float, seed: int):
    """Per-state change of the fitted variance (averaged over action dimensions): plan's marginal, corrected."""
    generator = th.Generator().manual_seed(seed)
    actions = th.randn(n_states, n_support, dim, generator=generator, dtype=th.float64)
    advantages = th.randn(n_states, n_support, generator=generator, dtype=th.float64)
    cost = box_cost(actions, "mahalanobis", scale=th.ones(n_states, dim, dtype=th.float64))
    source = th.full((n_states, n_support), 1.0 / n_support, dtype=th.float64)
    shuffled = permuted_within_states(advantages, generator)
    if method == "wpo":
        solution = solve_wasserstein_dual(advantages, cost, source, delta)
        null_plan = wasserstein_plan(shuffled, cost, solution.beta)
    else:
        solution = solve_sinkhorn_dual(advantages, cost, source, delta, lam)
        null_plan = sinkhorn_plan(shuffled, cost, solution.beta, lam)
    target = target_marginal(solution.plan, source)
    corrected = geometry_corrected_marginal(target, target_marginal(null_plan, source), source)
    squared = actions.pow(2).sum(-1) / dim
    return solution.beta, ((target - source) * squared).sum(-1), ((corrected - source) * squared).sum(-1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deltas", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    parser.add_argument("--states", type=int, default=262144)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--dim", type=int, default=6)
    parser.add_argument("--lam", type=float, default=0.1)
    parser.add_argument("--iterations", type=int, default=1953)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    for delta in args.deltas:
        for method in ("wpo", "spo"):
            beta, drift, corrected = variance_changes(delta, method, args.states, args.candidates + 1, args.dim,
                                                      args.lam, args.seed)
            for weights, change in (("plan", drift), ("corrected", corrected)):
                mean, error = change.mean().item(), change.std().item() / math.sqrt(args.states)
                std_after = math.exp(0.5 * args.iterations * math.log1p(mean))
                rows.append(dict(method=method, delta=delta, beta=round(beta, 4), weights=weights,
                                 variance_change=f"{mean:.6f}", standard_error=f"{error:.6f}",
                                 std_after_iterations=f"{std_after:.3f}"))
                print(" ".join(f"{key}={value}" for key, value in rows[-1].items()), flush=True)
    if args.out is not None:
        write_rows(args.out, rows)


if __name__ == "__main__":
    main()
