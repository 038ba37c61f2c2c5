"""The transport plans and duals against brute force: enumeration, grid search, a linear programme."""

import itertools
import math

import numpy as np
import pytest
import torch as th
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from sb3_wasserstein.common.costs import box_cost, zero_one_cost
from sb3_wasserstein.common.transport import (
    geometry_corrected_marginal,
    sinkhorn_dual,
    sinkhorn_plan,
    solve_sinkhorn_dual,
    solve_wasserstein_dual,
    target_marginal,
    transport_cost,
    wasserstein_dual,
    wasserstein_plan,
)

instances = st.tuples(
    st.integers(0, 10_000),  # seed
    st.integers(1, 6),  # states
    st.integers(2, 6),  # support size
    st.sampled_from(["zero_one", "squared_euclidean", "euclidean"]),
    st.floats(0.01, 2.0),  # delta
)


def make_instance(seed, n_states, n_support, cost_kind):
    """Random advantages, a ground cost with zero diagonal, and a random source distribution."""
    generator = th.Generator().manual_seed(seed)
    advantages = th.randn(n_states, n_support, generator=generator, dtype=th.float64)
    if cost_kind == "zero_one":
        cost = zero_one_cost(n_support).to(th.float64).expand(n_states, -1, -1)
    else:
        support = th.randn(n_states, n_support, 2, generator=generator, dtype=th.float64)
        cost = box_cost(support, cost_kind)
    source = th.softmax(th.randn(n_states, n_support, generator=generator, dtype=th.float64), -1)
    return advantages, cost, source


def assert_valid_plan(plan):
    assert (plan >= 0).all()
    th.testing.assert_close(plan.sum(-1), th.ones(plan.shape[:-1], dtype=plan.dtype))


@settings(max_examples=60, deadline=None)
@given(instances, st.floats(0.0, 5.0), st.floats(0.05, 2.0))
def test_plans_are_valid(instance, beta, lam):
    advantages, cost, source = make_instance(*instance[:4])
    assert_valid_plan(wasserstein_plan(advantages, cost, beta))
    assert_valid_plan(sinkhorn_plan(advantages, cost, beta, lam))
    marginal = target_marginal(sinkhorn_plan(advantages, cost, beta, lam), source)
    th.testing.assert_close(marginal.sum(-1), th.ones(len(source), dtype=th.float64))


@settings(max_examples=60, deadline=None)
@given(instances, st.floats(0.0, 5.0))
def test_wasserstein_plan_equals_enumeration(instance, beta):
    advantages, cost, _ = make_instance(*instance[:4])
    plan = wasserstein_plan(advantages, cost, beta)
    n_states, n_support = advantages.shape
    for b, i in itertools.product(range(n_states), range(n_support)):
        scores = [advantages[b, j].item() - beta * cost[b, i, j].item() for j in range(n_support)]
        best = max(range(n_support), key=lambda j: scores[j])
        assert plan[b, i, best] == 1.0


@settings(max_examples=40, deadline=None)
@given(instances, st.floats(0.0, 5.0), st.floats(0.05, 2.0))
def test_sinkhorn_dual_equals_the_design_notes_sum(instance, beta, lam):
    """``G(beta)`` summed term by term, with the uniform ``nu(a_j) = 1 / n``."""
    advantages, cost, source = make_instance(*instance[:4])
    delta = instance[4]
    n_states, n_support = advantages.shape
    expected = beta * delta
    for b in range(n_states):
        for i in range(n_support):
            inner = sum(math.exp((advantages[b, j].item() - beta * cost[b, i, j].item()) / lam) / n_support
                        for j in range(n_support))
            expected += source[b, i].item() * lam * math.log(inner) / n_states
    assert sinkhorn_dual(beta, advantages, cost, source, delta, lam).item() == pytest.approx(expected, rel=1e-9, abs=1e-9)


def grid_minimum(objective, beta_max):
    grid = np.concatenate([[0.0], np.linspace(0.0, beta_max, 4001)[1:]])
    values = np.array([objective(beta) for beta in grid])
    return grid, values


@settings(max_examples=40, deadline=None)
@given(instances)
def test_wasserstein_dual_matches_grid_search(instance):
    advantages, cost, source = make_instance(*instance[:4])
    delta = instance[4]
    solution = solve_wasserstein_dual(advantages, cost, source, delta)
    beta_max = 2 * solution.beta + 1.0
    grid, values = grid_minimum(lambda b: wasserstein_dual(b, advantages, cost, source, delta).item(), beta_max)
    step = grid[2] - grid[1]
    assert solution.dual_objective <= values.min() + 1e-9
    # F is piecewise linear: its minimiser on the grid lies within one grid step of beta*,
    # unless F is flat there (then any point of the flat piece is optimal).
    best = grid[values.argmin()]
    assert abs(best - solution.beta) <= step + 1e-9 or abs(values.min() - solution.dual_objective) < 1e-9


@settings(max_examples=40, deadline=None)
@given(instances, st.floats(0.05, 1.0))
def test_sinkhorn_dual_matches_grid_search(instance, lam):
    advantages, cost, source = make_instance(*instance[:4])
    delta = instance[4]
    solution = solve_sinkhorn_dual(advantages, cost, source, delta, lam)
    beta_max = 2 * solution.beta + 1.0
    grid, values = grid_minimum(lambda b: sinkhorn_dual(b, advantages, cost, source, delta, lam).item(), beta_max)
    assert solution.dual_objective <= values.min() + 1e-9
    # G is smooth and strictly convex near its minimiser: the grid's best point is within a step.
    assert abs(grid[values.argmin()] - solution.beta) <= (grid[2] - grid[1]) + 1e-6


