"""Small numpy-only statistics: Spearman correlation, bootstrap intervals, permutation tests,
ridge regression with k-fold cross-validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "rankdata",
    "spearman",
    "bootstrap_ci",
    "permutation_pvalue",
    "kfold_indices",
    "ridge_fit",
    "ridge_predict",
    "cross_val_predict",
    "r2_score",
    "rmse",
]


def rankdata(x: Any) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as ``scipy.stats.rankdata``)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(x.size, dtype=np.float64)
    sorted_x = x[order]
    # boundaries of runs of equal values
    starts = np.r_[0, np.nonzero(np.diff(sorted_x))[0] + 1]
    ends = np.r_[starts[1:], x.size]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = 0.5 * (s + e - 1) + 1.0
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def spearman(x: Any, y: Any) -> float:
    """Spearman rank correlation (Pearson correlation of average ranks); NaN if either is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x, y: expected two 1-D arrays of the same length, got {x.shape} and {y.shape}.")
    if x.size < 2:
        return float("nan")
    return _pearson(rankdata(x), rankdata(y))


def bootstrap_ci(
    x: Any,
    y: Any,
    statistic: Callable[[np.ndarray, np.ndarray], float] = spearman,
    *,
    n: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(x, y)`` resampling (x, y) pairs with replacement.

    Resamples where the statistic is undefined (NaN, e.g. all-equal values) are dropped.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if not 0 < level < 1:
        raise ValueError(f"level: expected a confidence level in (0, 1), got {level}.")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n, x.size))
    stats = np.array([statistic(x[i], y[i]) for i in idx])
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha))


def permutation_pvalue(
    x: Any, y: Any, statistic: Callable[[np.ndarray, np.ndarray], float] = spearman, *, n: int = 2000, seed: int = 0
) -> float:
    """Two-sided permutation p-value of ``statistic`` against independence ((count + 1) / (n + 1))."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    observed = abs(statistic(x, y))
    if not np.isfinite(observed):
        return float("nan")
    rng = np.random.default_rng(seed)
    count = sum(abs(statistic(x, rng.permutation(y))) >= observed - 1e-12 for _ in range(n))
    return float((count + 1) / (n + 1))


def kfold_indices(n: int, folds: int, seed: int = 0) -> list[np.ndarray]:
    """Test indices of ``folds`` shuffled folds of ``range(n)`` (sizes differ by at most one)."""
    if not 2 <= folds <= n:
        raise ValueError(f"folds: expected 2 <= folds <= n = {n}, got {folds}.")
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(perm, folds)]


def ridge_fit(X: Any, y: Any, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Ridge regression on standardised columns: returns ``(coef, mean, scale, intercept)``.

    Minimises ``|y - b - Z w|^2 + alpha |w|^2`` with ``Z = (X - mean) / scale``
    (columns of zero spread get scale 1); the intercept is not penalised.
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    intercept = float(y.mean())
    A = Z.T @ Z + alpha * np.eye(Z.shape[1])
    coef = np.linalg.solve(A, Z.T @ (y - intercept))
    return coef, mean, scale, intercept


def ridge_predict(model: tuple[np.ndarray, np.ndarray, np.ndarray, float], X: Any) -> np.ndarray:
    coef, mean, scale, intercept = model
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    return intercept + ((X - mean) / scale) @ coef


def cross_val_predict(X: Any, y: Any, *, folds: int = 5, alpha: float = 1.0, seed: int = 0) -> np.ndarray:
    """Out-of-fold ridge predictions of ``y`` (each point predicted by a model fit without its fold)."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    pred = np.empty_like(y)
    for test in kfold_indices(y.size, folds, seed):
        train = np.setdiff1d(np.arange(y.size), test)
        pred[test] = ridge_predict(ridge_fit(X[train], y[train], alpha), X[test])
    return pred


def r2_score(y: Any, pred: Any) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (can be negative out of sample)."""
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else float("nan")


def rmse(y: Any, pred: Any) -> float:
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    return float(np.sqrt(np.mean((y - pred) ** 2)))
