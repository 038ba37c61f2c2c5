"""How much action signal GAE gives a Q head: held-out correlation of fitted advantage models, against data size.

    python -m sb3_wasserstein.benchmarks.q_head_signal --algo spo --env HalfCheetah-v5 \
        --run logs/spo/HalfCheetah-v5_1 --steps 130000 --out docs/benchmarks/q_head_signal.csv

Loads a saved zoo run (``<run>/<env>.zip`` and its ``VecNormalize`` statistics, frozen), collects ``--steps``
environment steps with that policy through SB3's own ``collect_rollouts`` (so GAE is the rollout buffer's,
with the model's V head, ``gamma`` and ``gae_lambda``), keeps the last ``--held-out`` steps aside, and fits
advantage models on the ``n`` steps just before them, for each ``n`` of ``--sizes`` (4 rollouts of 512 steps
are 2048: WPO's default ``q_window`` on rl-zoo3's HalfCheetah settings). Models, regressed on GAE by Adam:

- ``mlp``: the Q head's form, a 256x256 ReLU net on ``[observation, clipped action]``;
- ``linear``: ``A(s, a) = w(s) . (a - mu(s)) / sigma``, linear in the action (the compatible features of a
  Gaussian policy's mean), ``w`` a 256x256 ReLU net.

Each is scored as WPO's ``train/q_advantage_correlation``: on the held-out steps, the correlation of
``A(s, a) - mean_j A(s, a_j)`` with GAE, where ``a`` is the executed action and ``a_j`` runs over the support
(``a`` and 4 draws of the policy). The score is read every 500 Adam steps; the CSV keeps the one at the step
whose score on a validation tenth of the training steps is best, and the best held-out score (optimistic:
chosen on the held-out steps). The saved model's own Q head is scored on the same support. Box actions only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize
from torch import nn

from sb3_wasserstein import SPO, WPO
from sb3_wasserstein.benchmarks import write_rows

ALGOS = {"wpo": WPO, "spo": SPO}
N_CANDIDATES = 4


def collect(algo: str, env_id: str, run: Path, steps: int, seed: int):
    """``steps`` steps of the saved policy with frozen normalisation: observations, actions, GAE, means, stds."""
    venv = VecNormalize.load(str(run / env_id / "vecnormalize.pkl"), make_vec_env(env_id, n_envs=1, seed=seed))
    venv.training = False
    model = ALGOS[algo].load(run / f"{env_id}.zip", env=venv, device="cpu", seed=seed, n_steps=steps)
    _, callback = model._setup_learn(steps, callback=None)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, n_rollout_steps=steps)
    buffer = model.rollout_buffer
    observations = th.as_tensor(buffer.observations[:, 0], dtype=th.float32)
    with th.no_grad():
        distribution = model.policy.get_distribution(observations).distribution
    data = dict(obs=observations, act=th.as_tensor(buffer.actions[:, 0], dtype=th.float32),
                adv=th.as_tensor(buffer.advantages[:, 0], dtype=th.float32),
                mu=distribution.mean, sigma=distribution.stddev,
                low=th.as_tensor(model.action_space.low), high=th.as_tensor(model.action_space.high))
    return model, data


class AdvantageModel(nn.Module):
    """``mlp``: ``net([s, clip(a)])``, ``a`` clipped to the action bounds ``low``, ``high`` as the Q head clips it;
    ``linear``: ``net(s) . (a - mu(s)) / sigma``. Inputs ``s [B, o]``, ``a [B, n, d]``."""

    def __init__(self, kind: str, obs_dim: int, action_dim: int, low: th.Tensor, high: th.Tensor):
        super().__init__()
        self.kind = kind
        self.low, self.high = low, high
        n_in, n_out = (obs_dim, action_dim) if kind == "linear" else (obs_dim + action_dim, 1)
        self.net = nn.Sequential(nn.Linear(n_in, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, n_out))

    def forward(self, obs, actions, mu, sigma):
        if self.kind == "linear":
            return (self.net(obs).unsqueeze(1) * (actions - mu.unsqueeze(1)) / sigma.unsqueeze(1)).sum(-1)
        expanded = obs.unsqueeze(1).expand(-1, actions.shape[1], -1)
        return self.net(th.cat([expanded, actions.clamp(self.low, self.high)], -1)).squeeze(-1)


def support(data, rows, generator):
    """``[len(rows), 1 + N_CANDIDATES, d]``: the executed action, then draws of the policy."""
    noise = th.randn(len(rows), N_CANDIDATES, data["act"].shape[1], generator=generator)
    draws = data["mu"][rows].unsqueeze(1) + data["sigma"][rows].unsqueeze(1) * noise
    return th.cat([data["act"][rows].unsqueeze(1), draws], 1)


def correlation(values: th.Tensor, gae: th.Tensor) -> float:
    """WPO's Q-head health figure: corr(A(s, a) - mean over the support, GAE); ``values [B, n]``, executed first."""
    return th.corrcoef(th.stack([values[:, 0] - values.mean(1), gae]))[0, 1].item()


