"""Argument checks shared by the pipelines: every value a user or an API caller sends is
checked here with a message that says what is accepted (NaN, infinities and fractions
included), before any work starts."""

from __future__ import annotations

import math


def check_number(value: object, name: str, low: float, high: float) -> float:
    """``value`` as a finite float in ``[low, high]``, else ValueError naming ``name``."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in {low:g}..{high:g}, got {value!r}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{name} must be a number in {low:g}..{high:g}, got {value!r}")
    return number


def check_count(value: object, name: str, low: int, high: int) -> int:
    """``value`` as a whole number in ``[low, high]`` (2.0 is fine, 2.7 is not)."""
    number = check_number(value, name, low, high)
    if not number.is_integer():
        raise ValueError(f"{name} must be a whole number in {low}..{high}, got {value!r}")
    return int(number)


def check_steps(value: object, maximum: int, name: str = "steps") -> int:
    """A step count in ``1..maximum``."""
    return check_count(value, name, 1, maximum)
