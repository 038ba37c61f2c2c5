"""WPG's update wiring: the soft Bellman target, the temperature, the target critics, the Langevin chain and the
projection's inputs. Each test pins one hand-off of ``WPG.train`` that a one-line slip would break without the
formula tests noticing (found by mutating a copy of the package)."""

import math

import pytest
import torch as th

import sb3_wasserstein.wpg.wpg as wpg_module
from sb3_wasserstein import WPG


def filled(**kwargs):
    """A WPG whose replay buffer holds 32 transitions of Pendulum-v1 and that has not trained yet."""
    model = WPG("MlpPolicy", "Pendulum-v1", learning_starts=1000, batch_size=8, seed=0,
                policy_kwargs=dict(net_arch=[16, 16]), **kwargs)
    model.learn(32)
    return model


def test_critic_loss_is_against_the_soft_bellman_target_of_the_target_critics(monkeypatch, logged):
    """``y = r + gamma_k (1 - d) (min_i Q'_i(s', a') - alpha log pi(a'|s'))`` with ``a' ~ pi(.|s')``, the target
    critics ``Q'`` and the batch's own discounts ``gamma_k`` where it has them (n-step returns; else ``gamma``); the
    loss is ``1/2 sum_i mean (Q_i(s, a) - y)^2`` with the online critics."""
    model = filled(ent_coef=0.2)
    batch = model.replay_buffer.sample(8)
    batch = batch._replace(dones=th.tensor([[0.0], [1.0]] * 4), discounts=th.full((8, 1), 0.5))
    monkeypatch.setattr(model.replay_buffer, "sample", lambda *args, **kwargs: batch)
    with th.no_grad():  # target critics apart from the online ones
        for parameter in model.critic_target.parameters():
            parameter.add_(0.3 * th.randn_like(parameter))
    next_actions = th.rand(8, 1) * 2 - 1
    next_log_prob = th.randn(8)
    seen = []
    monkeypatch.setattr(model.actor, "action_log_prob",
                        lambda observations: seen.append(observations) or (next_actions, next_log_prob))
    with th.no_grad():
        next_q = th.cat(model.critic_target(batch.next_observations, next_actions), dim=1).min(1, keepdim=True).values
        target = batch.rewards + 0.5 * (1 - batch.dones) * (next_q - 0.2 * next_log_prob.view(-1, 1))
        expected = 0.5 * sum(((q - target) ** 2).mean() for q in model.critic(batch.observations, batch.actions))
    values = logged(model)
    model.train(gradient_steps=1, batch_size=8)
    th.testing.assert_close(seen[0], batch.next_observations)
    assert values["train/critic_loss"] == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("target_entropy, direction", [(-100.0, -1), (100.0, 1)])
def test_the_temperature_steps_towards_the_target_entropy(target_entropy, direction):
    """SAC's temperature loss: above the target entropy (here far below it) the temperature falls, below it rises."""
    model = filled(ent_coef="auto_0.5", target_entropy=target_entropy)
    before = model.log_ent_coef.item()
    model.train(gradient_steps=1, batch_size=8)
    assert math.copysign(1, model.log_ent_coef.item() - before) == direction


def test_target_critics_follow_polyak_every_target_update_interval_steps():
    """With frozen critics (learning rate 0), two gradient steps at interval 2 make one update
    ``Q' <- (1 - tau) Q' + tau Q``."""
    model = filled(learning_rate=0.0, tau=0.1, target_update_interval=2)
    with th.no_grad():
        for parameter in model.critic_target.parameters():
            parameter.add_(1.0)
    online = [p.detach().clone() for p in model.critic.parameters()]
    target = [p.detach().clone() for p in model.critic_target.parameters()]
    model.train(gradient_steps=2, batch_size=8)
    for q, q_target, after in zip(online, target, model.critic_target.parameters()):
        th.testing.assert_close(after.detach(), 0.9 * q_target + 0.1 * q)


def test_particles_are_drawn_with_sb3s_clamped_log_std():
    model = filled()
    noise, particles, sampling_log_std = model._draw_particles(th.zeros(4, 1), th.full((4, 1), 5.0))
    th.testing.assert_close(particles, math.exp(2.0) * noise)  # LOG_STD_MAX = 2
    assert (sampling_log_std == 2.0).all()


def test_the_parametric_update_reads_the_drawn_sigma_and_moves_the_unclamped_log_std(monkeypatch):
    """Above SB3's clamp (log-std 2) the particles are drawn with sigma = e^2: the surrogate's velocity
    ``drift + tau noise / sigma`` must use that sigma, and its gradient must still reach the log-std's bias."""
    surrogate_log_stds = []
    surrogate = wpg_module.parametric_wasserstein_surrogate

    def recording(mean, log_std, noise, drift, temperature):
        surrogate_log_stds.append(log_std)
        return surrogate(mean, log_std, noise, drift, temperature)

    monkeypatch.setattr(wpg_module, "parametric_wasserstein_surrogate", recording)
    model = filled(actor_update="parametric")
    with th.no_grad():
        model.actor.log_std.bias.fill_(5.0)
        model.actor.log_std.weight.zero_()
    model.train(gradient_steps=1, batch_size=8)
    (log_std,) = surrogate_log_stds
    th.testing.assert_close(log_std.detach(), th.full_like(log_std, 2.0))
    assert log_std.requires_grad
    assert (model.actor.log_std.bias < 5.0).all()


