"""WPG's drift input: the soft Q at ``n`` particles per state and its action gradient, from batched critic passes."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import torch as th
from torch.nn import functional as F


def particle_q_values(q_network: th.nn.Module, features: th.Tensor, actions: th.Tensor) -> th.Tensor:
    """One Q network of SB3's ``ContinuousCritic`` at ``n`` actions per state, ``[n, batch]``.

    The network reads ``cat([features, action])``; its first layer is split as
    ``W [f; a] + b = (W_f f + b) + W_a a``, so the state's part is computed once per state and
    broadcast over the particles instead of once per particle (``features`` ``[batch, f]``,
    ``actions`` ``[n, batch, action_dim]``). Networks whose first module is not a ``Linear`` are
    evaluated on the tiled input.
    """
    first = q_network[0]  # type: ignore[index]
    if not isinstance(first, th.nn.Linear):
        tiled = features.expand(actions.shape[0], *features.shape)
        return q_network(th.cat([tiled, actions], dim=-1)).squeeze(-1)
    return q_network[1:](_first_layer(first, features, actions)).squeeze(-1)  # type: ignore[index]


def _first_layer(first: th.nn.Linear, features: th.Tensor, actions: th.Tensor) -> th.Tensor:
    """``W [f; a] + b`` as ``(W_f f + b) + W_a a``: the state's part once per state, broadcast over the actions."""
    n_features = features.shape[-1]
    return F.linear(actions, first.weight[:, n_features:]).add_(F.linear(features, first.weight[:, :n_features], first.bias))


def min_q_and_action_gradient(
    q_networks: Sequence[th.nn.Module], features: th.Tensor, actions: th.Tensor, precision: th.dtype | None = None
) -> tuple[th.Tensor, th.Tensor]:
    """``Q(s, a) = min_i Q_i(s, a)`` at ``n`` actions per state, ``[n, batch]``, and ``grad_a Q``, ``[n, batch, action_dim]``.

    The gradient of a minimum is that of the network attaining it. Autograd through ``min``
    back-propagates every network at every action, most of them with zeros. For ReLU networks
    (SB3's default critic: ``Linear`` layers with ``ReLU`` between) each action is instead
    back-propagated by hand through the network attaining its minimum only,

        ``grad_a Q_i = W_1a^T D_1 W_2^T D_2 ... W_L^T``,

    with ``W_1a`` the action columns of the first layer and ``D_l`` the 0/1 derivative of the
    ``l``-th ReLU at that action: every network's forward pass but one network's backward pass per
    action, where autograd runs them all. Ties go to the first network attaining the minimum.
    Networks of other shapes go through autograd. ``features`` are the critics' features of the states, ``[batch, f]``;
    both results are detached and of the dtype of ``actions``.

    ``precision``: ``None`` computes in the networks' dtype; ``torch.bfloat16`` runs the products of the hidden layers
    (those between the first and the output layer, most of the work) in bfloat16, the rest in float32:
    several times faster on hardware with native bfloat16 (AVX512-BF16 or AMX CPUs, recent GPUs), slower
    elsewhere. The values agree with float32's to about 0.1%, most gradients to 1%; a gradient differs more
    where a ReLU's sign or the attaining network (two networks that close) differs between the precisions.
    Networks that are not ReLU networks go through autograd, in their own dtype only: a ``precision`` raises for them.
    """
    if not all(is_relu_mlp(q_network) for q_network in q_networks):
        if precision is not None:
            raise ValueError(
                f"precision={precision} needs ReLU networks (Linear and ReLU layers only); these are not: use precision=None."
            )
        return _autograd_min_q_and_action_gradient(q_networks, features, actions)

    action_dim = actions.shape[-1]
    n_features = features.shape[-1]
    with th.no_grad():
        values, relu_outputs = [], []  # per network, the output of each module after the first (None for Linear)
        for q_network in q_networks:
            hidden = _first_layer(q_network[0], features, actions)  # type: ignore[index]
            hidden = hidden.reshape(-1, hidden.shape[-1])
            outputs = []
            for module in q_network[1:]:  # type: ignore[index]
                if isinstance(module, th.nn.ReLU):
                    hidden = hidden.clamp_min_(0.0)
                    outputs.append(hidden)
                else:
                    hidden = _forward(module, hidden, precision)
                    outputs.append(None)
            values.append(hidden.squeeze(-1))
            relu_outputs.append(outputs)
        q_values, attaining = th.stack(values).min(dim=0)

        action_gradient = actions.new_empty(attaining.shape[0], action_dim)
        for index, q_network in enumerate(q_networks):
            rows = (attaining == index).nonzero().squeeze(-1)
            gradient = actions.new_ones(rows.shape[0], 1)
            for module, output in zip(reversed(q_network[1:]), reversed(relu_outputs[index])):  # type: ignore[index]
                if output is None:
                    gradient = _backward(module, gradient, precision)
                else:  # times the ReLU's derivative, as 0.0/1.0 in place (no bool mask to convert)
                    gradient.mul_(output.index_select(0, rows).gt_(0))
            action_gradient.index_copy_(0, rows, gradient @ q_network[0].weight[:, n_features:])  # type: ignore[index]
    return q_values.reshape(actions.shape[:-1]), action_gradient.reshape(actions.shape)


