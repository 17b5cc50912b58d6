"""The TensorFlow/Keras backend: recognises Keras recurrent models and tf tensors, prepares a Problem.

Nothing here imports TensorFlow or Keras at module import: the registry asks
:meth:`TensorFlowBackend.recognises_model` only once the user has imported
one of them, and :meth:`TensorFlowBackend.prepare` imports what it needs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import numpy as np

from lyapax.backend import Backend, Problem
from lyapax.errors import InputError, ModelTypeError
from lyapax.validation import check_h0_shape, check_inputs_shape

__all__ = ["TensorFlowBackend"]


def _import_tf() -> Any:
    """Import TensorFlow, quieting its C++ start-up logs unless the user set the level."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def _is_tf_tensor(obj: Any) -> bool:
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(obj, (tf.Tensor, tf.Variable)):
        return True
    keras = sys.modules.get("keras")
    return keras is not None and keras.backend.backend() == "tensorflow" and isinstance(obj, keras.Variable)


def _is_keras_object(obj: Any) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, (keras.layers.Layer, keras.Model))


def resolve_device(tf: Any, device: Any, inputs: Any, weights_device: str | None) -> str | None:
    """The device to compute on: ``device=`` if given, else the inputs', else the weights', else TF's default."""
    if device is None:
        found = getattr(inputs, "device", None) if _is_tf_tensor(inputs) else None
        return found or weights_device or None
    if isinstance(device, tf.DeviceSpec):
        device = device.to_string()
    if not isinstance(device, str):
        raise InputError(f"device: expected a TensorFlow device name such as 'CPU:0' or 'GPU:0', got {device!r}.")
    name = device.strip()
    lowered = name.lower()
    if lowered in ("cpu", "gpu", "cuda"):
        name = ("CPU" if lowered == "cpu" else "GPU") + ":0"
    elif lowered.startswith("cuda:"):
        name = "GPU:" + name.split(":", 1)[1]
    try:
        spec = tf.DeviceSpec.from_string(name if name.startswith("/") or ":" not in name else "/device:" + name)
    except (ValueError, TypeError) as exc:
        raise InputError(f"device: {device!r} is not a TensorFlow device name (e.g. 'CPU:0', 'GPU:0').") from exc
    available = [d.name for d in tf.config.list_logical_devices()]
    want = f"/device:{spec.device_type}:{spec.device_index or 0}" if spec.device_type else None
    if want is None or want not in available:
        raise InputError(
            f"device: {device!r} is not available to TensorFlow; available: {', '.join(available)}."
        )
    return want


def _flatten_h0(tf: Any, h0: Any) -> list:
    """The leaves of a (nested) list/tuple of state arrays, in order."""
    if isinstance(h0, (list, tuple)):
        out = []
        for item in h0:
            out.extend(_flatten_h0(tf, item))
        return out
    return [h0]


