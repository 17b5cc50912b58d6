"""The TensorFlow/Keras backend: `TensorFlowBackend`, the core's hooks filled in for TensorFlow.

What it accepts (see docs/backends/tensorflow.md): Keras 3 recurrent layers,
cells, ``StackedRNNCells`` and ``Sequential`` stacks on Keras's TensorFlow
backend (`.keras_layers`, shared with the JAX and torch backends, which take
Keras on theirs: standard cells as the core's canonical cells, other cells
through their own ``stateless_call``);
`lyapax.cells` cells with tf weights; any callable ``f(h, x) -> h_next`` on
tf tensors (the core's autodiff tangent with `.tangent`'s forward-mode JVP).
The chunk loop runs compiled with ``tf.function`` (`.loop`) on the device
of `.devices`. Default dtype: the layer's own weight dtype (float32 for
fresh layers), else the data's.

This module imports no framework: the registry asks `TensorFlowBackend`
about an object only once the user has imported TensorFlow (or Keras on it),
and the hooks import the modules that need TensorFlow when they run.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from lyapax.backend import Backend, Plan, Runner
from lyapax.cells import Cell
from lyapax.errors import InputError

__all__ = ["TensorFlowBackend"]


def _tf() -> Any:
    """TensorFlow, imported (quieting its C++ start-up logs unless the user set the level)."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def _load(name: str) -> ModuleType:
    """One of this package's modules that import TensorFlow at their top."""
    _tf()
    return importlib.import_module(f"{__package__}.{name}")


def _keras() -> Any:
    """Keras if the user imported it on TensorFlow, else ``None``."""
    keras = sys.modules.get("keras")
    try:
        return keras if keras is not None and keras.backend.backend() == "tensorflow" else None
    except Exception:  # noqa: BLE001 - a half-imported keras
        return None


def _is_keras(obj: Any, *, lists: bool = False) -> bool:
    """Whether ``obj`` is a Keras layer, cell or model (with ``lists``: or a list/tuple of them)."""
    keras = sys.modules.get("keras")
    if keras is None:
        return False
    if lists and isinstance(obj, (list, tuple)):
        return bool(obj) and all(_is_keras(o) for o in obj)
    return isinstance(obj, (keras.layers.Layer, keras.Model))


class TensorFlowBackend(Backend):
    """Keras 3 recurrent layers, cells and Sequential stacks, tf-weighted lyapax cells, any f(h, x) on tf tensors."""

    name = "tensorflow"
    modules = ("tensorflow", "keras")
    extra = "tensorflow"
    accepts = (
        "a Keras recurrent layer, cell or Sequential of recurrent layers (or a list of them), a step function "
        "f(h, x) -> h_next on tf tensors, or a lyapax.cells cell with tf weights"
    )
    #: steps per compiled chunk: one host transfer per chunk (lyapax.driver.Readback)
    chunk = 256

    # -- detection (keras may be imported on another backend: then it is not ours) --------------

    def is_installed(self) -> bool:
        return "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is not None

    def is_imported(self) -> bool:
        return "tensorflow" in sys.modules or _keras() is not None

    def recognises_model(self, model: Any) -> bool:
        if _is_keras(model):  # Keras on JAX or torch: the backend of that name takes it
            return _keras() is not None
        if isinstance(model, Cell):
            arrays = model.arrays()
            return bool(arrays) and all(self.recognises_array(a) for a in arrays.values())
        tf = sys.modules.get("tensorflow")
        return tf is not None and isinstance(model, tf.Module)

    def recognises_array(self, array: Any) -> bool:
        tf = sys.modules.get("tensorflow")
        if tf is not None and isinstance(array, (tf.Tensor, tf.Variable)):
            return True
        keras = _keras()
        if keras is not None and isinstance(array, keras.Variable):
            return True
        # Keras 3.0's TensorFlow variables are not instances of the exported keras.Variable
        return keras is not None and any(c.__name__ == "KerasVariable" for c in type(array).__mro__)

    # -- hooks -------------------------------------------------------------------------------

    def namespace(self) -> Any:
        return _load("namespace").namespace()

    def plan(self, model: Any) -> Plan | None:
        return _load("models").plan(model) if _is_keras(model, lists=True) else None

    def dtype_of(self, array: Any) -> str:
        return _tf().as_dtype(array.dtype).name

    def is_floating(self, array: Any) -> bool:
        return self.recognises_array(array) and _tf().as_dtype(array.dtype).is_floating

    def device(self, requested: Any, model_arrays: list, data_arrays: list) -> Any:
        return _load("devices").resolve_device(requested, model_arrays, data_arrays)

    def is_accelerator(self, device: Any) -> bool:
        return _load("devices").is_accelerator(device)

    def asarray(self, value: Any, dtype: str | None, device: Any, *, differentiable: bool = False) -> Any:
        """Floating tensors cast to ``dtype``, numpy values converted to it, on ``device``.

        TensorFlow has nothing to detach: a tensor stays on whatever ``GradientTape``
        the caller has open, and a variable's read is recorded by it (``differentiable``).
        """
        tf = _tf()
        with tf.device(device) if device else contextlib.nullcontext():
            if not self.recognises_array(value):
                t = tf.constant(np.asarray(value), dtype=dtype)
            else:
                t = tf.convert_to_tensor(value)
                if dtype is not None and (t.dtype.is_floating or not tf.as_dtype(dtype).is_floating):
                    t = tf.cast(t, dtype)
            return tf.identity(t) if device else t  # eager constants are made on the host: place it

    def to_numpy(self, array: Any) -> np.ndarray:
        return array.numpy() if hasattr(array, "numpy") else np.asarray(array)

    def scope(self, plan: Plan, dtypes: tuple[str, ...], device: Any, differentiable: bool) -> contextlib.AbstractContextManager:
        """The whole computation (weights, state, basis, compiled loop) under ``tf.device``; refused inside a
        ``tf.function`` (the driver reads each chunk's sums and flags back to the host, which a trace cannot)."""
        tf = _tf()
        if not tf.executing_eagerly():
            raise InputError(
                "tf.function: lyapax.spectrum was called inside a tf.function (graph mode); it runs its own compiled "
                "chunks and reads each one's results back to check them, which a trace cannot do. Call it "
                "eagerly, outside the tf.function (for gradients: differentiable=True inside a tf.GradientTape)."
            )
        return tf.device(device) if device else contextlib.nullcontext()

    def worker_scope(self, problem: Any) -> contextlib.AbstractContextManager:
        """``tf.device`` is thread-local: a thread that runs a share of the batch enters it too."""
        return _tf().device(problem.device) if problem.device else contextlib.nullcontext()

    def runner(self, dynamics: Any, device: Any, differentiable: bool) -> Runner:
        return Runner(_load("loop").make_runner(dynamics, differentiable), factors=True)

    def jvp(self, fn: Callable[[Any], Any], primal: Any, tangent: Any) -> tuple[Any, Any]:
        return _load("tangent").jvp(fn, primal, tangent)
