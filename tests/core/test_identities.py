"""Identities every spectrum must obey, for every canonical cell (numpy, float64)."""

from __future__ import annotations

import array_api_compat.numpy as xp
import numpy as np
import pytest

import lyapax
from lyapax import cells
from lyapax.algorithm import orthonormal_basis
from lyapax.testing import CELL_KINDS as KINDS
from lyapax.testing import random_cell as make_cell
from lyapax.testing import trajectory
from lyapax.testing.conformance import one_step_tolerance


def finite_difference_jacobian(cell, h, x, eps=1e-6):
    B, d = h.shape
    J = np.empty((B, d, d))
    for j in range(d):
        e = np.zeros(d)
        e[j] = eps
        J[:, :, j] = (cell.step(xp, h + e, x) - cell.step(xp, h - e, x)) / (2 * eps)
    return J


@pytest.mark.parametrize("kind", KINDS)
def test_tangent_map_equals_finite_difference_jacobian_times_q(kind, rng):
    cell = make_cell(kind, 5, 3, rng)
    h = rng.normal(size=(4, cell.dim)) * 0.5
    if kind == "relu":
        h = h + 0.0  # relu kinks are measure-zero; random points avoid them
    x = rng.normal(size=(4, 3))
    Q = np.stack([orthonormal_basis(cell.dim, 3, seed=s) for s in range(4)])
    _, JQ = cell.step_tangent(xp, h, x, Q)
    np.testing.assert_allclose(JQ, finite_difference_jacobian(cell, h, x) @ Q, atol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_step_tangent_state_equals_step(kind, rng):
    cell = make_cell(kind, 4, 2, rng)
    h, x = rng.normal(size=(3, cell.dim)), rng.normal(size=(3, 2))
    Q = np.stack([np.eye(cell.dim)[:, :2]] * 3)
    np.testing.assert_array_equal(cell.step_tangent(xp, h, x, Q)[0], cell.step(xp, h, x))


# relu: inactive units make J singular, which the iteration reports (see test_errors.py)
@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("linear", "relu")])
@pytest.mark.parametrize("ortho_every", [1, 3])
def test_sum_rule_equals_mean_log_abs_det_jacobian(kind, ortho_every, rng):
    cell = make_cell(kind, 4, 2, rng)
    x = rng.normal(size=(3, 60, 2))
    s = lyapax.spectrum(cell, x, ortho_every=ortho_every, seed=5)
    states = trajectory(cell, x)
    logdet = np.zeros(3)
    for t in range(x.shape[1]):
        logdet += np.linalg.slogdet(cells.jacobian(xp, cell, states[t], x[:, t]))[1]
    tol = one_step_tolerance(cell, x, s)
    np.testing.assert_allclose(s.per_sequence.sum(axis=1), logdet / x.shape[1], rtol=0, atol=tol)


def test_sum_rule_holds_for_any_initial_basis(rng):
    cell = make_cell("gru", 4, 2, rng)
    x = rng.normal(size=(2, 80, 2))
    a = lyapax.spectrum(cell, x, seed=1)
    b = lyapax.spectrum(cell, x, basis=rng.normal(size=(4, 4)))
    np.testing.assert_allclose(a.per_sequence.sum(1), b.per_sequence.sum(1), rtol=0, atol=one_step_tolerance(cell, x, a))


@pytest.mark.parametrize("kind", ["tanh", "lstm", "gru", "stack"])
def test_prefix_property(kind, rng):
    cell = make_cell(kind, 5, 2, rng)
    x = rng.normal(size=(2, 200, 2))
    full = lyapax.spectrum(cell, x, seed=3)
    tol = one_step_tolerance(cell, x, full)
    for k in (1, 3):
        part = lyapax.spectrum(cell, x, k=k, seed=3)
        np.testing.assert_allclose(part.per_sequence, full.per_sequence[:, :k], rtol=0, atol=tol)


@pytest.mark.parametrize("kind", ["tanh", "lstm", "gru_before"])
def test_ortho_every_is_exact(kind, rng):
    """QR of a product equals the product of the per-step QRs: identical sums at any interval."""
    cell = make_cell(kind, 5, 2, rng, gain=1.2)
    x = rng.normal(size=(2, 101, 2))
    one = lyapax.spectrum(cell, x, k=4, warmup=7)
    for p in (2, 5):
        every_p = lyapax.spectrum(cell, x, k=4, warmup=7, ortho_every=p)
        np.testing.assert_allclose(every_p.per_sequence, one.per_sequence, rtol=0,
                                   atol=one_step_tolerance(cell, x, every_p, warmup=7))


def test_warmup_gives_the_same_limit(rng):
    cell = make_cell("lstm", 6, 2, rng, gain=2.0)
    x = rng.normal(size=(4, 3000, 2))
    a = lyapax.spectrum(cell, x)
    b = lyapax.spectrum(cell, x, warmup=500)
    np.testing.assert_allclose(a.exponents, b.exponents, atol=0.02)
    assert b.steps == 2500 and b.warmup == 500


def test_history_ends_at_the_final_estimate(rng):
    cell = make_cell("gru", 4, 2, rng)
    x = rng.normal(size=(2, 100, 2))
    s = lyapax.spectrum(cell, x, history=20, warmup=10)
    assert s.history.shape == (5, 4)
    np.testing.assert_array_equal(s.history_steps, [20, 40, 60, 80, 90])
    np.testing.assert_allclose(s.history[-1], s.exponents, atol=1e-14)
    assert lyapax.spectrum(cell, x).history is None


def test_chunking_does_not_change_results(rng):
    from lyapax.options import parse
    from lyapax.pipeline import compute

    cell = make_cell("lstm", 4, 2, rng)
    x = rng.normal(size=(2, 90, 2))
    opts = parse("lyapax.spectrum", {"warmup": 5})[0]
    out = [compute(cell, x, opts, chunk=chunk).per_sequence for chunk in (7, 90, 1000)]
    np.testing.assert_allclose(out[0], out[1], atol=1e-13)
    np.testing.assert_allclose(out[0], out[2], atol=1e-13)


def test_exponents_sorted_and_stderr(rng):
    cell = make_cell("tanh", 6, 2, rng, gain=2.5)
    x = rng.normal(size=(5, 300, 2))
    s = lyapax.spectrum(cell, x)
    assert np.all(np.diff(s.exponents) <= 0)
    np.testing.assert_allclose(s.exponents, s.per_sequence.mean(0))
    np.testing.assert_allclose(s.stderr, s.per_sequence.std(0, ddof=1) / np.sqrt(5))
    assert s.per_sequence.dtype == np.float64 and s.exponents.shape == (6,)


def test_float32_close_to_float64(rng):
    cell = make_cell("lstm", 6, 2, rng)
    x = rng.normal(size=(2, 300, 2))
    a = lyapax.spectrum(cell, x, dtype="float32")
    b = lyapax.spectrum(cell, x)
    assert a.dtype == "float32"
    np.testing.assert_allclose(a.exponents, b.exponents, atol=1e-4)


def test_batch_rows_are_independent_trajectories(rng):
    cell = make_cell("gru", 4, 2, rng)
    x = rng.normal(size=(3, 50, 2))
    together = lyapax.spectrum(cell, x).per_sequence
    for b in range(3):
        alone = lyapax.spectrum(cell, x[b : b + 1]).per_sequence
        np.testing.assert_allclose(alone[0], together[b], atol=1e-12)
