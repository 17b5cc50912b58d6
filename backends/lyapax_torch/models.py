"""PyTorch's standard recurrent layers and cells as the core's canonical cells.

``nn.RNN`` (tanh, relu), ``nn.LSTM`` (with ``proj_size``), ``nn.GRU`` of any
``num_layers``, and ``nn.RNNCell`` / ``nn.LSTMCell`` / ``nn.GRUCell`` become
`lyapax.cells.Elman` / `LSTM` /
`GRU` (a `Stack` for several layers)
holding the module's own parameter tensors. PyTorch's gate order (LSTM
``i, f, g, o``; GRU ``r, z, n`` with ``b_hn`` inside the reset product) is the
core's canonical order, so the weights are used as they are: no copy unless a
dtype or device cast is asked for.

State layout (the core's ``(B, d)`` state): layer by layer, bottom first; an
LSTM layer contributes ``[h_l; c_l]`` (``P + H`` with ``proj_size=P``). The
``h0`` a user passes is what the module itself takes, and is converted here:

- ``nn.RNN`` / ``nn.GRU``: a tensor ``(num_layers, B, H)``;
- ``nn.LSTM``: a tuple ``(h0, c0)`` of ``(num_layers, B, P or H)`` and ``(num_layers, B, H)``;
- ``nn.RNNCell`` / ``nn.GRUCell``: a tensor ``(B, H)``; ``nn.LSTMCell``: a tuple ``(h, c)`` of ``(B, H)``.

Dropout (``nn.RNN(dropout=...)`` between layers) is never applied: the spectrum
is that of the deterministic map.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from lyapax.backend import Plan, whole_model_hint
from lyapax.cells import GRU, LSTM, Cell, Elman, Stack
from lyapax.errors import InputError, ModelTypeError
from lyapax.tangent import Step

from .tangent import call_module

__all__ = [
    "plan",
    "is_standard",
    "to_cell",
    "flatten_h0",
    "unflatten_state",
    "StepFunction",
    "step_function",
]


def plan(module: Any) -> Plan | None:
    """The plan of an ``nn.Module``: a standard layer's canonical cell, else the module as a step
    function ``module(h, x)`` (torch.func); ``None`` for anything that is not a module."""
    if not isinstance(module, nn.Module):
        return None
    params = list(module.parameters()) + list(module.buffers())
    name = repr(module).replace("\n", " ")
    if is_standard(module):
        check_standard(module)
        time_major = None if isinstance(module, nn.RNNCellBase) else not module.batch_first
        return Plan(
            name,
            params,
            module.input_size,
            time_major=time_major,
            cell=lambda convert: to_cell(module, convert),
            state=lambda h0, batch, convert: convert(flatten_h0(module, h0, batch)),
        )
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        check_standard(module)
        raise ModelTypeError(
            f"model: {type(module).__name__} subclasses a PyTorch RNN but overrides forward, so its weights "
            "cannot be read as a standard layer; pass a step function f(h, x) -> h_next that calls it."
        )
    named = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    inner = [(tuple(n.split(".")), type(m).__name__) for n, m in module.named_modules() if n and is_standard(m)]
    size = getattr(module, "input_size", None)
    return Plan(
        type(module).__name__,
        [p for p in params if p.is_floating_point()],
        size if isinstance(size, int) else None,
        step=Step(call_module, module, named),
        hint=whole_model_hint(module, inner),
    )


_STANDARD = (nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell)


def _base_standard(module: Any) -> type | None:
    """The standard PyTorch class ``module`` is (or subclasses without changing ``forward``)."""
    for cls in _STANDARD:
        if isinstance(module, cls):
            if type(module) is cls or type(module).forward is cls.forward:
                return cls
            return None
    return None


def is_standard(module: Any) -> bool:
    """Whether ``module`` is a standard PyTorch RNN layer or cell (analytic tangent maps)."""
    return _base_standard(module) is not None


def check_standard(module: Any) -> None:
    """Reject standard layers whose configuration is not a causal dynamical system."""
    if isinstance(module, nn.RNNBase) and module.bidirectional:
        raise ModelTypeError(
            f"model: {type(module).__name__}(bidirectional=True) reads each sequence backwards as well as "
            "forwards, so it is not a causal dynamical system and has no Lyapunov spectrum. Use a "
            "unidirectional layer, or pass its forward direction as a separate nn."
            f"{type(module).__name__}(bidirectional=False) with the *_l<k> weights copied."
        )


def to_cell(module: Any, convert: Callable[[Any], Any]) -> Cell:
    """The canonical cell of a standard layer or cell; ``convert`` maps each parameter tensor."""
    cls = _base_standard(module)
    if cls is None:
        raise ModelTypeError(f"model: {type(module).__name__} is not a standard PyTorch RNN layer or cell.")

    def get(name: str) -> Any:
        p = getattr(module, name, None)
        return None if p is None else convert(p)

    if cls in (nn.RNNCell, nn.LSTMCell, nn.GRUCell):
        return _make(cls, module, get, "")
    layers = [_make(cls, module, get, f"_l{i}") for i in range(module.num_layers)]
    return layers[0] if len(layers) == 1 else Stack(layers)


def _make(cls: type, module: Any, get: Callable[[str], Any], suffix: str) -> Cell:
    args = dict(
        weight_ih=get("weight_ih" + suffix),
        weight_hh=get("weight_hh" + suffix),
        bias_ih=get("bias_ih" + suffix),
        bias_hh=get("bias_hh" + suffix),
    )
    if cls in (nn.RNN, nn.RNNCell):
        return Elman(**args, nonlinearity=module.nonlinearity)
    if cls in (nn.LSTM, nn.LSTMCell):
        return LSTM(**args, weight_hr=get("weight_hr" + suffix))
    return GRU(**args, reset_after=True)


def _as_tensor(value: Any, what: str) -> Any:
    if isinstance(value, torch.Tensor):
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


def flatten_h0(module: Any, h0: Any, batch: int) -> Any:
    """The module-format initial state ``h0`` as the core's ``(B, d)`` state (a new tensor)."""
    cls = _base_standard(module)
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
    cls = _base_standard(module)
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
    cls = _base_standard(module)
    H = module.hidden_size
    if cls in (nn.RNNCell, nn.GRUCell):
        return H
    if cls is nn.LSTMCell:
        return 2 * H
    if cls is nn.LSTM:
        return module.num_layers * ((module.proj_size or H) + H)
    return module.num_layers * H


