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
