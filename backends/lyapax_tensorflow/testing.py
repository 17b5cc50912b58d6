"""Builders for lyapax's conformance suite (see `lyapax.testing.conformance`), in Keras 3.

A canonical cell (PyTorch conventions, two biases) becomes the Keras layer
with the same map: kernels transposed, GRU gate blocks reordered ``r, z, n`` ->
``z, r, h``; where Keras has one bias (SimpleRNN, LSTM, GRU with
``reset_after=False``) it holds ``bias_ih + bias_hh``, which is the same map
(for the GRU before-reset variant, ``b_hn`` sits outside the reset gate in
the core, as Keras' single bias does). A homogeneous `lyapax.cells.Stack`
becomes a ``keras.Sequential`` of such layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import lyapax

__all__ = ["KINDS", "native_model", "native_array", "native_step", "linear_step", "keras_layer", "snapshot"]

KINDS = ("tanh", "relu", "lstm", "gru", "gru_before")


def _rzn_to_zrh(w: np.ndarray, H: int, axis: int) -> np.ndarray:
    r, z, n = np.split(w, [H, 2 * H], axis=axis)
    return np.concatenate([z, r, n], axis=axis)


def _bias_sum(cell: Any) -> np.ndarray | None:
    if cell.bias_ih is None and cell.bias_hh is None:
        return None
    zero = np.zeros(np.shape(cell.weight_hh)[0])
    return (zero if cell.bias_ih is None else np.asarray(cell.bias_ih)) + (
        zero if cell.bias_hh is None else np.asarray(cell.bias_hh)
    )


def keras_layer(cell: lyapax.cells.Cell, dtype: str = "float64", *, return_sequences: bool = False) -> Any:
    """The built Keras layer (SimpleRNN, LSTM, GRU) with the weights of a canonical cell."""

    W_ih, W_hh = np.asarray(cell.weight_ih, np.float64), np.asarray(cell.weight_hh, np.float64)
    F = W_ih.shape[1]
    if isinstance(cell, lyapax.cells.Elman):
        H, b = W_hh.shape[0], _bias_sum(cell)
        layer = keras.layers.SimpleRNN(H, activation=cell.nonlinearity, use_bias=b is not None,
                                       return_sequences=return_sequences, dtype=dtype)
        weights = [W_ih.T, W_hh.T] + ([b] if b is not None else [])
    elif isinstance(cell, lyapax.cells.LSTM):
        if cell.weight_hr is not None:
            raise ValueError("Keras' LSTM has no projection (weight_hr).")
        H, b = W_hh.shape[1], _bias_sum(cell)
        layer = keras.layers.LSTM(H, use_bias=b is not None, return_sequences=return_sequences, dtype=dtype)
        weights = [W_ih.T, W_hh.T] + ([b] if b is not None else [])
    elif isinstance(cell, lyapax.cells.GRU):
        H = W_hh.shape[1]
        kernel, recurrent = _rzn_to_zrh(W_ih, H, 0).T, _rzn_to_zrh(W_hh, H, 0).T
        has_bias = cell.bias_ih is not None or cell.bias_hh is not None
        layer = keras.layers.GRU(H, reset_after=cell.reset_after, use_bias=has_bias,
                                 return_sequences=return_sequences, dtype=dtype)
        weights = [kernel, recurrent]
        if has_bias and cell.reset_after:
            zero = np.zeros(3 * H)
            b_ih = zero if cell.bias_ih is None else np.asarray(cell.bias_ih)
            b_hh = zero if cell.bias_hh is None else np.asarray(cell.bias_hh)
            weights.append(np.stack([_rzn_to_zrh(b_ih, H, 0), _rzn_to_zrh(b_hh, H, 0)]))
        elif has_bias:
            weights.append(_rzn_to_zrh(_bias_sum(cell), H, 0))
    else:
        raise ValueError(f"no Keras layer for {type(cell).__name__}")
    layer.build((None, None, F))
    layer.set_weights([w.astype(dtype) for w in weights])
    return layer


def native_model(cell: lyapax.cells.Cell, dtype: str) -> Any:
    """A Keras layer, or a ``keras.Sequential`` of layers for a stack, with ``cell``'s weights."""

    if not isinstance(cell, lyapax.cells.Stack):
        return keras_layer(cell, dtype)
    layers = [keras_layer(c, dtype, return_sequences=True) for c in cell.layers]
    return keras.Sequential([keras.Input((None, cell.input_size), dtype=dtype), *layers])


def native_array(a: np.ndarray, dtype: str) -> Any:
    return tf.constant(np.asarray(a), dtype=dtype)


def native_step(model: Any, h: np.ndarray, x: np.ndarray, dtype: str) -> np.ndarray:
    """One step of the layers' own cells from the flat canonical state (Keras state order = canonical order)."""

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)] if isinstance(
        model, keras.Sequential) else [model]
    inp = tf.constant(x, dtype=dtype)
    state = tf.constant(h, dtype=dtype)
    out, pos = [], 0
    for layer in layers:
        sizes = layer.cell.state_size if isinstance(layer.cell.state_size, (list, tuple)) else [layer.cell.state_size]
        parts = tf.split(state[:, pos : pos + sum(sizes)], sizes, axis=1)
        pos += sum(sizes)
        inp, new = layer.cell(inp, list(parts), training=False)
        out.extend(new if isinstance(new, (list, tuple)) else [new])
    return tf.concat(out, axis=1).numpy()


def linear_step(A: np.ndarray, U: np.ndarray, dtype: str) -> Callable[[Any, Any], Any]:
    """``f(h, x) = h A^T + x U^T`` in TensorFlow ops (exercises the autodiff path)."""

    At, Ut = tf.constant(np.asarray(A).T, dtype=dtype), tf.constant(np.asarray(U).T, dtype=dtype)
    return lambda h, x: tf.matmul(h, At) + tf.matmul(x, Ut)


def snapshot(model: Any) -> list:
    """A Keras model's weights, their ``trainable`` flags, the layers' ``trainable`` and ``built`` flags."""

    if not isinstance(model, (keras.layers.Layer, keras.Model)):
        return []
    layers = model.layers if isinstance(model, keras.Sequential) else [model]
    return [
        [np.array(w) for w in model.get_weights()],
        [v.trainable for v in model.weights],
        [(layer.trainable, layer.built) for layer in layers],
    ]
