"""The chunk runner the torch backend gives the driver (``Problem.run_chunk``).

It runs the core's own :func:`lyapax.algorithm.run_chunk` (the algorithm is
written once, in the core) with the torch namespace, under
``torch.no_grad()`` unless the spectrum must be differentiable, so no autograd
graph is built or kept.
"""

from __future__ import annotations

from typing import Any, Callable

from lyapax.algorithm import run_chunk

__all__ = ["make_runner"]


def make_runner(xp: Any, dynamics: Any, differentiable: bool) -> Callable[..., Any]:
    """A runner with the signature of :func:`lyapax.algorithm.run_chunk` less ``xp`` and ``dynamics``."""
    import torch

    def runner(carry: Any, xs: Any, start: int, length: int, ortho_every: int) -> Any:
        if differentiable:
            return run_chunk(xp, dynamics, carry, xs, start, length, ortho_every)
        with torch.no_grad():
            return run_chunk(xp, dynamics, carry, xs, start, length, ortho_every)

    return runner
