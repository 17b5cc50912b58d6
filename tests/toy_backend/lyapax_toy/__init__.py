"""A toy third-party backend: its own RNN classes on numpy, registered through entry points.

It shows the whole contract of a backend in a few lines: recognise your models,
turn them into a :class:`lyapax.backend.Problem` (here with the core's canonical
cells as dynamics), and let the core iterate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import lyapax
from lyapax.backend import Backend, Problem
from lyapax.errors import ModelTypeError
from lyapax.validation import check_h0_shape, check_inputs_shape

__all__ = ["ToyBackend", "ToyRNN", "ToyArray"]


class ToyArray(np.ndarray):
    """The toy framework's array type (a numpy subclass)."""


@dataclass
class ToyRNN:
    """The toy framework's recurrent layer: ``kind`` in tanh/relu/lstm/gru/gru_before, layers stacked."""

    kind: str
    weights: list  # per layer: dict of numpy arrays named like lyapax.cells' fields

    def to_cell(self, dtype: str) -> lyapax.cells.Cell:
        layers = []
        for w in self.weights:
            w = {k: None if v is None else np.asarray(v, dtype=dtype) for k, v in w.items()}
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
    extra = None

    def recognises_model(self, model: Any) -> bool:
        return isinstance(model, ToyRNN)

    def recognises_array(self, array: Any) -> bool:
        return isinstance(array, ToyArray)

    def prepare(self, model, inputs, *, steps, h0, dtype, device, differentiable) -> Problem:
        import array_api_compat.numpy as xp

        dtype = dtype or "float64"
        if callable(model) and not isinstance(model, ToyRNN):
            dynamics = lyapax.Map(model, _finite_difference_jacobian(model))
        elif isinstance(model, ToyRNN):
            dynamics = model.to_cell(dtype)
        else:
            raise ModelTypeError(f"model: the toy backend takes a ToyRNN or a step function, got {type(model).__name__}.")
        batch, xs = None, None
        if inputs is not None:
            arr = np.asarray(inputs)
            batch, steps, _ = check_inputs_shape(arr.shape, getattr(dynamics, "input_size", None))
            xs = np.swapaxes(arr.astype(dtype), 0, 1)
        dim = dynamics.dim if dynamics.dim is not None else np.shape(h0)[1]
        state = np.zeros((batch, dim), dtype) if h0 is None else np.array(h0, dtype=dtype)
        check_h0_shape(state.shape, batch, dim)
        if isinstance(dynamics, lyapax.Map):
            dynamics = lyapax.Map(dynamics.step_fn, dynamics.jacobian_fn, dim=dim)
        return Problem(xp=xp, dynamics=dynamics, inputs=xs, h0=state, steps=int(steps), to_numpy=np.asarray,
                       asarray=lambda a: np.asarray(a, dtype=dtype), int_array=np.asarray, dtype=dtype)


def _finite_difference_jacobian(step, rel: float = 1e-3):
    """Central differences scaled to the state; exact (to round-off) for linear maps,
    which is all the conformance suite passes as step functions."""

    def jacobian(h: np.ndarray, x: np.ndarray | None) -> np.ndarray:
        d = h.shape[1]
        eps = rel * (1.0 + np.abs(h).max(axis=1, keepdims=True))
        cols = [(step(h + eps * e, x) - step(h - eps * e, x)) / (2 * eps) for e in np.eye(d)]
        return np.stack(cols, axis=2)

    return jacobian
