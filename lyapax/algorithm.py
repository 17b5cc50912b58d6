"""The QR (Benettin) iteration, written once against an array namespace ``xp``.

Everything here is a pure function of arrays, so a backend can run it as is
(numpy, PyTorch), trace it into ``jax.jit``/``lax.scan`` or ``tf.function``.

Shapes: ``B`` sequences (batch), state dimension ``d``, ``k`` exponents,
``F`` input features. States are ``(B, d)``, bases ``(B, d, k)``, inputs of
one time step ``(B, F)`` (or ``None`` for autonomous maps). Logarithms are
natural: exponents come out in nats per step.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import numpy as np

from .errors import InputError
from .linalg import HOUSEHOLDER, QR, orthonormalize

__all__ = [
    "Carry",
    "Dynamics",
    "orthonormal_basis",
    "Interval",
    "run_chunk",
    "tangent_interval",
    "track_trouble",
    "ZERO",
    "STATE",
    "NONFINITE",
    "QR_FAILED",
    "FLAGS",
]


class Dynamics(Protocol):
    """A discrete-time system ``h_{t+1} = F(h_t, x_{t+1})`` with its tangent map.

    Attributes:
        dim: state dimension ``d``.
        input_size: features per input step, or ``None`` if it takes no input.
    """

    dim: int
    input_size: int | None

    def step(self, xp: Any, h: Any, x: Any | None) -> Any:
        """Next state ``(B, d)`` from state ``(B, d)`` and input ``(B, F)``."""
        ...

    def step_tangent(self, xp: Any, h: Any, x: Any | None, Q: Any) -> tuple[Any, Any]:
        """Next state and ``J @ Q`` with ``J = dF/dh`` at ``(h, x)``; ``Q`` is ``(B, d, k)``."""
        ...

    def arrays(self) -> dict[str, Any]:
        """The weight arrays by name (checked for NaN/Inf before the iteration)."""
        ...

    def split(self) -> tuple[Any, Any]:
        """``(definition, params)``: a hashable static part and the arrays (a pytree), with
        ``definition.build(params)`` equal to ``self``. Compiled runners trace ``params`` and key
        their caches on ``definition`` (canonical cells and autodiff dynamics have it)."""
        ...


#: What the iteration carries from one chunk of time steps to the next: ``(h, Q, flags)``.
#: ``flags`` is a ``(B, 4)`` int32 array holding, per sequence, the first step at which
#: each kind of trouble was seen (``-1``: never): column `ZERO` an exact zero on
#: diag(R) (a direction collapsed: its exponent is ``-inf``), column `STATE` a NaN/Inf
#: state with a finite tangent map, column `NONFINITE` a NaN/Inf tangent map or QR,
#: column `QR` a Cholesky-based QR that failed its own check (the chunk is redone
#: with Householder).
Carry = tuple[Any, Any, Any]

#: Columns of the trouble flags (see `Carry`).
ZERO, STATE, NONFINITE, QR_FAILED = 0, 1, 2, 3
#: Number of flag columns.
FLAGS = 4


def orthonormal_basis(d: int, k: int, seed: int | None = 0, basis: Any = None) -> np.ndarray:
    """The initial orthonormal basis ``(d, k)``, float64 numpy.

    Without ``basis``: the first ``k`` columns of a seeded random orthogonal
    ``d x d`` matrix, so asking for ``k`` exponents or for all of them starts
    from the same leading columns (the prefix property). With ``basis`` (a
    finite float64 ``(d, k)`` array, as `lyapax.options` checks it): its columns,
    orthonormalised by a sign-fixed QR (the span is what matters); linearly
    dependent columns are an `InputError`.
    """
    if basis is None:
        # The first k columns of Q depend only on the first k columns of the draw (Householder
        # QR works column by column), so QR of a (d, k) slice costs O(d k^2), not O(d^3).
        rng = np.random.default_rng(seed)
        q, r = np.linalg.qr(rng.standard_normal((d, d))[:, :k])
        return np.ascontiguousarray(q * np.where(np.diag(r) < 0, -1.0, 1.0))
    q, r = np.linalg.qr(basis)  # checked once, by lyapax.options: finite, float64, (d, k)
    diag = np.diag(r)
    if np.any(np.abs(diag) <= 1e-12 * max(1.0, float(np.abs(diag).max(initial=0.0)))):
        raise InputError("basis: columns are linearly dependent; pass k independent columns.")
    return np.ascontiguousarray(q * np.sign(diag))


class Interval(NamedTuple):
    """What `tangent_interval` returns (``R`` only with ``factor=True``; ``ok`` only from
    an engine that checks itself, else ``None``)."""

    h: Any
    Q: Any
    log_r: Any
    R: Any = None
    ok: Any = None


def tangent_interval(
    xp: Any, dynamics: Dynamics, h: Any, Q: Any, xs: Any | None, n: int, *, qr: QR = HOUSEHOLDER, factor: bool = False
) -> Interval:
    """Apply ``n`` steps (state and tangent map), then one QR with the engine ``qr``.

    ``xs`` holds the inputs of these steps, time-major ``(n, B, F)``, or is
    ``None``. Returns the new state, the new orthonormal basis, ``log|diag(R)|``
    ``(B, k)`` (in the QR's dtype), and with ``factor`` the sign-fixed ``R (B, k, k)``
    (what covariant vectors are computed from).
    """
    for i in range(n):
        h, Q = dynamics.step_tangent(xp, h, None if xs is None else xs[i, ...], Q)
    Q, R, ok = orthonormalize(xp, Q, qr)
    return Interval(h, Q, xp.log(xp.linalg.diagonal(R)), R if factor else None, ok)


def track_trouble(xp: Any, h: Any, log_r: Any, flags: Any, step: Any, ok: Any = None) -> Any:
    """Record, per sequence, the first ``step`` of each kind of trouble (see `Carry`);
    ``ok`` is the QR engine's own check (``None``: nothing to check)."""
    state = ~xp.all(xp.isfinite(h), axis=-1)
    nonfinite = xp.any(xp.isnan(log_r) | (log_r == float("inf")), axis=-1)
    zero = xp.any(log_r == float("-inf"), axis=-1)
    qr_failed = xp.zeros_like(zero) if ok is None else ~ok
    seen = xp.stack([zero, state, nonfinite & ~qr_failed, qr_failed], axis=1)
    return xp.where(seen & (flags < 0), xp.zeros_like(flags) + step, flags)


def run_chunk(
    xp: Any,
    dynamics: Dynamics,
    carry: Carry,
    xs: Any | None,
    start: int,
    length: int,
    ortho_every: int,
    *,
    qr: QR = HOUSEHOLDER,
    track: bool = True,
    factors: bool = False,
) -> tuple[Any, ...]:
    """Iterate ``length`` steps starting at time step ``start``; QR every ``ortho_every`` steps.

    The reference runner (a plain Python loop): backends may replace it by a
    compiled one with the same signature and results. ``xs`` is time-major
    ``(length, B, F)`` or ``None``. A last partial interval gets its own QR.
    Returns the new carry and the sum of ``log|diag(R)|`` over the chunk ``(B, k)``.

    With ``track=False`` the trouble flags are left as they were (a few elementwise
    operations fewer per interval, which counts in an uncompiled loop); the driver
    then finds a NaN/Inf in the chunk's result and re-runs that chunk with
    tracking to report where it happened.

    With ``factors=True`` it also returns the stacked sign-fixed ``R`` of every
    interval, ``(intervals, B, k, k)`` (for covariant vectors).
    """
    h, Q, flags = carry
    total = None
    Rs = []
    t = 0
    while t < length:
        n = min(ortho_every, length - t)
        out = tangent_interval(xp, dynamics, h, Q, None if xs is None else xs[t : t + n, ...], n, qr=qr, factor=factors)
        h, Q, log_r = out.h, out.Q, out.log_r
        if factors:
            Rs.append(out.R)
        t += n
        if track or out.ok is not None:
            flags = track_trouble(xp, h, log_r, flags, start + t - 1, out.ok)
        total = log_r if total is None else total + log_r
    if factors:
        return (h, Q, flags), total, xp.stack(Rs, axis=0)
    return (h, Q, flags), total
