"""Optuna samplers for ``-optimize``: the search spaces of WPO, SPO and WPG.

Each sampler suggests raw values (powers of two, ``1 - gamma``, named network sizes) and returns
them through rl-zoo3's own converters, which also turn a stored trial back into hyperparameters
(``--trial-id``). The knobs that matter for the Wasserstein updates are searched next to the
usual ones: the trust-region radius ``delta``, SPO's entropic strength ``lam``, the number of
candidate actions ``n_candidates`` (M), the executed action's advantage (``executed_advantage``),
the per-iteration KL limit (``target_kl``), the ground cost of continuous actions (``cost``) and
whether their spread is fitted without the plan's drift (``debias_spread``) and around which mean
(``spread_centre``), and WPG's Langevin step size, steps and particles.
"""

from typing import Any

import optuna
from rl_zoo3.hyperparams_opt import convert_offpolicy_params, convert_onpolicy_params

from sb3_wasserstein.common.projection import SPREAD_CENTRES
from sb3_wasserstein.wpo.wpo import BOX_ONLY_ADVANTAGES, EXECUTED_ADVANTAGES


def sample_wpo_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """WPO: delta, n_candidates, executed_advantage, target_kl, cost, debias_spread, spread_centre, learning rate,
    rollout and minibatch sizes, epochs, gamma, GAE lambda, network.

    The mirrored, directional and compatible advantages (``"gae_mirrored"``, the executed action's mirror ``2 mu - a``;
    ``"gae_directional"``, GAE's advantage carried along the executed action's direction from the mean;
    ``"gae_compatible"``, the same in the Gaussian's score features, so that it moves the spread too), the ground cost
    (squared Euclidean, in action units, or Mahalanobis, in units of the old policy's std), ``debias_spread`` (the
    Gaussian's spread fitted to the geometry-corrected marginal) and ``spread_centre`` (the spread measured from the
    old mean or from the weights' own) are offered only for a ``Box`` action space, which
    rl-zoo3 signals with ``n_actions > 0`` (it passes 0 for any other space).
    """
    executed_advantages = [a for a in EXECUTED_ADVANTAGES if n_actions > 0 or a not in BOX_ONLY_ADVANTAGES]
    n_steps_pow = trial.suggest_int("n_steps_pow", 5, 11)  # 32 .. 2048 steps per env
    batch_size_pow = trial.suggest_int("batch_size_pow", 5, 9)  # 32 .. 512
    sampled = {
        "n_envs": trial.suggest_categorical("n_envs", [n_envs]),  # the yml's, stored for convert_wpo_params
        "n_steps_pow": n_steps_pow,
        "batch_size_pow": batch_size_pow,
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 0.0001, 0.1, log=True),
        "one_minus_gae_lambda": trial.suggest_float("one_minus_gae_lambda", 0.001, 0.2, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-3, log=True),
        "n_epochs": trial.suggest_categorical("n_epochs", [1, 5, 10, 20]),
        "max_grad_norm": trial.suggest_float("max_grad_norm", 0.3, 2.0),
        "delta": trial.suggest_float("delta", 0.01, 1.0, log=True),
        "n_candidates": trial.suggest_categorical("n_candidates", [2, 4, 8, 16]),
        "executed_advantage": trial.suggest_categorical("executed_advantage", executed_advantages),
        "target_kl": trial.suggest_categorical("target_kl", [None, 0.01, 0.03]),
        "net_arch": trial.suggest_categorical("net_arch", ["tiny", "small", "medium"]),
        "activation_fn": trial.suggest_categorical("activation_fn", ["tanh", "relu"]),
    }
    if n_actions > 0:
        sampled["cost"] = trial.suggest_categorical("cost", ["squared_euclidean", "mahalanobis"])
        sampled["debias_spread"] = trial.suggest_categorical("debias_spread", [False, True])
        sampled["spread_centre"] = trial.suggest_categorical("spread_centre", list(SPREAD_CENTRES))
    hyperparams = convert_wpo_params(sampled)
    trial.set_user_attr("gamma", hyperparams["gamma"])
    trial.set_user_attr("n_steps", hyperparams["n_steps"])
    trial.set_user_attr("batch_size", hyperparams["batch_size"])
    return hyperparams


def convert_wpo_params(params: dict[str, Any]) -> dict[str, Any]:
    """rl-zoo3's on-policy conversion, with the minibatch cut to the rollout (``n_steps * n_envs`` transitions).

    Also turns a stored trial's parameters back into its hyperparameters (``--trial-id``), cut as the trial was:
    the sampler stores ``n_envs`` with them. A trial stored without it (before it was) converts uncut.
    """
    params = dict(params)
    n_envs = params.pop("n_envs", None)
    hyperparams = convert_onpolicy_params(params)
    if n_envs is not None:
        hyperparams["batch_size"] = min(hyperparams["batch_size"], hyperparams["n_steps"] * n_envs)
    return hyperparams


def sample_spo_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """SPO: WPO's space plus the entropic strength ``lam`` (in advantage standard deviations)."""
    hyperparams = sample_wpo_params(trial, n_actions, n_envs, additional_args)
    hyperparams["lam"] = trial.suggest_float("lam", 0.01, 1.0, log=True)
    return hyperparams


def sample_wpg_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """WPG: Langevin step size, steps and particles, learning rate, batch size, train frequency, tau, gamma, network."""
    sampled = {
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 0.0001, 0.1, log=True),
        "batch_size_pow": trial.suggest_int("batch_size_pow", 5, 9),  # 32 .. 512
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-3, log=True),
        "train_freq": trial.suggest_int("train_freq", 1, 8),
        "tau": trial.suggest_float("tau", 0.001, 0.08, log=True),
        "langevin_step_size": trial.suggest_float("langevin_step_size", 0.001, 0.5, log=True),
        "langevin_steps": trial.suggest_int("langevin_steps", 1, 8),
        "n_particles": trial.suggest_categorical("n_particles", [1, 2, 4, 8, 16]),
        "net_arch": trial.suggest_categorical("net_arch", ["small", "medium", "big"]),
    }
    hyperparams = convert_offpolicy_params(sampled)
    trial.set_user_attr("gamma", hyperparams["gamma"])
    trial.set_user_attr("batch_size", hyperparams["batch_size"])
    return hyperparams


SAMPLERS = {"wpo": sample_wpo_params, "spo": sample_spo_params, "wpg": sample_wpg_params}
CONVERTERS = {"wpo": convert_wpo_params, "spo": convert_wpo_params, "wpg": convert_offpolicy_params}
