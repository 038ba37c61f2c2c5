"""Constructor checks that fail early with the parameter's name, its value, and what is allowed."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any


def check_integer(name: str, value: Any, minimum: int) -> int:
    """``value`` must be an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_real(name: str, value: Any, low: float, high: float = math.inf, low_inclusive: bool = False) -> float:
    """``value`` must be a finite real number in ``(low, high]`` (``[low, high]`` if ``low_inclusive``)."""
    is_number = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not is_number or not (value >= low if low_inclusive else value > low) or value > high:
        bracket = "[" if low_inclusive else "("
        upper = "inf)" if math.isinf(high) else f"{high}]"
        raise ValueError(f"`{name}` must be a finite number in {bracket}{low}, {upper}, got {value!r}.")
    return float(value)


def check_algorithm(name: str, saved_by: Any, policy_class: Any, policy_aliases: dict[str, type]) -> None:
    """A model of algorithm ``name`` must have been saved by ``name``, and its policy must derive from one of
    ``policy_aliases``' classes.

    ``saved_by`` is the algorithm a saved file records (a new model's own name); ``policy_class`` the policy it was
    built or saved with. Checked before any network is built, so that ``WPO.load`` of a file saved by SPO, WPG,
    PPO or SAC names the file's algorithm or policy instead of failing on a keyword or a shape deep in SB3.
    """
    if saved_by != name:
        raise ValueError(f"This model was saved by {saved_by}: load it with {saved_by}.load, not {name}.load.")
    allowed = tuple(policy_aliases.values())
    if not (isinstance(policy_class, type) and issubclass(policy_class, allowed)):
        names = ", ".join(f"{alias} ({cls.__module__}.{cls.__qualname__})" for alias, cls in policy_aliases.items())
        raise ValueError(
            f"{name} needs a policy derived from one of {names}, got {policy_class!r}. A file saved by another "
            "algorithm (PPO, SAC, ...) loads with that algorithm's load."
        )
