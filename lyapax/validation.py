"""Argument checks, done once in the core so every backend refuses the same mistakes the same way.

The options of every entry point are declared, with their checks, in `lyapax.options`;
the checks themselves, and those of what only a backend can see (shapes, dtypes of
arrays), are here, worded the same for every backend.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj

from .errors import InputError, user_stacklevel

__all__ = [
    "check_int",
    "check_seed",
    "check_bool",
    "check_choice",
    "dtype_name",
    "check_real_dtype",
    "numeric_array",
    "check_inputs_shape",
    "check_h0_shape",
    "number_of_exponents",
    "warn_suspicious_inputs",
    "MIN_COUNTED_STEPS",
    "SWAPPED_RATIO",
]

#: The arguments that hold input data (where integers are likely token ids).
DATA_ARGUMENTS = ("inputs", "probe")
#: Fewer counted steps (time steps after the warm-up) than this warns: the mean of so few
#: log|diag R| terms is dominated by the random initial basis and the transient, not a spectrum.
#: Low on purpose: a misuse check (e.g. a time axis mistaken for the batch), not a convergence
#: criterion; convergence is what `Spectrum.history` and the standard error show.
MIN_COUNTED_STEPS = 8
#: At least this many times more sequences than time steps, in a layout the user did not pass
#: explicitly, warns that batch and time look swapped: a (time, batch, features) tensor of
#: (100, 8, 32) given to a batch_first model reads as 100 sequences of 8 steps.
SWAPPED_RATIO = 4


def check_int(name: str, value: Any, minimum: int, *, allow_none: bool = False) -> int | None:
    """``value`` as an int ``>= minimum`` (numpy integers accepted; ``None`` passes through when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name}: expected an integer >= {minimum}, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise InputError(f"{name}: expected an integer >= {minimum}, got {value}.")
    return int(value)


def check_seed(seed: Any) -> int | None:
    """A seed for numpy's generator: an integer >= 0 (numpy integers accepted) or ``None``."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise InputError(f"seed: expected an integer >= 0 or None, got {seed!r} ({type(seed).__name__}).")
    if seed < 0:
        raise InputError(f"seed: expected an integer >= 0 or None, got {seed}; seeds are non-negative.")
    return int(seed)


def dtype_name(dtype: Any, argument: str = "dtype") -> str | None:
    """``"float32"``, ``"float64"`` or ``None`` from a string or any framework's dtype (the one dtype helper)."""
    if dtype is None:
        return None
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1].strip("<>' ")
        name = name.replace("dtype: ", "").strip("'")
    if name not in ("float32", "float64"):
        raise InputError(
            f"{argument}: {name!r} is not supported; use 'float32' or 'float64' "
            "(half precision cannot resolve the logs of diag(R))."
        )
    return name


def check_real_dtype(name: str, dtype: str) -> None:
    """Refuse array dtypes (numpy names) that are not real floating point, with the fix for each kind."""
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        kind = "f" if "float" in dtype else "?"
    if kind == "f":
        return
    if kind in "iu" and name in DATA_ARGUMENTS:
        raise InputError(
            f"{name}: got integer dtype {dtype}. Recurrent layers take float features: if these are token "
            "ids, embed them first (x = model.embedding(tokens)) and pass the recurrent layer; for numeric "
            "features, cast them to float."
        )
    if kind in "iu":
        raise InputError(f"{name}: got integer dtype {dtype}; pass floats (e.g. {name}.astype('float64')).")
    if kind == "c":
        raise InputError(f"{name}: got complex dtype {dtype}; lyapax works with real numbers (pass x.real?).")
    if kind == "b":
        raise InputError(f"{name}: got boolean dtype {dtype}; cast it to float.")
    raise InputError(f"{name}: expected numbers (real floats), got dtype {dtype}.")


