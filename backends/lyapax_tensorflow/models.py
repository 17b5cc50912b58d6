"""Keras 3 recurrent layers and cells as the core's canonical cells.

Weights are read from the layer's variables as ``tf`` tensors (inside any
``tf.GradientTape`` the caller has open, so gradients reach the variables) and
rearranged into the PyTorch conventions of :mod:`lyapax.cells`:

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

Recurrent layers and cells Keras ships but lyapax has no analytic cell for
(custom ``RNN`` cells with integer state sizes) are handled by forward-mode
autodiff of the cells' own ``call`` (see :mod:`lyapax_tensorflow.tangent`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import tensorflow as tf

from lyapax import cells
from lyapax.errors import InputError, ModelTypeError

__all__ = ["KerasModel", "from_keras", "is_keras_object", "recurrent_cells", "state_sizes"]

_STANDARD = (keras.layers.SimpleRNNCell, keras.layers.LSTMCell, keras.layers.GRUCell)


@dataclass
class KerasModel:
    """A Keras recurrent model broken down for the core.

    Attributes:
        cells: the Keras cells, bottom first (a stack has several).
        sizes: the sizes of the state tensors in Keras' own order (flat over
            the cells: an LSTM contributes ``[units, units]`` for ``[h, c]``).
        reverse: the bottom layer has ``go_backwards=True`` (the inputs are read reversed).
        variable_dtype: the dtype of the layers' weights (``"float32"`` for fresh layers).
        device: the device of the first weight (``tf`` device string), or ``None``.
        name: a short description for reports.
    """

    cells: list = field(default_factory=list)
    sizes: list = field(default_factory=list)
    reverse: bool = False
    variable_dtype: str = "float32"
    device: str | None = None
    name: str = ""

    @property
    def standard(self) -> bool:
        """Whether every cell has an analytic tangent map in the core."""
        return all(type(c) in _STANDARD for c in self.cells)

    @property
    def input_size(self) -> int:
        return int(self.cells[0].kernel.shape[0]) if hasattr(self.cells[0], "kernel") else None

    def per_cell_sizes(self) -> list[list[int]]:
        return [state_sizes(c) for c in self.cells]


def is_keras_object(obj: Any) -> bool:
    """Whether ``obj`` is a Keras layer, cell or model."""
    return isinstance(obj, (keras.layers.Layer, keras.Model))


def state_sizes(cell: Any) -> list[int]:
    """Sizes of a Keras cell's state tensors, in its own order."""
    size = cell.state_size
    flat = size if isinstance(size, (list, tuple)) else [size]
    out = []
    for s in flat:
        if isinstance(s, (list, tuple)) or not isinstance(s, int):
            raise ModelTypeError(
                f"model: {type(cell).__name__} has a state of size {size!r}; lyapax takes cells whose states are "
                "vectors (integer state sizes)."
            )
        out.append(int(s))
    return out


def _cells_of(obj: Any) -> list:
    if isinstance(obj, keras.layers.StackedRNNCells):
        out = []
        for c in obj.cells:
            out.extend(_cells_of(c))
        return out
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
    if isinstance(model, (keras.Sequential, list, tuple)):
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
        reverse = False
        for i, layer in enumerate(layers):
            if getattr(layer, "go_backwards", False):
                if i:
                    raise InputError(
                        f"model: layer {i} ({layer.name}) of the {what} has go_backwards=True; only the first "
                        "layer may read its inputs backwards (a later one would not be a step-by-step stack)."
                    )
                reverse = True
            if i < len(layers) - 1 and not getattr(layer, "return_sequences", True):
                raise InputError(
                    f"model: layer {i} ({layer.name}) has return_sequences=False, so the layer above does not see "
                    "its sequence; every layer but the last needs return_sequences=True in a stack."
                )
            out.extend(_cells_of(layer))
        return out, reverse
    if isinstance(model, keras.Model):
        raise ModelTypeError(
            f"model: {type(model).__name__} is a Keras model that is not a Sequential; pass its recurrent layer "
            "(model.get_layer(name)) and that layer's inputs, or a keras.Sequential of recurrent layers."
        )
    reverse = bool(isinstance(model, keras.layers.RNN) and model.go_backwards)
    return _cells_of(model), reverse


