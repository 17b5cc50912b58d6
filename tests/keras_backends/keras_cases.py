"""What the Keras-backend workers compute, and the numpy references, from seeded weights in Keras's layout.

Imported by the worker (`keras_worker.py`, one process per ``KERAS_BACKEND``) and by the test.
Only numpy and lyapax here: the references convert Keras's layout to the core's canonical
cells independently of `lyapax_tensorflow.keras_layers`.
"""

from __future__ import annotations

import numpy as np

from lyapax import cells

GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def weights(kind: str, units: int, features: int, seed: int, *, scale: float = 0.6,
            reset_after: bool = True) -> list[np.ndarray]:
    """Seeded weights of a Keras ``kind`` layer, in ``layer.get_weights()`` order and shapes (float32)."""
    rng = np.random.default_rng(seed)
    g = GATES[kind] * units
    kernel = rng.normal(0, scale / np.sqrt(features), (features, g))
    recurrent = rng.normal(0, 1.2 / np.sqrt(units), (units, g))
    bias = rng.normal(0, 0.2, (2, g) if kind == "GRU" and reset_after else (g,))
    return [w.astype(np.float32) for w in (kernel, recurrent, bias)]


def inputs(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def reference_cell(kind: str, w: list[np.ndarray], *, reset_after: bool = True, activation: str = "tanh") -> cells.Cell:
    """The canonical numpy cell (float64) of Keras weights ``w`` (kernel, recurrent kernel, bias)."""
    K, U, b = (np.asarray(a, np.float64) for a in w)
    if kind == "SimpleRNN":
        return cells.Elman(K.T, U.T, b, None, nonlinearity=activation)
    if kind == "LSTM":
        return cells.LSTM(K.T, U.T, b, None)
    H = U.shape[0]
    perm = np.r_[H : 2 * H, 0:H, 2 * H : 3 * H]  # Keras z, r, h -> core r, z, n
    if reset_after:
        return cells.GRU(K[:, perm].T, U[:, perm].T, b[0][perm], b[1][perm], reset_after=True)
    return cells.GRU(K[:, perm].T, U[:, perm].T, b[perm], None, reset_after=False)


# -- the cases: (kind, units) bottom first, features, seeds ---------------------------------------

#: README.md's Keras block: LSTM(32), 8 sequences of 500 steps, warmup=100, k=16
README = {"layers": [("LSTM", 32)], "features": 3, "shape": (8, 500, 3), "warmup": 100, "k": 16, "seed": 1}
STACK = {"layers": [("LSTM", 5), ("GRU", 4), ("SimpleRNN", 3)], "features": 2, "shape": (3, 60, 2), "seed": 2}
GRU_BEFORE = {"layers": [("GRU", 4)], "features": 2, "shape": (2, 50, 2), "seed": 3}
#: the custom cell: h' = tanh(x W + GAIN h U + b), weights of an Elman cell
CUSTOM = {"units": 5, "features": 2, "shape": (2, 50, 2), "seed": 4, "gain": 1.5}


def layer_weights(case: dict, **kw) -> list[list[np.ndarray]]:
    """Each layer's weights of a case (the bottom layer sees the case's features)."""
    out, features = [], case["features"]
    for i, (kind, units) in enumerate(case["layers"]):
        out.append(weights(kind, units, features, case["seed"] * 10 + i, **kw))
        features = units
    return out


def reference(case: dict, **kw) -> cells.Cell:
    parts = [reference_cell(kind, w, **kw) for (kind, _), w in zip(case["layers"], layer_weights(case, **kw))]
    return parts[0] if len(parts) == 1 else cells.Stack(parts)


def custom_reference() -> cells.Cell:
    c = CUSTOM
    K, U, b = weights("SimpleRNN", c["units"], c["features"], c["seed"])
    return cells.Elman(K.T.astype(np.float64), c["gain"] * U.T.astype(np.float64), b.astype(np.float64), None)
