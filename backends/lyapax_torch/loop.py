"""The chunk runner the torch backend gives the driver (``Problem.run_chunk``).

It runs the core's own `lyapax.algorithm.run_chunk` (the algorithm is
written once, in the core) with the torch namespace. No autograd graph is built
or kept unless the spectrum must be differentiable: analytic cells run under
``torch.inference_mode()``, step functions under ``torch.no_grad()`` (their
forward-mode JVPs need the autograd dispatch that inference mode turns off).
It runs without per-interval trouble tracking (``track=False``): the driver checks
each chunk's result and re-runs a chunk with tracking only when it went wrong.

Measured alternatives (CPU, float32, hidden 128, batch 16, full spectrum): the
QR of the ``(B, d, d)`` basis is about 80% of a step for nn.RNN and two thirds
for nn.LSTM, and LAPACK's Householder QR is already what ``torch.linalg.qr``
calls; forming Q from ``geqrf`` with a GEMM-based (UT-transform) formula was
slower single-threaded, and ``inference_mode`` vs ``no_grad`` or the
array-api-compat wrappers change a step by less than the run-to-run noise. So
the plain loop stays; ``ortho_every > 1`` is the lever that amortises the QR.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lyapax.algorithm import run_chunk
from lyapax.cells import Cell
from lyapax.linalg import HOUSEHOLDER, QR

from .namespace import namespace

__all__ = ["make_runner", "trace_count"]


def trace_count() -> int:
    """How many times a chunk runner has been traced (compiled) in this process: always 0, PyTorch
    runs the loop eagerly (the name is the other backends'; see docs/writing-a-backend.md)."""
    return 0


def make_runner(dynamics: Any, differentiable: bool = False) -> Callable[..., Any]:
    """``Problem.run_chunk``: the signature and results of `lyapax.algorithm.run_chunk` less ``xp``
    and ``dynamics``; with ``differentiable``, the autograd graph is kept."""
    xp = namespace()
    quiet = torch.inference_mode if isinstance(dynamics, Cell) else torch.no_grad

    def runner(carry: Any, xs: Any, start: int, length: int, ortho_every: int, *, qr: QR = HOUSEHOLDER,
               factors: bool = False) -> Any:
        if differentiable:
            return run_chunk(xp, dynamics, carry, xs, start, length, ortho_every, qr=qr, track=False, factors=factors)
        with quiet():
            return run_chunk(xp, dynamics, carry, xs, start, length, ortho_every, qr=qr, track=False, factors=factors)

    return runner
