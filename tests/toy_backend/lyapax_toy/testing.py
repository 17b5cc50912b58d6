"""Builders for lyapax's conformance suite (see lyapax.testing.conformance)."""

from __future__ import annotations

import numpy as np

import lyapax
from lyapax_toy import ToyArray, ToyRNN

KINDS = ("tanh", "relu", "lstm", "gru", "gru_before")


def native_model(cell: lyapax.cells.Cell, dtype: str) -> ToyRNN:
    layers = cell.layers if isinstance(cell, lyapax.cells.Stack) else [cell]
    first = layers[0]
    if isinstance(first, lyapax.cells.Elman):
        kind = first.nonlinearity
    elif isinstance(first, lyapax.cells.LSTM):
        kind = "lstm"
    else:
        kind = "gru" if first.reset_after else "gru_before"
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return ToyRNN(kind, [{n: getattr(c, n) for n in names} for c in layers])


def native_array(a: np.ndarray, dtype: str) -> ToyArray:
    return np.array(a, dtype=dtype).view(ToyArray)


def native_step(model: ToyRNN, h: np.ndarray, x: np.ndarray, dtype: str) -> np.ndarray:
    import array_api_compat.numpy as xp

    return model.to_cell(lambda a: np.asarray(a, dtype)).step(xp, np.asarray(h, dtype), np.asarray(x, dtype))


def linear_step(A: np.ndarray, U: np.ndarray, dtype: str):
    return lambda h, x: np.asarray(h) @ A.T + np.asarray(x) @ U.T


