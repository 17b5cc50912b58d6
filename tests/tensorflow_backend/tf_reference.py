"""Independent references for the TensorFlow tests.

- :func:`numpy_cell`: the canonical numpy cell with a Keras layer's weights, converted
  here in numpy (so the adapter's own conversion is checked, not reused).
- :func:`keras_logdets`: log|det J_t| along the trajectory, with J_t from
  ``tf.GradientTape`` through Keras' own cell ``call``.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lyapax import cells


def numpy_cell(cell) -> cells.Cell:
    """A Keras cell (or layer) as the core's numpy cell, float64."""
    cell = getattr(cell, "cell", cell)
    if isinstance(cell, keras.layers.StackedRNNCells):
        return cells.Stack([numpy_cell(c) for c in cell.cells])
    H = cell.units
    K = np.asarray(cell.kernel.numpy(), np.float64)
    U = np.asarray(cell.recurrent_kernel.numpy(), np.float64)
    b = None if cell.bias is None else np.asarray(cell.bias.numpy(), np.float64)
    if isinstance(cell, keras.layers.SimpleRNNCell):
        act = keras.activations.serialize(cell.activation)
        return cells.Elman(K.T, U.T, b, None, nonlinearity=act)
    if isinstance(cell, keras.layers.LSTMCell):
        return cells.LSTM(K.T, U.T, b, None)
    perm = np.r_[H : 2 * H, 0:H, 2 * H : 3 * H]  # Keras z, r, h -> core r, z, n
    if cell.reset_after:
        return cells.GRU(K[:, perm].T, U[:, perm].T, None if b is None else b[0][perm],
                         None if b is None else b[1][perm], reset_after=True)
    return cells.GRU(K[:, perm].T, U[:, perm].T, None if b is None else b[perm], None, reset_after=False)


def numpy_stack(layers) -> cells.Cell:
    parts = [numpy_cell(layer) for layer in layers]
    return parts[0] if len(parts) == 1 else cells.Stack(parts)


def keras_logdets(keras_cells, x: np.ndarray, h0: list | None = None) -> np.ndarray:
    """Mean over steps of log|det dF/dh| per sequence, stepping Keras' own cells (float64)."""
    B, T, _ = x.shape
    sizes = []
    for c in keras_cells:
        s = c.state_size
        sizes.append(list(s) if isinstance(s, (list, tuple)) else [s])
    flat = sum(sizes, [])
    h = tf.zeros((B, sum(flat)), tf.float64) if h0 is None else tf.concat(h0, axis=1)
    total = np.zeros(B)
    for t in range(T):
        with tf.GradientTape() as tape:
            tape.watch(h)
            parts = tf.split(h, flat, axis=1)
            inp, out, pos = tf.constant(x[:, t]), [], 0
            for c, s in zip(keras_cells, sizes):
                inp, new = c(inp, parts[pos : pos + len(s)], training=False)
                pos += len(s)
                out.extend(new if isinstance(new, (list, tuple)) else [new])
            h_next = tf.concat(out, axis=1)
        J = tape.batch_jacobian(h_next, h)
        total += tf.linalg.slogdet(J)[1].numpy()
        h = h_next
    return total / T


def snapshot(layer) -> dict:
    """Everything about a layer lyapax must not change."""
    return {
        "weights": [w.copy() for w in layer.get_weights()],
        "trainable": [v.trainable for v in layer.weights],
        "layer_trainable": layer.trainable,
        "built": layer.built,
        "dtype": [v.dtype for v in layer.weights],
        "n_weights": len(layer.weights),
    }


def assert_unchanged(layer, before: dict) -> None:
    after = snapshot(layer)
    assert after["n_weights"] == before["n_weights"]
    for a, b in zip(after["weights"], before["weights"]):
        np.testing.assert_array_equal(a, b)
    assert {k: v for k, v in after.items() if k != "weights"} == {k: v for k, v in before.items() if k != "weights"}
