"""The numpy backend: the core's canonical cells and `lyapax.Map` on numpy.

It needs no adapter code beyond the core's own and is the reference path the
framework backends are checked against. Default dtype: float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .algorithm import run_chunk
from .backend import Backend, Plan, Runner
from .cells import Cell, Map
from .linalg import HOUSEHOLDER

__all__ = ["NumpyBackend"]


class NumpyBackend(Backend):
    """Canonical cells (numpy weights) and ``lyapax.Map`` on the CPU with numpy."""

    name = "numpy"
    modules = ("numpy",)
    extra = None
    accepts = "a lyapax.cells cell or a lyapax.Map"
    default_dtype = "float64"
    dtype_from_model = False  # the reference path computes in float64 unless asked
    autodiff = False
    differentiable_error = "the numpy backend has no autodiff; use the torch, jax or tensorflow backend."

    def recognises_model(self, model: Any) -> bool:
        return isinstance(model, Map) or (
            isinstance(model, Cell) and all(isinstance(a, np.ndarray) for a in model.arrays().values())
        )

    def recognises_array(self, array: Any) -> bool:
        return isinstance(array, np.ndarray)

    def namespace(self) -> Any:
        import array_api_compat.numpy as xp

        return xp

    def plan(self, model: Any) -> Plan | None:
        if isinstance(model, Map):
            return Plan("Map", input_size=model.input_size, dynamics=model)
        return None

    def asarray(self, value: Any, dtype: str | None, device: Any, *, differentiable: bool = False) -> Any:
        return np.asarray(value, dtype=dtype)

    def runner(self, dynamics: Any, device: Any, differentiable: bool) -> Runner:
        def quiet_run_chunk(carry, xs, start, length, ortho_every, *, qr=HOUSEHOLDER, factors=False):
            # log(0) and overflow are detected and reported by the driver; no numpy warnings on the way
            with np.errstate(all="ignore"):
                return run_chunk(self.namespace(), dynamics, carry, xs, start, length, ortho_every, qr=qr, factors=factors)

        return Runner(quiet_run_chunk, factors=True)
