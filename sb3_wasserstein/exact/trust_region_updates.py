"""Exact WPO, SPO and KL mirror-descent iterations on a finite MDP (design note, sections 1, 2 and 5).

Each update evaluates the old policy exactly, then calls the batched plans and duals of
``sb3_wasserstein.common.transport`` with the states as the batch. The trust region is taken on
average under the old policy's discounted visitation ``d_mu^{pi_k}``,

    E_{s ~ d_mu^{pi_k}} E_{a ~ pi_k(.|s)} d(a, T(s, a)) <= delta,

the state distribution of the performance-difference lemma. The dual functions of ``common/``
average over states uniformly, so the weighting enters through the source rows, scaled to
``S d_mu^{pi_k}(s) pi_k(a | s)``: both the dual and the expected cost are linear in the source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch as th

from sb3_wasserstein.common.transport import (
    sinkhorn_plan,
    solve_sinkhorn_dual,
    solve_wasserstein_dual,
    target_marginal,
    transport_cost,
    wasserstein_plan,
)
from sb3_wasserstein.exact.finite_mdp import FiniteMDP, discounted_visitation, evaluate_policy


class PolicyUpdate(NamedTuple):
    """The new policy ``[S, A]``, the multiplier used, and the expected transport cost under ``d_mu^{pi_k}``."""

    policy: th.Tensor
    beta: float
    transport_cost: float


def _weighted_source(mdp: FiniteMDP, policy: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """Rows ``S d_mu^{pi_k}(s) pi_k(.|s)``: their uniform mean over states is the ``d_mu^{pi_k}`` average."""
    weights = discounted_visitation(mdp, policy)
    return policy * (mdp.n_states * weights)[:, None], weights


def _expected_cost(plan: th.Tensor, cost: th.Tensor, policy: th.Tensor, weights: th.Tensor) -> float:
    return (weights * transport_cost(plan, cost, policy)).sum().item()


def wpo_update(
    mdp: FiniteMDP, policy: th.Tensor, cost: th.Tensor, *, delta: float | None = None, beta: float | None = None
) -> PolicyUpdate:
    """One exact WPO iteration: ``pi_{k+1}(.|s) = T_beta(s, .) # pi_k(.|s)``.

    ``T_beta(s, a) = argmax_{a'} [A_k(s, a') - beta d(a, a')]`` with the exact advantage ``A_k``;
    ``beta`` is either given (a fixed multiplier or one step of a schedule ``beta_k``) or the dual
    solution for the radius ``delta``. Since ``A_k(s, T(a)) >= A_k(s, a) + beta d(a, T(a))``, the new
    policy's expected advantage is non-negative in every state, hence ``V_{k+1} >= V_k`` everywhere.
    """
    if (delta is None) == (beta is None):
        raise ValueError("Give exactly one of `delta` (dual solve) and `beta` (fixed multiplier).")
    advantages = evaluate_policy(mdp, policy).advantages
    source, weights = _weighted_source(mdp, policy)
    if delta is not None:
        solution = solve_wasserstein_dual(advantages, cost, source, delta)
        plan, beta = solution.plan, solution.beta
    else:
        plan = wasserstein_plan(advantages, cost, beta)
    return PolicyUpdate(target_marginal(plan, policy), float(beta), _expected_cost(plan, cost, policy, weights))


def spo_update(
    mdp: FiniteMDP,
    policy: th.Tensor,
    cost: th.Tensor,
    lam: float,
    *,
    delta: float | None = None,
    beta: float | None = None,
) -> PolicyUpdate:
    """One exact SPO iteration: ``pi_{k+1}(a'|s) = sum_a pi_k(a|s) P_beta(a'|a, s)``.

    ``P_beta(a'|a, s) ∝ exp((A_k(s, a') - beta d(a, a')) / lam)`` (uniform reference measure), with
    ``beta`` given or solving ``C_lam(beta) = delta``. As ``lam -> 0`` it tends to :func:`wpo_update`.
    """
    if (delta is None) == (beta is None):
        raise ValueError("Give exactly one of `delta` (dual solve) and `beta` (fixed multiplier).")
    advantages = evaluate_policy(mdp, policy).advantages
    source, weights = _weighted_source(mdp, policy)
    if delta is not None:
        solution = solve_sinkhorn_dual(advantages, cost, source, delta, lam)
        plan, beta = solution.plan, solution.beta
    else:
        plan = sinkhorn_plan(advantages, cost, beta, lam)
    return PolicyUpdate(target_marginal(plan, policy), float(beta), _expected_cost(plan, cost, policy, weights))


def kl_mirror_descent_update(mdp: FiniteMDP, policy: th.Tensor, step_size: float) -> PolicyUpdate:
    """The KL baseline (exact natural policy gradient): ``pi_{k+1}(a|s) ∝ pi_k(a|s) exp(eta A_k(s, a))``.

    The reported ``transport_cost`` is the mean ``KL(pi_{k+1} || pi_k)`` under ``d_mu^{pi_k}``; ``beta = 1/eta``.
    """
    advantages = evaluate_policy(mdp, policy).advantages
    log_policy = th.log_softmax(policy.log() + step_size * advantages, dim=-1)
    updated = log_policy.exp()
    divergence = (updated * (log_policy - policy.log())).sum(-1)
    weights = discounted_visitation(mdp, policy)
    return PolicyUpdate(updated, 1.0 / step_size, (weights * divergence).sum().item())


def geometric_schedule(initial: float, ratio: float) -> Callable[[int], float]:
    """The multiplier schedule ``beta_k = beta_0 ratio^k``, decaying to zero when ``ratio < 1``."""
    return lambda iteration: initial * ratio**iteration


class Trajectory(NamedTuple):
    """A run of exact iterations: the values ``[K + 1, S]`` and policies ``[K + 1, S, A]`` of each
    iterate (the initial one first), the multipliers ``[K]`` and expected transport costs ``[K]``."""

    values: th.Tensor
    policies: th.Tensor
    betas: th.Tensor
    transport_costs: th.Tensor


def run_updates(
    mdp: FiniteMDP,
    update: Callable[[th.Tensor, int], PolicyUpdate],
    n_iterations: int,
    initial_policy: th.Tensor | None = None,
) -> Trajectory:
    """Iterate ``pi_{k+1} = update(pi_k, k)`` from ``initial_policy`` (uniform by default), recording ``V_{pi_k}``.

    For example ``update = lambda pi, k: wpo_update(mdp, pi, cost, beta=schedule(k))``.
    """
    policy = mdp.uniform_policy() if initial_policy is None else initial_policy
    policies, values, betas, costs = [policy], [evaluate_policy(mdp, policy).values], [], []
    for iteration in range(n_iterations):
        step = update(policy, iteration)
        policy = step.policy
        policies.append(policy)
        values.append(evaluate_policy(mdp, policy).values)
        betas.append(step.beta)
        costs.append(step.transport_cost)
    as_tensor = lambda items: th.tensor(items, dtype=policy.dtype)  # noqa: E731
    return Trajectory(th.stack(values), th.stack(policies), as_tensor(betas), as_tensor(costs))
