"""Shared builders for the core (numpy) tests."""

from __future__ import annotations

import numpy as np
import pytest

from lyapax import cells


def make_cell(kind: str, H: int, F: int, rng: np.random.Generator, gain: float = 1.5, bias: bool = True):
    """A canonical cell of the given kind with random float64 weights."""
    def w(rows, cols, scale):
        return rng.normal(0.0, scale / np.sqrt(cols), size=(rows, cols))

    def b(n):
        return rng.normal(0.0, 0.3, size=n) if bias else None

    if kind in ("tanh", "relu", "linear"):
        return cells.Elman(w(H, F, 1.0), w(H, H, gain), b(H), b(H), nonlinearity=kind)
    if kind == "lstm":
        return cells.LSTM(w(4 * H, F, 1.0), w(4 * H, H, gain), b(4 * H), b(4 * H))
    if kind == "lstm_proj":
        P = max(1, H // 2)
        return cells.LSTM(w(4 * H, F, 1.0), w(4 * H, P, gain), b(4 * H), b(4 * H), weight_hr=w(P, H, 1.0))
    if kind in ("gru", "gru_before"):
        return cells.GRU(w(3 * H, F, 1.0), w(3 * H, H, gain), b(3 * H), b(3 * H), reset_after=kind == "gru")
    if kind == "stack":
        first = cells.LSTM(w(4 * H, F, 1.0), w(4 * H, H, gain), b(4 * H), b(4 * H))
        second = cells.GRU(w(3 * H, H, 1.0), w(3 * H, H, gain), b(3 * H), b(3 * H))
        third = cells.Elman(w(H, H, 1.0), w(H, H, gain), b(H), b(H))
        return cells.Stack([first, second, third])
    raise ValueError(kind)


KINDS = ["tanh", "relu", "linear", "lstm", "lstm_proj", "gru", "gru_before", "stack"]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def trajectory(cell, x: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
    """States h_0 .. h_{T-1} (the points where each step's Jacobian is taken): (T, B, d)."""
    import array_api_compat.numpy as xp

    B, T, _ = x.shape
    h = np.zeros((B, cell.dim)) if h0 is None else h0
    out = []
    for t in range(T):
        out.append(h)
        h = cell.step(xp, h, x[:, t])
    return np.stack(out)
