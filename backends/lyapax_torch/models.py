"""PyTorch's standard recurrent layers and cells as the core's canonical cells.

``nn.RNN`` (tanh, relu), ``nn.LSTM`` (with ``proj_size``), ``nn.GRU`` of any
``num_layers``, and ``nn.RNNCell`` / ``nn.LSTMCell`` / ``nn.GRUCell`` become
`lyapax.cells.Elman` / `LSTM` /
`GRU` (a `Stack` for several layers)
holding the module's own parameter tensors. PyTorch's gate order (LSTM
``i, f, g, o``; GRU ``r, z, n`` with ``b_hn`` inside the reset product) is the
core's canonical order, so the weights are used as they are: no copy unless a
dtype or device cast is asked for.

The state layout and the module-format ``h0`` are `.state`'s. Any other
``nn.Module`` is a step function ``module(h, x)`` (`.tangent.call_module`).
Keras 3 layers on Keras's torch backend are ``nn.Module``s too: they are planned by
`lyapax_tensorflow.keras_layers`, as on every Keras backend.

Dropout (``nn.RNN(dropout=...)`` between layers) is never applied: the spectrum
is that of the deterministic map.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

from lyapax.backend import Plan, whole_model_hint
from lyapax.cells import GRU, LSTM, Cell, Elman, Stack
from lyapax.errors import ModelTypeError
from lyapax.tangent import Step

from .state import flatten_h0, standard_class, state_dim, unflatten_state
from .tangent import call_module

__all__ = [
    "plan",
    "is_standard",
    "check_standard",
    "canonical_cell",
    "StepFunction",
    "step_function",
]


def plan(model: Any) -> Plan | None:
    """The plan of an ``nn.Module``: a standard layer's canonical cell, else the model as a step
    function ``model(h, x)`` (torch.func); a Keras model (``KERAS_BACKEND=torch``) as
    `lyapax_tensorflow.keras_layers` plans it; ``None`` for anything else."""
    if "keras" in sys.modules:  # Keras on torch: its layers are nn.Modules, planned as Keras's
        keras_layers = importlib.import_module("lyapax_tensorflow.keras_layers")
        if keras_layers.is_keras(model, lists=True):
            return keras_layers.plan(model, "torch")
    if not isinstance(model, nn.Module):
        return None
    params = list(model.parameters()) + list(model.buffers())
    name = repr(model).replace("\n", " ")
    if is_standard(model):
        check_standard(model)
        time_major = None if isinstance(model, nn.RNNCellBase) else not model.batch_first
        return Plan(
            name,
            params,
            model.input_size,
            time_major=time_major,
            cell=functools.partial(canonical_cell, model),
            state=functools.partial(flatten_h0, model),
        )
    if isinstance(model, (nn.RNNBase, nn.RNNCellBase)):
        check_standard(model)
        raise ModelTypeError(
            f"model: {type(model).__name__} subclasses a PyTorch RNN but overrides forward, so its weights "
            "cannot be read as a standard layer; pass a step function f(h, x) -> h_next that calls it."
        )
    named = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    inner = [(tuple(n.split(".")), type(m).__name__) for n, m in model.named_modules() if n and is_standard(m)]
    size = getattr(model, "input_size", None)
    return Plan(
        type(model).__name__,
        [p for p in params if p.is_floating_point()],
        size if isinstance(size, int) else None,
        step=Step(call_module, model, named),
        hint=whole_model_hint(model, inner),
    )


def is_standard(module: Any) -> bool:
    """Whether ``module`` is a standard PyTorch RNN layer or cell (analytic tangent maps)."""
    return standard_class(module) is not None


def check_standard(module: Any) -> None:
    """Reject standard layers whose configuration is not a causal dynamical system."""
    if isinstance(module, nn.RNNBase) and module.bidirectional:
        raise ModelTypeError(
            f"model: {type(module).__name__}(bidirectional=True) reads each sequence backwards as well as "
            "forwards, so it is not a causal dynamical system and has no Lyapunov spectrum. Use a "
            "unidirectional layer, or pass its forward direction as a separate nn."
            f"{type(module).__name__}(bidirectional=False) with the *_l<k> weights copied."
        )


def canonical_cell(model: Any, convert: Callable[[Any], Any]) -> Cell:
    """The canonical cell of a standard layer or cell; ``convert`` maps each parameter tensor."""
    cls = standard_class(model)
    if cls is None:
        raise ModelTypeError(f"model: {type(model).__name__} is not a standard PyTorch RNN layer or cell.")

    def get(name: str) -> Any:
        p = getattr(model, name, None)
        return None if p is None else convert(p)

    if cls in (nn.RNNCell, nn.LSTMCell, nn.GRUCell):
        return _make(cls, model, get, "")
    layers = [_make(cls, model, get, f"_l{i}") for i in range(model.num_layers)]
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
