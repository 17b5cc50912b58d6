"""Covariant Lyapunov vectors (numpy path): known answers and an independent implementation."""

from __future__ import annotations

import array_api_compat.numpy as xp
import numpy as np
import pytest

import lyapax
from lyapax import cells
from lyapax.algorithm import orthonormal_basis
from lyapax.covariant import covariant_vectors
from lyapax.linalg import solve_triangular
from lyapax.testing import random_cell


def linear_map(A):
    A = np.asarray(A, dtype=np.float64)
    return lyapax.Map(lambda h, x: h @ A.T, lambda h, x: np.broadcast_to(A, (len(h),) + A.shape), dim=len(A))


def henon():
    a, b = 1.4, 0.3

    def step(h, x):
        return np.stack([1 - a * h[:, 0] ** 2 + h[:, 1], b * h[:, 0]], axis=1)

    def jac(h, x):
        J = np.zeros((len(h), 2, 2))
        J[:, 0, 0], J[:, 0, 1], J[:, 1, 0] = -2 * a * h[:, 0], 1.0, b
        return J

    return lyapax.Map(step, jac, dim=2)


@pytest.mark.parametrize("k", [16, 40])
def test_solve_triangular_matches_numpy(k):
    rng = np.random.default_rng(k)
    R = np.triu(rng.normal(size=(3, k, k))) + 4 * np.eye(k)
    Bm = rng.normal(size=(3, k, 5))
    np.testing.assert_allclose(solve_triangular(xp, R, Bm), np.linalg.solve(R, Bm), rtol=0, atol=1e-12)


