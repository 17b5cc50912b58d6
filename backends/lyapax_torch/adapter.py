"""The PyTorch backend: `TorchBackend`, the core's hooks filled in for PyTorch.

What it accepts (see docs/backends/torch.md): standard layers and cells
(``nn.RNN``/``LSTM``/``GRU``, ``nn.RNNCell``/``LSTMCell``/``GRUCell``) as the
core's canonical cells (`.models`); `lyapax.cells` cells with torch
weights; any other ``nn.Module`` or function ``f(h, x) -> h_next`` through
``torch.func`` (`.tangent`). Defaults: the model's device and parameter
dtype (half precision is raised to float32).

This module imports no framework: the registry asks `TorchBackend`
about an object only once the user has imported torch, and the hooks import
the modules that need torch when they run.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from lyapax.backend import Backend, Plan, Runner
from lyapax.cells import Cell
from lyapax.errors import InputError

__all__ = ["TorchBackend"]

# torch.func swaps a module's parameters during functional_call and lyapax switches its dropout
# off for the computation: two threads on the same module take turns (other modules run freely,
# except their forward-mode JVPs, which `.tangent` serialises process-wide)
_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _lock_of(module: Any) -> threading.RLock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(module)
        if lock is None:
            lock = _LOCKS[module] = threading.RLock()
        return lock


def _torch() -> Any:
    return sys.modules.get("torch")


class TorchBackend(Backend):
    """PyTorch: standard layers/cells (analytic), torch-weighted lyapax cells, any f(h, x) (torch.func)."""

    name = "torch"
    vectorises = True
    modules = ("torch",)
    extra = "torch"
    accepts = (
        "a PyTorch RNN layer or cell, any nn.Module or function f(h, x) -> h_next, or a lyapax.cells cell with "
        "torch weights"
    )

    # -- detection ---------------------------------------------------------------------------

    def recognises_model(self, model: Any) -> bool:
        torch = _torch()
        if isinstance(model, torch.nn.Module):
            return True
        arrays = model.arrays() if isinstance(model, Cell) else {}
        return bool(arrays) and all(isinstance(a, torch.Tensor) for a in arrays.values())

    def recognises_array(self, array: Any) -> bool:
        torch = _torch()
        if isinstance(array, (tuple, list)):
            return bool(array) and all(isinstance(a, torch.Tensor) for a in array)
        return isinstance(array, torch.Tensor)

    # -- hooks -------------------------------------------------------------------------------

    def namespace(self) -> Any:
        from .namespace import namespace

        return namespace()

    def plan(self, model: Any) -> Plan | None:
        from . import models

        return models.plan(model)

    def dtype_of(self, array: Any) -> str:
        return str(array.dtype).replace("torch.", "")

    def is_floating(self, array: Any) -> bool:
        return isinstance(array, _torch().Tensor) and array.is_floating_point()

    def device(self, requested: Any, model_arrays: list, data_arrays: list) -> Any:
        from .devices import resolve_device

        return resolve_device(requested, model_arrays, data_arrays)

    def asarray(self, value: Any, dtype: str | None, device: Any, *, differentiable: bool = False) -> Any:
        torch = _torch()
        tdt = None if dtype is None else getattr(torch, dtype)
        if not isinstance(value, torch.Tensor):
            return torch.as_tensor(np.asarray(value), dtype=tdt, device=device)
        t = value if differentiable else value.detach()
        if tdt is not None and (t.is_floating_point() or not tdt.is_floating_point):
            return t.to(device=device, dtype=tdt)
        return t.to(device=device)

    def to_numpy(self, array: Any) -> np.ndarray:
        return array.detach().cpu().numpy()

    @contextlib.contextmanager
    def scope(self, plan: Plan, dtypes: tuple[str, ...], device: Any, differentiable: bool) -> Iterator[None]:
        """No autograd graph unless asked; for a module run as a step: its lock, eval mode and the RNG,
        all restored on exit."""
        torch = _torch()
        if differentiable and (not torch.is_grad_enabled() or torch.is_inference_mode_enabled()):
            raise InputError(
                "differentiable: torch is not recording gradients here (inside torch.no_grad() or "
                "torch.inference_mode()), so the exponents could not be differentiated; call it where gradients "
                "are recorded (e.g. outside the no_grad block of an evaluation loop)."
            )
        with contextlib.ExitStack() as stack:
            if not differentiable:
                stack.enter_context(torch.no_grad())
            if plan.step is not None:
                module = plan.step.static
                if isinstance(module, torch.nn.Module):
                    stack.enter_context(_lock_of(module))
                    flags = [(m, m.training) for m in module.modules()]
                    stack.callback(lambda: [setattr(m, "training", f) for m, f in flags])
                    module.eval()  # no dropout: the spectrum of the deterministic map
                rng = torch.random.get_rng_state()
                stack.callback(torch.random.set_rng_state, rng)
                if torch.cuda.is_available() and torch.cuda.is_initialized():
                    stack.callback(torch.cuda.set_rng_state_all, torch.cuda.get_rng_state_all())
            yield

    def is_accelerator(self, device: Any) -> bool:
        from .devices import is_accelerator

        return is_accelerator(device)

    def threads(self, problem: Any, k: int) -> int:
        """On a CPU, one thread per core (at most torch's own thread count), each with a share of
        the batch and one intra-op thread, when a share's work per step, ``B/n * d * k^2``, is at
        least 4e6: measured 1.6-2.3x on 2 cores there (hidden 128, batch 16), and up to 3x
        slower below it (the Python loop's dispatch then dominates, and threads share one GIL)."""
        n = max(1, min(_torch().get_num_threads(), os.cpu_count() or 1))
        B, d = int(problem.h0.shape[0]), int(problem.dynamics.dim)
        if problem.accelerator or n == 1 or B < 2 or B / n * d * k * k < 4e6:
            return 1
        return n

    @contextlib.contextmanager
    def thread_scope(self, n: int) -> Iterator[None]:
        """One intra-op thread per worker while ``n`` workers share the batch (restored on exit)."""
        torch = _torch()
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def runner(self, dynamics: Any, device: Any, differentiable: bool) -> Runner:
        from .loop import make_runner

        return Runner(make_runner(dynamics, differentiable), factors=True)

    def jvp(self, fn: Callable[[Any], Any], primal: Any, tangent: Any) -> tuple[Any, Any]:
        from .tangent import jvp

        return jvp(fn, primal, tangent)

    def vmap(self, fn: Callable[..., Any], in_axis: int, out_axes: Any) -> Callable[..., Any]:
        from .tangent import vmap

        return vmap(fn, in_axis, out_axes)
