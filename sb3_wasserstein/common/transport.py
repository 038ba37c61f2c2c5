"""Transport plans and their duals: the closed-form updates of WPO and SPO.

Every function here is pure and batched over states. Shapes, for a batch of ``B`` states and a
support of ``n`` actions per state:

- ``advantages``: ``[B, n]``, the old policy's advantage ``A_k(s, a')`` at each support point;
- ``cost``: ``[B, n, n]`` (or ``[n, n]``, shared by all states), ``cost[b, i, j] = d(a_i, a_j)``;
- ``source``: ``[B, n]``, the old policy's probability of each support point, rows summing to one;
- a plan: ``[B, n, n]``, ``plan[b, i, j] = P(a_j | a_i, s_b)``, rows summing to one.

The trust-region constraint is on the average over states, ``E_s E_{a~pi_k} d(a, a') <= delta``,
so one multiplier ``beta`` is shared by the whole batch (design note, sections 1 and 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch as th

BISECTION_STEPS = 60
"""Bisection steps of the dual solves: the bracket shrinks to a ratio of ``(1e12)**(2**-60)``."""


class DualSolution(NamedTuple):
    """The solved dual of one batch: multiplier, plan, and the figures worth logging."""

    beta: float
    plan: th.Tensor
    transport_cost: float
    dual_objective: float


def wasserstein_plan(advantages: th.Tensor, cost: th.Tensor, beta: float | th.Tensor) -> th.Tensor:
    """WPO's transport map as a 0/1 plan (design note, section 1).

    ``T_beta(s, a_i) = argmax_j [A_k(s, a_j) - beta d(a_i, a_j)]``: each support point hands all of
    its probability to its best cost-penalised action, ``plan[b, i, j] = 1[j = T_beta(s_b, a_i)]``.
    Ties go to the lowest index.
    """
    scores = advantages.unsqueeze(-2) - beta * cost
    best = scores.argmax(dim=-1)
    return th.nn.functional.one_hot(best, scores.shape[-1]).to(advantages.dtype)


def sinkhorn_plan(advantages: th.Tensor, cost: th.Tensor, beta: float | th.Tensor, lam: float) -> th.Tensor:
    """SPO's Gibbs kernel (design note, section 2).

    ``P_beta(a_j | a_i, s) = nu(a_j) exp((A_k(s, a_j) - beta d(a_i, a_j)) / lam) / Z(a_i, s)``,
    with the uniform reference measure ``nu = 1 / n`` on the ``n`` support points (it cancels in ``Z``).
    """
    return th.softmax((advantages.unsqueeze(-2) - beta * cost) / lam, dim=-1)


def target_marginal(plan: th.Tensor, source: th.Tensor) -> th.Tensor:
    """The new policy on the support: ``pi_{k+1}(a_j | s) = sum_i pi_k(a_i | s) P(a_j | a_i, s)``."""
    return th.einsum("bi,bij->bj", source, plan)


def permuted_within_states(advantages: th.Tensor, generator: th.Generator | None = None) -> th.Tensor:
    """Each state's advantages shuffled among its own support points (an independent uniform permutation per row).

    The shuffle keeps every state's values, so their mean and the batch's scale, but no longer says which
    support point is better: the advantages of the null model in ``geometry_corrected_marginal``.
    ``generator``: the random source (torch's global one when None).
    """
    order = th.rand(advantages.shape, generator=generator, device=advantages.device).argsort(dim=-1)
    return advantages.gather(-1, order)


def geometry_corrected_marginal(target: th.Tensor, null_target: th.Tensor, source: th.Tensor) -> th.Tensor:
    """``q - q_null + pi_k``: the plan's marginal less the part the support's geometry alone gives it.

    ``q_null`` is the marginal of the same plan (same ``beta``) for ``permuted_within_states`` advantages.
    Even for advantages that carry no information about the actions, a plan hands more mass to the support
    points near the others (near the old mean, for draws of a Gaussian): ``E[q_null] != pi_k``, and a spread
    fitted to ``q`` narrows by that much in every iteration. When the advantages are exchangeable among a
    state's support points, ``q`` and ``q_null`` have the same law, so the corrected weights have
    expectation ``pi_k`` exactly. Rows still sum to one; a single weight may be negative.
    """
    return target - null_target + source


def transport_cost(plan: th.Tensor, cost: th.Tensor, source: th.Tensor) -> th.Tensor:
    """Expected transport cost per state: ``C(s) = sum_i pi_k(a_i | s) sum_j P(a_j | a_i, s) d(a_i, a_j)``."""
    return th.einsum("bi,bij->b", source, plan * cost)


def wasserstein_dual(
    beta: float, advantages: th.Tensor, cost: th.Tensor, source: th.Tensor, delta: float
) -> th.Tensor:
    """WPO's dual ``F(beta) = beta delta + E_s sum_i pi_k(a_i|s) max_j [A_k(s, a_j) - beta d(a_i, a_j)]``.

    Convex and piecewise linear in ``beta``; its subgradient is ``delta - C(beta)``.
    """
    scores = advantages.unsqueeze(-2) - beta * cost
    return beta * delta + (source * scores.max(dim=-1).values).sum(-1).mean()


def sinkhorn_dual(
    beta: float,
    advantages: th.Tensor,
    cost: th.Tensor,
    source: th.Tensor,
    delta: float,
    lam: float,
) -> th.Tensor:
    """SPO's dual
    ``G(beta) = beta delta + E_s sum_i pi_k(a_i|s) lam log sum_j nu(a_j) exp((A_k(s, a_j) - beta d(a_i, a_j)) / lam)``,
    ``nu = 1 / n`` uniform on the ``n`` support points.

    Smooth and convex in ``beta``; ``G'(beta) = delta - C_lam(beta)``, ``C_lam`` the cost under the kernel.
    """
    logits = (advantages.unsqueeze(-2) - beta * cost) / lam
    log_sum = th.logsumexp(logits, dim=-1) - math.log(logits.shape[-1])
    return beta * delta + lam * (source * log_sum).sum(-1).mean()


def _bisect_multiplier(mean_cost: Callable[[float], float], delta: float, beta_high: float) -> tuple[float, float]:
    """Bracket the crossing of a non-increasing ``mean_cost(beta)`` with ``delta``, in log-space.

    Requires ``mean_cost(0) > delta >= mean_cost(beta_high)``. Returns ``(low, high)`` with
    ``mean_cost(low) > delta >= mean_cost(high)`` and ``high / low`` within rounding of one.
    """
    low = beta_high * 1e-12
    if mean_cost(low) <= delta:
        return 0.0, low
    high = beta_high
    for _ in range(BISECTION_STEPS):
        middle = math.sqrt(low * high)
        if mean_cost(middle) > delta:
            low = middle
        else:
            high = middle
    return low, high


def solve_wasserstein_dual(
    advantages: th.Tensor, cost: th.Tensor, source: th.Tensor, delta: float
) -> DualSolution:
    """Minimise WPO's dual ``F`` over ``beta >= 0`` and return the optimal plan of the primal.

    ``beta* = 0`` when the unconstrained plan already costs ``C(0) <= delta``; otherwise ``beta*`` is
    where the non-increasing step function ``C(beta)`` crosses ``delta``, found by bisection in
    log-space. At that kink the two one-sided maps ``T_{beta*-}`` and ``T_{beta*+}`` are both optimal
    for the Lagrangian, and the returned plan mixes them so that the expected cost equals ``delta``
    exactly (complementary slackness): it solves the linear programme of section 1 on the batch.
    The user cost must vanish on the diagonal, so that ``C(beta) = 0`` for ``beta`` large enough.
    """

    def mean_cost(beta: float) -> float:
        return transport_cost(wasserstein_plan(advantages, cost, beta), cost, source).mean().item()

    plan = wasserstein_plan(advantages, cost, 0.0)
    zero_cost = transport_cost(plan, cost, source).mean().item()
    if zero_cost <= delta:
        return DualSolution(0.0, plan, zero_cost, wasserstein_dual(0.0, advantages, cost, source, delta).item())

    spread = (advantages.max(-1).values - advantages.min(-1).values).max().item()
    smallest_cost = cost[cost > 0].min().item()
    low, high = _bisect_multiplier(mean_cost, delta, 2.0 * spread / smallest_cost + 1.0)
    plan_low = wasserstein_plan(advantages, cost, low)
    plan_high = wasserstein_plan(advantages, cost, high)
    cost_low = transport_cost(plan_low, cost, source).mean().item()
    cost_high = transport_cost(plan_high, cost, source).mean().item()
    weight_low = (delta - cost_high) / (cost_low - cost_high) if cost_low > cost_high else 0.0
    plan = weight_low * plan_low + (1.0 - weight_low) * plan_high
    achieved = transport_cost(plan, cost, source).mean().item()
    return DualSolution(high, plan, achieved, wasserstein_dual(high, advantages, cost, source, delta).item())


def solve_sinkhorn_dual(
    advantages: th.Tensor,
    cost: th.Tensor,
    source: th.Tensor,
    delta: float,
    lam: float,
) -> DualSolution:
    """Minimise SPO's dual ``G`` over ``beta >= 0`` and return the kernel plan at ``beta*``.

    ``beta* = 0`` when ``C_lam(0) <= delta``; otherwise ``beta*`` solves ``C_lam(beta) = delta``
    (``G' = 0``), found by bisection in log-space on the smooth, non-increasing ``C_lam``.
    """

    def mean_cost(beta: float) -> float:
        plan = sinkhorn_plan(advantages, cost, beta, lam)
        return transport_cost(plan, cost, source).mean().item()

    def solution(beta: float) -> DualSolution:
        plan = sinkhorn_plan(advantages, cost, beta, lam)
        achieved = transport_cost(plan, cost, source).mean().item()
        objective = sinkhorn_dual(beta, advantages, cost, source, delta, lam).item()
        return DualSolution(beta, plan, achieved, objective)

    if mean_cost(0.0) <= delta:
        return solution(0.0)
    beta_high = 1.0
    while mean_cost(beta_high) > delta and beta_high < 1e30:
        beta_high *= 4.0
    return solution(_bisect_multiplier(mean_cost, delta, beta_high)[1])
