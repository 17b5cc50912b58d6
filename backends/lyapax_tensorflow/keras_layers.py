"""Keras 3 recurrent layers and cells as a `lyapax.backend.Plan`, on whichever backend Keras runs.

Written once for the three lyapax backends Keras runs on (``KERAS_BACKEND`` =
``tensorflow``, ``jax`` or ``torch``: the lyapax backend of the same name computes);
this module imports keras and no framework. Weights are read through
``Variable.value``, the running backend's own array (so a ``tf.GradientTape``, torch's
autograd or ``jax.grad`` reaches the variables), and rearranged with that lyapax
backend's array namespace into the PyTorch conventions of `lyapax.cells`:

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
``backend=`` naming Keras's backend, also a plain list of recurrent layers (a stack).

Other Keras RNN cells (custom cells with integer state sizes) become a
`lyapax.tangent.Step` that calls each cell's ``stateless_call`` with its
variables' values as the step's parameters (`call_module`), differentiated by
the running backend's forward-mode autodiff; they compute in their variables'
dtype (`lyapax.backend.Plan.fixed_dtype`). The values being parameters, not
constants of the compiled code, a later call after training reuses it with the
new weights (JAX's jit and TensorFlow's tf.function alike).

Keras 3 RNN layers are batch-first, and so are lyapax's inputs; ``go_backwards``
on the bottom layer reads them reversed (`lyapax.backend.Plan.reverse`).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from lyapax import cells
from lyapax.backend import Plan
from lyapax.errors import InputError, ModelTypeError
from lyapax.tangent import Step
from lyapax.validation import check_h0_shape

__all__ = [
    "KerasModel", "plan", "is_keras", "check_backend", "recurrent_cells", "trainable_variables", "canonical_cell",
    "check_activations", "call_module", "flatten_h0", "state_sizes",
]

_STANDARD = (keras.layers.SimpleRNNCell, keras.layers.LSTMCell, keras.layers.GRUCell)


@dataclass(frozen=True, eq=False)
class KerasModel:
    """A Keras model with replacement values for its trainable variables (`lyapax_jax.exponents`'s ``params``).

    Attributes:
        model: the Keras layer, cell, ``Sequential`` or list of recurrent layers.
        values: one array per variable of `trainable_variables` of ``model``, in that order.
    """

    model: Any
    values: tuple = ()
    by_id: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, model: Any, values: Any) -> KerasModel:
        variables = trainable_variables(model)
        values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
        if len(values) != len(variables):
            raise InputError(
                f"params: expected one array per trainable variable of the Keras model, {len(variables)} "
                f"([v.value for v in model.trainable_variables]), got {len(values)}."
            )
        return cls(model, values, {id(v): a for v, a in zip(variables, values)})

    def value(self, variable: Any) -> Any:
        """The replacement of ``variable``, else its own value (the backend's array)."""
        return self.by_id.get(id(variable), variable.value)


def is_keras(obj: Any, *, lists: bool = False) -> bool:
    """Whether ``obj`` is a Keras layer, cell or model (with ``lists``: or a non-empty list/tuple of them)."""
    if isinstance(obj, KerasModel):
        return True
    if lists and isinstance(obj, (list, tuple)):
        return bool(obj) and all(is_keras(o) for o in obj)
    return isinstance(obj, (keras.layers.Layer, keras.Model))


def check_backend(name: str) -> None:
    """Refuse to compute a Keras model on a lyapax backend other than the one Keras runs on."""
    running = keras.backend.backend()
    if running != name:
        raise ModelTypeError(
            f"model: Keras runs on its {running!r} backend (KERAS_BACKEND={running}), so its layers hold "
            f"{running} arrays and are computed by lyapax's {running!r} backend, not {name!r}: omit backend= (or "
            f"pass backend={running!r}); to compute with {name!r}, set KERAS_BACKEND={name} before keras is "
            "first imported."
        )


def _namespace() -> Any:
    """The array namespace of the lyapax backend named like Keras's backend (they share the names)."""
    return importlib.import_module(f"lyapax_{keras.backend.backend()}.namespace").namespace()


def plan(model: Any, backend: str) -> Plan:
    """The plan of a Keras layer, cell, ``Sequential``, list of recurrent layers or `KerasModel`,
    for the lyapax backend ``backend`` (Keras's own; checked, nothing is changed)."""
    check_backend(backend)
    replaced = model if isinstance(model, KerasModel) else KerasModel(model)
    keras_cells, reverse = recurrent_cells(replaced.model)
    for cell in keras_cells:
        if not cell.built or not cell.weights:
            raise InputError(
                f"model: {type(cell).__name__} {cell.name!r} is not built (it has no weights yet); call the layer "
                "once on an input, or build it with layer.build((None, None, features)), before asking for its "
                "spectrum."
            )
    sizes = [s for c in keras_cells for s in state_sizes(c)]
    first = keras_cells[0]
    params = [replaced.value(w) for c in keras_cells for w in c.weights]
    common = dict(
        params=params,
        input_size=int(first.kernel.shape[0]) if hasattr(first, "kernel") else None,
        time_major=False,
        reverse=reverse,
        state=functools.partial(flatten_h0, sizes),
    )
    name = f"{type(replaced.model).__name__}({'+'.join(type(c).__name__ for c in keras_cells)})"
    if all(type(c) in _STANDARD for c in keras_cells):
        for cell in keras_cells:
            check_activations(cell)
        standard = KerasModel(tuple(keras_cells), replaced.values, replaced.by_id)
        return Plan(name, cell=functools.partial(canonical_cell, standard), **common)

    def carry(batch: int, features: int | None) -> list:
        if features is None:
            raise InputError(f"inputs: {name} is run through its own call, which needs inputs; pass inputs.")
        return [np.zeros((batch, n)) for n in sizes]

    values = tuple(
        ([replaced.value(v) for v in c.trainable_variables], [v.value for v in c.non_trainable_variables])
        for c in keras_cells
    )
    dtype = next((str(w.dtype) for c in keras_cells for w in c.weights), "float32")
    return Plan(name, step=Step(call_module, tuple(keras_cells), values, carry=carry),
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


def trainable_variables(model: Any) -> list:
    """The trainable variables of a Keras object or list of them, in Keras's order (what `KerasModel` replaces)."""
    if isinstance(model, (list, tuple)):
        return [v for m in model for v in trainable_variables(m)]
    return list(model.trainable_variables)


# -- standard cells: the core's canonical cells -------------------------------------------------


def _activation_name(fn: Any) -> str | None:
    """The name of one of the activations the analytic cells have, by identity (``keras.activations.serialize``
    would import TensorFlow, where it is installed, under any Keras backend), else ``None``."""
    for name in ("tanh", "relu", "linear", "sigmoid"):
        if fn is keras.activations.get(name) or fn is getattr(keras.ops, name, None):
            return name
    return None


def _require(cell: Any, attr: str, allowed: tuple[str, ...]) -> str:
    fn = getattr(cell, attr)
    name = _activation_name(fn)
    if name not in allowed:
        raise ModelTypeError(
            f"model: {type(cell).__name__} {cell.name!r} has {attr}={name or getattr(fn, '__name__', fn)!r}; the "
            "analytic cell supports "
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


def _zrh_to_rzn(xp: Any, w: Any, units: int) -> Any:
    """Reorder Keras' GRU gate blocks ``z, r, h`` into the core's ``r, z, n`` along the last axis."""
    z, r, h = w[..., :units], w[..., units : 2 * units], w[..., 2 * units :]
    return xp.concat([r, z, h], axis=-1)


def _keras_cell(xp: Any, cell: Any, read: Callable[[Any], Any]) -> cells.Cell:
    units = int(cell.units)
    kernel, recurrent = read(cell.kernel), read(cell.recurrent_kernel)
    bias = None if cell.bias is None else read(cell.bias)

    def t(w: Any) -> Any:
        return xp.permute_dims(w, (1, 0))

    if isinstance(cell, keras.layers.SimpleRNNCell):
        return cells.Elman(t(kernel), t(recurrent), bias, None, nonlinearity=_activation_name(cell.activation))
    if isinstance(cell, keras.layers.LSTMCell):
        return cells.LSTM(t(kernel), t(recurrent), bias, None)
    w_ih, w_hh = t(_zrh_to_rzn(xp, kernel, units)), t(_zrh_to_rzn(xp, recurrent, units))
    b_ih = b_hh = None
    if bias is not None and cell.reset_after:
        b_ih, b_hh = _zrh_to_rzn(xp, bias[0], units), _zrh_to_rzn(xp, bias[1], units)
    elif bias is not None:
        b_ih = _zrh_to_rzn(xp, bias, units)
    return cells.GRU(w_ih, w_hh, b_ih, b_hh, reset_after=bool(cell.reset_after))


def canonical_cell(model: KerasModel, convert: Callable[[Any], Any]) -> cells.Cell:
    """The core cell (a `lyapax.cells.Stack` for several) of the standard Keras cells ``model.model``
    (bottom first), each weight read through ``convert`` (dtype, device)."""
    xp = _namespace()
    parts = [_keras_cell(xp, c, lambda v: convert(model.value(v))) for c in model.model]
    return parts[0] if len(parts) == 1 else cells.Stack(parts)


# -- any other cell: its own call, differentiated -----------------------------------------------


def call_module(static: tuple, params: tuple, h: list, x: Any) -> list:
    """``apply`` of a `lyapax.tangent.Step`: one step of the Keras cells ``static`` over the flat list
    ``h`` of their state tensors, each cell through ``stateless_call`` (``training=False``) with its
    ``(trainable, non-trainable)`` values from ``params``."""
    out, pos, inp = [], 0, x
    for cell, (trainable, non_trainable) in zip(static, params):
        n = len(state_sizes(cell))
        (inp, new), _ = cell.stateless_call(list(trainable), list(non_trainable), inp, list(h[pos : pos + n]),
                                            training=False)
        pos += n
        out.extend(new if isinstance(new, (list, tuple)) else [new])
    return out


# -- the state --------------------------------------------------------------------------------


def state_sizes(cell: Any) -> list[int]:
    """Sizes of a Keras cell's state tensors, in its own order."""
    size = cell.state_size
    flat = size if isinstance(size, (list, tuple)) else [size]
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in flat):
        raise ModelTypeError(
            f"model: {type(cell).__name__} has a state of size {size!r}; lyapax takes cells whose states are "
            "vectors (integer state sizes)."
        )
    return [int(s) for s in flat]


def _leaves(h0: Any) -> list:
    return [leaf for item in h0 for leaf in _leaves(item)] if isinstance(h0, (list, tuple)) else [h0]


def flatten_h0(layout: list[int], h0: Any, batch: int, convert: Callable[[Any], Any]) -> Any:
    """``Plan.state``: the core's ``(B, d)`` state from the layer's own initial-state structure or a
    ``(B, d)`` array, each tensor through ``convert`` (dtype, device); ``layout``: the state sizes
    (`state_sizes` of the cells, bottom first).

    The structure is the list Keras' ``initial_state`` takes (``[h, c]`` for an LSTM),
    for a stack each layer's list, bottom first (nested or flat). The core's state is the
    cells' state tensors in Keras order, concatenated, bottom layer first.
    """
    sizes, leaves = layout, _leaves(h0)
    layout_text = "[" + ", ".join(f"(batch, {s})" for s in sizes) + "]"
    if not isinstance(h0, (list, tuple)) or (len(leaves) == 1 and len(sizes) > 1):  # one (B, d) array
        state = convert(leaves[0])
        check_h0_shape(tuple(state.shape), batch, sum(sizes), what=f"(batch, d) or the layer's state list {layout_text}; (batch, d)")
        return state
    if len(leaves) != len(sizes):
        raise InputError(
            f"h0: expected the layer's initial-state structure, {len(sizes)} state tensor(s) {layout_text} "
            f"(Keras order, e.g. [h, c] for an LSTM; a stack lists its layers bottom first), got {len(leaves)}."
        )
    parts = []
    for i, (leaf, size) in enumerate(zip(leaves, sizes)):
        t = convert(leaf)
        shape = tuple(int(s) for s in t.shape)
        if shape != (batch, size):
            raise InputError(f"h0[{i}]: expected shape ({batch}, {size}) as in {layout_text}, got {shape}.")
        parts.append(t)
    return parts[0] if len(parts) == 1 else _namespace().concat(parts, axis=1)
