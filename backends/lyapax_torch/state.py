"""The state of PyTorch's standard layers and cells in the core's ``(B, d)`` layout: `flatten_h0`.

Layer by layer, bottom first; an LSTM layer contributes ``[h_l; c_l]`` (``P + H`` with
``proj_size=P``). The ``h0`` a user passes is what the module itself takes:

- ``nn.RNN`` / ``nn.GRU``: a tensor ``(num_layers, B, H)``;
- ``nn.LSTM``: a tuple ``(h0, c0)`` of ``(num_layers, B, P or H)`` and ``(num_layers, B, H)``;
- ``nn.RNNCell`` / ``nn.GRUCell``: a tensor ``(B, H)``; ``nn.LSTMCell``: a tuple ``(h, c)`` of ``(B, H)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from lyapax.errors import InputError

from .devices import check_tensor

__all__ = ["flatten_h0", "unflatten_state", "state_dim", "standard_class"]

_STANDARD = (nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell)


def standard_class(module: Any) -> type | None:
    """The standard PyTorch class ``module`` is (or subclasses without changing ``forward``)."""
    for cls in _STANDARD:
        if isinstance(module, cls):
            if type(module) is cls or type(module).forward is cls.forward:
                return cls
            return None
    return None



def _as_tensor(value: Any, what: str) -> Any:
    if isinstance(value, torch.Tensor):
        check_tensor(value, "h0")
        return value
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value)
    raise InputError(f"h0: expected {what} as a torch tensor (or numpy array), got {type(value).__name__}.")


def _expect(t: Any, shape: tuple[int, ...], what: str, hint: str = "") -> None:
    got = tuple(int(s) for s in t.shape)
    if got != shape:
        extra = ""
        if len(got) == len(shape) - 1:
            extra = (
                " An unbatched state (without the batch axis) is not accepted because lyapax inputs are "
                "always batched (batch, time, features); add the batch axis"
                f"{hint}."
            )
        raise InputError(f"h0: expected {what} of shape {shape}, got {got}.{extra}")


def flatten_h0(layout: Any, h0: Any, batch: int, convert: Callable[[Any], Any]) -> Any:
    """``Plan.state``: the module-format initial state ``h0`` as the core's ``(B, d)`` state, through
    ``convert`` (dtype, device); ``layout``: the standard module (its class and sizes)."""
    return convert(_flat(layout, h0, batch))


def _flat(module: Any, h0: Any, batch: int) -> Any:
    cls = standard_class(module)
    if cls in (nn.RNNCell, nn.GRUCell):
        h = _as_tensor(h0, f"a ({batch}, {module.hidden_size}) tensor")
        _expect(h, (batch, module.hidden_size), f"{cls.__name__} state h", " (h[None].expand(batch, -1))")
        return h.reshape(batch, -1)
    if cls is nn.LSTMCell:
        if not isinstance(h0, (tuple, list)) or len(h0) != 2:
            raise InputError(
                f"h0: nn.LSTMCell takes its state as a tuple (h, c) of two ({batch}, {module.hidden_size}) tensors, "
                f"got {type(h0).__name__}."
            )
        h, c = (_as_tensor(v, f"({batch}, {module.hidden_size}) tensors") for v in h0)
        _expect(h, (batch, module.hidden_size), "h (first of (h, c))")
        _expect(c, (batch, module.hidden_size), "c (second of (h, c))")
        return torch.cat([h, c.to(h.dtype)], dim=1)
    L, H = module.num_layers, module.hidden_size
    if cls is nn.LSTM:
        P = module.proj_size or H
        if not isinstance(h0, (tuple, list)) or len(h0) != 2:
            raise InputError(
                f"h0: nn.LSTM takes its initial state as a tuple (h0, c0) of shapes ({L}, {batch}, {P}) and "
                f"({L}, {batch}, {H}) (num_layers, batch, size), whatever batch_first is; got {type(h0).__name__}."
            )
        h, c = (_as_tensor(v, "(num_layers, batch, size) tensors") for v in h0)
        _expect(h, (L, batch, P), "h0 (first of (h0, c0), (num_layers, batch, proj_size or hidden_size))")
        _expect(c, (L, batch, H), "c0 (second of (h0, c0), (num_layers, batch, hidden_size))")
        c = c.to(h.dtype)
        return torch.cat([torch.cat([h[i], c[i]], dim=1) for i in range(L)], dim=1)
    if isinstance(h0, (tuple, list)):
        raise InputError(f"h0: {cls.__name__} takes a single tensor (num_layers, batch, hidden_size), not a tuple.")
    h = _as_tensor(h0, f"a ({L}, {batch}, {H}) tensor")
    _expect(h, (L, batch, H), f"{cls.__name__} state (num_layers, batch, hidden_size), whatever batch_first is")
    return torch.cat([h[i] for i in range(L)], dim=1)


def unflatten_state(module: Any, state: Any) -> Any:
    """The core's ``(B, d)`` state in the module's own format (inverse of `flatten_h0`)."""
    cls = standard_class(module)
    if cls in (nn.RNNCell, nn.GRUCell):
        return state
    if cls is nn.LSTMCell:
        H = module.hidden_size
        return state[:, :H], state[:, H:]
    L, H = module.num_layers, module.hidden_size
    if cls is nn.LSTM:
        P = module.proj_size or H
        parts = state.reshape(state.shape[0], L, P + H)
        return parts[..., :P].transpose(0, 1).contiguous(), parts[..., P:].transpose(0, 1).contiguous()
    return state.reshape(state.shape[0], L, H).transpose(0, 1).contiguous()


def state_dim(module: Any) -> int:
    """The state dimension ``d`` of a standard layer or cell."""
    cls = standard_class(module)
    H = module.hidden_size
    if cls in (nn.RNNCell, nn.GRUCell):
        return H
    if cls is nn.LSTMCell:
        return 2 * H
    if cls is nn.LSTM:
        return module.num_layers * ((module.proj_size or H) + H)
    return module.num_layers * H