def numeric_array(value: Any, name: str) -> np.ndarray:
    """``value`` (an array, nested lists) read as a numpy array of real floats, or a clear error."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - a framework's array may refuse the host copy with its own error
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if is_array_api_obj(value):  # another framework's array (e.g. a tensor attached to an autodiff graph)
            raise InputError(
                f"{name}: the computation runs on numpy arrays here (the model's backend), and this "
                f"{type(value).__module__}.{type(value).__name__} cannot be read as one ({reason}); pass a numpy "
                "array (detached from any autodiff graph, copied to the host), or a model of that array's "
                "framework so that its backend runs."
            ) from exc
        raise InputError(
            f"{name}: cannot read {type(value).__name__} as an array ({reason}); pass one "
            "rectangular array (ragged nested lists are not arrays)."
        ) from exc
    if arr.dtype == object:
        raise InputError(
            f"{name}: cannot read {type(value).__name__} as an array of numbers (it holds Python objects, or "
            "rows of different lengths); pass one rectangular numeric array."
        )
    if arr.dtype.kind in "USV":
        raise InputError(f"{name}: expected numbers, got dtype {arr.dtype}.")
    check_real_dtype(name, arr.dtype.name)
    return arr


def check_inputs_shape(
    shape: tuple[int, ...], input_size: int | None, *, time_major: bool = False
) -> tuple[int, int, int]:
    """Check inputs ``(B, T, F)`` (``(T, B, F)`` when ``time_major``); returns ``(B, T, F)``."""
    shape = tuple(int(s) for s in shape)
    layout = "(time, batch, features)" if time_major else "(batch, time, features)"
    if len(shape) != 3:
        hint = f" (add a batch axis: {'x[:, None]' if time_major else 'x[None]'})" if len(shape) == 2 else ""
        raise InputError(f"inputs: expected shape {layout}, got {shape}{hint}.")
    T, B, F = shape if time_major else (shape[1], shape[0], shape[2])
    if B < 1 or T < 1:
        raise InputError(f"inputs: need at least one sequence and one time step, got shape {shape}.")
    if input_size is not None and F != input_size:
        raise InputError(f"inputs: the model expects {input_size} features per step, got {F} (shape {shape}).")
    return B, T, F


def warn_suspicious_inputs(
    batch: int | None, steps: int | None, warmup: int, *, time_major: bool, explicit: bool
) -> None:
    """Warn about a spectrum from too few counted steps, or inputs whose batch and time axes look swapped.

    ``batch``/``steps``: the sequences and time steps as the inputs were read (``batch`` is
    None for an autonomous map); ``time_major``: the layout they were read in; ``explicit``:
    the user passed ``time_major=`` (then the layout is theirs and only the length is checked).
    Thresholds: `MIN_COUNTED_STEPS` and `SWAPPED_RATIO`.
    """
    if steps is None or warmup >= steps:
        return  # nothing to count: the driver's warmup error says so
    counted = steps - warmup
    layout = "(time, batch, features)" if time_major else "(batch, time, features)"
    other = "(batch, time, features)" if time_major else "(time, batch, features)"
    swapped = not explicit and batch is not None and batch >= SWAPPED_RATIO * steps
    if not (swapped or counted < MIN_COUNTED_STEPS):
        return
    if swapped:
        message = (
            f"inputs: read as {layout}, {batch} sequences of {steps} steps; {SWAPPED_RATIO} or more times more "
            f"sequences than steps looks like a {other} tensor. If it is, pass time_major={not time_major} "
            f"(or transpose the inputs); if the layout is right, pass time_major={time_major} to say so."
        )
    else:
        read = f"{batch} sequences of {steps} steps, {layout}" if batch is not None else f"{steps} steps"
        message = (
            f"inputs: only {counted} counted steps ({read}, warmup={warmup}); fewer than {MIN_COUNTED_STEPS} "
            "do not make a spectrum (the estimate is the initial transient): use longer sequences or less warm-up"
            + ("" if batch is None or explicit else f"; if the inputs are {other}, pass time_major={not time_major}")
            + "."
        )
    warnings.warn(message, UserWarning, stacklevel=user_stacklevel())


def check_h0_shape(shape: tuple[int, ...], batch: int | None, dim: int | None, what: str = "(batch, d)") -> None:
    """Check an initial state of shape ``(B, d)``."""
    shape = tuple(int(s) for s in shape)
    ok = len(shape) == 2 and (batch is None or shape[0] == batch) and (dim is None or shape[1] == dim)
    if not ok:
        want = f"({batch if batch is not None else 'batch'}, {dim if dim is not None else 'd'})"
        raise InputError(f"h0: expected shape {what} = {want}, got {shape}.")


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool (numpy booleans accepted), else an `InputError` naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name}: expected True or False, got {value!r}.")
    return bool(value)


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed`` (strings), else an `InputError` listing them."""
    if not isinstance(value, str) or value not in allowed:
        raise InputError(f"{name}: expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}.")
    return value


def number_of_exponents(opts: Any, d: int) -> int:
    """``k`` of a computation with `lyapax.options.Options` ``opts`` on a state of dimension ``d`` (checks
    ``basis`` against ``d``)."""
    if opts.basis is not None and (opts.basis.shape[0] != d or (opts.k is not None and opts.basis.shape[1] != opts.k)):
        want = f"({d}, {opts.k if opts.k is not None else 'k'})"
        raise InputError(
            f"basis: expected shape (d, k) = {want}, got {opts.basis.shape}; pass one column per exponent, "
            f"d = {d} being the state dimension."
        )
    k = d if opts.k is None else opts.k
    if opts.basis is not None and opts.k is None:
        k = int(opts.basis.shape[-1])
    if not 1 <= k <= d:
        raise InputError(f"k: expected 1 <= k <= state dimension {d}, got {k}.")
    return k
