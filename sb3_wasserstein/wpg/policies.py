"""WPG's policies: SAC's tanh-squashed Gaussian actor and twin Q critics, with the unclamped log-std exposed."""

from __future__ import annotations

from typing import Any

import torch as th
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.sac.policies import Actor, SACPolicy

from sb3_wasserstein.common.optimizers import foreach_by_default


class WPGActor(Actor):
    """SAC's actor, plus the Gaussian's parameters before SB3's clamp of the log-std to ``[-20, 2]``.

    Acting and sampling use the clamped log-std, as SAC does; the projection loss uses the unclamped
    one, because past the clamp the likelihood has no gradient with respect to the spread.
    """

    def gaussian_parameters(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """The pre-squash Gaussian's mean and unclamped log-std, each ``[batch, action_dim]``."""
        features = self.extract_features(obs, self.features_extractor)
        latent_pi = self.latent_pi(features)
        return self.mu(latent_pi), self.log_std(latent_pi)  # type: ignore[operator]


class WPGPolicy(SACPolicy):
    """SAC's policy (actor, twin critics, target critics) with :class:`WPGActor`; gSDE is not supported.

    Takes SAC's policy arguments (``net_arch``, ``activation_fn``, ``log_std_init``, ``n_critics``,
    ``share_features_extractor``, ...). The optimizers run torch's multi-tensor implementation unless
    ``optimizer_kwargs`` sets ``foreach`` (``common.optimizers.foreach_by_default``).
    """

    actor: WPGActor

    def __init__(self, *args: Any, use_sde: bool = False, **kwargs: Any):
        if use_sde:
            raise ValueError("WPG does not support gSDE: use_sde must be False (its update fits a per-state Gaussian).")
        super().__init__(*args, use_sde=False, **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        self.optimizer_kwargs = foreach_by_default(self.optimizer_class, self.optimizer_kwargs)
        super()._build(lr_schedule)

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> WPGActor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return WPGActor(**actor_kwargs).to(self.device)


MlpPolicy = WPGPolicy


class MultiInputPolicy(WPGPolicy):
    """:class:`WPGPolicy` for ``Dict`` observation spaces (SB3's ``CombinedExtractor`` by default)."""

    def __init__(self, *args: Any, features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)
