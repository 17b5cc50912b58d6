"""Linear algebra the iteration needs beyond the array API standard, written once against ``xp``.

- `solve_triangular`: ``R^{-1} B`` for batches of upper-triangular ``R``
  (the standard has no triangular solve): recursive 2 x 2 blocking, so the work
  is matrix products; the leaves are solved by back substitution.
- `QR` and `orthonormalize`: the re-orthonormalisation engine of
  the QR iteration. ``"householder"`` is the namespace's ``linalg.qr``
  (LAPACK, cuSOLVER); ``"cholesky2"`` is CholeskyQR2 and ``"cholesky3"`` shifted
  CholeskyQR3, both made of matrix products and a small Cholesky factorisation
  (GEMM-bound, which is what a GPU does best). The Cholesky variants check their
  own result (an orthogonality measure and finiteness) and say where it failed,
  so the caller can redo that work with Householder.

CholeskyQR2 is accurate to the working precision while the condition number of
``A`` stays below about ``u^{-1/2}`` (1e8 in float64, 4e3 in float32, ``u`` the
unit round-off); the shift of CholeskyQR3 extends this to about ``u^{-1}``
(Fukaya, Kannan, Nakatsukasa, Yamamoto, Yanagisawa 2020). Beyond, only
Householder is safe.

The QR policy (`choose_interval`, `choose_engine`) lives here too: how many tangent maps
go between two QRs with ``ortho_every="auto"``, and which engine ``qr="auto"`` runs, both
from the running spread ``λ1 - λk`` of the exponents (nats/step).

Shapes: ``A (..., d, k)``, ``Q (..., d, k)``, ``R (..., k, k)``, right-hand sides
``(..., k, m)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "QR",
    "HOUSEHOLDER",
    "orthonormalize",
    "solve_triangular",
    "cholesky_qr",
    "spread_rate",
    "choose_interval",
    "choose_engine",
    "MAX_AUTO_INTERVAL",
    "AUTO_PROBE",
]

#: Below this size triangular blocks are solved by back substitution, row by row.
LEAF = 16

_UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}


def _back_substitution(xp: Any, R: Any, B: Any) -> Any:
    k = int(R.shape[-1])
    rows: list[Any] = [None] * k
    for i in range(k - 1, -1, -1):
        acc = B[..., i : i + 1, :]
        for j in range(i + 1, k):
            acc = acc - R[..., i : i + 1, j : j + 1] * rows[j]
        rows[i] = acc / R[..., i : i + 1, i : i + 1]
    return rows[0] if k == 1 else xp.concat(rows, axis=-2)


def solve_triangular(xp: Any, R: Any, B: Any) -> Any:
    """``X`` with ``R @ X = B`` for upper-triangular ``R (..., k, k)`` and ``B (..., k, m)``.

    A zero on ``diag(R)`` gives ``inf``/``nan`` in ``X`` (no error is raised: a
    caller that can meet singular ``R`` checks the result).
    """
    k = int(R.shape[-1])
    if k <= LEAF:
        return _back_substitution(xp, R, B)
    m = k // 2
    X2 = solve_triangular(xp, R[..., m:, m:], B[..., m:, :])
    X1 = solve_triangular(xp, R[..., :m, :m], B[..., :m, :] - xp.matmul(R[..., :m, m:], X2))
    return xp.concat([X1, X2], axis=-2)


@dataclass(frozen=True)
class QR:
    """How the basis is re-orthonormalised (hashable: part of compiled code's key).

    Attributes:
        method: ``"householder"``, ``"cholesky2"`` or ``"cholesky3"``.
        dtype: the dtype the QR computes in (the Cholesky variants need it: their checks depend on
            the unit round-off); ``None`` only for Householder in the tangent map's own dtype.
        cast: whether the basis is cast to ``dtype`` for the QR and back (mixed precision: a
            float32 tangent map with a float64 QR).
    """

    method: str = "householder"
    dtype: str | None = None
    cast: bool = False

    def __post_init__(self) -> None:
        if self.dtype is None and (self.method != "householder" or self.cast):
            raise ValueError(f"QR({self.method!r}): name the dtype it computes in")

    def describe(self) -> str:
        return f"{self.method} ({self.dtype})" if self.cast else self.method


HOUSEHOLDER = QR()


def _cholesky_pass(xp: Any, A: Any, shift: Any = None) -> tuple[Any, Any, Any]:
    """One CholeskyQR pass: ``G = A^T A (+ shift I) = R^T R``, ``Q = A R^{-1}``; also ``G``."""
    k = int(A.shape[-1])
    G = xp.matmul(xp.matrix_transpose(A), A)
    if shift is not None:
        G = G + shift[..., None, None] * xp.eye(k, dtype=A.dtype)
    try:
        L = xp.linalg.cholesky(G)
    except Exception:  # noqa: BLE001 - eager namespaces raise on a non-positive-definite G: a failure like NaN
        L = G * float("nan")
    R = xp.matrix_transpose(L)
    eye = xp.zeros_like(R) + xp.eye(k, dtype=A.dtype)
    return xp.matmul(A, solve_triangular(xp, R, eye)), R, G


def cholesky_qr(xp: Any, A: Any, dtype: str, shifted: bool = False) -> tuple[Any, Any, Any]:
    """CholeskyQR2 (or shifted CholeskyQR3) of ``A (B, d, k)`` in ``dtype`` (its name): ``Q``, ``R`` and ``ok (B,)``.

    ``ok`` is false where the result cannot be trusted: a non-finite factor, or a
    first-pass ``Q`` so far from orthonormal (``max |Q^T Q - I| > 0.1``) that the
    second pass does not make it orthonormal to the working precision.
    """
    R0 = None
    if shifted:
        d, k = int(A.shape[-2]), int(A.shape[-1])
        u = _UNIT_ROUNDOFF[dtype]
        norm2 = xp.sum(xp.sum(A * A, axis=-1), axis=-1)  # ||A||_F^2 >= ||A||_2^2
        A, R0, _ = _cholesky_pass(xp, A, 11.0 * (d * k + k * (k + 1)) * u * norm2)
    Q1, R1, _ = _cholesky_pass(xp, A)
    Q, R2, G = _cholesky_pass(xp, Q1)
    k = int(A.shape[-1])
    defect = xp.max(xp.max(xp.abs(G - xp.eye(k, dtype=A.dtype)), axis=-1), axis=-1)
    R = xp.matmul(R2, R1) if R0 is None else xp.matmul(xp.matmul(R2, R1), R0)
    finite = xp.all(xp.all(xp.isfinite(R), axis=-1), axis=-1)
    return Q, R, finite & (defect <= 0.1)


def orthonormalize(xp: Any, A: Any, qr: QR = HOUSEHOLDER) -> tuple[Any, Any, Any]:
    """Sign-fixed QR of ``A (B, d, k)`` with the engine ``qr``: ``Q`` (in ``A``'s dtype), ``R`` with
    ``diag(R) >= 0`` (in the QR's dtype) and ``ok`` (``(B,)`` bool, or ``None`` for Householder).

    An exact zero on diag(R) stays zero; its column of ``Q`` is kept (Householder's ``Q``
    is orthonormal even for a singular ``A``), so the iteration goes on in the other directions.
    """
    work = xp.astype(A, getattr(xp, qr.dtype)) if qr.cast else A
    if qr.method == "householder":
        Q, R = xp.linalg.qr(work)
        ok = None
    else:
        Q, R, ok = cholesky_qr(xp, work, qr.dtype, shifted=qr.method == "cholesky3")
    diag = xp.linalg.diagonal(R)
    one = xp.ones_like(diag)
    sign = xp.where(diag < 0, -one, one)
    Q = Q * sign[..., None, :]
    if qr.cast:
        Q = xp.astype(Q, A.dtype)
    return Q, R * sign[..., :, None], ok


# -- the QR policy: interval and engine, chosen chunk by chunk -----------------------------------

#: log of the largest condition number a product of maps may reach before its QR, by the
#: tangent map's dtype: a column contracting exp(-p (λ1 - λk)) relative to the first keeps
#: about u * κ of relative accuracy (1e-8 in float64, 6e-5 in float32).
_LOG_KAPPA = {"float64": np.log(1e8), "float32": np.log(1e3)}
#: The largest automatic interval (powers of two up to it: few compiled variants).
MAX_AUTO_INTERVAL = 16
#: With ``ortho_every="auto"``, the first chunk's steps (QR every step): long enough to estimate
#: the spread, short enough that a computation of one default chunk (256 steps) still benefits.
AUTO_PROBE = 32


def spread_rate(logsum: np.ndarray, length: int) -> float:
    """The largest per-step spread ``(λ1 - λk)`` of a chunk's finite-time exponents over sequences."""
    rates = logsum / length
    finite = np.isfinite(rates)
    hi = np.where(finite, rates, -np.inf).max(axis=1)
    lo = np.where(finite, rates, np.inf).min(axis=1)
    ok = finite.any(axis=1)
    return float((hi - lo)[ok].max()) if ok.any() else 0.0


def choose_interval(ortho_every: int | str, spread: float | None, dtype: str, multiple_of: int | None = None) -> int:
    """The tangent maps per QR: ``ortho_every`` itself, or for ``"auto"`` the largest power of two up to
    `MAX_AUTO_INTERVAL` whose product's condition number stays in `_LOG_KAPPA` (1 before any ``spread``
    is known); it divides ``multiple_of`` (a history interval) when given."""
    if ortho_every != "auto":
        return int(ortho_every)
    if spread is None:
        return 1
    # a zero spread (one exponent, or an isometry) puts no limit on the product's conditioning
    p = MAX_AUTO_INTERVAL if spread <= 0 else int(min(MAX_AUTO_INTERVAL, max(1.0, _LOG_KAPPA[dtype] / (2.0 * spread))))
    p = 2 ** int(np.log2(p))
    while multiple_of is not None and multiple_of % p:
        p //= 2
    return p


def choose_engine(
    method: str, *, accelerator: bool, dtype: str, qr_dtype: str | None, p: int, spread: float | None, fell_back: bool
) -> QR:
    """The engine of ``qr=method``: Householder on a CPU (measured faster there); the Cholesky variants
    on an accelerator, in float64, while the estimated conditioning of a ``p``-step product allows them
    (``"cholesky"`` asks for them anywhere; beyond CholeskyQR3's range it is Householder)."""
    work = qr_dtype or dtype
    cast = qr_dtype is not None
    if method == "auto":
        if not accelerator or work != "float64" or fell_back or spread is None:
            return QR("householder", work, cast)
        method = "auto-cholesky"
    if method == "householder":
        return QR("householder", work, cast)
    u = _UNIT_ROUNDOFF[work]
    log_kappa = np.inf if spread is None else 2.0 * p * spread
    if log_kappa <= 0.5 * np.log(1 / u) - np.log(10):
        return QR("cholesky2", work, cast)
    if log_kappa <= np.log(1 / u) - np.log(100) or method == "cholesky":
        return QR("cholesky3", work, cast)
    return QR("householder", work, cast)
