"""Builders for lyapax's conformance suite (see `lyapax.testing.conformance`), in PyTorch.

A canonical cell (PyTorch's own conventions) becomes ``nn.RNN`` / ``nn.LSTM``
(with ``proj_size``) / ``nn.GRU`` with the same weights; a homogeneous
`lyapax.cells.Stack` becomes the same module with ``num_layers``.
PyTorch has no GRU with the reset gate before the recurrent matmul, so
``"gru_before"`` is not among `KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn

import lyapax

from .state import flatten_h0, unflatten_state

__all__ = ["KINDS", "native_model", "native_array", "native_step", "linear_step", "snapshot"]

KINDS = ("tanh", "relu", "lstm", "gru")


def _dtype(name: str) -> Any:
    return {"float32": torch.float32, "float64": torch.float64}[name]


def native_model(cell: lyapax.cells.Cell, dtype: str = "float64") -> Any:
    """``nn.RNN``/``nn.LSTM``/``nn.GRU`` (``batch_first=True``) holding the cell's weights."""

    layers = cell.layers if isinstance(cell, lyapax.cells.Stack) else [cell]
    first = layers[0]
    bias = first.bias_ih is not None or first.bias_hh is not None
    kw = {"num_layers": len(layers), "bias": bias, "batch_first": True, "dtype": _dtype(dtype)}
    if isinstance(first, lyapax.cells.Elman):
        module = nn.RNN(first.input_size, first.dim, nonlinearity=first.nonlinearity, **kw)
    elif isinstance(first, lyapax.cells.LSTM):
        proj = first.output_size if first.weight_hr is not None else 0
        module = nn.LSTM(first.input_size, first.hidden_size, proj_size=proj, **kw)
    elif isinstance(first, lyapax.cells.GRU) and first.reset_after:
        module = nn.GRU(first.input_size, first.dim, **kw)
    else:
        raise NotImplementedError(f"PyTorch has no standard layer for {first!r:.40}")
    names = {"weight_ih": "weight_ih", "weight_hh": "weight_hh", "bias_ih": "bias_ih", "bias_hh": "bias_hh",
             "weight_hr": "weight_hr"}
    with torch.no_grad():
        for i, layer in enumerate(layers):
            for field, prefix in names.items():
                value = getattr(layer, field, None)
                param = getattr(module, f"{prefix}_l{i}", None)
                if param is None:
                    continue
                param.copy_(torch.as_tensor(np.zeros(param.shape) if value is None else np.asarray(value)))
    return module


def native_array(a: np.ndarray, dtype: str) -> Any:
    """A numpy array as a CPU tensor of ``dtype``."""

    return torch.as_tensor(np.array(a), dtype=_dtype(dtype))


def native_step(model: Any, h: np.ndarray, x: np.ndarray, dtype: str) -> np.ndarray:
    """One step of the module's own ``forward`` from the flat canonical state ``h (B, d)``."""

    with torch.no_grad():
        state = unflatten_state(model, native_array(h, dtype))
        _, new = model(native_array(x, dtype)[:, None, :], state)
        return flatten_h0(model, new, h.shape[0], lambda t: t).numpy()


def linear_step(A: np.ndarray, U: np.ndarray, dtype: str) -> Callable[[Any, Any], Any]:
    """``f(h, x) = h A^T + x U^T`` in torch ops (for the autodiff path)."""
    At, Ut = native_array(A.T, dtype), native_array(U.T, dtype)
    return lambda h, x: h @ At + x @ Ut


def snapshot(model: Any) -> list:
    """Parameters and buffers, training flags, requires_grad and the global RNG state."""

    if not isinstance(model, torch.nn.Module):
        return [torch.random.get_rng_state().numpy()]
    return [
        [t.detach().cpu().numpy().copy() for t in model.state_dict().values()],
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
        torch.random.get_rng_state().numpy(),
    ]
