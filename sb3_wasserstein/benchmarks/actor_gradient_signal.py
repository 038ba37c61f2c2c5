"""Signal-to-noise of WPG's actor-update gradients at a saved model: the projection, baselined or not, and the parametric.

    python -m sb3_wasserstein.benchmarks.actor_gradient_signal --model <run folder>/rl_model_24000_steps.zip \
        --env HalfCheetah-v5 --output <csv>

Collects ``--states`` states with the model's stochastic policy; then, the states fixed, draws the particles and the
Langevin noise afresh ``--redraws`` times and takes each actor update's gradient with respect to the policy's outputs
(every state's mean and log-std), summed over the states, as the shared layers receive it. Per output dimension the
signal-to-noise ratio is ``|mean| / std`` over the redraws; the CSV gives its median over the action dimensions for
the mean head and for the log-std head, per update:

- ``langevin``: the negative log-likelihood of the moved particles (WPG's default projection);
- ``langevin_baselined``: the same minus that of the unmoved particles (``projection_baseline=True``);
- ``parametric``: the surrogate of ``actor_update="parametric"``.

The model's own particles, Langevin steps, step size, temperature and drift are used. A batch sampled from a replay
buffer adds its own noise, so these ratios are upper bounds for training.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th

from sb3_wasserstein import WPG
from sb3_wasserstein.common.projection import (
    baselined_negative_log_likelihood,
    gaussian_negative_log_likelihood,
    parametric_wasserstein_surrogate,
)

UPDATES = ("langevin", "langevin_baselined", "parametric")


def policy_states(model: WPG, env_id: str, n_states: int, seed: int) -> th.Tensor:
    """``n_states`` consecutive observations of one episode stream of the model's stochastic policy."""
    env = gym.make(env_id)
    observation, _ = env.reset(seed=seed)
    states = []
    for _ in range(n_states):
        states.append(observation)
        action, _ = model.predict(observation, deterministic=False)
        observation, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            observation, _ = env.reset()
    return th.as_tensor(np.array(states), dtype=th.float32, device=model.device)


def output_gradients(model: WPG, states: th.Tensor, temperature: float) -> dict[str, th.Tensor]:
    """Each update's gradient with respect to the means and log-stds of ``states``, summed over states: ``[2, action_dim]``.

    One draw of the particles (as ``WPG.train`` draws them) and of the Langevin noise, shared by the three updates.
    """
    with th.no_grad():
        mean, log_std = model.actor.gaussian_parameters(states)
        features = model.critic.extract_features(states, model.critic.features_extractor)
    noise, particles, _ = model._draw_particles(mean, log_std)
    drift, _ = model._drift(features, particles, temperature)
    moved = model._langevin_particles(features, particles, drift, temperature)
    losses = {
        "langevin": lambda m, s: gaussian_negative_log_likelihood(moved, m, s),
        "langevin_baselined": lambda m, s: baselined_negative_log_likelihood(moved, particles, m, s),
        "parametric": lambda m, s: parametric_wasserstein_surrogate(m, s, noise, drift, temperature),
    }
    gradients = {}
    for name, loss in losses.items():
        outputs = (mean.clone().requires_grad_(True), log_std.clone().requires_grad_(True))
        mean_gradient, log_std_gradient = th.autograd.grad(loss(*outputs), outputs)
        gradients[name] = th.stack([mean_gradient.sum(0), log_std_gradient.sum(0)])
    return gradients


def gradient_signal(model: WPG, states: th.Tensor, redraws: int, seed: int) -> dict[str, tuple[float, float]]:
    """Median over action dimensions of ``|mean| / std`` over ``redraws`` draws: (mean head, log-std head) per update."""
    th.manual_seed(seed)
    learnt = model.log_ent_coef is not None
    temperature = float(th.exp(model.log_ent_coef.detach()) if learnt else model.ent_coef_tensor)
    draws = [output_gradients(model, states, temperature) for _ in range(redraws)]
    signal = {}
    for name in UPDATES:
        gradients = th.stack([draw[name] for draw in draws])  # [redraws, 2, action_dim]
        ratio = gradients.mean(0).abs() / gradients.std(0)
        signal[name] = (float(ratio[0].median()), float(ratio[1].median()))
    return signal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a saved WPG model (.zip)")
    parser.add_argument("--env", required=True)
    parser.add_argument("--states", type=int, default=256, help="states per batch (WPG's HalfCheetah batch: 256)")
    parser.add_argument("--redraws", type=int, default=2000,
                        help="draws of the particles and noise (a ratio below about 1 / sqrt(redraws) is not resolved)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, help="append the rows to this CSV")
    args = parser.parse_args()

    model = WPG.load(args.model, device="cpu")
    signal = gradient_signal(model, policy_states(model, args.env, args.states, args.seed), args.redraws, args.seed)
    rows = [dict(model=args.model.name, env=args.env, update=name, snr_mean_head=round(mean_head, 3),
                 snr_log_std_head=round(log_std_head, 3)) for name, (mean_head, log_std_head) in signal.items()]
    for row in rows:
        print(f"{row['update']:20s} mean head {row['snr_mean_head']:.2f}  log-std head {row['snr_log_std_head']:.2f}")
    if args.output:
        new_file = not args.output.exists()
        with args.output.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            if new_file:
                writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
