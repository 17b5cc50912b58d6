"""The one front half every entry point goes through, and the one driver loop behind it.

    spectrum / covariant_vectors / finite_time / flossing_loss / Monitor / lyapax_jax.exponents
      -> options checked once (`lyapax.options.parse`, by the entry point)
      -> backend picked (`lyapax.registry.select_backend`: here, and in no other module)
      -> session (`lyapax.session.session`: plan, dtype, device, QR dtype, scope) -> prepare -> `Problem`
      -> observers configured (an entry point's own checks and options, e.g. covariant warm-up)
      -> the warnings that depend on the final options (too few counted steps, swapped axes)
      -> the driver loop with the observers (`lyapax.driver.iterate`) -> `Spectrum`

An entry point adds an `lyapax.observers.Observer` and a result type; it never picks the
backend or writes a loop itself. A traced functional form (JAX) starts from
`traced_start`: the same prepared problem and first carry, its own compiled scan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from .backend import Problem
from .driver import initial_carry, iterate
from .observers import Observer
from .options import Options
from .registry import select_backend
from .results import Spectrum
from .session import session, traced_problem
from .validation import warn_suspicious_inputs

__all__ = ["compute", "traced_start"]


def _warn(problem: Problem, opts: Options) -> None:
    batch = None if problem.inputs is None else int(problem.inputs.shape[1])
    warn_suspicious_inputs(batch, problem.steps, opts.warmup or 0, time_major=problem.time_major,
                           explicit=opts.time_major is not None)


def compute(
    model: Any, inputs: Any, opts: Options, observers: Sequence[Observer] = (), *, chunk: int | None = None
) -> Spectrum:
    """The spectrum of ``model`` driven by ``inputs`` with checked options, the observers watching.

    ``chunk``: steps per chunk instead of the backend's (an internal knob, for tests of chunking).
    """
    chosen = select_backend(model, (inputs, opts.h0), opts.backend)
    with session(chosen, model, inputs, opts) as problem:
        if chunk is not None:
            problem = dataclasses.replace(problem, chunk=chunk)
        for observer in observers:
            opts = observer.configure(problem, opts)
        _warn(problem, opts)
        return iterate(problem, opts, observers)


def traced_start(backend: str, model: Any, inputs: Any, opts: Options) -> tuple[Problem, tuple]:
    """The prepared `Problem` and the first carry ``(h0, Q0, flags)`` on the backend named ``backend``, for
    a traced functional form (no scope, no probe step, nothing read back to the host)."""
    problem = traced_problem(select_backend(model, (inputs, opts.h0), backend), model, inputs, opts)
    _warn(problem, opts)
    return problem, initial_carry(problem, opts)
