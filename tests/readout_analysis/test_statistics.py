"""The readout's statistics against independent implementations (scipy, numpy written here)."""

import numpy as np
import pytest
import scipy.stats

from lyapax.readout import stats
from lyapax.readout.stats import (
    RidgeGrid,
    bootstrap_ci,
    nested_cv_predict,
    permutation_pvalue,
    rank_rows,
    rankdata,
    repeated_kfold,
    roc_auc,
    spearman,
    spearman_rows,
)


def test_ranks_and_spearman_match_scipy_with_ties():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 6, size=(40, 25)).astype(float)  # many ties
    Y = rng.normal(size=(40, 25))
    np.testing.assert_allclose(rank_rows(X), [scipy.stats.rankdata(r) for r in X])
    for x, y in zip(X[:10], Y[:10]):
        np.testing.assert_allclose(rankdata(x), scipy.stats.rankdata(x))
        assert spearman(x, y) == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-12)
    np.testing.assert_allclose(spearman_rows(X, Y), [scipy.stats.spearmanr(x, y).statistic for x, y in zip(X, Y)],
                               atol=1e-12)


def test_bootstrap_interval_covers_the_population_spearman():
    # bivariate normal with correlation r: population Spearman rho = (6 / pi) arcsin(r / 2)
    r = 0.6
    truth = 6.0 / np.pi * np.arcsin(r / 2.0)
    rng = np.random.default_rng(1)
    covered, widths = 0, []
    trials = 120
    for t in range(trials):
        z = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], size=60)
        lo, hi = bootstrap_ci(z[:, 0], z[:, 1], n=400, seed=t)
        covered += lo <= truth <= hi
        widths.append(hi - lo)
    # nominal 95%: with 120 trials, coverage below 0.85 or a degenerate interval would be a bug
    assert 0.85 <= covered / trials <= 1.0
    assert 0.1 < np.mean(widths) < 0.6


def test_permutation_pvalue_matches_a_loop_and_is_uniform_under_the_null():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=30), rng.normal(size=30)
    fast = permutation_pvalue(x, y, n=300, seed=5)
    loop_rng = np.random.default_rng(5)
    observed = abs(scipy.stats.spearmanr(x, y).statistic)
    perms = [loop_rng.permutation(30) for _ in range(300)]
    count = sum(abs(scipy.stats.spearmanr(x, y[p]).statistic) >= observed - 1e-12 for p in perms)
    assert fast == pytest.approx((count + 1) / 301)
    strong = permutation_pvalue(x, x + 0.1 * y, n=300, seed=0)
    assert strong == pytest.approx(1 / 301)


def test_roc_auc_is_mann_whitney():
    rng = np.random.default_rng(3)
    labels = rng.random(50) < 0.3
    scores = rng.normal(size=50) + labels
    u = scipy.stats.mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert roc_auc(labels, scores) == pytest.approx(u / (labels.sum() * (~labels).sum()))


def test_ridge_grid_matches_closed_form_and_principal_components_regression():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 6)) * [1, 2, 3, 0.5, 1, 4] + 1.0
    y = X @ [0.5, -1, 0.2, 0, 2, 0.1] + rng.normal(size=30)
    Xn = 0.5 * X[:5] + 0.5 * X[5:10]  # inside the training range (new rows are clipped to it)
    Z = (X - X.mean(0)) / X.std(0)
    Zn = (Xn - X.mean(0)) / X.std(0)
    model = RidgeGrid(6, alphas=(0.1, 10.0))
    pred = model.fit(X, y)(Xn)
    for j, alpha in enumerate((0.1, 10.0)):
        # augmented least squares: [Z; sqrt(alpha) I] w = [y - mean; 0]
        A = np.vstack([Z, np.sqrt(alpha) * np.eye(6)])
        w = np.linalg.lstsq(A, np.r_[y - y.mean(), np.zeros(6)], rcond=None)[0]
        np.testing.assert_allclose(pred[:, j], y.mean() + Zn @ w, rtol=1e-8)
    # one passthrough column, two principal components of the other five (via an SVD here)
    pcr = RidgeGrid(1, alphas=(1e-9,), components=(2,)).fit(X, y)(Xn)[:, 0]
    vt = np.linalg.svd(Z[:, 1:], full_matrices=False)[2][:2]
    D, Dn = np.column_stack([Z[:, 0], Z[:, 1:] @ vt.T]), np.column_stack([Zn[:, 0], Zn[:, 1:] @ vt.T])
    w = np.linalg.lstsq(D, y - y.mean(), rcond=None)[0]
    np.testing.assert_allclose(pcr, y.mean() + Dn @ w, rtol=1e-6)
    # a row far outside the training range is predicted as its clipped version
    far = X[:1] + 100.0 * X.std(0)
    np.testing.assert_allclose(model.fit(X, y)(far), model.fit(X, y)(X.max(0, keepdims=True)))


class _Spy:
    """A ridge model that records which rows (by an ID in column 0) it was fitted on."""

    def __init__(self):
        self.inner = RidgeGrid(0, alphas=(0.1, 1.0, 10.0))
        self.settings = self.inner.settings
        self.n_settings = self.inner.n_settings
        self.seen = set()

    def fit(self, X, y):
        self.seen |= set(X[:, 0].astype(int).tolist())
        predict = self.inner.fit(X[:, 1:], y)
        return lambda X_new: predict(X_new[:, 1:])


def _leaked_rows(X, y, outer):
    """Rows of each outer test fold that any fit saw before that fold was predicted."""
    leaks = []
    for r, folds in enumerate(outer):
        for test in folds:
            spy = _Spy()
            nested_cv_predict(X, y, [[test]], spy, inner_folds=4, seed=r)
            leaks += sorted(spy.seen & set(test.tolist()))
    return leaks


def test_nested_cv_never_sees_the_test_fold_and_a_planted_leak_is_detected(monkeypatch):
    rng = np.random.default_rng(5)
    n = 40
    X = np.column_stack([np.arange(n), rng.normal(size=(n, 3))])
    y = rng.normal(size=n)
    outer = repeated_kfold(n, 5, 2, seed=0)
    assert _leaked_rows(X, y, outer) == []
    # plant a leak: "training rows" that include the test fold
    monkeypatch.setattr(stats.np, "setdiff1d", lambda a, b: np.asarray(a))
    assert len(_leaked_rows(X, y, outer)) == n * 2


def test_nested_selection_on_noise_does_not_look_predictive():
    # 60 noise columns for 40 networks: choosing alpha on the test fold would flatter the fit
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(40, 60)), rng.normal(size=40)
    pred, _ = nested_cv_predict(X, y, repeated_kfold(40, 5, 3, seed=1), RidgeGrid(60))
    r2 = [1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum() for p in pred]
    assert max(r2) < 0.1


def test_stratified_folds_partition_and_deal_each_class_evenly():
    from lyapax.readout.stats import stratified_kfold

    labels = np.array([True] * 7 + [False] * 30)
    for folds in stratified_kfold(labels, 5, 3, seed=2):
        joined = np.sort(np.concatenate(folds))
        np.testing.assert_array_equal(joined, np.arange(labels.size))  # a partition
        assert sorted(int(labels[f].sum()) for f in folds) == [1, 1, 1, 2, 2]  # 7 positives over 5 folds
        assert max(f.size for f in folds) - min(f.size for f in folds) <= 1
    a, b = stratified_kfold(labels, 5, 2, seed=2), stratified_kfold(labels, 5, 2, seed=2)
    assert all(np.array_equal(x, y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
