"""Actor-critic policies for WPO and SPO: SB3's actor and V head, plus the Q head the plan needs."""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel, MultiInputActorCriticPolicy
from stable_baselines3.common.torch_layers import create_mlp
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from sb3_wasserstein.common.optimizers import foreach_by_default


class QHeadMixin:
    """Adds ``q_net``, an action-value head on the critic's features.

    ``Discrete``: ``q_net(features) -> [B, n_actions]``, one value per action.
    ``Box``: ``q_net([features, a]) -> [B]``, evaluated at actions clipped to the bounds.
    The plan needs ``Q`` only up to a per-state constant, so the head is regressed on the GAE
    advantages at the executed pairs: it learns ``Q - V`` without having to learn ``V`` as well.
    """

    def __init__(self, *args, q_net_arch: list[int] | None = None, **kwargs):
        self.q_net_arch = q_net_arch
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        # Built before the parent's _build so that its optimizer covers the Q head too.
        self.optimizer_kwargs = foreach_by_default(self.optimizer_class, self.optimizer_kwargs)
        if self.q_net_arch is None:
            self.q_net_arch = list(self.net_arch["vf"] if isinstance(self.net_arch, dict) else self.net_arch)
        self.discrete = isinstance(self.action_space, spaces.Discrete)
        if self.discrete:
            n_actions = int(self.action_space.n)
            self.q_net = nn.Sequential(*create_mlp(self.features_dim, n_actions, self.q_net_arch, self.activation_fn))
        else:
            action_dim = int(self.action_space.shape[0])
            self.q_net = nn.Sequential(*create_mlp(self.features_dim + action_dim, 1, self.q_net_arch, self.activation_fn))
            self.register_buffer("action_low", th.as_tensor(self.action_space.low, dtype=th.float32), persistent=False)
            self.register_buffer("action_high", th.as_tensor(self.action_space.high, dtype=th.float32), persistent=False)
        super()._build(lr_schedule)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(q_net_arch=self.q_net_arch)
        return data

    def critic_features(self, obs: PyTorchObs) -> th.Tensor:
        """Features of the critic's extractor (shared with the actor unless ``share_features_extractor=False``)."""
        # BaseModel's: ActorCriticPolicy's returns both extractors' features when they are not shared.
        return BaseModel.extract_features(self, obs, self.vf_features_extractor)

    def q_values(self, obs: PyTorchObs, support: th.Tensor | None = None) -> th.Tensor:
        """Q at every support point: ``[B, n_actions]`` for Discrete, ``[B, n]`` for a Box support ``[B, n, d]``."""
        features = self.critic_features(obs)
        if self.discrete:
            return self.q_net(features)
        clipped = th.maximum(th.minimum(support, self.action_high), self.action_low)
        expanded = features.unsqueeze(1).expand(-1, clipped.shape[1], -1)
        return self.q_net(th.cat([expanded, clipped], dim=-1)).squeeze(-1)

    def q_value(self, obs: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        """Q at the executed actions, ``[B]``."""
        if self.discrete:
            return self.q_values(obs).gather(1, actions.long().view(-1, 1)).squeeze(1)
        return self.q_values(obs, actions.unsqueeze(1)).squeeze(1)


class WassersteinActorCriticPolicy(QHeadMixin, ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` with a Q head.

    :param q_net_arch: hidden layer sizes of the Q head (default: those of the value network)
    Other parameters: see ``ActorCriticPolicy``. The optimizer runs torch's multi-tensor implementation unless
    ``optimizer_kwargs`` sets ``foreach`` (``common.optimizers.foreach_by_default``).
    """


class WassersteinMultiInputActorCriticPolicy(QHeadMixin, MultiInputActorCriticPolicy):
    """``MultiInputActorCriticPolicy`` (Dict observations) with a Q head; see ``WassersteinActorCriticPolicy``."""


MlpPolicy = WassersteinActorCriticPolicy
MultiInputPolicy = WassersteinMultiInputActorCriticPolicy