def test_constant_non_normal_map_clvs_are_its_eigenvectors():
    """CLVs of h -> A h are A's eigenvectors (up to sign), while the Gram-Schmidt vectors are its
    Schur vectors; the covariant exponents are log|eigenvalues|."""
    A = np.array([[2.0, 1.0, 0.3], [0.0, 0.5, 1.0], [0.0, 0.0, 0.9]])  # non-normal, eigenvalues 2, 0.9, 0.5
    res = covariant_vectors(linear_map(A), steps=400, h0=np.ones((2, 3)), at=[0, 50, 100])
    w, v = np.linalg.eig(A)
    order = np.argsort(-np.abs(w))
    v = v[:, order] / np.linalg.norm(v[:, order], axis=0)
    cos = np.abs(np.einsum("nbdk,dk->nbk", res.vectors, v))
    np.testing.assert_allclose(cos, 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.per_sequence, np.log(np.abs(w[order]))[None].repeat(2, 0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.growth_rates, np.log(np.abs(w[order]))[None, None].repeat(3, 0).repeat(2, 1), atol=1e-12)
    # the Gram-Schmidt vectors (what spectrum iterates) are the Schur vectors: here the identity's columns
    s = lyapax.spectrum(linear_map(A), steps=400, h0=np.ones((2, 3)))
    np.testing.assert_allclose(s.exponents, np.log([2.0, 0.9, 0.5]), atol=0.02)
    assert not np.allclose(np.abs(v), np.eye(3), atol=0.1)  # so the CLVs really differ from them
    # angles between neighbours, from the eigenvectors directly
    expect = np.arccos(np.abs(np.sum(v[:, :-1] * v[:, 1:], axis=0)))
    np.testing.assert_allclose(res.angles, np.broadcast_to(expect, res.angles.shape), atol=1e-10)
    # one positive exponent: the unstable subspace is the first vector
    s0 = np.arccos(np.linalg.svd(v[:, :1].T @ np.linalg.qr(v[:, 1:])[0], compute_uv=False).max())
    np.testing.assert_allclose(res.subspace_angles, s0, atol=1e-10)


def _independent_clvs(jacobians: np.ndarray, k: int, q0: np.ndarray, warmup: int, window: int, rng):
    """A plain numpy Ginelli: dense Jacobians (T, B, d, d), np.linalg.qr, explicit inverses of R."""
    T, B, d, _ = jacobians.shape
    Q = np.broadcast_to(q0, (B, d, k)).copy()
    Qs, Rs = [], []
    for t in range(T):
        Qn, R = np.linalg.qr(jacobians[t] @ Q)
        sgn = np.sign(np.diagonal(R, axis1=1, axis2=2))
        Qn, R = Qn * sgn[:, None, :], R * sgn[:, :, None]
        Qs.append(Q)
        Rs.append(R)
        Q = Qn
    C = np.triu(rng.normal(size=(B, k, k)))
    vectors, growth = {}, np.zeros((B, k))
    for t in range(T - 1, warmup - 1, -1):
        C = np.linalg.inv(Rs[t]) @ C
        n = np.linalg.norm(C, axis=1)
        C = C / n[:, None, :]
        if t < warmup + window:
            growth -= np.log(n)
            vectors[t - warmup] = Qs[t] @ C
    return vectors, growth / window


def _trajectory_jacobians(model, x, h0, T):
    h = h0
    out = []
    for t in range(T):
        xt = None if x is None else x[:, t]
        out.append(cells.jacobian(xp, model, h, xt) if isinstance(model, cells.Cell) else model.jacobian_fn(h, xt))
        h = model.step(xp, h, xt) if isinstance(model, cells.Cell) else model.step_fn(h, xt)
    return np.stack(out)


@pytest.mark.parametrize("system", ["henon", "tanh-rnn"])
def test_agrees_with_an_independent_numpy_implementation(system):
    rng = np.random.default_rng(7)
    if system == "henon":
        model, x, k, T = henon(), None, 2, 600
        h0 = np.array([[0.1, 0.1], [0.3, -0.1]])
        for _ in range(100):  # onto the attractor
            h0 = model.step_fn(h0, None)
    else:
        model = random_cell("tanh", 6, 2, rng, gain=3.0)
        x, k, T = rng.normal(size=(2, 600, 2)), 4, 600
        h0 = np.zeros((2, 6))
    warmup, transient = 150, 200
    at = [0, 37, 120, 249]
    res = covariant_vectors(model, x, h0=h0, k=k, steps=None if x is not None else T, at=at,
                            warmup=warmup, transient=transient)
    J = _trajectory_jacobians(model, x, h0, T)
    ref, ref_exp = _independent_clvs(J, k, orthonormal_basis(J.shape[2], k, 0), warmup, T - warmup - transient, rng)
    for i, s in enumerate(at):
        cos = np.abs(np.sum(res.vectors[i] * ref[s], axis=1))
        np.testing.assert_allclose(cos, 1.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.per_sequence, ref_exp, rtol=0, atol=1e-9)
    if system == "henon":  # the known exponents, to the window's finite-time accuracy
        np.testing.assert_allclose(res.exponents, [0.41922, -1.62319], atol=0.06)


def test_time_average_of_growth_rates_equals_the_spectrum():
    """Same system, long run: the covariant exponents and the Gram-Schmidt ones converge to the same
    numbers (they differ by boundary terms of order 1 / window)."""
    rng = np.random.default_rng(3)
    cell = random_cell("gru", 4, 2, rng, gain=2.5)
    x = rng.normal(size=(2, 6000, 2))
    res = covariant_vectors(cell, x, warmup=500, transient=500, at=[0])
    s = lyapax.spectrum(cell, x[:, :5500], warmup=500)
    np.testing.assert_allclose(res.per_sequence, s.per_sequence, atol=5e-3)


def test_local_growth_rates_average_to_the_exponents_at_every_step():
    rng = np.random.default_rng(4)
    cell = random_cell("tanh", 5, 2, rng, gain=2.0)
    x = rng.normal(size=(1, 500, 2))
    window = 300
    res = covariant_vectors(cell, x, warmup=100, transient=100, at=range(window))
    np.testing.assert_allclose(res.growth_rates.mean(axis=0), res.per_sequence, rtol=0, atol=1e-12)
    assert res.vectors.shape == (window, 1, 5, 5) and res.angles.shape == (window, 1, 4)
    assert np.all((res.participation >= 1 - 1e-12) & (res.participation <= 5 + 1e-12))


def test_spill_to_disk_gives_the_same_vectors(tmp_path):
    rng = np.random.default_rng(5)
    cell = random_cell("lstm", 3, 2, rng)
    x = rng.normal(size=(2, 200, 2))
    mem = covariant_vectors(cell, x, at=[0, 10])
    disk = covariant_vectors(cell, x, at=[0, 10], max_memory=1000, spill=tmp_path)
    np.testing.assert_array_equal(mem.vectors, disk.vectors)
    assert list(tmp_path.iterdir()) == []  # the spill file is gone


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"k": 7}, r"k: expected 1 <= k <= state dimension 6"),
     ({"transient": 2}, "transient: the backward iteration did not converge in 2 steps"),
     ({"warmup": 100, "transient": 100}, "warmup, transient: 100 \\+ 100 steps leave no window"),
     ({"at": [170]}, "at: step 170 is outside the window"),
     ({"at": [1], "ortho_every": 2}, "at: steps must be multiples of ortho_every=2"),
     # (40 transient + 120 window steps) x 2 sequences x 6 x 6 float64 = 92160 bytes
     ({"max_memory": 100}, "max_memory: the R factors need 90 KiB, more than max_memory = 100 bytes; pass spill="),
     ({"tolerance": 2}, "tolerance: expected a number in"),
     ({"seed": -3}, "seed: expected an integer >= 0")],
)
def test_bad_inputs(kwargs, match):
    rng = np.random.default_rng(6)
    cell = random_cell("lstm", 3, 2, rng, gain=2.0)
    x = rng.normal(size=(2, 200, 2))
    before = x.copy()
    with pytest.raises(lyapax.InputError, match=match):
        covariant_vectors(cell, x, **kwargs)
    np.testing.assert_array_equal(x, before)