def _as_tensor(tf: Any, value: Any, name: str, dtype: Any) -> Any:
    try:
        t = tf.convert_to_tensor(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{name}: cannot read {type(value).__name__} as a tensor ({exc}); pass a tf tensor or numpy array.") from exc
    if not (t.dtype.is_floating or t.dtype.is_integer):
        raise InputError(f"{name}: expected numbers, got dtype {t.dtype.name}.")
    return tf.cast(t, dtype)


def _layer_h0(tf: Any, h0: Any, sizes: list[int], batch: int | None, dim: int, dtype: Any) -> Any:
    """A (B, d) state from the layer's own initial-state structure (or a (B, d) array)."""
    leaves = _flatten_h0(tf, h0)
    layout = "[" + ", ".join(f"(batch, {s})" for s in sizes) + "]"
    if len(leaves) == 1 and len(sizes) > 1:
        state = _as_tensor(tf, leaves[0], "h0", dtype)
        check_h0_shape(tuple(state.shape), batch, dim, what=f"(batch, d) or the layer's state list {layout}; (batch, d)")
        return state
    if len(leaves) != len(sizes):
        raise InputError(
            f"h0: expected the layer's initial-state structure, {len(sizes)} state tensor(s) {layout} "
            f"(Keras order, e.g. [h, c] for an LSTM; a stack lists its layers bottom first), got {len(leaves)}."
        )
    parts = []
    for i, (leaf, size) in enumerate(zip(leaves, sizes)):
        t = _as_tensor(tf, leaf, f"h0[{i}]", dtype)
        shape = tuple(int(s) for s in t.shape)
        if len(shape) != 2 or shape[1] != size or (batch is not None and shape[0] != batch) or (parts and shape[0] != int(parts[0].shape[0])):
            want = f"({batch if batch is not None else 'batch'}, {size})"
            raise InputError(f"h0[{i}]: expected shape {want} as in {layout}, got {shape}.")
        parts.append(t)
    return parts[0] if len(parts) == 1 else tf.concat(parts, axis=1)


def _float_dtype_of(candidates: list) -> str:
    """The first float32/float64 dtype among ``candidates`` (tensors or arrays), else float32."""
    for c in candidates:
        dt = getattr(c, "dtype", None)
        if dt is None:
            continue
        name = np.dtype(getattr(dt, "as_numpy_dtype", dt)).name
        if name in ("float32", "float64"):
            return name
    return "float32"


class TensorFlowBackend(Backend):
    """Keras 3 recurrent layers, cells and Sequential stacks, and step functions on tf tensors.

    Standard layers (SimpleRNN, LSTM, GRU and their cells, StackedRNNCells, a
    Sequential of them) run the core's analytic cells with the layers'
    weights; other Keras RNN cells and any callable ``f(h, x) -> h_next`` get
    their tangent maps from forward-mode autodiff. The core's chunk loop runs
    compiled with ``tf.function`` on the TensorFlow device. Default dtype: the
    layer's own weight dtype (float32 for fresh layers).
    """

    name = "tensorflow"
    modules = ("tensorflow", "keras")
    extra = "tensorflow"
    differentiable = True

    def is_installed(self) -> bool:
        import importlib.util

        return "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is not None

    def is_imported(self) -> bool:
        if "tensorflow" in sys.modules:
            return True
        keras = sys.modules.get("keras")
        try:
            return keras is not None and keras.backend.backend() == "tensorflow"
        except Exception:  # a half-imported keras
            return False

    def recognises_model(self, model: Any) -> bool:
        if _is_keras_object(model):
            return True
        from lyapax.cells import Cell

        if isinstance(model, Cell):
            return bool(model.arrays()) and all(_is_tf_tensor(a) for a in model.arrays().values())
        tf = sys.modules.get("tensorflow")
        return tf is not None and isinstance(model, tf.Module)

    def recognises_array(self, array: Any) -> bool:
        if isinstance(array, (list, tuple)) and array:
            return all(self.recognises_array(a) for a in array)
        return _is_tf_tensor(array)

    def prepare(self, model, inputs, *, steps, h0, dtype, device, differentiable) -> Problem:
        tf = _import_tf()
        from lyapax.cells import Cell, Map

        from . import loop
        from . import namespace as xp

        if isinstance(model, Map):
            raise ModelTypeError(
                "model: a lyapax.Map carries a numpy Jacobian; run it with the numpy backend, or pass a step "
                "function f(h, x) on tf tensors to the tensorflow backend (its Jacobian comes from autodiff)."
            )
        keras_model = None
        if _is_keras_object(model) or (
            isinstance(model, (list, tuple)) and model and all(_is_keras_object(m) for m in model)
        ):
            from . import models

            keras_model = models.from_keras(model)
            default_dtype, weights_device = keras_model.variable_dtype, keras_model.device
        elif isinstance(model, Cell):
            arrays = list(model.arrays().values())
            dt = np.dtype(getattr(arrays[0].dtype, "as_numpy_dtype", arrays[0].dtype)).name if arrays else "float64"
            default_dtype = dt if dt in ("float32", "float64") else "float64"
            weights_device = next((a.device for a in arrays if _is_tf_tensor(a) and hasattr(a, "device")), None)
        elif callable(model):
            default_dtype, weights_device = None, None
        else:
            raise ModelTypeError(
                f"model: the tensorflow backend takes a Keras recurrent layer, cell or Sequential, a lyapax.cells "
                f"cell, or a step function f(h, x) -> h_next on tf tensors; got {type(model).__name__}."
            )

        dev = resolve_device(tf, device, inputs, weights_device)
        with tf.device(dev) if dev else contextlib.nullcontext():
            return self._prepare_on_device(
                tf, xp, loop, model, keras_model, inputs, steps, h0, dtype, default_dtype, dev, differentiable
            )

    def _prepare_on_device(self, tf, xp, loop, model, keras_model, inputs, steps, h0, dtype, default_dtype, dev, differentiable):
        from lyapax.cells import Cell

        from .tangent import StepDynamics

        # dtype: given, else the model's, else (step functions) the state's or inputs' float dtype, else float32
        if default_dtype is None:
            default_dtype = _float_dtype_of([*_flatten_h0(tf, h0), inputs])
        name = dtype or default_dtype
        tf_dtype = tf.as_dtype(name)

        # model -> dynamics
        if keras_model is not None:
            if keras_model.standard:
                from . import models

                dynamics = models.canonical(keras_model, tf_dtype)
            else:
                if name != keras_model.variable_dtype:
                    raise InputError(
                        f"dtype: {keras_model.name} is differentiated through its own call, which computes in "
                        f"{keras_model.variable_dtype}; omit dtype or build the layer with dtype={name!r}."
                    )
                from . import models

                dynamics = StepDynamics(models.keras_step(keras_model), [0] * len(keras_model.sizes), keras_model.sizes, None, keras_model.name)
            input_size = keras_model.input_size
            sizes = keras_model.sizes
            model_name = keras_model.name
        elif isinstance(model, Cell):
            dynamics = model.map_arrays(lambda a: tf.cast(tf.convert_to_tensor(a), tf_dtype))
            input_size, sizes, model_name = dynamics.input_size, [dynamics.dim], type(model).__name__
        else:
            if h0 is None:
                raise InputError(
                    "h0: a step function f(h, x) needs an initial state h0, a (batch, d) tensor or a list/tuple/dict of "
                    "(batch, n_i) tensors; its structure is the structure f receives and returns."
                )
            leaves = tf.nest.flatten(h0)
            sizes = []
            for i, leaf in enumerate(leaves):
                shape = tuple(getattr(leaf, "shape", np.shape(leaf)))
                if len(shape) != 2:
                    raise InputError(f"h0: every state tensor must be (batch, n); leaf {i} has shape {shape}.")
                sizes.append(int(shape[1]))
            dynamics = StepDynamics(model, h0, sizes, None, getattr(model, "__name__", type(model).__name__))
            input_size, model_name = None, dynamics.name

        # inputs -> time-major (T, B, F)
        xs, batch = None, None
        if inputs is not None:
            if isinstance(inputs, (list, tuple)) and not np.ndim(inputs):
                raise InputError("inputs: expected one array (batch, time, features), got an empty sequence.")
            x = _as_tensor(tf, inputs, "inputs", tf_dtype)
            batch, steps, _ = check_inputs_shape(tuple(x.shape), input_size)
            xs = tf.transpose(x, [1, 0, 2])
            if keras_model is not None and keras_model.reverse:
                xs = tf.reverse(xs, axis=[0])
        elif keras_model is not None and not keras_model.standard:
            raise InputError(f"inputs: {keras_model.name} is run through its own call, which needs inputs; pass inputs.")

        # h0 -> (B, d)
        dim = dynamics.dim
        if h0 is None:
            state = tf.zeros((batch or 1, dim), dtype=tf_dtype)
        elif isinstance(dynamics, StepDynamics) and keras_model is None:
            parts = [_as_tensor(tf, leaf, "h0", tf_dtype) for leaf in tf.nest.flatten(h0)]
            rows = {int(p.shape[0]) for p in parts}
            if len(rows) != 1 or (batch is not None and rows != {batch}):
                raise InputError(f"h0: every state tensor needs the batch size {batch or 'of the others'} as first axis, got {[tuple(p.shape) for p in parts]}.")
            state = parts[0] if len(parts) == 1 else tf.concat(parts, axis=1)
        else:
            state = _layer_h0(tf, h0, sizes, batch, dim, tf_dtype)
        state = tf.identity(state)

        device_name = dev or state.device or "default"

        def on_device(make):
            if dev is None:
                return make()
            with tf.device(dev):
                return make()

        return Problem(
            xp=xp,
            dynamics=dynamics,
            inputs=xs,
            h0=state,
            steps=int(steps),
            to_numpy=lambda a: a.numpy() if hasattr(a, "numpy") else np.asarray(a),
            asarray=lambda a: on_device(lambda: tf.constant(a, dtype=tf_dtype)),
            int_array=lambda a: on_device(lambda: tf.constant(a, dtype=tf.int64)),
            dtype=name,
            device=device_name,
            run_chunk=loop.make_runner(dynamics, dev),
            model_name=model_name,
        )
