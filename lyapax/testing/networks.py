"""Random canonical networks (numpy, float64) for tests of lyapax and of backends."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import cells

__all__ = ["CELL_KINDS", "LAYER_KINDS", "random_cell", "random_network", "chaotic_gated_cell", "trajectory"]

#: Kinds `random_cell` builds: Elman (tanh, relu, linear), LSTM (with and
#: without projection), GRU (reset after / before the recurrent matmul) and a
#: three-layer LSTM/GRU/Elman stack.
CELL_KINDS = ("tanh", "relu", "linear", "lstm", "lstm_proj", "gru", "gru_before", "stack")


#: Kinds that frameworks have as standard layers (stackable into homogeneous multi-layer networks).
LAYER_KINDS = ("tanh", "relu", "lstm", "gru", "gru_before")


def random_network(
    kind: str,
    hidden: int,
    features: int,
    rng: np.random.Generator,
    *,
    layers: int = 1,
    gain: float = 1.5,
    bias: bool = True,
) -> cells.Cell:
    """``layers`` cells of one kind stacked (like ``torch.nn.LSTM(num_layers=...)``); one cell if ``layers == 1``."""
    first = random_cell(kind, hidden, features, rng, gain=gain, bias=bias)
    if layers == 1:
        return first
    rest = [random_cell(kind, hidden, first.output_size, rng, gain=gain, bias=bias) for _ in range(layers - 1)]
    return cells.Stack([first, *rest])


def random_cell(
    kind: str, hidden: int, features: int, rng: np.random.Generator, gain: float = 1.5, bias: bool = True
) -> cells.Cell:
    """A canonical cell with random float64 weights.

    Recurrent weights are ``N(0, gain^2 / fan_in)`` (``gain`` from ordered ~0.5 to
    chaotic ~3), input weights ``N(0, 1 / features)``, biases ``N(0, 0.3^2)``.
    """

    def w(rows: int, cols: int, scale: float) -> np.ndarray:
        return rng.normal(0.0, scale / np.sqrt(cols), size=(rows, cols))

    def b(n: int) -> np.ndarray | None:
        return rng.normal(0.0, 0.3, size=n) if bias else None

    H, F = hidden, features
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
        return cells.Stack(
            [
                cells.LSTM(w(4 * H, F, 1.0), w(4 * H, H, gain), b(4 * H), b(4 * H)),
                cells.GRU(w(3 * H, H, 1.0), w(3 * H, H, gain), b(3 * H), b(3 * H)),
                cells.Elman(w(H, H, 1.0), w(H, H, gain), b(H), b(H)),
            ]
        )
    raise ValueError(f"kind: expected one of {CELL_KINDS}, got {kind!r}.")


def chaotic_gated_cell(kind: str, hidden: int, seed: int, *, gain: float = 4.0) -> cells.Cell:
    """A chaotic one-input GRU or LSTM (``kind`` ``"gru"``/``"lstm"``, PyTorch layout, float64, no ``bias_hh``).

    The candidate's recurrent weights (``n`` of the GRU, ``g`` of the LSTM) are ``N(0, gain^2 / hidden)``,
    the gates' ``N(0, 0.25 / hidden)``, the input weights ``N(0, 0.01)``; the gate biases hold the gates
    near fixed values (GRU: reset 0.88 open, update 0.12, so mostly the new state; LSTM: input and output
    0.88 open, forget 0.12), so the cell is close to a tanh network of that gain. With inputs
    ``0.1 N(0, 1)`` and 32 units, gain 4 gave λ1 = 0.16-0.25 nats/step over seeds 0-2 (gain 3: 0.06-0.16;
    16 units: some seeds are not chaotic), measured with `lyapax.spectrum` on 300-step sequences.
    """
    if kind not in ("gru", "lstm"):
        raise ValueError(f"kind: expected 'gru' or 'lstm', got {kind!r}.")
    rng = np.random.default_rng(seed)
    gates = 3 if kind == "gru" else 4
    scale = np.full(gates, 0.5)
    scale[2] = gain  # the candidate block, third in both layouts (r, z, n / i, f, g, o)
    weight_hh = rng.standard_normal((gates * hidden, hidden)) / hidden**0.5 * np.repeat(scale, hidden)[:, None]
    weight_ih = rng.standard_normal((gates * hidden, 1)) * 0.1
    bias = np.repeat([2.0, -2.0, 0.0] if kind == "gru" else [2.0, -2.0, 0.0, 2.0], hidden)
    cell = cells.GRU if kind == "gru" else cells.LSTM
    return cell(weight_ih, weight_hh, bias, None)


def trajectory(cell: Any, x: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
    """States ``h_0 .. h_{T-1}`` of a numpy cell driven by ``x (B, T, F)``: ``(T, B, d)``.

    These are the points at which each step's Jacobian is taken.
    """
    import array_api_compat.numpy as xp

    B, T, _ = x.shape
    h = np.zeros((B, cell.dim)) if h0 is None else np.asarray(h0, dtype=np.float64)
    out = []
    for t in range(T):
        out.append(h)
        h = cell.step(xp, h, x[:, t])
    return np.stack(out)