def from_keras(model: Any) -> KerasModel:
    """Break a Keras recurrent model down into its cells (checks it is built; nothing is changed)."""
    keras_cells, reverse = recurrent_cells(model)
    for cell in keras_cells:
        if not cell.built or not cell.weights:
            raise InputError(
                f"model: {type(cell).__name__} {cell.name!r} is not built (it has no weights yet); call the layer "
                "once on an input, or build it with layer.build((None, None, features)), before asking for its "
                "spectrum."
            )
    sizes = [s for c in keras_cells for s in state_sizes(c)]
    first = keras_cells[0].weights[0]
    dtype = str(getattr(first, "dtype", "float32"))
    dtype = dtype if dtype in ("float32", "float64") else "float32"
    device = getattr(getattr(first, "value", None), "device", None) or None
    names = "+".join(type(c).__name__ for c in keras_cells)
    return KerasModel(list(keras_cells), sizes, reverse, dtype, device, f"{type(model).__name__}({names})")


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


def _read(var: Any, dtype: tf.DType) -> tf.Tensor:
    return tf.cast(tf.convert_to_tensor(var), dtype)


def _zrh_to_rzn(w: tf.Tensor, units: int, axis: int) -> tf.Tensor:
    """Reorder Keras' GRU gate blocks ``z, r, h`` into the core's ``r, z, n`` along ``axis``."""
    z, r, h = tf.split(w, [units, units, units], axis=axis)
    return tf.concat([r, z, h], axis=axis)


def canonical_cell(cell: Any, dtype: tf.DType) -> cells.Cell:
    """The core cell with ``cell``'s weights (as ``dtype`` tensors in the current device scope)."""
    units = int(cell.units)
    kernel = _read(cell.kernel, dtype)
    recurrent = _read(cell.recurrent_kernel, dtype)
    bias = None if cell.bias is None else _read(cell.bias, dtype)
    if isinstance(cell, keras.layers.SimpleRNNCell):
        act = _require(cell, "activation", ("tanh", "relu", "linear"))
        return cells.Elman(tf.transpose(kernel), tf.transpose(recurrent), bias, None, nonlinearity=act)
    if isinstance(cell, keras.layers.LSTMCell):
        _require(cell, "activation", ("tanh",))
        _require(cell, "recurrent_activation", ("sigmoid",))
        return cells.LSTM(tf.transpose(kernel), tf.transpose(recurrent), bias, None)
    if isinstance(cell, keras.layers.GRUCell):
        _require(cell, "activation", ("tanh",))
        _require(cell, "recurrent_activation", ("sigmoid",))
        w_ih = tf.transpose(_zrh_to_rzn(kernel, units, 1))
        w_hh = tf.transpose(_zrh_to_rzn(recurrent, units, 1))
        b_ih = b_hh = None
        if bias is not None and cell.reset_after:
            b_ih, b_hh = _zrh_to_rzn(bias[0], units, 0), _zrh_to_rzn(bias[1], units, 0)
        elif bias is not None:
            b_ih = _zrh_to_rzn(bias, units, 0)
        return cells.GRU(w_ih, w_hh, b_ih, b_hh, reset_after=bool(cell.reset_after))
    raise ModelTypeError(f"model: no analytic cell for {type(cell).__name__}.")


def canonical(model: KerasModel, dtype: tf.DType) -> cells.Cell:
    """The core cell (a :class:`lyapax.cells.Stack` for several layers) of a standard Keras model."""
    parts = [canonical_cell(c, dtype) for c in model.cells]
    return parts[0] if len(parts) == 1 else cells.Stack(parts)


def keras_step(model: KerasModel):
    """``f(states, x) -> states`` over the flat list of Keras state tensors, through the cells' own ``call``."""
    per_cell = model.per_cell_sizes()

    def step(states: list, x: Any) -> list:
        out, pos, inp = [], 0, x
        for cell, sizes in zip(model.cells, per_cell):
            mine = list(states[pos : pos + len(sizes)])
            pos += len(sizes)
            y, new = cell(inp, mine if len(mine) > 1 else mine, training=False)
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            out.extend(new)
            inp = y
        return out

    return step
