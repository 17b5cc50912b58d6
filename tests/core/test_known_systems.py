"""Exponents of systems whose spectrum is known in closed form or to many digits."""

from __future__ import annotations

import numpy as np
import pytest

import lyapax
from lyapax import cells


def henon_map(a: float = 1.4, b: float = 0.3) -> lyapax.Map:
    def step(h, x):
        return np.stack([1.0 - a * h[:, 0] ** 2 + h[:, 1], b * h[:, 0]], axis=1)

    def jac(h, x):
        J = np.zeros((h.shape[0], 2, 2))
        J[:, 0, 0] = -2.0 * a * h[:, 0]
        J[:, 0, 1] = 1.0
        J[:, 1, 0] = b
        return J

    return lyapax.Map(step, jac, dim=2)


def linear_cell(A: np.ndarray) -> cells.Elman:
    d = A.shape[0]
    return cells.Elman(np.zeros((d, 1)), A, nonlinearity="linear")


def test_diagonal_linear_map():
    A = np.diag([1.5, 0.9, -0.5, 0.1])
    expected = np.log([1.5, 0.9, 0.5, 0.1])
    exact = lyapax.spectrum(linear_cell(A), steps=200, h0=np.zeros((1, 4)), basis=np.eye(4))
    np.testing.assert_allclose(exact.exponents, expected, atol=1e-12)
    generic = lyapax.spectrum(linear_cell(A), steps=20_000, h0=np.zeros((1, 4)))  # random basis: O(1/T) transient
    np.testing.assert_allclose(generic.exponents, expected, atol=1e-3)


def test_rotation_scaled_map_gives_log_scale_twice():
    c, th = 0.8, 0.7
    A = c * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    s = lyapax.spectrum(linear_cell(A), steps=500, h0=np.zeros((1, 2)))
    np.testing.assert_allclose(s.exponents, [np.log(c)] * 2, atol=1e-12)


def test_random_linear_map_gives_log_abs_eigenvalues():
    rng = np.random.default_rng(7)
    A = rng.normal(size=(6, 6)) / np.sqrt(6)
    expected = np.sort(np.log(np.abs(np.linalg.eigvals(A))))[::-1]
    s = lyapax.spectrum(linear_cell(A), steps=20_000, h0=np.zeros((1, 6)))
    # convergence is O(log(cond(eigenvectors)) / T); complex pairs share a modulus
    np.testing.assert_allclose(s.exponents, expected, atol=2e-3)
    assert abs(s.exponents.sum() - np.log(abs(np.linalg.det(A)))) < 1e-10


def test_henon_exponents_and_sum():
    # 32 orbits of 5000 steps (0.6 s) rather than one of 100 000 (10 s): off by 1.5e-3, stderr 1e-3
    h0 = np.random.default_rng(1).uniform(-0.1, 0.1, size=(32, 2))
    s = lyapax.spectrum(henon_map(), steps=5000, warmup=1000, h0=h0)
    np.testing.assert_allclose(s.exponents, [0.41922, -1.62319], atol=1e-2)
    assert s.stderr[0] < 5e-3
    assert abs(s.exponents.sum() - np.log(0.3)) < 1e-10
    assert 1.2 < s.kaplan_yorke_dimension < 1.3  # 1 + 0.419/1.623 = 1.258


def test_logistic_map_r4_is_ln2():
    def step(h, x):
        return 4.0 * h * (1.0 - h)

    def jac(h, x):
        return (4.0 - 8.0 * h)[:, :, None]

    rng = np.random.default_rng(3)
    # 256 orbits of 5000 steps (0.6 s) rather than 64 of 100 000 (9 s): off by 1.3e-5, stderr 1.4e-5
    h0 = rng.uniform(0.05, 0.95, size=(256, 1))
    s = lyapax.spectrum(lyapax.Map(step, jac), steps=5000, h0=h0, warmup=100)
    assert abs(s.exponents[0] - np.log(2.0)) < 1e-3
    assert s.stderr[0] < 1e-3


@pytest.mark.parametrize("c", [0.5, 1.0, 1.3])
def test_scaled_orthogonal_linear_cell_all_exponents_log_c(c):
    rng = np.random.default_rng(0)
    orth, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    x = rng.normal(size=(3, 300, 2))
    cell = cells.Elman(rng.normal(size=(8, 2)) * 1e-3, c * orth, nonlinearity="linear")
    s = lyapax.spectrum(cell, x)
    np.testing.assert_allclose(s.per_sequence, np.log(c), atol=1e-12)
