"""The compatible advantage model (``common.natural``): against the explicit Jacobian and a dense solve with the
closed-form Fisher of a Gaussian policy; and WPO's support advantages under ``executed_advantage="gae_natural"``."""

import gymnasium as gym
import pytest
import torch as th

from sb3_wasserstein import WPO
from sb3_wasserstein.common.natural import directional_derivative, natural_gradient
from sb3_wasserstein.wpo.wpo import _per_state_kl


def _generator():
    return th.Generator().manual_seed(0)


def test_directional_derivative_is_the_explicit_jacobian_times_the_direction():
    generator = _generator()
    weight = th.randn(3, 4, generator=generator, dtype=th.float64, requires_grad=True)
    bias = th.randn(3, generator=generator, dtype=th.float64, requires_grad=True)
    inputs = th.randn(5, 4, generator=generator, dtype=th.float64)
    direction = th.randn(weight.numel() + bias.numel(), generator=generator, dtype=th.float64)

    def outputs_of(flat):
        return th.tanh(inputs @ flat[:12].view(3, 4).T + flat[12:])

    flat = th.cat([weight.detach().reshape(-1), bias.detach()])
    jacobian = th.autograd.functional.jacobian(outputs_of, flat)  # [5, 3, 15]
    result = directional_derivative(th.tanh(inputs @ weight.T + bias), [weight, bias], direction)
    th.testing.assert_close(result, jacobian @ direction)


def test_natural_gradient_is_the_damped_fisher_solve_of_a_gaussian_policys_gradient():
    # A linear-Gaussian policy mu(s) = W s, state-independent log-std l: the score in (W, l) per state is
    # ((a - mu) / sigma^2) s^T and (a - mu)^2 / sigma^2 - 1, and the Fisher is E_s[diag(s s^T / sigma^2, 2)].
    generator = _generator()
    n_states, obs_dim, act_dim, damping = 64, 3, 2, 0.1
    states = th.randn(n_states, obs_dim, generator=generator, dtype=th.float64)
    weight = th.randn(act_dim, obs_dim, generator=generator, dtype=th.float64, requires_grad=True)
    log_std = (0.3 * th.randn(act_dim, generator=generator, dtype=th.float64)).requires_grad_()
    mean, std = states @ weight.T, log_std.exp().expand(n_states, act_dim)
    new = th.distributions.Normal(mean, std)
    actions = new.sample()
    advantages = th.randn(n_states, generator=generator, dtype=th.float64)
    old = th.distributions.Normal(mean.detach(), std.detach())
    kl = th.distributions.kl_divergence(old, new).sum(-1).mean()
    log_prob = new.log_prob(actions).sum(-1)
    n_params = weight.numel() + act_dim
    result = natural_gradient(log_prob, advantages, kl, [weight, log_std], n_steps=n_params, damping=damping)

    sigma = log_std.detach().exp()
    offsets = (actions - mean.detach()) / sigma**2  # [B, d]
    score = th.cat([(offsets.unsqueeze(2) * states.unsqueeze(1)).reshape(n_states, -1),
                    ((actions - mean.detach()) / sigma) ** 2 - 1], dim=1)
    gradient = ((advantages - advantages.mean()).unsqueeze(1) * score).mean(0)
    fisher = th.zeros(n_params, n_params, dtype=th.float64)
    second_moment = states.T @ states / n_states
    for k in range(act_dim):
        block = slice(k * obs_dim, (k + 1) * obs_dim)
        fisher[block, block] = second_moment / sigma[k] ** 2
    fisher[-act_dim:, -act_dim:] = 2.0 * th.eye(act_dim, dtype=th.float64)
    expected = th.linalg.solve(fisher + damping * th.eye(n_params, dtype=th.float64), gradient)
    th.testing.assert_close(result, expected)


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "CartPole-v1"])
def test_gae_natural_support_advantages_are_the_score_along_the_natural_gradient(env_id):
    # The support advantages, before centring, are d/dt log pi_{theta + t w}(x|s) at t = 0 for every support
    # point, with w the natural gradient of the rollout: checked by moving the parameters by +-t w.
    model = WPO("MlpPolicy", gym.make(env_id), n_steps=32, batch_size=16, n_candidates=3,
                executed_advantage="gae_natural", seed=0, policy_kwargs={"net_arch": [8]})
    model.learn(32)
    rollout = next(model.rollout_buffer.get(batch_size=None))
    with th.no_grad():
        support, _ = model._support(rollout.observations, rollout.actions)
    result = model._natural_advantages(rollout, support)

    with th.enable_grad():
        distribution = model.policy.get_distribution(rollout.observations).distribution
        log_prob = (distribution.log_prob(rollout.actions).sum(-1) if support.actions is not None
                    else distribution.log_prob(rollout.actions.long().flatten()))
        params = model._actor_parameters(log_prob)
        kl = _per_state_kl(model._old_distribution(support), distribution).mean()
        direction = natural_gradient(log_prob, rollout.advantages, kl, params, 15, 0.1)

    def support_log_prob(step):
        saved = [param.detach().clone() for param in params]
        offset = 0
        with th.no_grad():
            for param in params:
                param += step * direction[offset : offset + param.numel()].view_as(param)
                offset += param.numel()
            moved = model.policy.get_distribution(rollout.observations).distribution
            if support.actions is None:
                values = moved.logits.clone()
            else:
                values = moved.log_prob(support.actions.transpose(0, 1)).sum(-1).transpose(0, 1)
            for param, value in zip(params, saved, strict=True):
                param.copy_(value)
        return values

    step = 1e-3 / direction.norm().item()
    finite_difference = (support_log_prob(step) - support_log_prob(-step)) / (2 * step)
    th.testing.assert_close(result, finite_difference, rtol=1e-2, atol=1e-3 * finite_difference.abs().max().item())
