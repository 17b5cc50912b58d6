"""The compiled chunk runner: the core's QR iteration inside ``jax.jit`` + ``lax.scan``.

:class:`Runner` has the signature and results of :func:`lyapax.algorithm.run_chunk`
(less ``xp`` and ``dynamics``). One call runs a whole chunk of time steps as one
compiled program: a ``lax.scan`` over the QR intervals, each interval being the
core's own :func:`~lyapax.algorithm.tangent_interval` (its ``ortho_every`` steps
unrolled; longer intervals are a nested ``lax.scan`` of the dynamics'
``step_tangent`` followed by the core's :func:`~lyapax.algorithm.qr_positive`),
then :func:`~lyapax.algorithm.track_trouble`. Nothing of the algorithm is
re-implemented here.

Compilation: the dynamics enter the compiled function split by the core
(``dynamics.split()``) into a hashable *definition* (a cell's class and static
options, or a step function / flax graph definition with the state layout),
which is static, and its *params*, which are traced. ``length`` and
``ortho_every`` are static and ``start`` is traced, so the chunks of a
computation, and later computations with a model of the same structure and
shapes, reuse one compiled program: new weights do not recompile.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from lyapax.algorithm import qr_positive, tangent_interval, track_trouble

__all__ = ["Runner", "run_traced", "trace_count", "UNROLL"]

#: QR intervals up to this many steps are unrolled; longer ones are scanned.
UNROLL = 8

_TRACES = [0]


def trace_count() -> int:
    """How many times the chunk runner has been traced (compiled) in this process."""
    return _TRACES[0]


def _interval(dynamics: Any, h: Any, Q: Any, xs: Any, n: int) -> tuple[Any, Any, Any]:
    """The core's tangent_interval; for long intervals its steps run in a nested scan."""
    if n <= UNROLL:
        return tangent_interval(jnp, dynamics, h, Q, xs, n)

    def body(c, x):
        return dynamics.step_tangent(jnp, c[0], x, c[1]), None

    (h, Q), _ = lax.scan(body, (h, Q), xs, length=n)
    Q, log_r = qr_positive(jnp, Q)
    return h, Q, log_r


def run_traced(dynamics: Any, carry: Any, xs: Any, start: Any, length: int, ortho_every: int) -> tuple[Any, Any]:
    """:func:`lyapax.algorithm.run_chunk` as one ``lax.scan`` over QR intervals (traceable, differentiable)."""
    h, Q, flags = carry
    n_full, rem = divmod(int(length), int(ortho_every))

    def interval(c: tuple, xs_i: Any, n: int) -> tuple:
        h, Q, flags, total, t = c
        h, Q, log_r = _interval(dynamics, h, Q, xs_i, n)
        t = t + n
        return h, Q, track_trouble(jnp, h, log_r, flags, start + t - 1), total + log_r, t

    total = jnp.zeros(Q.shape[:1] + Q.shape[2:], dtype=Q.dtype)
    c = (h, Q, flags, total, jnp.zeros((), dtype=flags.dtype))
    if n_full:
        xs_full = None
        if xs is not None:
            xs_full = jnp.reshape(xs[: n_full * ortho_every], (n_full, ortho_every) + tuple(xs.shape[1:]))
        c, _ = lax.scan(lambda c, xs_i: (interval(c, xs_i, ortho_every), None), c, xs_full, length=n_full)
    if rem:
        c = interval(c, None if xs is None else xs[n_full * ortho_every :], rem)
    h, Q, flags, total, _ = c
    return (h, Q, flags), total


@functools.lru_cache(maxsize=1)
def _compiled() -> Callable[..., Any]:
    def counted(definition, params, carry, xs, start, length, ortho_every):
        _TRACES[0] += 1
        return run_traced(definition.build(params), carry, xs, start, length, ortho_every)

    return jax.jit(counted, static_argnames=("definition", "length", "ortho_every"))


class Runner:
    """``Problem.run_chunk``: the compiled chunk runner of one model's dynamics.

    The compiled program is keyed on the dynamics' definition (see :meth:`lyapax.cells.Cell.split`
    and :class:`lyapax.tangent.AutodiffDef`); their arrays are its arguments.
    """

    def __init__(self, dynamics: Any):
        self.definition, self.params = dynamics.split()

    def __call__(self, carry: Any, xs: Any, start: int, length: int, ortho_every: int) -> tuple[Any, Any]:
        start = jnp.asarray(start, dtype=carry[2].dtype)
        return _compiled()(self.definition, self.params, carry, xs, start, length=int(length), ortho_every=int(ortho_every))
