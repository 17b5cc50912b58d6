"""Keras 3 recurrent layers and cells as a `lyapax.backend.Plan`.

Standard cells become the core's canonical cells, with weights read from the
layers' variables (inside any ``tf.GradientTape`` the caller has open, so
gradients reach the variables) and rearranged into the PyTorch conventions of
`lyapax.cells`:

- Keras stores kernels transposed, ``(F, units * gates)``: they are transposed.
- ``LSTMCell``: kernel columns ``i, f, c, o`` are the core's ``i, f, g, o``
  (same order); state ``[h, c]`` is the core's ``[h; c]``; one bias.
- ``GRUCell``: kernel columns ``z, r, h`` are reordered to the core's ``r, z, n``;
  ``reset_after=True`` has a ``(2, 3 * units)`` bias (input row, recurrent row),
  ``reset_after=False`` one ``(3 * units,)`` input bias.
- ``SimpleRNNCell``: activation ``tanh``, ``relu`` or ``linear``.

Dropout and recurrent dropout are ignored (the step is the inference-time
map, ``training=False``). Recognised containers: ``keras.layers.RNN``
(and its subclasses ``SimpleRNN``/``LSTM``/``GRU``) around a standard cell or
``StackedRNNCells``, the cells themselves, and a ``keras.Sequential`` of
recurrent layers (the full stacked state, bottom layer first); with
``backend="tensorflow"``, also a plain list of recurrent layers (a stack).

Other Keras RNN cells (custom cells with integer state sizes) become a
`lyapax.tangent.Step` that calls the cells' own ``call``, differentiated
by the core's autodiff tangent; they compute in their variables' dtype
(`lyapax.backend.Plan.fixed_dtype`).

Keras 3 RNN layers are batch-first, and so are lyapax's inputs; ``go_backwards``
on the bottom layer reads them reversed (`lyapax.backend.Plan.reverse`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from lyapax import cells
from lyapax.backend import Plan
from lyapax.errors import InputError, ModelTypeError
from lyapax.tangent import Step

from .state import flatten_h0, state_sizes
from .tangent import call_module

__all__ = ["plan", "recurrent_cells", "canonical_cell"]

_STANDARD = (keras.layers.SimpleRNNCell, keras.layers.LSTMCell, keras.layers.GRUCell)


def plan(model: Any) -> Plan:
    """The plan of a Keras layer, cell, ``Sequential`` or list of recurrent layers (checked; nothing is changed)."""
    if keras.backend.backend() != "tensorflow":
        raise ModelTypeError(
            f"model: Keras runs on its {keras.backend.backend()!r} backend; lyapax's tensorflow backend needs "
            "Keras on TensorFlow (set KERAS_BACKEND=tensorflow before importing keras)."
        )
    keras_cells, reverse = recurrent_cells(model)
    for cell in keras_cells:
        if not cell.built or not cell.weights:
            raise InputError(
                f"model: {type(cell).__name__} {cell.name!r} is not built (it has no weights yet); call the layer "
                "once on an input, or build it with layer.build((None, None, features)), before asking for its "
                "spectrum."
            )
    sizes = [s for c in keras_cells for s in state_sizes(c)]
    first = keras_cells[0]
    params = [w for c in keras_cells for w in c.weights]
    common = dict(
        params=params,
        input_size=int(first.kernel.shape[0]) if hasattr(first, "kernel") else None,
        time_major=False,
        reverse=reverse,
        state=functools.partial(flatten_h0, sizes),
    )
    name = f"{type(model).__name__}({'+'.join(type(c).__name__ for c in keras_cells)})"
    if all(type(c) in _STANDARD for c in keras_cells):
        for cell in keras_cells:
            check_activations(cell)
        return Plan(name, cell=functools.partial(canonical_cell, keras_cells), **common)

    def carry(batch: int, features: int | None) -> list:
        if features is None:
            raise InputError(f"inputs: {name} is run through its own call, which needs inputs; pass inputs.")
        return [np.zeros((batch, n)) for n in sizes]

    dtype = next((str(w.dtype) for w in params if "float" in str(w.dtype)), "float32")
    return Plan(name, step=Step(call_module, tuple(keras_cells), carry=carry),
                fixed_dtype=dtype if dtype in ("float32", "float64") else "float32", **common)


def _cells_of(obj: Any) -> list:
    if isinstance(obj, keras.layers.StackedRNNCells):
        return [c for inner in obj.cells for c in _cells_of(inner)]
    if isinstance(obj, keras.layers.RNN):
        return _cells_of(obj.cell)
    if isinstance(obj, keras.layers.Layer) and hasattr(obj, "state_size") and callable(obj):
        return [obj]
    raise ModelTypeError(
        f"model: {type(obj).__name__} is not a Keras recurrent layer or cell; pass a SimpleRNN, LSTM, GRU or "
        "keras.layers.RNN layer, a SimpleRNNCell/LSTMCell/GRUCell, StackedRNNCells, or a keras.Sequential of "
        "recurrent layers (or a step function f(h, x) -> h_next)."
    )


def recurrent_cells(model: Any) -> tuple[list, bool]:
    """The Keras cells of ``model`` (bottom first) and whether the inputs are read reversed."""
    if isinstance(model, keras.layers.Bidirectional):
        raise ModelTypeError(
            "model: a Bidirectional layer is not a causal dynamical system; pass its forward_layer or "
            "backward_layer (each is an ordinary recurrent layer)."
        )
    if not isinstance(model, (keras.Sequential, list, tuple)):
        if isinstance(model, keras.Model):
            raise ModelTypeError(
                f"model: {type(model).__name__} is a Keras model that is not a Sequential; pass its recurrent layer "
                "(model.get_layer(name)) and that layer's inputs, or a keras.Sequential of recurrent layers."
            )
        return _cells_of(model), bool(isinstance(model, keras.layers.RNN) and model.go_backwards)
    what = "Sequential" if isinstance(model, keras.Sequential) else "list of layers"
    layers = model.layers if isinstance(model, keras.Sequential) else list(model)
    layers = [layer for layer in layers if not isinstance(layer, keras.layers.InputLayer)]
    if not layers:
        raise InputError(f"model: the {what} has no layers.")
    for i, layer in enumerate(layers):
        if isinstance(layer, keras.layers.Bidirectional) or not isinstance(layer, keras.layers.RNN):
            raise ModelTypeError(
                f"model: layer {i} ({getattr(layer, 'name', '?')}, {type(layer).__name__}) of the {what} is not "
                "a recurrent layer. lyapax takes a Sequential (or a list of layers) made only of recurrent "
                "layers (an Input in front is fine); for a model with other layers, pass its recurrent layer, "
                "or a Sequential of just its recurrent layers, and feed that layer's inputs."
            )
    out = []
    for i, layer in enumerate(layers):
        if i and layer.go_backwards:
            raise InputError(
                f"model: layer {i} ({layer.name}) of the {what} has go_backwards=True; only the first "
                "layer may read its inputs backwards (a later one would not be a step-by-step stack)."
            )
        if i < len(layers) - 1 and not layer.return_sequences:
            raise InputError(
                f"model: layer {i} ({layer.name}) has return_sequences=False, so the layer above does not see "
                "its sequence; every layer but the last needs return_sequences=True in a stack."
            )
        out.extend(_cells_of(layer))
    return out, bool(layers[0].go_backwards)


def _activation_name(fn: Any) -> str | None:
    try:
        name = keras.activations.serialize(fn)
    except Exception:  # a custom function Keras cannot serialise
        return getattr(fn, "__name__", None)
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name"))
    return name if isinstance(name, str) else getattr(fn, "__name__", None)


def _require(cell: Any, attr: str, allowed: tuple[str, ...]) -> str:
    name = _activation_name(getattr(cell, attr))
    if name not in allowed:
        raise ModelTypeError(
            f"model: {type(cell).__name__} {cell.name!r} has {attr}={name!r}; the analytic cell supports "
            f"{' or '.join(repr(a) for a in allowed)}. For another activation, pass a step function f(h, x) -> "
            "h_next built from the cell (it is differentiated by autodiff)."
        )
    return name


def check_activations(cell: Any) -> None:
    """Refuse a standard cell whose activations the analytic cell does not have."""
    if isinstance(cell, keras.layers.SimpleRNNCell):
        _require(cell, "activation", ("tanh", "relu", "linear"))
    else:
        _require(cell, "activation", ("tanh",))
        _require(cell, "recurrent_activation", ("sigmoid",))


def _zrh_to_rzn(w: tf.Tensor, units: int, axis: int) -> tf.Tensor:
    """Reorder Keras' GRU gate blocks ``z, r, h`` into the core's ``r, z, n`` along ``axis``."""
    z, r, h = tf.split(w, [units, units, units], axis=axis)
    return tf.concat([r, z, h], axis=axis)


def _keras_cell(cell: Any, convert: Callable[[Any], Any]) -> cells.Cell:
    """The core cell with ``cell``'s weights, each read through ``convert`` (dtype, device)."""
    units = int(cell.units)
    kernel, recurrent = convert(cell.kernel), convert(cell.recurrent_kernel)
    bias = None if cell.bias is None else convert(cell.bias)
    if isinstance(cell, keras.layers.SimpleRNNCell):
        act = _activation_name(cell.activation)
        return cells.Elman(tf.transpose(kernel), tf.transpose(recurrent), bias, None, nonlinearity=act)
    if isinstance(cell, keras.layers.LSTMCell):
        return cells.LSTM(tf.transpose(kernel), tf.transpose(recurrent), bias, None)
    w_ih = tf.transpose(_zrh_to_rzn(kernel, units, 1))
    w_hh = tf.transpose(_zrh_to_rzn(recurrent, units, 1))
    b_ih = b_hh = None
    if bias is not None and cell.reset_after:
        b_ih, b_hh = _zrh_to_rzn(bias[0], units, 0), _zrh_to_rzn(bias[1], units, 0)
    elif bias is not None:
        b_ih = _zrh_to_rzn(bias, units, 0)
    return cells.GRU(w_ih, w_hh, b_ih, b_hh, reset_after=bool(cell.reset_after))


def canonical_cell(model: list, convert: Callable[[Any], Any]) -> cells.Cell:
    """The core cell (a `lyapax.cells.Stack` for several) of standard Keras cells ``model`` (bottom
    first), each weight read through ``convert`` (dtype, device)."""
    parts = [_keras_cell(c, convert) for c in model]
    return parts[0] if len(parts) == 1 else cells.Stack(parts)


