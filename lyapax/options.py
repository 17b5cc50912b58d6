"""Every option of every entry point, declared once: its check, default, text and takers.

An entry point (`lyapax.spectrum`, `lyapax.finite_time`, `lyapax.covariant_vectors`,
`lyapax.flossing_loss`, `lyapax.Monitor`, `lyapax_jax.exponents`, `lyapax_jax.flossing_loss`)
names its options in its signature, ends it with ``**unknown`` and hands both to `parse`::

    def finite_time(model, inputs=None, *, window, k=None, ..., **unknown):
        opts, extra = parse("lyapax.finite_time", locals())

`parse` checks each value with the option's check, refuses an option the entry point does
not take (`InputError` naming those that do) and returns the `Options` the pipeline runs
with, plus the entry point's own options (``window`` ...) in a dict. A test
(tests/core/test_options.py) holds each signature, default and docstring to `SCHEMA`.
Adding an option is one `Option` here and one parameter in each taker's signature.
"""

from __future__ import annotations

import difflib
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from .errors import InputError
from .validation import check_bool, check_choice, check_int, check_seed, dtype_name, numeric_array

__all__ = ["Option", "Options", "SCHEMA", "ENTRY_POINTS", "REQUIRED", "parse", "takers", "check"]

SPECTRUM, FINITE_TIME, COVARIANT = "lyapax.spectrum", "lyapax.finite_time", "lyapax.covariant_vectors"
FLOSSING, MONITOR = "lyapax.flossing_loss", "lyapax.Monitor"
JAX_EXPONENTS, JAX_FLOSSING = "lyapax_jax.exponents", "lyapax_jax.flossing_loss"
#: The public entry points, by the name a user calls.
ENTRY_POINTS = (SPECTRUM, FINITE_TIME, COVARIANT, FLOSSING, MONITOR, JAX_EXPONENTS, JAX_FLOSSING)
_ALL = frozenset(ENTRY_POINTS)
_HOST = _ALL - {JAX_EXPONENTS, JAX_FLOSSING}  # the entry points that run the host loop (not traced)
_TRACED = frozenset({JAX_EXPONENTS, JAX_FLOSSING})


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of an option an entry point cannot do without (``window``, flossing's ``k``).
REQUIRED = _Required()


@dataclass(frozen=True)
class Option:
    """One option: ``check(value, entry) -> value`` raises an `InputError` naming it.

    Attributes:
        name: the keyword.
        doc: its text in `lyapax.spectrum`'s docstring (or in its one taker's).
        takers: the entry points that take it.
        default: its default, unless ``defaults`` gives the entry point its own.
        defaults: entry point -> default, where it differs.
        why_not: entry point -> why it does not take the option (said in the error).
    """

    name: str
    check: Callable[[Any, str], Any]
    doc: str
    takers: frozenset[str]
    default: Any = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    why_not: Mapping[str, str] = field(default_factory=dict)

    def default_for(self, entry: str) -> Any:
        return self.defaults.get(entry, self.default)


# -- the checks (each names its option) ---------------------------------------------------------


def _int(name: str, minimum: int, allow_none: bool = True) -> Callable[[Any, str], Any]:
    return lambda value, entry: check_int(name, value, minimum, allow_none=allow_none)


def _bool(name: str) -> Callable[[Any, str], Any]:
    return lambda value, entry: check_bool(name, value)


def _backend(value: Any, entry: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InputError(f"backend: expected a backend name (str) such as 'torch', or None, got {value!r}.")
    return value


def _k(value: Any, entry: str) -> int | None:
    if entry in (FLOSSING, JAX_FLOSSING) and value is None:
        raise InputError(f"k: {entry} needs k, how many leading exponents to floss (an integer >= 1).")
    return check_int("k", value, 1, allow_none=True)


def _warmup(value: Any, entry: str) -> int | None:
    return check_int("warmup", value, 0, allow_none=entry in (COVARIANT, MONITOR))


def _ortho_every(value: Any, entry: str) -> int | str:
    if value == "auto" and isinstance(value, str):
        if entry in _TRACED:
            raise InputError(
                "ortho_every: 'auto' chooses the interval from the exponents computed so far, which a traced "
                "function cannot read; pass an integer (lyapax.spectrum(..., ortho_every='auto').intervals shows "
                "what 'auto' chose for this model)."
            )
        return value
    return check_int("ortho_every", value, 1)


def _h0(value: Any, entry: str) -> Any:
    if isinstance(value, (str, bytes)):
        raise InputError(
            f"h0: expected the initial state as an array (batch, d) or in the model's own state format (e.g. a "
            f"tuple of arrays), got the string {value!r}; omit h0 for zeros."
        )
    return value


def _dtype(name: str) -> Callable[[Any, str], Any]:
    return lambda value, entry: dtype_name(value, name)


def _qr_dtype(value: Any, entry: str) -> str | None:
    return value if isinstance(value, str) and value == "auto" else dtype_name(value, "qr_dtype")


def _basis(value: Any, entry: str) -> np.ndarray | None:
    if value is None:
        return None
    b = numeric_array(value, "basis").astype(np.float64)  # a copy: the user's array is kept
    if b.ndim != 2:
        raise InputError(f"basis: expected a matrix (d, k), one column per exponent, got shape {b.shape}.")
    if not np.all(np.isfinite(b)):
        raise InputError("basis: contains NaN or Inf; pass finite columns.")
    return b


def _qr(value: Any, entry: str) -> str:
    return check_choice("qr", value, ("auto", "householder", "cholesky"))


def _target(value: Any, entry: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise InputError(
            f"target: expected a finite real number (nats/step), got {value!r} ({type(value).__name__}); "
            "pass e.g. target=0.0."
        )
    return float(value)


def _tolerance(value: Any, entry: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not 0 < float(value) < 1:
        raise InputError(f"tolerance: expected a number in (0, 1), got {value!r}.")
    return float(value)


def _spill(value: Any, entry: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise InputError(f"spill: expected a folder (str or path), got {value!r} ({type(value).__name__}).")
    folder = os.fspath(value)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InputError(f"spill: {folder!r} exists and is not a folder; pass a folder (it is created if missing).")
    return folder


def _callable(name: str) -> Callable[[Any, str], Any]:
    def check(value: Any, entry: str) -> Any:
        if value is not None and not callable(value):
            raise InputError(f"{name}: expected a function or None, got {value!r} ({type(value).__name__}).")
        return value

    return check


def _any(value: Any, entry: str) -> Any:
    return value


# -- the schema ----------------------------------------------------------------------------------

_OPTIONS = [
    Option("backend", _backend, "backend name (``\"numpy\"``, ``\"torch\"``, ``\"jax\"``, ``\"tensorflow\"``, or a "
           "plugin's); default: chosen from the model's type, else the inputs' (or h0's) type.", _HOST,
           why_not={e: "it runs on the JAX backend" for e in _TRACED}),
    Option("k", _k, "number of exponents (default: all, the state dimension ``d``).", _ALL,
           defaults={FLOSSING: REQUIRED, JAX_FLOSSING: REQUIRED, MONITOR: 16}),
    Option("warmup", _warmup, "transient steps that move the state and re-orient the basis but are not counted.",
           _ALL, default=0, defaults={COVARIANT: None, MONITOR: None}),
    Option("ortho_every", _ortho_every,
           "tangent maps applied between QR re-orthonormalisations (a last partial interval is counted too). "
           "Exact in exact arithmetic, but the product of ``p`` maps has condition number about "
           "``exp(p * (λ1 - λk))``: with a wide spectrum, and in float32 above all, keep it small if the most "
           "negative exponents matter. ``\"auto\"`` chooses it chunk by chunk from the running spread ``λ1 - λk`` "
           "so that this condition number stays below 1e8 (float64 tangent maps) or 1e3 (float32): a power of "
           "two up to 16 (a first chunk of 32 steps, QR every step, estimates the spread).", _ALL, default=1),
    Option("steps", _int("steps", 1), "number of steps for an autonomous map (``inputs=None``).", _ALL - {MONITOR},
           why_not={MONITOR: "the probe's time axis sets the steps"}),
    Option("h0", _h0, "initial state in the model's own format (default: zeros).", _ALL),
    Option("dtype", _dtype("dtype"),
           "``\"float32\"`` or ``\"float64\"`` (default: the backend's; float64 for numpy).", _HOST,
           why_not={e: "it computes in the parameters' dtype (float64 inside jax.enable_x64)" for e in _TRACED}),
    Option("device", _any, "compute device (default: where the model lives).", _HOST,
           why_not={e: "a traced function runs where its arrays are" for e in _TRACED}),
    Option("seed", lambda v, e: check_seed(v), "seed of the random orthonormal initial basis.", _ALL, default=0),
    Option("basis", _basis, "a ``(d, k)`` initial basis instead of the random one (orthonormalised by QR).", _ALL),
    Option("history", _int("history", 1),
           "record the running estimate every ``history`` counted steps (a multiple of ``ortho_every``); ``None``: "
           "no history, and memory independent of the number of steps.", frozenset({SPECTRUM, MONITOR}),
           why_not={FINITE_TIME: "it keeps every window's exponents with keep_windows=True"}),
    Option("progress", _bool("progress"), "show a tqdm progress bar over time steps.", _HOST, default=False),
    Option("differentiable", _bool("differentiable"),
           "keep the autodiff graph so ``Spectrum.raw`` can be differentiated with respect to the model's "
           "parameters (backends with autodiff).", frozenset({SPECTRUM}), default=False,
           why_not={FLOSSING: "it is always differentiable", MONITOR: "its records are numbers, not a graph",
                    **{e: "it is a pure function: transform it with jax.grad" for e in _TRACED}}),
    Option("time_major", lambda v, e: None if v is None else check_bool("time_major", v),
           "the layout of ``inputs``: ``True`` for ``(time, batch, features)``, ``False`` for ``(batch, time, "
           "features)``; default: the layout the model declares, else ``(batch, time, features)``.", _ALL),
    Option("qr", _qr,
           "the re-orthonormalisation: ``\"householder\"`` (LAPACK/cuSOLVER), ``\"cholesky\"`` (CholeskyQR2, or "
           "shifted CholeskyQR3 when the estimated conditioning needs it; GEMM-bound, checked, a failing chunk is "
           "redone with Householder) or ``\"auto\"`` (Householder on a CPU, where it is faster; Cholesky on a GPU "
           "in float64 while the conditioning allows).", _HOST, default="auto",
           why_not={e: "a traced function cannot redo a chunk whose Cholesky QR failed" for e in _TRACED}),
    Option("qr_dtype", _qr_dtype,
           "the dtype of the QR and of the sums of logs: ``\"auto\"`` (float64, also for a float32 tangent map: "
           "mixed precision, which measured 2-50x smaller errors in the most negative exponents for about 10-30% "
           "more time on a CPU; the compute dtype on a device without float64), ``\"float32\"``, ``\"float64\"``, "
           "or ``None`` (the compute dtype).", _HOST, default="auto",
           why_not={e: "it computes the QR in the parameters' dtype" for e in _TRACED}),
    Option("threads", _int("threads", 1),
           "threads sharing the batch (each with one intra-op thread); default: the backend's choice (PyTorch on "
           "a CPU: one per core; else 1).", _HOST - {COVARIANT},
           why_not={COVARIANT: "its forward pass keeps every interval's R factor in order, on one thread"}),
    # the entry points' own options
    Option("window", lambda v, e: check_int("window", v, 1),
           "steps per window (a multiple of an integer ``ortho_every``; with ``\"auto\"`` every window ends on a "
           "QR step).", frozenset({FINITE_TIME}), default=REQUIRED),
    Option("keep_windows", _bool("keep_windows"), "keep every window's exponents (memory grows with the steps).",
           frozenset({FINITE_TIME}), default=False),
    Option("at", _any, "counted steps (from the window's start) at which vectors are wanted.",
           frozenset({COVARIANT})),
    Option("transient", _int("transient", 1), "backward transient, in steps after the window.",
           frozenset({COVARIANT})),
    Option("tolerance", _tolerance, "largest accepted ``1 - |cos|`` between two backward iterations.",
           frozenset({COVARIANT}), default=1e-6),
    Option("max_memory", lambda v, e: check_int("max_memory", v, 0), "bytes the stored factors may take in memory.",
           frozenset({COVARIANT}), default=2**31),
    Option("spill", _spill, "a folder to keep the factors in a file when they need more than ``max_memory``.",
           frozenset({COVARIANT})),
    Option("target", _target, "the value the leading exponents are pushed to, nats/step.",
           frozenset({FLOSSING, JAX_FLOSSING}), default=0.0),
    Option("every", lambda v, e: check_int("every", v, 1), "compute when ``step % every == 0``.",
           frozenset({MONITOR}), default=1),
    Option("select", _callable("select"), "a function ``model -> object`` giving what the spectrum is computed of.",
           frozenset({MONITOR})),
    Option("on_record", _callable("on_record"), "a callback ``f(record, spectrum)`` after each computation.",
           frozenset({MONITOR})),
]

#: Every option by name.
SCHEMA: dict[str, Option] = {o.name: o for o in _OPTIONS}


def takers(entry: str) -> list[str]:
    """The options ``entry`` takes, in the schema's order."""
    return [o.name for o in _OPTIONS if entry in o.takers]


@dataclass(frozen=True)
class Options:
    """The validated options of one computation (see `lyapax.spectrum` for their meaning).

    ``entry`` is the entry point that made them (its name words the errors); ``ortho_every`` is
    an int or ``"auto"``; ``qr_dtype`` ``"auto"``, ``"float32"``, ``"float64"`` or ``None`` (the
    compute dtype); ``warmup`` is ``None`` only until an observer resolves it (covariant vectors).
    """

    entry: str = SPECTRUM
    backend: str | None = None
    k: int | None = None
    warmup: int | None = 0
    ortho_every: int | str = 1
    steps: int | None = None
    h0: Any = None
    dtype: str | None = None
    device: Any = None
    seed: int | None = 0
    basis: np.ndarray | None = None
    history: int | None = None
    progress: bool = False
    differentiable: bool = False
    time_major: bool | None = None
    qr: str = "auto"
    qr_dtype: str | None = "auto"
    threads: int | None = None

    def with_inputs(self, inputs: Any) -> Options:
        """Check the inputs/steps combination (the time axis of the inputs sets the steps)."""
        if inputs is None and self.steps is None:
            raise InputError(
                "inputs: pass input sequences of shape (batch, time, features), or inputs=None with steps=T for "
                "an autonomous map."
            )
        if inputs is not None and self.steps is not None:
            raise InputError("steps: only for autonomous maps (inputs=None); with inputs, their time axis sets the steps.")
        return self


_PIPELINE = {f.name for f in fields(Options)} - {"entry"}


def _refuse(entry: str, name: str) -> InputError:
    option = SCHEMA.get(name)
    if option is not None:
        reason = option.why_not.get(entry)
        where = ", ".join(e for e in ENTRY_POINTS if e in option.takers)
        return InputError(f"{name}: {entry} does not take it{f' ({reason})' if reason else ''}; it is an option of "
                          f"{where}.")
    close = difflib.get_close_matches(name, takers(entry), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return InputError(f"{name}: not an option of {entry}; {hint}its options are {', '.join(takers(entry))}.")


def _relations(entry: str, v: dict[str, Any]) -> None:
    """The checks between options."""
    p = v.get("ortho_every")
    if v.get("history") is not None and p != "auto" and v["history"] % p:
        raise InputError(
            f"history: must be a multiple of ortho_every={p}, got {v['history']}; the running estimate is only "
            "defined at QR steps."
        )
    if entry == FINITE_TIME and p != "auto" and v["window"] % p:
        raise InputError(f"window: {v['window']} steps is not a multiple of ortho_every={p}.")


def parse(entry: str, arguments: Mapping[str, Any]) -> tuple[Options, dict[str, Any]]:
    """``entry``'s arguments (its ``locals()``, with ``unknown`` its ``**unknown``), checked once.

    Returns the pipeline's `Options` and ``entry``'s own options (``window`` ...) by name.
    Arguments that are not options (``model``, ``inputs``, ``params``, ``probe``) are ignored.
    """
    for name in arguments.get("unknown", {}):
        raise _refuse(entry, name)
    checked: dict[str, Any] = {}
    for name in takers(entry):
        option = SCHEMA[name]
        value = arguments.get(name, option.default_for(entry))
        if value is REQUIRED:
            raise InputError(f"{name}: {entry} needs it ({option.doc})")
        checked[name] = option.check(value, entry)
    _relations(entry, checked)
    options = Options(entry=entry, **{n: v for n, v in checked.items() if n in _PIPELINE})
    return options, {n: v for n, v in checked.items() if n not in _PIPELINE}


def check(name: str, value: Any, entry: str) -> Any:
    """One option's check, for a caller that takes it ahead of the computation (a callback's constructor)."""
    return SCHEMA[name].check(value, entry)
