"""The one front half every entry point goes through, and the one driver loop behind it.

    spectrum / covariant_vectors / finite_time / Monitor / lyapax_jax.exponents
      -> options validated once (`lyapax.validation.Options.from_arguments`, by the entry point)
      -> backend picked (`lyapax.registry.select_backend`)
      -> session (`lyapax.session.session`: plan, dtype, device, scope) -> prepare -> `Problem`
      -> observers configured (an entry point's own checks and options, e.g. covariant warm-up)
      -> the driver loop with the observers (`lyapax.driver.iterate`) -> `Spectrum`

An entry point adds an `lyapax.observers.Observer` and a result type; it never picks the
backend or writes a loop itself. A traced functional form (JAX) starts from
`traced_start`: the same prepared problem and first carry, its own compiled scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .backend import Backend, Problem
from .driver import initial_carry, iterate
from .observers import Observer
from .registry import select_backend
from .results import Spectrum
from .session import session, traced_problem
from .validation import Options

__all__ = ["compute", "traced_start"]


def compute(
    model: Any, inputs: Any, opts: Options, backend: str | None = None, observers: Sequence[Observer] = ()
) -> Spectrum:
    """The spectrum of ``model`` driven by ``inputs`` with validated options, the observers watching.

    ``backend``: a backend's name, or ``None`` to choose from the model's (else the inputs') type.
    """
    chosen = select_backend(model, inputs if inputs is not None else opts.h0, backend)
    with session(chosen, model, inputs, opts) as problem:
        for observer in observers:
            opts = observer.configure(problem, opts)
        return iterate(problem, opts, chosen.name, observers)


def traced_start(backend: Backend, model: Any, inputs: Any, opts: Options) -> tuple[Problem, tuple]:
    """The prepared `Problem` and the first carry ``(h0, Q0, flags)`` for a traced functional form
    (no scope, no probe step, nothing read back to the host)."""
    problem = traced_problem(backend, model, inputs, opts)
    return problem, initial_carry(problem, opts)
