"""The JAX backend: `JaxBackend`, the core's hooks filled in for JAX.

What it accepts (see docs/backends/jax.md), one class per library in `.models`:
``flax.nnx`` cells, ``nnx.RNN`` and modules holding a stack of ``nnx.RNN``
layers; ``flax.linen`` modules with their variables (``(module, variables)``
or bound); ``equinox`` cells and modules; Keras 3 layers and cells on Keras's
JAX backend (``KERAS_BACKEND=jax``); `lyapax.cells` cells with JAX
weights; any function ``f(h, x) -> h_next`` over (pytrees of) batched arrays.
Standard cells become the core's analytic cells; everything else gets its
tangent map from ``jax.jvp`` (the core's autodiff tangent with `.tangent`'s
primitives). The iteration runs in compiled chunks (`.loop`); float64 is
enabled only for the duration of a computation (`.namespace.x64`).
Gradients of the spectrum come from `lyapax_jax.exponents` (`.functional`).

This module imports no framework: the registry asks `JaxBackend` about
an object only once the user has imported JAX, and the hooks import the
modules that need JAX when they run.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from lyapax.backend import Backend, Plan, Runner

__all__ = ["JaxBackend"]


def _jax() -> Any:
    return sys.modules["jax"]


class JaxBackend(Backend):
    """JAX: Flax nnx/linen and Equinox cells (analytic), lyapax cells with JAX weights, any f(h, x) (jax.jvp)."""

    name = "jax"
    vectorises = True
    # Two Python threads each running a compiled loop with a batched QR deadlock in XLA's CPU
    # runtime (jax 0.10.2; reproduced without lyapax), so the batch is never split over threads.
    max_threads = 1
    thread_limit_reason = "two threads running compiled loops with a batched QR deadlock in XLA's CPU runtime"
    modules = ("jax",)
    extra = "jax"
    accepts = (
        "flax.nnx modules, flax.linen modules with their variables ((module, variables)), equinox modules, "
        "lyapax.cells cells with jax weights, or a function f(h, x) -> h_next over jax arrays"
    )
    differentiable_error = (
        "in JAX, gradients come from transforming a pure function, which lyapax.spectrum (a host loop with "
        "checks between compiled chunks) is not. Use lyapax_jax.exponents(model, params, inputs, k=..., "
        "warmup=...) inside jax.grad / nnx.grad / eqx.filter_grad: it returns the (batch, k) exponents as a "
        "differentiable jax array; for gradient flossing, lyapax_jax.flossing_loss(model, params, inputs, k=...) "
        "(see docs/backends/jax.md)."
    )
    chunk = 256

    # -- detection ---------------------------------------------------------------------------

    def recognises_model(self, model: Any) -> bool:
        from .models import recognises

        return recognises(model)

    def recognises_array(self, array: Any) -> bool:
        jax = _jax()
        if isinstance(array, (tuple, list, dict)) and array:  # a carry pytree given as h0
            leaves = jax.tree_util.tree_leaves(array)
            return bool(leaves) and all(isinstance(a, jax.Array) for a in leaves)
        return isinstance(array, jax.Array)

    # -- hooks -------------------------------------------------------------------------------

    def namespace(self) -> Any:
        from .namespace import namespace

        return namespace()

    def plan(self, model: Any) -> Plan | None:
        from .models import plan

        return plan(model)

    def dtype_of(self, array: Any) -> str:
        try:
            return np.dtype(array.dtype).name
        except TypeError:  # PRNG key arrays
            return str(array.dtype)

    def is_floating(self, array: Any) -> bool:
        jnp = sys.modules["jax.numpy"]
        dtype = getattr(array, "dtype", None)
        return dtype is not None and bool(jnp.issubdtype(dtype, jnp.floating))

    def device(self, requested: Any, model_arrays: list, data_arrays: list) -> Any:
        from .devices import resolve_device

        return resolve_device(requested, model_arrays, data_arrays)

    def is_accelerator(self, device: Any) -> bool:
        from .devices import is_accelerator

        return is_accelerator(device)

    def asarray(self, value: Any, dtype: str | None, device: Any, *, differentiable: bool = False) -> Any:
        from .namespace import x64_enabled

        jax = _jax()
        if dtype == "int64" and not x64_enabled():
            dtype = "int32"
        if not isinstance(value, jax.Array):
            value = np.asarray(value)
            return jax.device_put(value if dtype is None else value.astype(dtype), device)
        if dtype is not None and (self.is_floating(value) or np.dtype(dtype).kind != "f"):
            value = value.astype(dtype)
        if isinstance(value, jax.core.Tracer):  # inside a transformation: placement is the caller's
            return value
        return jax.device_put(value, device)

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.asarray(_jax().device_get(array))

    def scope(self, plan: Plan, dtypes: tuple[str, ...], device: Any, differentiable: bool) -> contextlib.AbstractContextManager:
        """float64 enabled for this computation only (thread-local ``jax.enable_x64``, restored on exit)."""
        from .namespace import x64

        return x64("float64" in dtypes)

    def worker_scope(self, problem: Any) -> contextlib.AbstractContextManager:
        """float64 mode is thread-local: a thread that runs a share of the batch enables it too."""
        from .namespace import x64

        return x64("float64" in (problem.dtype, problem.qr_dtype))

    def runner(self, dynamics: Any, device: Any, differentiable: bool) -> Runner:
        from .loop import make_runner

        return Runner(make_runner(dynamics, differentiable), factors=True)

    # autodiff primitives (see lyapax.tangent)

    def tree_flatten(self, tree: Any) -> tuple[list, Any]:
        from .tangent import tree_flatten

        return tree_flatten(tree)

    def tree_unflatten(self, treedef: Any, leaves: list) -> Any:
        from .tangent import tree_unflatten

        return tree_unflatten(treedef, leaves)

    def jvp(self, fn: Callable[[Any], Any], primal: Any, tangent: Any) -> tuple[Any, Any]:
        from .tangent import jvp

        return jvp(fn, primal, tangent)

    def vmap(self, fn: Callable[..., Any], in_axis: int, out_axes: Any) -> Callable[..., Any]:
        from .tangent import vmap

        return vmap(fn, in_axis, out_axes)
