"""The pure, jit- and grad-able form of the spectrum: `exponents`.

The same front half as `lyapax.spectrum`: options validated by the core, the
problem and its first carry prepared by `lyapax.pipeline.traced_start` (the
session's steps without its scope and probe: nothing is read back to the host);
the chunks are the compiled runner's traced body (`lyapax_jax.loop.run_traced`)
in a ``lax.scan``, so ``jax.grad``, ``nnx.grad``, ``eqx.filter_grad`` and
``jax.jit`` can transform it.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from lyapax.linalg import QR
from lyapax.options import Options, parse
from lyapax.pipeline import traced_start

from . import models
from .loop import run_traced

__all__ = ["exponents"]


def exponents(
    model: Any,
    params: Any = None,
    inputs: Any = None,
    *,
    k: int | None = None,
    warmup: int = 0,
    ortho_every: int = 1,
    seed: int | None = 0,
    basis: Any = None,
    h0: Any = None,
    steps: int | None = None,
    time_major: bool | None = None,
    **unknown: Any,
) -> Any:
    """Per-sequence Lyapunov exponents ``(B, k)`` (nats/step) as a pure, jit- and grad-able JAX function.

    Each row (sequence) is sorted in descending order, as `lyapax.Spectrum.per_sequence`.

    Args:
        model: what `lyapax.spectrum` takes on JAX (nnx / linen / equinox
            models, lyapax cells with jax weights, step functions ``f(h, x)``).
        params: replacement parameters to differentiate with respect to, or
            ``None`` to use the model's own: ``nnx.state(model, nnx.Param)`` for
            nnx, the variables for linen (``(module, None)`` or ``module`` with
            ``params``), an ``eqx.partition`` array part for equinox, a dict
            of arrays (a list of dicts for a Stack) for lyapax cells; for a
            plain function, ``params`` makes it called as ``f(params, h, x)``.
        inputs: ``(batch, time, features)`` inputs, or ``None`` with ``steps``.
        k: as in `lyapax.spectrum`.
        warmup: as in `lyapax.spectrum`.
        ortho_every: as in `lyapax.spectrum`.
        seed: as in `lyapax.spectrum`.
        basis: as in `lyapax.spectrum`.
        h0: as in `lyapax.spectrum`.
        steps: the number of steps of an autonomous map (``inputs=None``).
        time_major: as in `lyapax.spectrum`.

    Computes in the parameters' dtype (float64 needs ``jax.enable_x64``
    around the call, see the docs). It does not raise on NaN/Inf or exact
    zeros on diag(R) (a traced function cannot): such sequences give
    NaN/-inf entries; `lyapax.spectrum` checks and reports them.
    """
    options, _ = parse("lyapax_jax.exponents", locals())
    return exponents_and_steps(model, params, inputs, options)[0]


def exponents_and_steps(model: Any, params: Any, inputs: Any, options: Options) -> tuple[Any, int]:
    """`exponents` with checked options, and the steps its graph spans (warmup + counted): ``(per_sequence, H)``."""
    if params is not None:
        model = models.with_params(model, params)
    problem, carry = traced_start("jax", model, inputs, options)
    xs, w, n, qr = problem.inputs, options.warmup, options.ortho_every, QR("householder", problem.dtype)
    if w:
        carry, _ = run_traced(problem.dynamics, carry, None if xs is None else xs[:w], 0, w, n, qr)
    _, total = run_traced(problem.dynamics, carry, None if xs is None else xs[w:], w, problem.steps - w, n, qr)
    per_sequence = total / (problem.steps - w)
    return -jnp.sort(-per_sequence, axis=1), problem.steps  # rows descending, -inf last (as Spectrum.per_sequence)
