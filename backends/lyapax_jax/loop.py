"""The compiled chunk runner: the core's QR iteration inside ``jax.jit`` + ``lax.scan``.

`make_runner` gives a runner with the signature and results of `lyapax.algorithm.run_chunk`
(less ``xp`` and ``dynamics``). One call runs a whole chunk of time steps as one
compiled program: a ``lax.scan`` over the QR intervals, each interval being the
core's own `tangent_interval` (its ``ortho_every`` steps
unrolled; longer intervals are a nested ``lax.scan`` of the dynamics'
``step_tangent`` followed by the core's QR engine, `orthonormalize`),
then `track_trouble`. Nothing of the algorithm is
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

from lyapax.algorithm import Interval, tangent_interval, track_trouble
from lyapax.linalg import HOUSEHOLDER, QR

__all__ = ["make_runner", "run_traced", "trace_count", "UNROLL"]

#: QR intervals up to this many steps are unrolled; longer ones are scanned.
UNROLL = 8

_TRACES = [0]


def trace_count() -> int:
    """How many times the chunk runner has been traced (compiled) in this process."""
    return _TRACES[0]


def _interval(dynamics: Any, h: Any, Q: Any, xs: Any, n: int, qr: QR, factor: bool) -> Interval:
    """The core's tangent_interval; for long intervals its steps run in a nested scan."""
    if n <= UNROLL:
        return tangent_interval(jnp, dynamics, h, Q, xs, n, qr=qr, factor=factor)

    def body(c, x):
        return dynamics.step_tangent(jnp, c[0], x, c[1]), None

    (h, Q), _ = lax.scan(body, (h, Q), xs, length=n)
    return tangent_interval(jnp, dynamics, h, Q, None, 0, qr=qr, factor=factor)


def run_traced(
    dynamics: Any, carry: Any, xs: Any, start: Any, length: int, ortho_every: int, qr: QR = HOUSEHOLDER,
    factors: bool = False,
) -> tuple[Any, ...]:
    """`lyapax.algorithm.run_chunk` as one ``lax.scan`` over QR intervals (traceable, differentiable).

    With ``factors``, also the intervals' ``R`` factors, stacked ``(intervals, B, k, k)``.
    """
    h, Q, flags = carry
    n_full, rem = divmod(int(length), int(ortho_every))
    log_dtype = jnp.dtype(qr.dtype) if qr.dtype is not None else Q.dtype

    def interval(c: tuple, xs_i: Any, n: int) -> tuple:
        h, Q, flags, total, t = c
        out = _interval(dynamics, h, Q, xs_i, n, qr, factors)
        t = t + n
        flags = track_trouble(jnp, out.h, out.log_r, flags, start + t - 1, out.ok)
        return (out.h, out.Q, flags, total + out.log_r, t), out.R

    total = jnp.zeros(Q.shape[:1] + Q.shape[2:], dtype=log_dtype)
    c = (h, Q, flags, total, jnp.zeros((), dtype=flags.dtype))
    Rs = []
    if n_full:
        xs_full = None
        if xs is not None:
            xs_full = jnp.reshape(xs[: n_full * ortho_every], (n_full, ortho_every) + tuple(xs.shape[1:]))
        c, R_full = lax.scan(lambda c, xs_i: interval(c, xs_i, ortho_every), c, xs_full, length=n_full)
        Rs.append(R_full)
    if rem:
        c, R_rem = interval(c, None if xs is None else xs[n_full * ortho_every :], rem)
        Rs.append(None if R_rem is None else R_rem[None])
    h, Q, flags, total, _ = c
    if factors:
        return (h, Q, flags), total, jnp.concatenate(Rs, axis=0)
    return (h, Q, flags), total


@functools.lru_cache(maxsize=1)
def _compiled() -> Callable[..., Any]:
    def counted(definition, params, carry, xs, start, length, ortho_every, qr, factors):
        _TRACES[0] += 1
        return run_traced(definition.build(params), carry, xs, start, length, ortho_every, qr, factors)

    return jax.jit(counted, static_argnames=("definition", "length", "ortho_every", "qr", "factors"))


class _Runner:
    """The compiled chunk runner of one model's dynamics.

    The compiled program is keyed on the dynamics' definition (see `lyapax.cells.Cell.split`
    and `lyapax.tangent.AutodiffDef`), the chunk's length, the QR interval and engine;
    the dynamics' arrays are its arguments.
    """

    def __init__(self, dynamics: Any):
        self.definition, self.params = dynamics.split()

    def __call__(
        self, carry: Any, xs: Any, start: int, length: int, ortho_every: int, *, qr: QR = HOUSEHOLDER,
        factors: bool = False,
    ) -> tuple[Any, ...]:
        start = jnp.asarray(start, dtype=carry[2].dtype)
        return _compiled()(self.definition, self.params, carry, xs, start, length=int(length),
                           ortho_every=int(ortho_every), qr=qr, factors=bool(factors))


def make_runner(dynamics: Any, differentiable: bool = False) -> Callable[..., Any]:
    """``Problem.run_chunk``: the signature and results of `lyapax.algorithm.run_chunk` less ``xp`` and
    ``dynamics``, compiled. ``differentiable`` is never true here (JAX's gradients come from
    `lyapax_jax.exponents`, which traces `run_traced` itself)."""
    return _Runner(dynamics)
