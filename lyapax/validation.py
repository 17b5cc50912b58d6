"""Argument checks shared by the core and the backends (clear errors, nothing mutated)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["check_int", "normalize_dtype", "check_inputs_shape", "check_h0_shape"]


def check_int(name: str, value: Any, minimum: int, *, allow_none: bool = False) -> int | None:
    """``value`` as an int ``>= minimum`` (``None`` passes through when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name}: expected an integer >= {minimum}, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise InputError(f"{name}: expected an integer >= {minimum}, got {value}.")
    return int(value)


def normalize_dtype(dtype: Any) -> str | None:
    """``"float32"``, ``"float64"`` or ``None`` from a string or any framework's dtype."""
    if dtype is None:
        return None
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1].strip("<>' ")
        name = name.replace("dtype: ", "").strip("'")
    if name not in ("float32", "float64"):
        raise InputError(
            f"dtype: {name!r} is not supported; use 'float32' or 'float64' "
            "(half precision cannot resolve the logs of diag(R))."
        )
    return name


def check_inputs_shape(shape: tuple[int, ...], input_size: int | None) -> tuple[int, int, int]:
    """Check batch-first inputs ``(B, T, F)``; returns ``(B, T, F)``."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        hint = " (add a batch axis: x[None])" if len(shape) == 2 else ""
        raise InputError(f"inputs: expected shape (batch, time, features), got {shape}{hint}.")
    B, T, F = shape
    if B < 1 or T < 1:
        raise InputError(f"inputs: need at least one sequence and one time step, got shape {shape}.")
    if input_size is not None and F != input_size:
        raise InputError(f"inputs: the model expects {input_size} features per step, got {F} (shape {shape}).")
    return B, T, F


def check_h0_shape(shape: tuple[int, ...], batch: int | None, dim: int | None, what: str = "(batch, d)") -> None:
    """Check an initial state of shape ``(B, d)``."""
    shape = tuple(int(s) for s in shape)
    ok = len(shape) == 2 and (batch is None or shape[0] == batch) and (dim is None or shape[1] == dim)
    if not ok:
        want = f"({batch if batch is not None else 'batch'}, {dim if dim is not None else 'd'})"
        raise InputError(f"h0: expected shape {what} = {want}, got {shape}.")
