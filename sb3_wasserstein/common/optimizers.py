"""The policies' optimizer settings."""

from __future__ import annotations

import inspect
from typing import Any

import torch as th


def foreach_by_default(optimizer_class: type[th.optim.Optimizer], optimizer_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``optimizer_kwargs`` with ``foreach=True`` added where the optimizer takes it and the caller chose no
    implementation (``foreach``, or ``fused`` or ``differentiable``, which torch does not combine with it).

    torch uses its multi-tensor ("foreach") implementation by default only on accelerators; on a CPU it updates one
    tensor at a time in Python. For Adam, the policies' default, the two give bitwise the same parameters
    (``tests/test_optimizers.py``), and on the small minibatches of the benchmark's entries the per-tensor loop is a
    sizeable part of each gradient step.
    """
    chosen = "foreach" in optimizer_kwargs or optimizer_kwargs.get("fused") or optimizer_kwargs.get("differentiable")
    if chosen or "foreach" not in inspect.signature(optimizer_class).parameters:
        return optimizer_kwargs
    return {**optimizer_kwargs, "foreach": True}
