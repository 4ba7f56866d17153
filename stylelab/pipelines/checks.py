"""Argument checks shared by the pipelines: every value a user or an API caller sends is
checked here with a message that says what is accepted (NaN, infinities and fractions
included), before any work starts."""

from __future__ import annotations

import math


def _shown(value: object, limit: int = 24) -> str:
    """``repr(value)``, shortened (a 100k-digit number must not fill the message)."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        return "a number with too many digits"
    return text if len(text) <= limit else text[:limit] + "..."


def _bound(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def check_number(value: object, name: str, low: float, high: float) -> float:
    """``value`` as a finite float in ``[low, high]``, else ValueError naming ``name``."""
    message = f"{name} must be a number in {_bound(low)}..{_bound(high)}, got {_shown(value)}"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(message) from None
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(message)
    return number


def check_count(value: object, name: str, low: int, high: int) -> int:
    """``value`` as a whole number in ``[low, high]`` (2.0 is fine, 2.7 is not)."""
    message = f"{name} must be a whole number in {low}..{high}, got {_shown(value)}"
    try:
        number = check_number(value, name, low, high)
    except ValueError:
        raise ValueError(message) from None
    if not number.is_integer():
        raise ValueError(message)
    return int(number)


def check_steps(value: object, maximum: int, name: str = "steps") -> int:
    """A step count in ``1..maximum``."""
    return check_count(value, name, 1, maximum)
