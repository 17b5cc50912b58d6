"""PyTorch's autodiff primitives for the core's tangent maps of step functions (see `lyapax.tangent`).

The core flattens the state, calls the step and vectorises the JVP over the
basis columns; PyTorch supplies forward-mode `jvp` and `vmap` from
``torch.func`` (state trees are the core's nested tuples and lists). An ``nn.Module`` step runs through
``torch.func.functional_call`` with its parameters cast to the compute dtype
and device (`call_module`), so the user's module is never changed.

torch's forward-AD levels are process-global: two threads inside ``torch.func.jvp``
at once fail with "Trying to create a dual Tensor for forward AD but no level
exists" (torch 2.13, two ``lyapax.spectrum`` calls on step functions from two
threads). So one lock serialises every JVP (and vmapped JVP) of the process; the
rest of a time step (the QR, the analytic cells) runs concurrently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["call_module", "jvp", "vmap", "FORWARD_AD_LOCK"]

#: held around each forward-mode call (re-entrant: a vmapped JVP takes it twice)
FORWARD_AD_LOCK = threading.RLock()


def call_module(static: Any, params: dict, h: Any, x: Any) -> Any:
    """``static(h, x)`` for the ``nn.Module`` ``static``, with ``params`` (name -> tensor) in place of
    its own parameters and buffers."""
    return torch.func.functional_call(static, params, (h, x))


def jvp(fn: Callable[[Any], Any], primal: Any, tangent: Any) -> tuple[Any, Any]:
    """``(fn(primal), J tangent)`` by forward-mode autodiff (``torch.func.jvp``)."""
    if torch.compiler.is_compiling():  # traced into a graph of plain kernels: no forward-AD level at run time
        return torch.func.jvp(fn, (primal,), (tangent,))
    with FORWARD_AD_LOCK:
        return torch.func.jvp(fn, (primal,), (tangent,))


def vmap(fn: Callable[..., Any], in_axis: int, out_axes: Any) -> Callable[..., Any]:
    """``fn`` vectorised over axis ``in_axis`` of its argument (``torch.func.vmap``), under the forward-AD lock
    (none while `torch.compile` traces it: see `.loop`)."""
    mapped = torch.func.vmap(fn, in_dims=in_axis, out_dims=out_axes)

    def locked(*args: Any) -> Any:
        if torch.compiler.is_compiling():
            return mapped(*args)
        with FORWARD_AD_LOCK:
            return mapped(*args)

    return locked
