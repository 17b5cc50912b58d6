"""Linear algebra the array API standard lacks, written once against ``xp`` with matmuls.

- :func:`solve_triangular`: ``R^{-1} B`` for batches of upper-triangular ``R``
  (the standard has ``linalg.solve`` but no triangular solve): recursive 2 x 2
  blocking, so the work is matrix products and the recursion is only
  ``log2(k / 16)`` levels deep; the leaves are solved by back substitution.

Shapes: ``R (..., k, k)``, right-hand sides ``B (..., k, m)``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["solve_triangular"]

#: Below this size the blocks are solved by back substitution, row by row.
LEAF = 16


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