@pytest.mark.parametrize("projection_baseline", [False, True])
def test_the_langevin_chain_and_the_projection_take_the_moved_particles(projection_baseline, monkeypatch, logged):
    """Two Langevin steps: the second drift is taken at the once-moved particles, each step adds standard normal
    noise; two projection steps: the second re-reads the policy; the baselined loss gets (moved, drawn)."""
    steps, drifts, reads, baselined = [], [], [], []
    langevin_step, drift = wpg_module.langevin_step, WPG._drift

    def recorded_step(particles, drift_value, step_size, temperature, noise):
        steps.append((particles, noise, langevin_step(particles, drift_value, step_size, temperature, noise)))
        return steps[-1][2]

    monkeypatch.setattr(wpg_module, "langevin_step", recorded_step)
    monkeypatch.setattr(WPG, "_drift", lambda self, features, particles, temperature: drifts.append(particles)
                        or drift(self, features, particles, temperature))
    original_nll = wpg_module.baselined_negative_log_likelihood
    monkeypatch.setattr(wpg_module, "baselined_negative_log_likelihood",
                        lambda *args: baselined.append(args) or original_nll(*args))
    model = filled(langevin_steps=2, projection_steps=2, projection_baseline=projection_baseline)
    read = model.actor.gaussian_parameters
    monkeypatch.setattr(model.actor, "gaussian_parameters",
                        lambda observations: reads.append(read(observations)) or reads[-1])
    values = logged(model)
    model.train(gradient_steps=1, batch_size=8)
    assert len(steps) == 2 and len(drifts) == 2 and len(reads) == 2
    th.testing.assert_close(drifts[1], steps[0][2])  # the second drift at the once-moved particles
    th.testing.assert_close(steps[1][0], steps[0][2])
    assert all(0.5 < noise.std().item() < 1.5 for _, noise, _ in steps)
    mean, log_std = (value.detach() for value in reads[-1])  # the moved particles' NLL at the last projection step
    expected_nll = wpg_module.gaussian_negative_log_likelihood(steps[1][2], mean, log_std).item()
    assert values["train/projection_nll"] == pytest.approx(expected_nll, rel=1e-5)
    if projection_baseline:
        th.testing.assert_close(baselined[0][0], steps[1][2])  # moved, then the particles drawn
        th.testing.assert_close(baselined[0][1], drifts[0])


def test_temperature_and_actor_losses_are_read_at_the_drawn_particles(monkeypatch, logged):
    """``ent_coef_loss = -log(alpha) mean(log pi(u) + H_target)`` and ``actor_loss = mean(alpha log pi(u) - Q(u))``
    at the particles ``u`` the update drew (not at their standard normal noise)."""
    from sb3_wasserstein.common.projection import squashed_gaussian_log_prob

    drawn, drifted = [], []
    draw, drift = WPG._draw_particles, WPG._drift
    monkeypatch.setattr(WPG, "_draw_particles", lambda self, mean, log_std: drawn.append(
        (mean.detach(),) + draw(self, mean, log_std)) or drawn[-1][1:])
    monkeypatch.setattr(WPG, "_drift", lambda self, features, particles, temperature: drifted.append(
        drift(self, features, particles, temperature)) or drifted[-1])
    model = filled(ent_coef="auto_0.5")
    values = logged(model)
    model.train(gradient_steps=1, batch_size=8)
    mean, noise, particles, sampling_log_std = drawn[0]
    log_prob = squashed_gaussian_log_prob(particles, mean, sampling_log_std)
    expected_ent_coef_loss = -(math.log(0.5) * (log_prob + model.target_entropy)).mean().item()
    assert values["train/ent_coef_loss"] == pytest.approx(expected_ent_coef_loss, rel=1e-5)
    temperature = values["train/ent_coef"]
    expected_actor_loss = (temperature * log_prob - drifted[0][1]).mean().item()
    assert values["train/actor_loss"] == pytest.approx(expected_actor_loss, rel=1e-5)


@pytest.mark.parametrize("actor_update, projection_baseline", [("parametric", False), ("langevin", True),
                                                                ("langevin", False)])
def test_the_actor_moves_along_the_drift(actor_update, projection_baseline, monkeypatch):
    """A drift of +5 everywhere (a Q rising in the action) moves the policy's mean up, in every actor update."""
    monkeypatch.setattr(WPG, "_drift", lambda self, features, particles, temperature: (
        th.full_like(particles, 5.0), th.zeros(particles.shape[:2])))
    model = filled(ent_coef=0.01, actor_update=actor_update, projection_baseline=projection_baseline,
                   langevin_step_size=0.1)
    observations = model.replay_buffer.sample(8).observations
    with th.no_grad():
        before = model.actor.gaussian_parameters(observations)[0]
    model.train(gradient_steps=3, batch_size=8)
    with th.no_grad():
        after = model.actor.gaussian_parameters(observations)[0]
    assert (after - before).mean() > 0
