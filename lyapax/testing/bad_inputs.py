"""One table of bad (and borderline) inputs, run on every backend by the conformance suite.

Each `BadInput` builds the keyword arguments of one `lyapax.spectrum`
call from a `Context` (a small native model, its native inputs and their
sizes) and says which library error must come out and what its message must
begin with: the name of the argument at fault. Validation lives in the core, so
every backend must give the same answer; the table is the proof.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BackendNotFoundError, InputError, LyapaxError

__all__ = ["BadInput", "Context", "BAD_INPUTS"]


@dataclass
class Context:
    """What a row builds its call from.

    Attributes:
        model: the backend's native model (state dimension ``d``, ``F`` input features).
        inputs: the backend's native inputs ``(B, T, F)``.
        x: the same inputs as a numpy array.
        native_array: numpy -> the backend's array (``native_array(a, dtype)``).
        d, B, T, F: sizes.
    """

    model: Any
    inputs: Any
    x: np.ndarray
    native_array: Callable[[np.ndarray, str], Any]
    d: int
    B: int
    T: int
    F: int


@dataclass(frozen=True)
class BadInput:
    """One row: ``call(ctx) -> kwargs`` (``model`` and ``inputs`` default to the context's)."""

    id: str
    call: Callable[[Context], dict]
    error: type[LyapaxError]
    match: str


def _nan_inputs(c: Context) -> dict:
    bad = c.x.copy()
    bad[1, 3, 0] = np.nan
    return {"inputs": c.native_array(bad, "float64")}


def _ragged(c: Context) -> dict:
    row = [0.0] * c.F
    return {"inputs": [[row] * c.T, [row] * (c.T - 1)]}


BAD_INPUTS: tuple[BadInput, ...] = (
    BadInput("seed-negative", lambda c: {"seed": -1}, InputError, r"seed: expected an integer >= 0"),
    BadInput("seed-float", lambda c: {"seed": 1.5}, InputError, r"seed: expected an integer"),
    BadInput("seed-bool", lambda c: {"seed": True}, InputError, r"seed: expected an integer"),
    BadInput("k-zero", lambda c: {"k": 0}, InputError, r"k: expected an integer >= 1"),
    BadInput("k-too-large", lambda c: {"k": c.d + 1}, InputError, r"k: expected 1 <= k <= state dimension"),
    BadInput("k-float", lambda c: {"k": 2.5}, InputError, r"k: expected an integer"),
    BadInput("k-bool", lambda c: {"k": True}, InputError, r"k: expected an integer"),
    BadInput("warmup-negative", lambda c: {"warmup": -1}, InputError, r"warmup: expected an integer >= 0"),
    BadInput("warmup-float", lambda c: {"warmup": 1.5}, InputError, r"warmup: expected an integer"),
    BadInput("warmup-string", lambda c: {"warmup": "abc"}, InputError, r"warmup: expected an integer"),
    BadInput("warmup-all-steps", lambda c: {"warmup": c.T}, InputError, r"warmup: \d+ warm-up steps leave nothing"),
    BadInput("ortho_every-zero", lambda c: {"ortho_every": 0}, InputError, r"ortho_every: expected an integer >= 1"),
    BadInput("history-not-multiple", lambda c: {"history": 3, "ortho_every": 2}, InputError,
             r"history: must be a multiple of ortho_every"),
    BadInput("dtype-half", lambda c: {"dtype": "float16"}, InputError, r"dtype: 'float16' is not supported"),
    BadInput("dtype-int", lambda c: {"dtype": "int32"}, InputError, r"dtype: 'int32' is not supported"),
    BadInput("dtype-complex", lambda c: {"dtype": "complex64"}, InputError, r"dtype: 'complex64' is not supported"),
    BadInput("steps-with-inputs", lambda c: {"steps": 5}, InputError, r"steps: only for autonomous maps"),
    BadInput("no-inputs-no-steps", lambda c: {"inputs": None}, InputError, r"inputs: pass input sequences"),
    BadInput("basis-shape", lambda c: {"basis": np.eye(c.d + 1)}, InputError, r"basis: expected shape \(d, k\)"),
    BadInput("basis-dependent", lambda c: {"basis": np.ones((c.d, 2))}, InputError,
             r"basis: columns are linearly dependent"),
    BadInput("basis-nan", lambda c: {"basis": np.full((c.d, 1), np.nan)}, InputError, r"basis: contains NaN"),
    BadInput("basis-strings", lambda c: {"basis": [["a"]]}, InputError, r"basis: expected numbers"),
    BadInput("progress-not-bool", lambda c: {"progress": "yes"}, InputError, r"progress: expected True or False"),
    BadInput("differentiable-not-bool", lambda c: {"differentiable": "yes"}, InputError,
             r"differentiable: expected True or False"),
    BadInput("time_major-not-bool", lambda c: {"time_major": "yes"}, InputError, r"time_major: expected True or False"),
    BadInput("h0-string", lambda c: {"h0": "zeros"}, InputError, r"h0: expected the initial state"),
    BadInput("h0-nan", lambda c: {"h0": c.native_array(np.full((c.B, c.d), np.nan), "float64")}, InputError, r"h0:"),
    BadInput("h0-batch", lambda c: {"h0": c.native_array(np.zeros((c.B + 1, c.d)), "float64")}, InputError, r"h0:"),
    BadInput("inputs-complex", lambda c: {"inputs": c.x.astype(complex)}, InputError, r"inputs: got complex dtype"),
    BadInput("inputs-ragged", _ragged, InputError, r"inputs: cannot read"),
    BadInput("inputs-strings", lambda c: {"inputs": np.full((c.B, c.T, c.F), "a")}, InputError,
             r"inputs: expected numbers"),
    BadInput("inputs-objects", lambda c: {"inputs": np.full((c.B, c.T, c.F), None, dtype=object)}, InputError,
             r"inputs: cannot read"),
    BadInput("inputs-integer", lambda c: {"inputs": np.zeros((c.B, c.T, c.F), dtype=np.int64)}, InputError,
             r"inputs: got integer dtype .* embed them first"),
    BadInput("inputs-bool", lambda c: {"inputs": np.zeros((c.B, c.T, c.F), dtype=bool)}, InputError,
             r"inputs: got boolean dtype"),
    BadInput("inputs-2d", lambda c: {"inputs": c.native_array(c.x[0], "float64")}, InputError,
             r"inputs: expected shape \(batch, time, features\).*add a batch axis"),
    BadInput("inputs-features", lambda c: {"inputs": c.native_array(np.zeros((c.B, c.T, c.F + 1)), "float64")},
             InputError, r"inputs: the model expects \d+ features per step"),
    BadInput("inputs-no-steps", lambda c: {"inputs": c.native_array(np.zeros((c.B, 0, c.F)), "float64")},
             InputError, r"inputs: need at least one sequence and one time step"),
    BadInput("inputs-nan", _nan_inputs, InputError, r"inputs: contains NaN or Inf \(first at sequence 1, step 3"),
    BadInput("device-garbage", lambda c: {"device": object()}, InputError, r"device:"),
    BadInput("backend-unknown", lambda c: {"backend": "no-such-backend"}, BackendNotFoundError,
             r"backend: unknown backend 'no-such-backend'"),
)