def _forward(layer: th.nn.Linear, inputs: th.Tensor, precision: th.dtype | None) -> th.Tensor:
    """``layer(inputs)``, the product in ``precision`` for a hidden layer (more than one output) when given."""
    if precision is None or layer.out_features == 1:
        return layer(inputs)
    return (inputs.to(precision) @ layer.weight.T.to(precision)).to(inputs.dtype).add_(layer.bias)


def _backward(layer: th.nn.Linear, output_gradient: th.Tensor, precision: th.dtype | None) -> th.Tensor:
    """The gradient at ``layer``'s input, ``output_gradient @ W``, in ``precision`` for a hidden layer when given."""
    if precision is None or layer.out_features == 1:
        return output_gradient @ layer.weight
    return (output_gradient.to(precision) @ layer.weight.to(precision)).to(output_gradient.dtype)


def _autograd_min_q_and_action_gradient(
    q_networks: Sequence[th.nn.Module], features: th.Tensor, actions: th.Tensor
) -> tuple[th.Tensor, th.Tensor]:
    """``min_q_and_action_gradient`` by autograd through ``min``, for networks of any shape."""
    with th.enable_grad():
        actions = actions.detach().requires_grad_(True)
        q_values = th.stack([particle_q_values(q_net, features, actions) for q_net in q_networks]).amin(0)
        (action_gradient,) = th.autograd.grad(q_values.sum(), actions)
    return q_values.detach(), action_gradient


def is_relu_mlp(q_network: th.nn.Module) -> bool:
    """Whether the network is a ``Sequential`` of ``Linear`` and ``ReLU`` modules, from a ``Linear`` to a one-output one."""
    if not isinstance(q_network, th.nn.Sequential) or len(q_network) == 0:
        return False
    modules = list(q_network)
    return (
        isinstance(modules[0], th.nn.Linear)
        and isinstance(modules[-1], th.nn.Linear)
        and modules[-1].out_features == 1
        and all(type(module) in (th.nn.Linear, th.nn.ReLU) for module in modules)
    )


def has_native_bfloat16(device: th.device) -> bool | None:
    """Whether ``device`` multiplies in bfloat16 natively, where ``precision=torch.bfloat16`` pays off.

    A CUDA device by torch's own test; a CPU by its flags (``avx512_bf16`` or ``amx_bf16`` in ``/proc/cpuinfo``:
    elsewhere torch emulates the products, several times slower than float32's). ``None`` where it cannot tell.
    """
    if device.type == "cuda":
        return th.cuda.is_bf16_supported()
    flags = _cpu_flags() if device.type == "cpu" else None
    return None if flags is None else bool(flags & {"avx512_bf16", "amx_bf16"})


@functools.cache
def _cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags from ``/proc/cpuinfo`` (Linux), else ``None``."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return None
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return None
