"""The numpy backend: the core's canonical cells and :class:`lyapax.Map` on numpy.

It needs no adapter code beyond the core's own and is the reference path the
framework backends are checked against. Default dtype: float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .algorithm import run_chunk
from .backend import Backend, Problem
from .cells import Cell, Map
from .errors import InputError, ModelTypeError
from .validation import check_h0_shape, check_inputs_shape

__all__ = ["NumpyBackend"]


def _is_numpy_model(model: Any) -> bool:
    return isinstance(model, (Cell, Map)) and all(isinstance(a, np.ndarray) for a in model.arrays().values())


class NumpyBackend(Backend):
    """Canonical cells (numpy weights) and ``lyapax.Map`` on the CPU with numpy."""

    name = "numpy"
    modules = ("numpy",)
    extra = None

    def recognises_model(self, model: Any) -> bool:
        return _is_numpy_model(model)

    def recognises_array(self, array: Any) -> bool:
        return isinstance(array, np.ndarray)

    def prepare(self, model, inputs, *, steps, h0, dtype, device, differentiable) -> Problem:
        import array_api_compat.numpy as xp

        if not isinstance(model, (Cell, Map)):
            raise ModelTypeError(
                f"model: the numpy backend takes a lyapax.cells cell or a lyapax.Map, got {type(model).__name__}."
            )
        if device not in (None, "cpu"):
            raise InputError(f"device: the numpy backend runs on the CPU only, got {device!r}; omit device.")
        if differentiable:
            raise InputError("differentiable: the numpy backend has no autodiff; use the torch, jax or tensorflow backend.")
        np_dtype = np.dtype(dtype or "float64")
        dynamics = model.map_arrays(lambda a: np.asarray(a, dtype=np_dtype)) if isinstance(model, Cell) else model
        input_size = getattr(dynamics, "input_size", None)

        xs, batch = None, None
        if inputs is not None:
            try:
                arr = np.asarray(inputs)
            except Exception as exc:
                raise InputError(
                    f"inputs: cannot read {type(inputs).__name__} as a numpy array ({exc}); pass a numpy array "
                    "or use the backend of the inputs' framework."
                ) from exc
            if not np.issubdtype(arr.dtype, np.number):
                raise InputError(f"inputs: expected numbers, got dtype {arr.dtype}.")
            batch, steps, _ = check_inputs_shape(arr.shape, input_size)
            xs = np.swapaxes(np.asarray(arr, dtype=np_dtype), 0, 1)  # a view when no cast is needed

        dim = dynamics.dim
        if h0 is None:
            if dim is None:
                raise InputError("h0: a Map needs an initial state h0 of shape (batch, d), or Map(..., dim=d).")
            state = np.zeros((batch or 1, dim), dtype=np_dtype)
        else:
            state = np.array(h0, dtype=np_dtype)  # a copy: the user's h0 is never touched
            check_h0_shape(state.shape, batch, dim)
        if isinstance(dynamics, Map) and dynamics.dim is None:
            dynamics = Map(dynamics.step_fn, dynamics.jacobian_fn, dim=state.shape[1], input_size=input_size)
        def quiet_run_chunk(carry, xs, start, length, ortho_every):
            # log(0) and overflow are detected and reported by the driver; no numpy warnings on the way
            with np.errstate(all="ignore"):
                return run_chunk(xp, dynamics, carry, xs, start, length, ortho_every)

        return Problem(
            xp=xp,
            run_chunk=quiet_run_chunk,
            dynamics=dynamics,
            inputs=xs,
            h0=state,
            steps=int(steps),
            to_numpy=np.asarray,
            asarray=lambda a: np.asarray(a, dtype=np_dtype),
            int_array=np.asarray,
            dtype=np_dtype.name,
            device="cpu",
            model_name=type(model).__name__,
        )
