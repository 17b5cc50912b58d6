"""The mathematics of covariant Lyapunov vectors (Ginelli's method), on numpy or any ``xp``.

The forward QR iteration gives ``Q_{t+1} R_{t+1} = J_t Q_t``. The covariant vectors are
``V_t = Q_t C_t`` with ``C_t`` upper triangular, found by iterating backwards from a random ``C``:

    C_t = R_{t+1}^{-1} C_{t+1} N_t            (N_t normalises the columns)

Each normalisation is the inverse of a covariant vector's growth in that step:
``gamma_t = -log ||R_{t+1}^{-1} c_{t+1}||`` is its local (finite-time covariant) exponent, whose
time average is the Lyapunov exponent. The backward iteration converges only after a stretch of
steps (the backward transient). Angles are in radians, growth rates in nats per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import array_api_compat.numpy as nxp
import numpy as np

from .linalg import solve_triangular

__all__ = ["backward_step", "backward_iteration", "Backward", "neighbour_angles", "subspace_angle", "participation_ratio"]


def backward_step(xp: Any, R: Any, C: Any) -> tuple[Any, Any]:
    """One step of the backward iteration: ``C_t`` (unit columns) and ``gamma_t (B, k)`` from ``R_{t+1}``, ``C_{t+1}``."""
    C = solve_triangular(xp, R, C)
    norms = xp.sqrt(xp.sum(C * C, axis=-2))
    return C / norms[..., None, :], -xp.log(norms)


def neighbour_angles(xp: Any, C: Any) -> Any:
    """Angles (radians, in ``[0, pi/2]``) between neighbouring covariant vectors ``(B, k - 1)``.

    ``V = Q C`` with ``Q`` orthonormal, so the angles of ``V``'s columns are those of ``C``'s.
    """
    cos = xp.abs(xp.sum(C[..., :, :-1] * C[..., :, 1:], axis=-2))
    return xp.acos(xp.clip(cos, 0.0, 1.0))


def subspace_angle(xp: Any, C: Any, m: int) -> Any:
    """Smallest principal angle (radians) between the span of the first ``m`` covariant vectors
    (the unstable subspace) and that of the others (the stable one), ``(B,)``."""
    U, _ = xp.linalg.qr(C[..., :, :m])
    S, _ = xp.linalg.qr(C[..., :, m:])
    s = xp.linalg.svdvals(xp.matmul(xp.matrix_transpose(U), S))
    return xp.acos(xp.clip(xp.max(s, axis=-1), 0.0, 1.0))


def participation_ratio(xp: Any, V: Any) -> Any:
    """Participation ratio ``(sum v_i^2)^2 / sum v_i^4`` of each column of ``V (..., d, k)``: from 1
    (one unit carries the vector) to ``d`` (spread evenly), as in Engelken, Wolf and Abbott."""
    sq = V * V
    return xp.sum(sq, axis=-2) ** 2 / xp.sum(sq * sq, axis=-2)


class Backward(NamedTuple):
    """What `backward_iteration` returns (``n = len(wanted)``, ``B`` sequences, ``k`` vectors)."""

    C: np.ndarray  # (n, B, k, k) the unit upper-triangular coefficients at the wanted intervals
    growth: np.ndarray  # (n, B, k) the local growth rates there (nats/step)
    growth_sum: np.ndarray  # (B, k) the sum of log-growths over the window's intervals (nats)
    convergence: float  # max 1 - |cos| between the two starts at the window's last interval


def backward_iteration(
    R: Any, count: int, lengths: np.ndarray, n_window: int, wanted: dict[int, int], seed: int | None
) -> Backward:
    """The backward iteration over the ``count`` stored factors ``R[j] (B, k, k)`` (an array or a memory map).

    Two random upper-triangular starts (seeded by ``seed``) are iterated together; the second gives
    the convergence measure at interval ``n_window - 1`` (the window's last). ``lengths[j]``: the
    steps of interval ``j``; ``wanted``: interval index -> row of the output.
    """
    B, k = int(R.shape[1]), int(R.shape[2])
    rng = np.random.default_rng(seed)
    C = np.triu(rng.standard_normal((2 * B, k, k)))
    C /= np.linalg.norm(C, axis=-2, keepdims=True)
    growth_sum = np.zeros((B, k))
    out_C = np.empty((len(wanted), B, k, k))
    out_g = np.empty((len(wanted), B, k))
    convergence = np.nan
    for j in range(count - 1, -1, -1):
        Rj = np.asarray(R[j], dtype=np.float64)
        with np.errstate(all="ignore"):
            C, g = backward_step(nxp, np.concatenate([Rj, Rj]), C)
        if j >= n_window:
            continue
        growth_sum += g[:B]
        if j == n_window - 1:
            convergence = float(np.max(1.0 - np.abs(np.sum(C[:B] * C[B:], axis=-2))))
        if j in wanted:
            out_C[wanted[j]] = C[:B]
            out_g[wanted[j]] = g[:B] / lengths[j]
    return Backward(out_C, out_g, growth_sum, convergence)


def angles_of(C: np.ndarray, exponents: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """``(neighbour angles (n, B, k - 1), unstable-stable subspace angles (n, B))`` of coefficients ``C (n, B, k, k)``
    (NaN subspace angles when all ``exponents`` have one sign)."""
    k = int(C.shape[-1])
    m = int(np.sum(np.asarray(exponents) > 0))
    sub = np.stack([subspace_angle(nxp, c, m) for c in C]) if 0 < m < k else np.full(C.shape[:2], np.nan)
    return neighbour_angles(nxp, C), sub
