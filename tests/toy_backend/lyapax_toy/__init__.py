"""A toy third-party backend: its own RNN classes on numpy, registered through entry points.

The minimal template of a backend (docs/writing-a-backend.md): copy it to start one. It shows the whole contract of a backend in a few lines: recognise your models
and arrays, say how a model becomes the core's canonical cell (``plan``), how
arrays are converted (``asarray``), and give a forward-mode derivative
(``jvp``: here central differences) for step functions. The core does the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import lyapax
from lyapax.backend import Backend, Plan

__all__ = ["ToyBackend", "ToyRNN", "ToyArray"]


class ToyArray(np.ndarray):
    """The toy framework's array type (a numpy subclass)."""


@dataclass
class ToyRNN:
    """The toy framework's recurrent layer: ``kind`` in tanh/relu/lstm/gru/gru_before, layers stacked."""

    kind: str
    weights: list  # per layer: dict of numpy arrays named like lyapax.cells' fields

    def to_cell(self, convert: Callable[[Any], Any]) -> lyapax.cells.Cell:
        layers = []
        for w in self.weights:
            w = {k: None if v is None else convert(v) for k, v in w.items()}
            if self.kind in ("tanh", "relu"):
                layers.append(lyapax.cells.Elman(**w, nonlinearity=self.kind))
            elif self.kind == "lstm":
                layers.append(lyapax.cells.LSTM(**w))
            else:
                layers.append(lyapax.cells.GRU(**w, reset_after=self.kind == "gru"))
        return layers[0] if len(layers) == 1 else lyapax.cells.Stack(layers)


class ToyBackend(Backend):
    name = "toy"
    modules = ("lyapax_toy",)
    accepts = "a ToyRNN or a step function f(h, x)"
    default_dtype = "float64"

    def recognises_model(self, model: Any) -> bool:
        return isinstance(model, ToyRNN)

    def recognises_array(self, array: Any) -> bool:
        return isinstance(array, ToyArray)

    def namespace(self) -> Any:
        import array_api_compat.numpy as xp

        return xp

    def plan(self, model: Any) -> Plan | None:
        if not isinstance(model, ToyRNN):
            return None
        params = [v for w in model.weights for v in w.values() if v is not None]
        return Plan("ToyRNN", params, int(model.weights[0]["weight_ih"].shape[1]), cell=model.to_cell)

    def asarray(self, value: Any, dtype: str | None, device: Any, *, differentiable: bool = False) -> Any:
        return np.asarray(value, dtype=dtype)

    def jvp(self, fn: Callable[[Any], Any], primal: Any, tangent: Any) -> tuple[Any, Any]:
        """Central differences scaled to the state: exact (to round-off) for linear maps,
        which is all the conformance suite passes as step functions."""
        eps = 1e-3 * (1.0 + np.abs(primal).max())
        return fn(primal), (fn(primal + eps * tangent) - fn(primal - eps * tangent)) / (2 * eps)
