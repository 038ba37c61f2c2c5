"""WPO, SPO and KL mirror descent with exact advantages on known models: the theorems of sections 1 and 2."""

import functools

import pytest
import torch as th

from sb3_wasserstein.common.costs import zero_one_cost
from sb3_wasserstein.exact.finite_mdp import (
    evaluate_policy,
    from_gymnasium,
    random_mdp,
    value_iteration,
)
from sb3_wasserstein.exact.trust_region_updates import (
    geometric_schedule,
    kl_mirror_descent_update,
    run_updates,
    spo_update,
    wpo_update,
)

th.set_num_threads(1)
DISCOUNT = 0.95


@functools.cache
def model(name):
    if name.startswith("random"):
        return random_mdp(int(name.split("-")[1]))
    return from_gymnasium(name, DISCOUNT)


def ordinal_cost(n_actions):
    """``d(i, j) = |i - j|``: a ground cost that is not a metric of total variation."""
    actions = th.arange(n_actions, dtype=th.float64)
    return (actions[:, None] - actions[None, :]).abs()


def random_policy(mdp, seed):
    generator = th.Generator().manual_seed(seed)
    return th.softmax(2.0 * th.randn(mdp.n_states, mdp.n_actions, generator=generator, dtype=th.float64), -1)


def assert_monotone(values):
    """``V_{k+1}(s) >= V_k(s)`` in every state, up to rounding relative to the value scale."""
    tolerance = 1e-10 * (1.0 + values.abs().max().item())
    steps = values[1:] - values[:-1]
    assert steps.min().item() >= -tolerance, f"V decreased by {-steps.min().item():.3g} somewhere"


MODELS = [("FrozenLake-v1", 12), ("CliffWalking-v1", 12), ("Taxi-v4", 4), ("random-0", 12), ("random-1", 12)]


@pytest.mark.parametrize("name, n_iterations", MODELS)
@pytest.mark.parametrize("multiplier", ["dual", "schedule"])
def test_wpo_improves_monotonically_in_every_state(name, n_iterations, multiplier):
    mdp = model(name)
    cost = ordinal_cost(mdp.n_actions) if name.startswith("random") else zero_one_cost(mdp.n_actions).double()
    if multiplier == "dual":
        update = lambda policy, k: wpo_update(mdp, policy, cost, delta=0.05)  # noqa: E731
    else:
        schedule = geometric_schedule(1.0, 0.7)
        update = lambda policy, k: wpo_update(mdp, policy, cost, beta=schedule(k))  # noqa: E731
    trajectory = run_updates(mdp, update, n_iterations, initial_policy=random_policy(mdp, 0))
    assert_monotone(trajectory.values)
    initial_value = trajectory.values @ mdp.initial
    assert initial_value[-1] > initial_value[0] + 1e-3, "no improvement at all"
    if multiplier == "dual":
        # The trust region is active until the greedy step fits inside it, then beta* = 0.
        assert trajectory.transport_costs.max().item() <= 0.05 + 1e-9
        assert trajectory.betas[0].item() > 0.0


def test_monotone_improvement_is_not_automatic():
    """The control: SPO's kernel with a large temperature moves mass to worse actions, and V decreases somewhere."""
    mdp = model("random-0")
    trajectory = run_updates(
        mdp, lambda policy, k: spo_update(mdp, policy, ordinal_cost(4), 3.0, beta=0.1), 3, random_policy(mdp, 0)
    )
    assert (trajectory.values[1:] - trajectory.values[:-1]).min().item() < -1e-3


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("multiplier", [{"beta": 0.5}, {"delta": 0.2}])
def test_spo_tends_to_wpo_as_lam_decreases(seed, multiplier):
    mdp = model(f"random-{seed}")
    cost = zero_one_cost(mdp.n_actions).double() if seed % 2 else ordinal_cost(mdp.n_actions)
    policy = random_policy(mdp, 100 + seed)
    wpo = wpo_update(mdp, policy, cost, **multiplier)
    lams = [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001]
    spo = [spo_update(mdp, policy, cost, lam, **multiplier) for lam in lams]
    distances = [0.5 * (step.policy - wpo.policy).abs().sum(-1).max().item() for step in spo]  # max_s TV
    assert distances[0] > 0.1
    for larger, smaller in zip(distances, distances[1:]):
        assert smaller <= larger + 1e-12, distances
    assert distances[-1] < 1e-4, distances
    assert abs(spo[-1].beta - wpo.beta) <= 0.01 * max(wpo.beta, 1.0)


@pytest.mark.parametrize("name, fixed_beta, stalled_gap", [("FrozenLake-v1", 0.05, 0.1), ("CliffWalking-v1", 5.0, 1.0)])
def test_wpo_with_decaying_multiplier_reaches_the_optimum_and_with_a_fixed_one_stalls(name, fixed_beta, stalled_gap):
    mdp = model(name)
    optimal = value_iteration(mdp, tolerance=1e-12)
    cost = zero_one_cost(mdp.n_actions).double()
    schedule = geometric_schedule(fixed_beta, 0.7)
    decaying = run_updates(mdp, lambda policy, k: wpo_update(mdp, policy, cost, beta=schedule(k)), 25)
    fixed = run_updates(mdp, lambda policy, k: wpo_update(mdp, policy, cost, beta=fixed_beta), 25)

    assert (optimal - decaying.values[-1]).abs().max().item() < 1e-8
    # The fixed multiplier stops at a policy that its own update leaves unchanged: it is stuck for good.
    assert th.equal(fixed.policies[-1], fixed.policies[-2])
    assert (optimal - fixed.values[-1]).abs().max().item() > stalled_gap
    # Its fixed point is a beta-approximate greedy policy: no action it plays is worse than the best by more than beta.
    advantages = evaluate_policy(mdp, fixed.policies[-1]).advantages
    played = fixed.policies[-1] > 0
    shortfall = (advantages.max(-1, keepdim=True).values - advantages)[played]
    assert shortfall.max().item() <= fixed_beta + 1e-9


@pytest.mark.parametrize("name", ["FrozenLake-v1", "random-0"])
def test_kl_mirror_descent_improves_monotonically_and_converges(name):
    mdp = model(name)
    optimal = value_iteration(mdp, tolerance=1e-12)
    trajectory = run_updates(mdp, lambda policy, k: kl_mirror_descent_update(mdp, policy, 5.0), 60)
    assert_monotone(trajectory.values)
    gaps = (optimal - trajectory.values).abs().max(-1).values
    assert gaps[-1] < 0.05 * gaps[0]
