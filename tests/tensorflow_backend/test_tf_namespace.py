"""The TensorFlow array namespace: each function against numpy, eagerly and inside tf.function."""

from __future__ import annotations

import array_api_compat.numpy as npx
import numpy as np
import pytest
import tensorflow as tf
from lyapax_tensorflow import namespace as xp

from lyapax import algorithm
from lyapax.linalg import orthonormalize
from lyapax.testing import CELL_KINDS, random_cell


@pytest.fixture(params=["eager", "tf.function"])
def run(request):
    if request.param == "eager":
        return lambda fn, *args: fn(*args)
    return lambda fn, *args: tf.function(fn, autograph=False)(*args)


def test_matmul_broadcasts_a_matrix_against_a_batch(rng, run):
    W, Q = rng.normal(size=(5, 3)), rng.normal(size=(4, 3, 2))
    got = run(xp.matmul, tf.constant(W), tf.constant(Q))
    np.testing.assert_allclose(got.numpy(), W @ Q, rtol=1e-12)
    v = rng.normal(size=(4, 3))
    got = run(lambda a, b: xp.matmul(a, xp.matrix_transpose(b)), tf.constant(v), tf.constant(W))
    np.testing.assert_allclose(got.numpy(), v @ W.T, rtol=1e-12)


def test_qr_and_diagonal(rng, run):
    A = rng.normal(size=(3, 5, 4))
    Q, R = run(lambda a: tuple(xp.linalg.qr(a)), tf.constant(A))
    assert Q.shape == (3, 5, 4) and R.shape == (3, 4, 4)
    np.testing.assert_allclose((Q @ R).numpy(), A, atol=1e-12)
    np.testing.assert_allclose(np.swapaxes(Q.numpy(), 1, 2) @ Q.numpy(), np.broadcast_to(np.eye(4), (3, 4, 4)),
                               atol=1e-12)
    np.testing.assert_array_equal(np.tril(R.numpy(), -1), 0)
    np.testing.assert_array_equal(run(xp.linalg.diagonal, R).numpy(), np.diagonal(R.numpy(), axis1=1, axis2=2))


def test_sign_fixed_qr_matches_numpy(rng):
    A = rng.normal(size=(2, 4, 3))
    Qn, Rn, _ = orthonormalize(npx, A)
    Qt, Rt, _ = orthonormalize(xp, tf.constant(A))
    np.testing.assert_allclose(Qt.numpy(), Qn, atol=1e-12)
    np.testing.assert_allclose(Rt.numpy(), Rn, atol=1e-12)


def test_elementwise(rng, run):
    a = rng.normal(size=(3, 4))
    t = tf.constant(a)
    for ours, ref in [(xp.log, lambda v: np.log(np.abs(v))), (xp.abs, np.abs), (xp.exp, np.exp), (xp.tanh, np.tanh)]:
        arg = tf.abs(t) if ours is xp.log else t
        np.testing.assert_allclose(run(ours, arg).numpy(), ref(a), rtol=1e-12)
    assert run(xp.ones_like, t).numpy().tolist() == np.ones_like(a).tolist()
    assert run(xp.zeros_like, t).dtype == tf.float64


def test_where_with_scalars_and_integer_promotion(run):
    c = tf.constant([True, False, True])
    v = tf.constant([1.0, 2.0, 3.0], tf.float32)
    got = run(lambda c, v: xp.where(c, v, 0.0), c, v)
    assert got.dtype == tf.float32 and got.numpy().tolist() == [1.0, 0.0, 3.0]
    got = run(lambda c, v: xp.where(c, -1.0, v), c, v)
    assert got.numpy().tolist() == [-1.0, 2.0, -1.0]
    flags = tf.constant([-1, 5, -1], tf.int64)
    got = run(lambda c, f: xp.where(c, tf.constant(7, tf.int32), f), c, flags)
    assert got.dtype == tf.int64 and got.numpy().tolist() == [7, 5, 7]
    got = run(lambda c, f: xp.where(c, 3, f), c, flags)
    assert got.dtype == tf.int64 and got.numpy().tolist() == [3, 5, 3]


def test_reductions_predicates_and_shapes(rng, run):
    a = np.array([[1.0, np.nan], [np.inf, 2.0], [3.0, 4.0]])
    t = tf.constant(a)
    np.testing.assert_array_equal(run(xp.isfinite, t).numpy(), np.isfinite(a))
    np.testing.assert_array_equal(run(xp.isnan, t).numpy(), np.isnan(a))
    np.testing.assert_array_equal(run(lambda v: xp.all(xp.isfinite(v), axis=-1), t).numpy(), [False, False, True])
    np.testing.assert_array_equal(run(lambda v: xp.any(xp.isnan(v), axis=-1), t).numpy(), [True, False, False])
    assert bool(run(lambda v: xp.all(xp.isfinite(v)), t).numpy()) is False
    b = rng.normal(size=(3, 2))
    got = run(lambda u, v: xp.concat([u, v], axis=1), tf.constant(b), tf.constant(b * 2))
    np.testing.assert_allclose(got.numpy(), np.concatenate([b, 2 * b], axis=1))
    got = run(lambda u: xp.sort(u, axis=1, descending=True), tf.constant(b))
    np.testing.assert_allclose(got.numpy(), -np.sort(-b, axis=1))
    assert xp.sum(tf.constant(b), axis=0).shape == (2,)
    assert xp.reshape(tf.constant(b), (2, 3)).shape == (2, 3)
    assert xp.stack([tf.constant(b)] * 2, axis=0).shape == (2, 3, 2)


def test_eye_and_asarray():
    e = xp.eye(3)
    assert e.dtype == tf.float64 and np.array_equal(e.numpy(), np.eye(3))
    e = xp.eye(2, 3, dtype=xp.float32, device="/device:CPU:0")
    assert e.dtype == tf.float32 and e.shape == (2, 3) and "CPU:0" in e.device
    a = xp.asarray(np.arange(3), dtype=xp.float64, device="CPU:0")
    assert a.dtype == tf.float64 and a.numpy().tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(NotImplementedError):
        xp.eye(3, k=1)


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_core_cells_on_tf_tensors_match_numpy(kind, rng):
    cell = random_cell(kind, 3, 2, rng)
    tcell = cell.map_arrays(tf.constant)
    h, x = rng.normal(size=(2, cell.dim)), rng.normal(size=(2, 2))
    Q = algorithm.orthonormal_basis(cell.dim, 2)[None].repeat(2, axis=0)
    hn, JQn = cell.step_tangent(npx, h, x, Q)
    ht, JQt = tf.function(lambda a, b, c: tcell.step_tangent(xp, a, b, c), autograph=False)(
        tf.constant(h), tf.constant(x), tf.constant(Q))
    np.testing.assert_allclose(ht.numpy(), hn, atol=1e-13)
    np.testing.assert_allclose(JQt.numpy(), JQn, atol=1e-13)


def test_track_trouble_matches_numpy():
    h = np.array([[0.0, 1.0], [np.nan, 0.0], [0.0, 0.0]])
    log_r = np.array([[0.0, -np.inf], [0.0, 0.0], [0.1, 0.2]])
    flags = np.full((3, algorithm.FLAGS), -1, dtype=np.int32)
    ref = algorithm.track_trouble(npx, h, log_r, flags, 4)
    got = algorithm.track_trouble(xp, tf.constant(h), tf.constant(log_r), tf.constant(flags), tf.constant(4, tf.int32))
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g.numpy(), r)
