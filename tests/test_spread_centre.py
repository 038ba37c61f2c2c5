"""``spread_centre="plan_mean"``: the spread fitted to the deviations from the weights' own mean, with the
reliability-weights correction, instead of from the old mean."""

import itertools

import pytest
import torch as th

import sb3_wasserstein.wpo.wpo as wpo_module
from sb3_wasserstein import SPO, WPO
from sb3_wasserstein.common.projection import (
    decoupled_gaussian_projection_loss,
    reliability_corrected_squared_deviations,
)

SMALL = dict(n_steps=64, batch_size=32, n_epochs=2, seed=0)


def weighted_variance(support, weights):
    """``sum_j w_j D_j``: the spread the plan-mean loss is stationary at."""
    return (weights.unsqueeze(-1) * reliability_corrected_squared_deviations(support, weights)).sum(-2)


def test_uniform_weights_give_bessels_unbiased_variance():
    support = th.randn(3, 7, 2, generator=th.Generator().manual_seed(0), dtype=th.float64)
    uniform = th.full((3, 7), 1 / 7, dtype=th.float64)
    th.testing.assert_close(weighted_variance(support, uniform), support.var(dim=1, unbiased=True))


def test_the_corrected_variance_is_unbiased_for_any_fixed_weights_by_enumeration():
    """Three independent draws from a three-point law, every one of the 27 outcomes weighted by its probability: the
    corrected estimate's expectation is the law's variance; without the correction it is ``(1 - sum w^2)`` of it."""
    values, probabilities = th.tensor([-1.0, 0.0, 2.0], dtype=th.float64), th.tensor([0.2, 0.5, 0.3], dtype=th.float64)
    variance = (probabilities * values.pow(2)).sum() - (probabilities * values).sum().pow(2)
    weights = th.tensor([[0.5, 0.3, 0.2]], dtype=th.float64)
    expected_corrected, expected_plain = 0.0, 0.0
    for outcome in itertools.product(range(3), repeat=3):
        probability = probabilities[list(outcome)].prod()
        support = values[list(outcome)].reshape(1, 3, 1)
        expected_corrected += probability * weighted_variance(support, weights).item()
        centre = (weights.unsqueeze(-1) * support).sum(-2, keepdim=True)
        expected_plain += probability * (weights.unsqueeze(-1) * (support - centre).pow(2)).sum().item()
    assert expected_corrected == pytest.approx(variance.item(), rel=1e-12)
    assert expected_plain == pytest.approx(variance.item() * (1 - weights.pow(2).sum().item()), rel=1e-12)


def test_plan_mean_spread_is_stationary_at_the_corrected_variance_and_blind_to_the_means_shift():
    """Stationary at ``sum_j w_j D_j``; shifting every support point moves the old-mean spread loss and not this one;
    the spread loss does not see the new mean."""
    generator = th.Generator().manual_seed(1)
    support = th.randn(4, 6, 2, generator=generator, dtype=th.float64)
    target = th.softmax(th.randn(4, 6, generator=generator, dtype=th.float64), -1)
    old_mean, old_log_std = th.zeros(4, 2, dtype=th.float64), th.zeros(4, 2, dtype=th.float64)
    mean = old_mean.clone().requires_grad_(True)

    def spread(log_std, points, centre):
        return decoupled_gaussian_projection_loss(mean, log_std, old_mean, old_log_std, points, target, None, centre)[1]

    at_variance = (0.5 * weighted_variance(support, target).log()).requires_grad_(True)
    gradient, = th.autograd.grad(spread(at_variance, support, "plan_mean"), at_variance)
    assert gradient.abs().max() < 1e-12
    assert th.autograd.grad(spread(at_variance, support, "plan_mean"), mean, allow_unused=True)[0] is None
    away = (at_variance.detach() + 0.3).requires_grad_(True)
    gradient, = th.autograd.grad(spread(away, support, "plan_mean"), away)
    assert gradient.abs().min() > 1e-3

    log_std = th.zeros(4, 2, dtype=th.float64)
    shifted = support + 1.5
    th.testing.assert_close(spread(log_std, shifted, "plan_mean"), spread(log_std, support, "plan_mean"))
    assert spread(log_std, shifted, "old_mean") > spread(log_std, support, "old_mean") + 1.0


def test_an_unknown_centre_is_named():
    zeros = th.zeros(1, 1)
    with pytest.raises(ValueError, match="`spread_centre` must be one of \\('old_mean', 'plan_mean'\\), got 'median'"):
        decoupled_gaussian_projection_loss(zeros, zeros, zeros, zeros, th.zeros(1, 2, 1), th.ones(1, 2) / 2, None, "median")


@pytest.mark.parametrize(
    "env, kwargs, message",
    [
        ("Pendulum-v1", dict(spread_centre="median"), "`spread_centre` must be one of \\('old_mean', 'plan_mean'\\)"),
        ("CartPole-v1", dict(spread_centre="plan_mean"), "`spread_centre='plan_mean'` needs a Box action space"),
    ],
)
def test_bad_spread_centres_fail_before_training(env, kwargs, message):
    with pytest.raises(ValueError, match=message):
        WPO("MlpPolicy", env, **kwargs)


@pytest.mark.parametrize("algorithm", [WPO, SPO])
def test_the_centre_reaches_every_projection_step_and_survives_save_and_load(algorithm, monkeypatch, tmp_path):
    centres = []
    original = wpo_module.decoupled_gaussian_projection_loss

    def spy(*args):
        centres.append(args[7])
        return original(*args)

    monkeypatch.setattr(wpo_module, "decoupled_gaussian_projection_loss", spy)
    assert WPO("MlpPolicy", "Pendulum-v1", **SMALL).spread_centre == "old_mean"
    model = algorithm("MlpPolicy", "Pendulum-v1", spread_centre="plan_mean", **SMALL)
    model.learn(64)
    assert centres == ["plan_mean"] * 4  # n_epochs x (64 / 32) minibatches
    model.save(tmp_path / "model")
    assert algorithm.load(tmp_path / "model").spread_centre == "plan_mean"