class StepFunction(nn.Module):
    """A standard PyTorch layer or cell as a step function ``f(h, x) -> h_next``.

    ``h`` is the core's flat state ``(B, d)`` (layers bottom first, LSTM
    layers ``[h_l; c_l]``); ``x`` is one input step ``(B, F)``. The step
    runs the module's own ``forward``, so passing this to
    `lyapax.spectrum` takes the autodiff (torch.func JVP) path instead
    of the analytic one: an independent check of the weight extraction.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        check_standard(module)
        if not is_standard(module):
            raise ModelTypeError(
                f"module: step_function wraps a standard nn.RNN/LSTM/GRU or cell, got {type(module).__name__}; "
                "any other module can be passed to lyapax.spectrum directly as f(h, x) -> h_next."
            )
        self.module = module
        self.dim = state_dim(module)
        self.input_size = module.input_size

    def forward(self, h: Any, x: Any) -> Any:
        m = self.module
        state = unflatten_state(m, h)
        if isinstance(m, nn.RNNBase):
            seq = x[:, None, :] if m.batch_first else x[None]
            _, new = m(seq, state)
        else:
            new = m(x, state)
        if isinstance(m, nn.LSTMCell):
            return torch.cat(list(new), dim=1)
        if isinstance(m, nn.LSTM):
            hn, cn = new
            return torch.cat([hn, cn], dim=-1).transpose(0, 1).reshape(h.shape[0], -1)
        if isinstance(m, nn.RNNBase):
            return new.transpose(0, 1).reshape(h.shape[0], -1)
        return new


def step_function(module: Any) -> Any:
    """Wrap a standard PyTorch layer or cell as a step function ``f(h, x) -> h_next`` (an ``nn.Module``).

    The state ``h`` is the core's flat ``(B, d)`` layout (see `lyapax_torch.models`).
    Passing the result to `lyapax.spectrum` (with ``h0`` of shape ``(B, d)``, e.g.
    zeros) computes the spectrum through torch.func JVPs of the module's own
    ``forward`` rather than the analytic tangent maps.
    """
    return StepFunction(module)
