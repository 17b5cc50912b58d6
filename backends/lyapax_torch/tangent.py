"""PyTorch's autodiff primitives for the core's tangent maps of step functions (see `lyapax.tangent`).

The core flattens the state, calls the step and vectorises the JVP over the
basis columns; PyTorch supplies forward-mode `jvp` and `vmap`
from ``torch.func``. An ``nn.Module`` step runs through
``torch.func.functional_call`` with its parameters cast to the compute dtype
and device (`call_module`), so the user's module is never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["call_module", "jvp", "vmap"]


def call_module(module: Any, params: dict, h: Any, x: Any) -> Any:
    """``module(h, x)`` with ``params`` (name -> tensor) in place of its own parameters and buffers."""
    import torch

    return torch.func.functional_call(module, params, (h, x))


def jvp(fn: Callable[[Any], Any], primal: Any, tangent: Any) -> tuple[Any, Any]:
    """``(fn(primal), J tangent)`` by forward-mode autodiff (``torch.func.jvp``)."""
    import torch

    return torch.func.jvp(fn, (primal,), (tangent,))


def vmap(fn: Callable[..., Any], in_axis: int, out_axes: Any) -> Callable[..., Any]:
    """``fn`` vectorised over axis ``in_axis`` of its argument (``torch.func.vmap``)."""
    import torch

    return torch.func.vmap(fn, in_dims=in_axis, out_dims=out_axes)