def fit(kind, data, train_rows, scored, adam_steps, generator):
    """Regress a fresh model on GAE at ``train_rows``; scores ``(at the best validation step, best held-out)``."""
    n_validation = max(len(train_rows) // 10, 256)
    validation, train_rows = train_rows[:n_validation], train_rows[n_validation:]
    validation_set = (validation, support(data, validation, generator))
    model = AdvantageModel(kind, data["obs"].shape[1], data["act"].shape[1], data["low"], data["high"])
    optimizer = th.optim.Adam(model.parameters(), lr=3e-4)
    scores = []
    for step in range(1, adam_steps + 1):
        batch = train_rows[th.randint(len(train_rows), (256,), generator=generator)]
        prediction = model(data["obs"][batch], data["act"][batch].unsqueeze(1), data["mu"][batch], data["sigma"][batch])
        loss = ((prediction[:, 0] - data["adv"][batch]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 500 == 0:
            with th.no_grad():
                scores.append([correlation(model(data["obs"][rows], actions, data["mu"][rows], data["sigma"][rows]),
                                           data["adv"][rows]) for rows, actions in (validation_set, scored)])
    at_best_validation = max(scores, key=lambda pair: pair[0])[1]
    return at_best_validation, max(pair[1] for pair in scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", choices=sorted(ALGOS), required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--run", type=Path, required=True, help="the zoo's run folder, e.g. logs/spo/HalfCheetah-v5_1")
    parser.add_argument("--steps", type=int, default=130000)
    parser.add_argument("--held-out", type=int, default=16384)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 8192, 32768, 98304])
    parser.add_argument("--kinds", nargs="+", choices=["mlp", "linear"], default=["mlp", "linear"])
    parser.add_argument("--adam-steps", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/q_head_signal.csv"))
    args = parser.parse_args()
    if args.adam_steps < 500:  # fit() scores every 500 Adam steps
        parser.error(f"--adam-steps {args.adam_steps}: must be at least 500")
    if min(args.sizes) <= 256:  # fit() holds out a tenth, at least 256 rows, for validation
        parser.error(f"--sizes {args.sizes}: each must be above 256")
    if max(args.sizes) + args.held_out > args.steps:
        parser.error(f"--steps {args.steps}: must be at least the largest --sizes plus --held-out "
                     f"({max(args.sizes) + args.held_out})")
    th.set_num_threads(1)
    th.manual_seed(args.seed)
    generator = th.Generator().manual_seed(args.seed)

    model, data = collect(args.algo, args.env, args.run, args.steps, args.seed)
    held_out = th.arange(args.steps - args.held_out, args.steps)
    scored = (held_out, support(data, held_out, generator))
    with th.no_grad():
        own = correlation(model.policy.q_values(data["obs"][held_out], scored[1]), data["adv"][held_out])
    rows = [dict(model="own Q head", train_steps="", held_out_corr=own, best_held_out_corr="")]
    print(rows[0], flush=True)
    for kind in args.kinds:
        for size in args.sizes:
            train_rows = th.arange(args.steps - args.held_out - size, args.steps - args.held_out)
            train_rows = train_rows[th.randperm(size, generator=generator)]
            at_validation, best = fit(kind, data, train_rows, scored, args.adam_steps, generator)
            rows.append(dict(model=kind, train_steps=size, held_out_corr=at_validation, best_held_out_corr=best))
            print(rows[-1], flush=True)
    write_rows(args.out, rows)


if __name__ == "__main__":
    main()
