"""WPO/SPO's update wiring: what reaches the critics, the plan's advantages and the projection.

Each test pins one hand-off of ``WPO.train`` that a one-line slip would break without the plan or dual tests noticing
(found by mutating a copy of the package).
"""

import numpy as np
import pytest
import torch as th

import sb3_wasserstein.wpo.wpo as wpo_module
from sb3_wasserstein import SPO, WPO
from sb3_wasserstein.common.transport import sinkhorn_dual
from sb3_wasserstein.wpo.wpo import Support

SMALL = dict(n_steps=64, batch_size=32, n_epochs=2, seed=0)


def last_rollout(model):
    """The last rollout, its rows in a random order (SB3's ``get``)."""
    return next(model.rollout_buffer.get(batch_size=None))


def test_support_advantages_put_gae_at_the_executed_action_and_its_mirror_on_the_draws_baseline(monkeypatch):
    """``gae_mirrored``: the executed point gets GAE's ``A``, the mirror ``2 b - A`` with ``b`` the mean of the draws'
    Q (not the mirror's own), then every state is centred and the batch scaled to unit std."""
    model = WPO("MlpPolicy", "Pendulum-v1", executed_advantage="gae_mirrored", n_candidates=4, **SMALL)
    model.learn(64)
    rollout = last_rollout(model)
    support, _ = model._support(rollout.observations, rollout.actions)
    executed = support.actions.gather(1, model._executed_index(rollout, support).unsqueeze(-1).expand(-1, 1, 1))
    th.testing.assert_close(executed.squeeze(1), rollout.actions)

    q_values = th.randn(len(rollout.advantages), 5, generator=th.Generator().manual_seed(1))
    monkeypatch.setattr(model.policy, "q_values", lambda observations, actions: q_values.clone())
    advantages = model._support_advantages(rollout, support).float()
    expected = q_values.clone()
    expected[:, 0] = rollout.advantages
    expected[:, 1] = 2 * q_values[:, 2:].mean(1) - rollout.advantages
    expected -= expected.mean(1, keepdim=True)
    th.testing.assert_close(advantages, expected / expected.std(), rtol=1e-5, atol=1e-5)


def test_q_head_health_is_the_executed_advantage_over_the_support_mean(monkeypatch):
    """``train/q_advantage_correlation`` reads ``Q(s, a) - sum_j pi_k(a_j) Q(s, a_j)``: a per-state offset drops out."""
    model = WPO("MlpPolicy", "Pendulum-v1", **SMALL)
    model.learn(64)
    rollout = last_rollout(model)
    support, _ = model._support(rollout.observations, rollout.actions)
    offsets = 100.0 * th.randn(len(rollout.advantages), 1, generator=th.Generator().manual_seed(2))
    q_values = offsets.expand(-1, support.actions.shape[1]).clone()
    q_values[:, 0] += rollout.advantages
    monkeypatch.setattr(model.policy, "q_values", lambda observations, actions: q_values)
    assert model._q_advantage_correlation(rollout, support) == pytest.approx(1.0, abs=1e-6)


def test_the_q_window_keeps_the_last_q_window_rollouts_advantages():
    model = WPO("MlpPolicy", "Pendulum-v1", q_window=2, **SMALL)
    model.learn(3 * 64)
    assert len(model._q_samples) == 2
    observations, actions, advantages = model._q_samples[-1]
    th.testing.assert_close(advantages.sort().values, last_rollout(model).advantages.sort().values)  # rows permuted
    assert len(model._concatenated_window()[2]) == 2 * 64


def test_critic_losses_regress_v_on_returns_and_q_on_matching_window_pairs(monkeypatch):
    model = WPO("MlpPolicy", "Pendulum-v1", q_window=2, **SMALL)
    model.learn(2 * 64)
    rollout = last_rollout(model)
    window = model._concatenated_window()
    pairs = []

    def q_value(observations, actions):
        pairs.append((observations, actions))
        return th.zeros(len(actions))

    monkeypatch.setattr(model.policy, "predict_values", lambda observations: th.zeros(len(observations), 1))
    monkeypatch.setattr(model.policy, "q_value", q_value)
    indices = th.arange(10)
    th.manual_seed(3)
    value_loss, q_loss = model._critic_losses(rollout, window, indices)
    th.manual_seed(3)
    window_indices = th.randint(len(window[2]), (10,))
    assert value_loss.item() == pytest.approx(rollout.returns[indices].pow(2).mean().item())
    assert q_loss.item() == pytest.approx(window[2][window_indices].pow(2).mean().item())
    th.testing.assert_close(pairs[0][0], window[0][window_indices])
    th.testing.assert_close(pairs[0][1], window[1][window_indices])


