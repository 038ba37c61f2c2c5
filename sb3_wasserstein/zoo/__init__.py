"""RL Zoo integration: train, enjoy and tune WPO, SPO and WPG with rl-zoo3's own scripts.

rl-zoo3 has no plugin hook; its registries are module-level dicts that its scripts share, so
:func:`register` inserts our algorithms, Optuna samplers and trial converters into them and
``python -m sb3_wasserstein.zoo train|enjoy ...`` then hands over to rl-zoo3's own ``train()`` and
``enjoy()``.
"""

from importlib import resources
from pathlib import Path

from sb3_wasserstein.zoo.registration import ALGORITHMS, register

__all__ = ["ALGORITHMS", "default_hyperparams_file", "register"]


def default_hyperparams_file(algo: str) -> Path:
    """Path of the shipped ``hyperparams/<algo>.yml`` (works from a checkout and from a wheel)."""
    return Path(str(resources.files("sb3_wasserstein.zoo") / "hyperparams" / f"{algo}.yml"))
