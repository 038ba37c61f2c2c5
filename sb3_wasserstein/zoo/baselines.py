"""rl-zoo3's own tuned hyperparameters for the baselines, under the env ids our benchmarks use.

rl-zoo3 2.9 has MuJoCo entries for the v4 envs only; the benchmarks run v5. :func:`rl_zoo3_hyperparams`
reads rl-zoo3's shipped yml unchanged and files each v4 entry under its v5 id, so a baseline runs with
rl-zoo3's settings through a one-line python conf file (``zoo_configs/baselines/<algo>.py``).
"""

from importlib import resources
from typing import Any

import yaml


def rl_zoo3_hyperparams(algo: str, renames: dict[str, str] | None = None) -> dict[str, Any]:
    """rl-zoo3's ``hyperparams/<algo>.yml`` with ``renames`` (new env id -> rl-zoo3's env id) added.

    :param algo: rl-zoo3 algorithm name (``ppo``, ``trpo``, ``sac``, ...)
    :param renames: entries to add, e.g. ``{"Hopper-v5": "Hopper-v4"}``; by default every ``-v4``
        entry is also filed as ``-v5``
    """
    text = (resources.files("rl_zoo3") / "hyperparams" / f"{algo}.yml").read_text()
    hyperparams = yaml.safe_load(text)
    if renames is None:
        renames = {env[: -len("-v4")] + "-v5": env for env in hyperparams if env.endswith("-v4")}
    for new, old in renames.items():
        hyperparams[new] = dict(hyperparams[old])
    return hyperparams
