"""Small numpy-only statistics: Spearman correlation, bootstrap intervals, permutation tests,
ridge regression (optionally on principal components) with repeated, nested k-fold
cross-validation, ROC AUC."""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = [
    "rankdata",
    "rank_rows",
    "spearman",
    "spearman_rows",
    "bootstrap_ci",
    "permutation_pvalue",
    "kfold_indices",
    "ridge_fit",
    "ridge_predict",
    "cross_val_predict",
    "r2_score",
    "rmse",
    "repeated_kfold",
    "stratified_kfold",
    "GridModel",
    "column_scaling",
    "RidgeGrid",
    "nested_cv_predict",
    "r2_over_repeats",
    "spearman_over_repeats",
    "bootstrap_indices",
    "percentile_interval",
    "roc_auc",
    "one_blas_thread",
]


def _openblas() -> Any:
    """numpy's bundled OpenBLAS (numpy >= 2 wheels) through ctypes, or ``None``."""
    folder = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(folder, "libscipy_openblas*.so")):
        try:
            lib = ctypes.CDLL(path)
            return lib.scipy_openblas_get_num_threads64_, lib.scipy_openblas_set_num_threads64_
        except (OSError, AttributeError):
            continue
    return None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with numpy's OpenBLAS on one thread (restored after; a no-op where not found).

    The analysis makes ~10^5 LAPACK calls on matrices of a few dozen rows; on the shared
    2-core machine each took 5-20 times longer with OpenBLAS's threads than with one
    (measured: a 48 x 128 SVD 7.2 ms vs 1.1 ms).
    """
    funcs = _openblas()
    if funcs is None:
        yield
        return
    get, set_ = funcs
    before = int(get())
    set_(1)
    try:
        yield
    finally:
        set_(before)


def rankdata(x: Any) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as ``scipy.stats.rankdata``)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    inverse = np.empty(x.size, dtype=np.intp)
    inverse[order] = np.arange(x.size)
    sorted_x = x[order]
    new_run = np.empty(x.size, dtype=bool)
    new_run[:1] = True
    np.not_equal(sorted_x[1:], sorted_x[:-1], out=new_run[1:])
    run = np.cumsum(new_run)[inverse]  # 1-based index of each value's run of equal values
    bounds = np.append(np.flatnonzero(new_run), x.size)  # run j spans sorted positions bounds[j-1]..bounds[j]-1
    return 0.5 * (bounds[run] + bounds[run - 1] + 1)


def rank_rows(X: Any) -> np.ndarray:
    """`rankdata` of every row of a 2-D array at once (average ranks for ties, e.g. in bootstrap resamples)."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[1]
    order = np.argsort(X, axis=1, kind="mergesort")
    xs = np.take_along_axis(X, order, axis=1)
    pos = np.broadcast_to(np.arange(n), X.shape)
    new_run = np.ones(X.shape, dtype=bool)
    new_run[:, 1:] = xs[:, 1:] != xs[:, :-1]
    start = np.maximum.accumulate(np.where(new_run, pos, 0), axis=1)
    last = np.ones(X.shape, dtype=bool)
    last[:, :-1] = new_run[:, 1:]
    end = np.minimum.accumulate(np.where(last, pos, n - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty_like(X)
    np.put_along_axis(ranks, order, 0.5 * (start + end) + 1.0, axis=1)
    return ranks


def _pearson_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    A = A - A.mean(axis=1, keepdims=True)
    B = B - B.mean(axis=1, keepdims=True)
    den = np.sqrt((A * A).sum(axis=1) * (B * B).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (A * B).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def spearman_rows(X: Any, Y: Any) -> np.ndarray:
    """Spearman's ρ of every pair of rows of ``X`` and ``Y`` (NaN where a row is constant)."""
    return _pearson_rows(rank_rows(X), rank_rows(Y))


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
    stats = spearman_rows(x[idx], y[idx]) if statistic is spearman else np.array([statistic(x[i], y[i]) for i in idx])
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
    if statistic is spearman:  # ranks of a permutation are the permuted ranks
        perms = np.array([rng.permutation(y.size) for _ in range(n)])
        null = _pearson_rows(np.broadcast_to(rankdata(x), perms.shape), rankdata(y)[perms])
        count = int(np.sum(np.abs(null) >= observed - 1e-12))
    else:
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


# -- nested cross-validation ---------------------------------------------------------------
#
# A model is an object with ``n_settings`` (its grid of regularisation settings) and
# ``fit(X, y) -> predict`` where ``predict(X_new)`` returns ``(n_new, n_settings)``
# predictions, one column per setting: one fit serves the whole grid (one SVD for every
# ridge alpha), which is what makes nested selection affordable.


def repeated_kfold(n: int, folds: int, repeats: int, seed: int = 0) -> list[list[np.ndarray]]:
    """``repeats`` independent shuffles of ``kfold_indices``: ``[repeat][fold] -> test indices``."""
    if repeats < 1:
        raise ValueError(f"repeats: expected >= 1, got {repeats}.")
    return [kfold_indices(n, folds, seed=seed * 1009 + r) for r in range(repeats)]


def stratified_kfold(labels: Any, folds: int, repeats: int, seed: int = 0) -> list[list[np.ndarray]]:
    """Like `repeated_kfold`, with each class dealt evenly over the folds: ``[repeat][fold] -> test indices``.

    For a classification readout: with plain folds, holding out a positive lowers the share of
    positives the model is fitted to, so held-out positives score low and a readout without
    any signal gets an AUC below 0.5 (measured: 0.13-0.27 for unrelated predictors on a
    40-network synthetic sweep with 6 positives). Dealt evenly, every training part has
    the same share.
    """
    labels = np.asarray(labels)
    if not 2 <= folds <= labels.size:
        raise ValueError(f"folds: expected 2 <= folds <= n = {labels.size}, got {folds}.")
    out = []
    for r in range(repeats):
        rng = np.random.default_rng(seed * 1009 + r)
        parts: list[list[int]] = [[] for _ in range(folds)]
        start = 0
        for value in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == value))
            for j, i in enumerate(members):
                parts[(start + j) % folds].append(int(i))
            start += members.size  # the next class continues where this one stopped: even fold sizes
        out.append([np.sort(np.array(p, dtype=np.intp)) for p in parts])
    return out


def column_scaling(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations of ``X`` (a zero spread gets scale 1)."""
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


class GridModel:
    """The model protocol of `nested_cv_predict`: ``settings`` (a list) and ``fit(X, y) -> predict``."""

    settings: list[Any]

    @property
    def n_settings(self) -> int:
        return len(self.settings)

    def fit(self, X: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        raise NotImplementedError


class RidgeGrid(GridModel):
    """Ridge regression on standardised columns, optionally on principal components of a block.

    The first ``n_pass`` columns enter as they are (standardised); the others (e.g. an
    interpolated spectrum) are standardised and, with ``components``, replaced by their
    leading principal components (each standardised). Settings: every ``alphas`` x
    ``components`` pair. Standardisation and components come from the training rows only;
    new rows are clipped to the training rows' range of each column (no extrapolation).
    """

    def __init__(self, n_pass: int, *, alphas: Any = (1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0),
                 components: tuple[int, ...] | None = None) -> None:
        self.n_pass = int(n_pass)
        self.alphas = np.asarray(alphas, dtype=np.float64)
        self.components = components
        self.settings = [(m, float(a)) for m in (components or (None,)) for a in self.alphas]

    def fit(self, X: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
        mean, scale = column_scaling(X)
        Z = (X - mean) / scale
        intercept = float(y.mean())
        vt_all = np.zeros((0, Z.shape[1] - self.n_pass))
        if self.components is not None and Z.shape[1] > self.n_pass:
            # principal axes from the n x n Gram matrix (fewer rows than spectrum columns): an
            # SVD of the block cost 5-20x more on the shared 2-core machine, measured
            S = Z[:, self.n_pass:]
            evals, U = np.linalg.eigh(S @ S.T)
            keep = np.flatnonzero(evals > 1e-10 * max(float(evals[-1]), 1e-300))[::-1]
            vt_all = (U[:, keep].T @ S) / np.sqrt(evals[keep])[:, None]
        n_pass, pca = self.n_pass, self.components is not None
        if pca:
            scores = Z[:, n_pass:] @ vt_all.T
            sc = scores.std(axis=0)
            sc[sc == 0] = 1.0
            D = np.column_stack([Z[:, :n_pass], scores / sc])
        else:
            sc, D = None, Z
        # Every (components m, alpha) system is a leading block of one Gram matrix: solve them
        # all in one batched call (one LAPACK call per setting was the cost, measured)
        G, rhs = D.T @ D, D.T @ (y - intercept)
        q_max = D.shape[1]
        sizes = [min(n_pass + m, q_max) for m in self.components] if pca else [q_max]
        # setting i: G's leading (q_i, q_i) block plus alpha_i on its diagonal, the identity beyond
        # (built at once: two np.eye per setting were a third of `lyapax readout`'s analysis, measured)
        inside = np.arange(q_max) < np.repeat(sizes, self.alphas.size)[:, None]  # (n_settings, q_max)
        alpha = np.array([a for _, a in self.settings])
        A = np.where(inside[:, :, None] & inside[:, None, :], G, 0.0)
        diagonal = np.arange(q_max)
        A[:, diagonal, diagonal] = np.where(inside, A[:, diagonal, diagonal] + alpha[:, None], 1.0)
        b = np.where(inside, rhs, 0.0)
        coefs = np.linalg.solve(A, b[..., None])[..., 0].T  # (q_max, n_settings)

        z_lo, z_hi = Z.min(axis=0), Z.max(axis=0)

        def predict(X_new: np.ndarray) -> np.ndarray:
            # inputs clipped to the training rows' range: on the quick grid one chaotic network's
            # features (Kaplan-Yorke dimension, entropy) lay far outside the rest, and the linear
            # fit extrapolated to an out-of-fold R² of -0.52 for the features (0.5 clipped)
            Zn = np.clip((np.asarray(X_new, dtype=np.float64) - mean) / scale, z_lo, z_hi)
            Dn = np.column_stack([Zn[:, :n_pass], (Zn[:, n_pass:] @ vt_all.T) / sc]) if pca else Zn
            return intercept + Dn @ coefs

        return predict


def nested_cv_predict(
    X: Any, y: Any, outer: list[list[np.ndarray]], model: Any, *, inner_folds: int = 5, seed: int = 0
) -> tuple[np.ndarray, list[list[int]]]:
    """Out-of-fold predictions ``(repeats, n)`` with each fold's setting chosen inside its training rows.

    For every repeat and outer test fold, the setting with the least squared error over an
    inner ``inner_folds``-fold split of the training rows alone is refitted on all training
    rows and predicts the test fold; the test rows are never seen before that prediction.
    Returns the predictions and the chosen setting indices ``[repeat][fold]``.
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    pred = np.full((len(outer), y.size), np.nan)
    chosen: list[list[int]] = []
    for r, folds in enumerate(outer):
        chosen.append([])
        for f, test in enumerate(folds):
            train = np.setdiff1d(np.arange(y.size), test)
            Xtr, ytr = X[train], y[train]
            err = np.zeros(model.n_settings)
            for itest in [] if model.n_settings == 1 else kfold_indices(train.size, min(inner_folds, train.size), seed=seed * 7919 + 31 * r + f):
                itrain = np.setdiff1d(np.arange(train.size), itest)
                p = model.fit(Xtr[itrain], ytr[itrain])(Xtr[itest])
                err += ((p - ytr[itest, None]) ** 2).sum(axis=0)
            best = int(np.argmin(err))
            pred[r, test] = model.fit(Xtr, ytr)(X[test])[:, best]
            chosen[-1].append(best)
    return pred, chosen


def r2_over_repeats(y: np.ndarray, pred: np.ndarray, idx: np.ndarray | None = None) -> float:
    """Mean over repeats of the out-of-fold R² (rows ``idx`` only: a bootstrap resample)."""
    if idx is not None:
        y, pred = y[idx], pred[:, idx]
    return float(np.mean([r2_score(y, p) for p in pred]))


def spearman_over_repeats(y: np.ndarray, pred: np.ndarray, idx: np.ndarray | None = None) -> float:
    """Mean over repeats of Spearman's ρ between out-of-fold predictions and ``y``."""
    if idx is not None:
        y, pred = y[idx], pred[:, idx]
    return float(np.mean(spearman_rows(pred, np.broadcast_to(y, pred.shape))))


def bootstrap_indices(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """``(n_boot, n)`` resamples of ``range(n)`` with replacement (shared by paired comparisons)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def percentile_interval(values: Any, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of the finite ``values``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    return float(np.quantile(v, a)), float(np.quantile(v, 1.0 - a))


def roc_auc(labels: Any, scores: Any) -> float:
    """Area under the ROC curve of ``scores`` for the positive ``labels`` (Mann-Whitney U / (n1 n0))."""
    labels, scores = np.asarray(labels, dtype=bool), np.asarray(scores, dtype=np.float64)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))
