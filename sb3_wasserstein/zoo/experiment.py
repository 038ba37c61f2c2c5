"""rl-zoo3's ``ExperimentManager`` with three changes, installed in ``rl_zoo3.train`` by our ``train`` command."""

import contextlib
from typing import Any

import rl_zoo3.train
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.utils import SimpleLinearSchedule

from sb3_wasserstein.zoo import ALGORITHMS, default_hyperparams_file


class PluginExperimentManager(ExperimentManager):
    """Reads our ``hyperparams/<algo>.yml`` for WPO, SPO and WPG when no ``--conf-file`` is given (rl-zoo3 would look
    inside its own package), resumes ``-i`` checkpoints with ``reset_num_timesteps=False`` (rl-zoo3 restarts the step
    count at 0), and reads ``delta: lin_<value>`` as a linear schedule of WPO's and SPO's radius, from ``<value>`` to
    0, as rl-zoo3 reads ``learning_rate`` and ``clip_range``."""

    def __init__(self, args, algo: str, *positional, config: str | None = None, **kwargs):
        if config is None and algo in ALGORITHMS:
            config = args.conf_file = str(default_hyperparams_file(algo))  # args.yml records it
        super().__init__(args, algo, *positional, config=config, **kwargs)

    @staticmethod
    def _preprocess_schedules(hyperparams: dict[str, Any]) -> dict[str, Any]:
        hyperparams = ExperimentManager._preprocess_schedules(hyperparams)
        delta = hyperparams.get("delta")
        if isinstance(delta, str):
            hyperparams["delta"] = SimpleLinearSchedule(_initial_radius(delta))
        return hyperparams

    def learn(self, model) -> None:
        super().learn(_ContinuedModel(model) if self.continue_training else model)


class _ContinuedModel:
    """``model`` as rl-zoo3's ``learn`` sees it on a resumed run: ``learn`` keeps the step count, all else is
    ``model``'s. The model itself is left untouched, so what the callbacks save during training is a plain model."""

    def __init__(self, model):
        self._model = model

    def learn(self, *args, **kwargs):
        return self._model.learn(*args, reset_num_timesteps=False, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._model, name)


def _initial_radius(delta: str) -> float:
    """``<value>`` of ``delta: lin_<value>``, with our message for any other string."""
    if delta.startswith("lin_"):
        with contextlib.suppress(ValueError):
            return float(delta.removeprefix("lin_"))
    raise ValueError(f"`delta` must be a number or 'lin_<initial value>', got {delta!r}.")


def install() -> None:
    """Make rl-zoo3's ``train()`` use :class:`PluginExperimentManager`."""
    rl_zoo3.train.ExperimentManager = PluginExperimentManager
