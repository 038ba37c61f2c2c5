"""Insert WPO, SPO and WPG into rl-zoo3's shared registries."""

from typing import Any

from sb3_wasserstein.wpg import WPG
from sb3_wasserstein.wpo import SPO, WPO
from sb3_wasserstein.zoo import samplers

ALGORITHMS = {"wpo": WPO, "spo": SPO, "wpg": WPG}
OFF_POLICY = {"wpg"}


class WPGForInference(WPG):
    """WPG whose ``load`` allocates a one-transition replay buffer unless told otherwise.

    rl-zoo3's ``enjoy`` passes ``buffer_size=1`` only to the off-policy algorithms it lists by name;
    this class gives WPG the same treatment without touching rl-zoo3.
    """

    @classmethod
    def load(cls, path: Any, env: Any = None, *args: Any, **kwargs: Any) -> WPG:  # type: ignore[override]
        kwargs.setdefault("buffer_size", 1)
        return WPG.load(path, env, *args, **kwargs)


def register(inference: bool = False) -> None:
    """Add ``wpo``, ``spo`` and ``wpg`` to rl-zoo3's ``ALGOS``, ``HYPERPARAMS_SAMPLER`` and
    ``HYPERPARAMS_CONVERTER`` (the same dict objects every rl-zoo3 module imported by name).

    :param inference: register :class:`WPGForInference` under ``wpg`` (for ``enjoy``)
    """
    from rl_zoo3 import hyperparams_opt, utils

    utils.ALGOS.update(ALGORITHMS)
    if inference:
        utils.ALGOS["wpg"] = WPGForInference
    hyperparams_opt.HYPERPARAMS_SAMPLER.update(samplers.SAMPLERS)
    hyperparams_opt.HYPERPARAMS_CONVERTER.update(samplers.CONVERTERS)