@settings(max_examples=60, deadline=None)
@given(instances, st.sampled_from(["wpo", "spo"]))
def test_constraint_at_the_optimal_multiplier(instance, method):
    advantages, cost, source = make_instance(*instance[:4])
    delta = instance[4]
    if method == "wpo":
        solution = solve_wasserstein_dual(advantages, cost, source, delta)
        unconstrained = transport_cost(wasserstein_plan(advantages, cost, 0.0), cost, source).mean().item()
    else:
        solution = solve_sinkhorn_dual(advantages, cost, source, delta, lam=0.3)
        unconstrained = transport_cost(sinkhorn_plan(advantages, cost, 0.0, 0.3), cost, source).mean().item()
    assert_valid_plan(solution.plan)
    achieved = transport_cost(solution.plan, cost, source).mean().item()
    assert achieved == pytest.approx(solution.transport_cost)
    assert achieved <= delta + 1e-9
    if unconstrained <= delta:
        assert solution.beta == 0.0
        assert achieved == pytest.approx(unconstrained)
    else:
        assert solution.beta > 0.0
        assert achieved == pytest.approx(delta, rel=1e-6, abs=1e-9)


def linear_programme_value(advantages, cost, source, delta):
    """The trust-region problem of section 1 on the support, solved as an LP over couplings.

    Variables: the conditional plan ``P[b, i, j]``; maximise ``mean_b sum_ij p_bi P_bij A_bj``
    subject to rows summing to one and ``mean_b sum_ij p_bi P_bij d_bij <= delta``.
    """
    n_states, n = advantages.shape
    weight = (source[:, :, None] / n_states).expand(-1, -1, n)
    objective = -(weight * advantages[:, None, :]).reshape(-1).numpy()
    budget = (weight * cost).reshape(1, -1).numpy()
    rows = np.kron(np.eye(n_states * n), np.ones((1, n)))
    result = linprog(objective, A_ub=budget, b_ub=[delta], A_eq=rows, b_eq=np.ones(n_states * n), bounds=(0, 1))
    assert result.status == 0
    return -result.fun


@settings(max_examples=40, deadline=None)
@given(instances)
def test_wasserstein_solution_solves_the_linear_programme(instance):
    advantages, cost, source = make_instance(*instance[:4])
    delta = instance[4]
    solution = solve_wasserstein_dual(advantages, cost, source, delta)
    value = (target_marginal(solution.plan, source) * advantages).sum(-1).mean().item()
    assert value == pytest.approx(linear_programme_value(advantages, cost, source, delta), abs=1e-7)
    # Strong duality: the primal value equals the dual minimum.
    assert value == pytest.approx(solution.dual_objective, abs=1e-7)


@pytest.mark.parametrize("seed", range(5))
def test_sinkhorn_tends_to_wasserstein_as_lam_vanishes(seed):
    advantages, cost, source = make_instance(seed, 4, 5, "squared_euclidean")
    delta = 0.3
    exact = target_marginal(solve_wasserstein_dual(advantages, cost, source, delta).plan, source)
    gaps = []
    for lam in [1.0, 0.1, 0.01, 0.001]:
        smooth = target_marginal(solve_sinkhorn_dual(advantages, cost, source, delta, lam).plan, source)
        gaps.append((smooth - exact).abs().sum(-1).max().item())
    assert all(later <= earlier + 1e-9 for earlier, later in zip(gaps, gaps[1:]))
    assert gaps[-1] < 0.05 and gaps[0] > 5 * gaps[-1]


def test_mahalanobis_cost_is_in_units_of_the_scale():
    support = th.tensor([[[0.0, 0.0], [2.0, 1.0]]])
    cost = box_cost(support, "mahalanobis", scale=th.tensor([[2.0, 0.5]]))
    assert cost[0, 0, 1].item() == pytest.approx(1.0 + 4.0)
    assert box_cost(support, "euclidean")[0, 0, 1].item() == pytest.approx(5**0.5)
    with pytest.raises(ValueError, match="Unknown Box cost"):
        box_cost(support, "manhattan")


@pytest.mark.parametrize("method", ["wasserstein", "sinkhorn"])
def test_uninformative_advantages_move_mass_to_the_centre_of_the_support(method):
    """Three support points on a line, every ordering of the advantages ``(0, 1, 2)`` enumerated: each point is
    the best equally often, yet the middle one, closest to the others, gets more than its third on average. The
    geometry-corrected weights average to ``pi_k`` exactly over the orderings."""
    points = th.tensor([[[-1.0], [0.0], [1.0]]], dtype=th.float64)
    cost = box_cost(points, "squared_euclidean")
    source = th.full((1, 3), 1.0 / 3, dtype=th.float64)
    orderings = th.tensor(list(itertools.permutations([0.0, 1.0, 2.0])), dtype=th.float64)
    beta = 0.6  # a move of one step (cost 1) pays for an advantage gain of 1, a move of two (cost 4) does not
    plans = wasserstein_plan(orderings, cost, beta) if method == "wasserstein" else sinkhorn_plan(orderings, cost, beta, 0.2)
    marginals = target_marginal(plans, source.expand(len(orderings), 3))
    null = marginals.mean(0, keepdim=True)  # the exact expectation of the shuffled-advantage marginal
    assert null[0, 1] > 1 / 3 + 0.05 and th.allclose(null[0, 0], null[0, 2])
    corrected = geometry_corrected_marginal(marginals, null.expand_as(marginals), source)
    th.testing.assert_close(corrected.mean(0), source[0])
    th.testing.assert_close(corrected.sum(-1), th.ones(len(orderings), dtype=th.float64))