def test_the_projection_fits_mean_and_spread_to_their_targets_in_every_minibatch_of_every_epoch(monkeypatch):
    """``debias_spread``: the spread's weights reach the loss; ``n_epochs x`` minibatches steps; the mean and the
    log-std both move; each step's gradient is clipped to ``max_grad_norm``."""
    calls, norms = [], []
    original = wpo_module.decoupled_gaussian_projection_loss

    def spy(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(wpo_module, "decoupled_gaussian_projection_loss", spy)
    model = WPO("MlpPolicy", "Pendulum-v1", debias_spread=True, max_grad_norm=1e-3, **SMALL)
    step = model.policy.optimizer.step

    def measured_step(*args, **kwargs):
        grads = [p.grad.flatten() for p in model.policy.parameters() if p.grad is not None]
        norms.append(th.cat(grads).norm().item())
        return step(*args, **kwargs)

    model.policy.optimizer.step = measured_step
    before = {name: p.detach().clone() for name, p in model.policy.named_parameters()}
    model.learn(64)
    assert len(calls) == 2 * 2  # n_epochs x (64 / 32) minibatches
    assert all(not th.equal(args[5], args[6]) for args in calls)  # the plan's marginal and the debiased weights
    after = dict(model.policy.named_parameters())
    assert not th.equal(before["log_std"], after["log_std"])
    assert not th.equal(before["action_net.weight"], after["action_net.weight"])
    assert max(norms) <= 1e-3 * (1 + 1e-4)


def test_minibatches_are_a_shuffled_partition():
    model = WPO("MlpPolicy", "Pendulum-v1", **dict(SMALL, batch_size=4))
    th.manual_seed(0)
    batches = list(model._minibatches(10))
    order = th.cat(batches)
    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert sorted(order.tolist()) == list(range(10)) and order.tolist() != list(range(10))


def test_target_kl_reads_kl_old_to_new_against_one_and_a_half_times_the_limit(monkeypatch, logged):
    old_mean, old_log_std = th.zeros(3, 2), th.log(th.full((3, 2), 0.5))
    new = th.distributions.Normal(th.full((3, 2), 0.3), th.full((3, 2), 2.0))
    support = Support(th.zeros(3, 2, 2), None, None, old_mean, old_log_std)
    # KL(N(0, 0.5^2) || N(0.3, 2^2)) per dimension, summed over 2 dimensions; KL(new || old) is about 6.8 per state.
    expected = 2 * (np.log(2.0 / 0.5) + (0.5**2 + 0.3**2) / (2 * 2.0**2) - 0.5)
    assert WPO._kl_from_old(support, th.arange(3), new) == pytest.approx(expected)

    model = WPO("MlpPolicy", "Pendulum-v1", target_kl=0.01, **dict(SMALL, n_epochs=3))
    model.learn(64)
    values = logged(model)
    for kl, passes in [(1.2, 3), (1.6, 1)]:  # in units of target_kl: the limit is 1.5 target_kl
        monkeypatch.setattr(model, "_kl_from_old", lambda *args, kl=kl: kl * 0.01)
        model.train()  # again on the last rollout
        assert values["train/projection_epochs"] == passes


def test_spo_uses_its_own_dual():
    generator = th.Generator().manual_seed(4)
    advantages = th.randn(3, 4, generator=generator, dtype=th.float64)
    cost = th.rand(3, 4, 4, generator=generator, dtype=th.float64) * (1 - th.eye(4, dtype=th.float64))
    source = th.full((3, 4), 0.25, dtype=th.float64)
    model = SPO("MlpPolicy", "Pendulum-v1", lam=0.3, **SMALL)
    th.testing.assert_close(model._dual(0.7, advantages, cost, source, 0.1),
                            sinkhorn_dual(0.7, advantages, cost, source, 0.1, 0.3))


def test_each_epoch_fits_the_critics_on_every_minibatch_and_logs_kl_old_to_new(monkeypatch, logged):
    model = WPO("MlpPolicy", "Pendulum-v1", **SMALL)
    model.learn(64)
    rollout = last_rollout(model)
    with th.no_grad():
        old = model.policy.get_distribution(rollout.observations).distribution
        old = th.distributions.Normal(old.mean.clone(), old.stddev.clone())
    critic_steps, values = [], logged(model)
    original = model._critic_losses
    monkeypatch.setattr(model, "_critic_losses", lambda *args: critic_steps.append(1) or original(*args))
    model.train()  # again on the last rollout
    assert len(critic_steps) == 2 * 2  # n_epochs x (64 / 32) minibatches
    with th.no_grad():
        new = model.policy.get_distribution(rollout.observations).distribution
        expected = th.distributions.kl_divergence(old, new).sum(-1).mean().item()
    assert values["train/approx_kl"] == pytest.approx(expected, rel=1e-5)
