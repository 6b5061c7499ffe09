"""Validation helpers shared by every layer: configs, the pipeline, the explorer and the commands.

Each returns the value in its canonical type or raises ValueError with one sentence that names what
was checked, what was given (a short prefix of it) and what is accepted. ``bool`` is never a number.
"""

from __future__ import annotations

import math
import numbers

SEED_MAX = 2**31 - 1
MAX_SHOWN = 60  # characters of a bad value quoted back in an error message


def shown(value) -> str:
    """``repr(value)`` cut to a short prefix, for error messages that must not echo huge inputs."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_float(value) -> float | None:
    """float(value) for a real number, None for huge integers that have no float (10**400)."""
    try:
        return float(value)
    except OverflowError:
        return None


def check_number(value, what: str, low: float = -math.inf, high: float = math.inf) -> float:
    """A finite number in [low, high] -> float, else ValueError naming ``what`` and the range."""
    number = _as_float(value) if _is_number(value) else None
    if number is None or not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{what} must be a number from {low:g} to {high:g}, got {shown(value)}.")
    return number


def check_count(value, what: str, low: int = 0, high: int | None = None) -> int:
    """A whole number in [low, high] (3.0 accepted) -> int, else ValueError."""
    number = _as_float(value) if _is_number(value) else None
    in_range = number is not None and math.isfinite(number) and number == int(number) and low <= number and (high is None or number <= high)
    if not in_range:
        accepted = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ValueError(f"{what} must be a whole number {accepted}, got {shown(value)}.")
    return int(number)


def check_positive_int(value, what: str, high: int | None = None) -> int:
    """A true ``int`` in 1..high (no floats, no bools): for config fields such as widths and batch sizes."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {shown(value)}.")
    if high is not None and value > high:
        raise ValueError(f"{what} must be at most {high}, got {shown(value)}: no DCGAN this library builds is that large.")
    return value


def check_seed(value, what: str = "seed") -> int:
    """A whole number in 0..SEED_MAX (3.0 accepted) -> int."""
    try:
        return check_count(value, f"The {what}", 0, SEED_MAX)
    except ValueError:
        raise ValueError(f"The {what} must be a whole number from 0 to {SEED_MAX}, got {shown(value)}.") from None


def check_choice(value, what: str, choices) -> str:
    """``value`` if it is one of ``choices``, else ValueError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(str, choices))}; got {shown(value)}.")
    return value


def check_fraction(value, what: str) -> float:
    """A number in [0, 1): Adam betas, EMA decay."""
    number = check_number(value, what, 0.0, 1.0)
    if number == 1.0:
        raise ValueError(f"{what} must be in [0, 1), got {shown(value)}.")
    return number
