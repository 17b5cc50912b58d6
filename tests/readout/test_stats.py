"""Numpy-only statistics against hand-checkable cases."""

import numpy as np
import pytest

from lyapax.readout.stats import (
    bootstrap_ci,
    cross_val_predict,
    kfold_indices,
    permutation_pvalue,
    r2_score,
    rankdata,
    ridge_fit,
    ridge_predict,
    rmse,
    spearman,
)


def test_rankdata_ties_get_average_rank():
    np.testing.assert_array_equal(rankdata([10, 20, 20, 5]), [2.0, 3.5, 3.5, 1.0])
    np.testing.assert_array_equal(rankdata([3, 3, 3]), [2.0, 2.0, 2.0])


def test_spearman_monotone_and_reversed():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(x, -np.exp(x)) == pytest.approx(-1.0)


def test_spearman_hand_computed():
    # ranks x: 1..5, ranks y: [2, 1, 4, 3, 5]; d = [-1, 1, -1, 1, 0]; rho = 1 - 6*4/(5*24) = 0.8
    assert spearman([1, 2, 3, 4, 5], [20, 10, 40, 30, 50]) == pytest.approx(0.8)


def test_spearman_with_ties_is_pearson_of_average_ranks():
    x, y = [1, 2, 2, 3], [1, 3, 2, 4]
    rx, ry = np.array([1, 2.5, 2.5, 4]), np.array([1, 3, 2, 4.0])
    assert spearman(x, y) == pytest.approx(np.corrcoef(rx, ry)[0, 1])


def test_spearman_constant_is_nan():
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_bootstrap_perfect_relation_and_determinism():
    x = np.arange(20.0)
    assert bootstrap_ci(x, 2 * x + 1, n=200) == (pytest.approx(1.0), pytest.approx(1.0))
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=30), rng.normal(size=30)
    ci1 = bootstrap_ci(a, b, n=300, seed=4)
    assert ci1 == bootstrap_ci(a, b, n=300, seed=4)
    assert ci1[0] < spearman(a, b) < ci1[1]


def test_permutation_pvalue():
    x = np.arange(30.0)
    assert permutation_pvalue(x, x, n=199) == pytest.approx(1 / 200)
    rng = np.random.default_rng(2)
    assert permutation_pvalue(rng.normal(size=40), rng.normal(size=40), n=199) > 0.05


def test_kfold_partition():
    folds = kfold_indices(11, 3, seed=1)
    assert sorted(len(f) for f in folds) == [3, 4, 4]
    np.testing.assert_array_equal(np.sort(np.concatenate(folds)), np.arange(11))
    with pytest.raises(ValueError):
        kfold_indices(3, 5)


def test_ridge_zero_penalty_is_least_squares():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = 1.5 + X @ np.array([2.0, -1.0, 0.5])
    model = ridge_fit(X, y, alpha=0.0)
    np.testing.assert_allclose(ridge_predict(model, X), y, atol=1e-10)
    coef, mean, scale, intercept = model
    np.testing.assert_allclose(coef / scale, [2.0, -1.0, 0.5], atol=1e-10)


def test_ridge_penalty_shrinks():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = X @ np.array([1.0, 1.0])
    small = np.abs(ridge_fit(X, y, alpha=0.1)[0]).sum()
    big = np.abs(ridge_fit(X, y, alpha=100.0)[0]).sum()
    assert big < small


def test_cross_val_predict_exact_on_linear_data_and_r2():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(25, 2))
    y = X @ np.array([1.0, -2.0]) + 3.0
    pred = cross_val_predict(X, y, folds=5, alpha=0.0, seed=0)
    np.testing.assert_allclose(pred, y, atol=1e-9)
    assert r2_score(y, pred) == pytest.approx(1.0)
    assert r2_score(y, np.full_like(y, y.mean())) == pytest.approx(0.0)
    assert rmse([0.0, 0.0], [3.0, 4.0]) == pytest.approx(np.sqrt(12.5))


def test_cross_val_on_noise_is_not_better_than_mean():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    assert r2_score(y, cross_val_predict(X, y, folds=5, alpha=1.0)) < 0.1
