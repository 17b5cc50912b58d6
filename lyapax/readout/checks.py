"""Checks of the readout's settings, named as in the API with the command line's flag beside (numpy only).

A message reads ``"batch (--batch): expected an integer >= 1, got 0."``, so the same
sentence serves `run_study` and ``lyapax readout`` (and `analyze` and ``lyapax readout analyze``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import check_int

__all__ = ["label", "count", "real", "boolean", "normalise"]


def label(name: str, flag: str | None = None) -> str:
    """``name`` with its command-line flag beside, as the messages name a setting."""
    return f"{name} ({flag})" if flag else name


def count(name: str, value: Any, minimum: int, flag: str | None = None, *, allow_none: bool = False) -> int | None:
    """``value`` as an int >= ``minimum`` (numpy integers accepted)."""
    return check_int(label(name, flag), value, minimum, allow_none=allow_none)


def real(name: str, value: Any, flag: str | None = None, *, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False, allow_inf: bool = False) -> float:
    """``value`` as a float (not NaN; infinite only with ``allow_inf``) within the given bounds."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    v = float(value) if ok else math.nan
    bad = not ok or math.isnan(v) or (math.isinf(v) and not allow_inf)
    if not bad and low is not None:
        bad = v <= low if low_open else v < low
    if not bad and high is not None:
        bad = v >= high if high_open else v > high
    if bad:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        kind = "a number" + (f" {bounds}" if bounds else "") + (" (inf allowed)" if allow_inf else "")
        raise InputError(f"{label(name, flag)}: expected {kind}, got {value!r}.")
    return v


def boolean(name: str, value: Any, flag: str | None = None) -> bool:
    """``value`` if it is a bool (numpy's included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{label(name, flag)}: expected True or False, got {value!r}.")
    return bool(value)


def normalise(obj: Any, name: str, value: Any) -> None:
    """Set the field ``name`` of a frozen dataclass to its checked ``value`` (from its ``__post_init__``)."""
    object.__setattr__(obj, name, value)
