"""`lyapax.cells.RateNetwork` on TensorFlow tensors: the same core code as numpy, checked against tf autodiff."""

from __future__ import annotations

import array_api_compat.numpy as xnp
import numpy as np
import pytest
import tensorflow as tf
from lyapax_tensorflow.namespace import namespace

import lyapax
from lyapax.cells import RateNetwork

N, F, B = 5, 2, 2
METHODS = [("euler", 0.3), ("euler", 1.0), ("rk4", 0.2)]


def network(method: str, dt: float) -> RateNetwork:
    rng = np.random.default_rng(7)
    return RateNetwork(rng.normal(0, 2.5 / np.sqrt(N), (N, N)), rng.normal(size=(N, F)), rng.normal(0, 0.3, N),
                       dt=dt, tau=0.8, method=method)


def f64(a: np.ndarray) -> tf.Tensor:
    return tf.constant(a, dtype=tf.float64)


@pytest.mark.parametrize(("method", "dt"), METHODS)
def test_tangent_map_equals_numpy_and_tf_autodiff(method, dt):
    cell = network(method, dt)
    on_tf = cell.map_arrays(f64)
    xp = namespace()
    rng = np.random.default_rng(1)
    h, u, Q = rng.normal(size=(B, N)), rng.normal(size=(B, F)), rng.normal(size=(B, N, 3))
    got_h, got_JQ = on_tf.step_tangent(xp, f64(h), f64(u), f64(Q))
    ref_h, ref_JQ = cell.step_tangent(xnp, h, u, Q)
    np.testing.assert_allclose(got_h.numpy(), ref_h, rtol=0, atol=1e-13)
    np.testing.assert_allclose(got_JQ.numpy(), ref_JQ, rtol=0, atol=1e-12)
    th = f64(h)
    with tf.GradientTape() as tape:
        tape.watch(th)
        out = on_tf.step(xp, th, f64(u))
    jac = tape.batch_jacobian(out, th)  # (B, N, N): the exact Jacobian of the same step
    np.testing.assert_allclose((jac @ f64(Q)).numpy(), got_JQ.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("method", "dt"), METHODS)
def test_spectrum_on_tensorflow_equals_numpy(method, dt):
    cell = network(method, dt)
    rng = np.random.default_rng(2)
    x, h0 = rng.normal(size=(B, 40, F)), rng.normal(size=(B, N))
    ref = lyapax.spectrum(cell, x, h0=h0)
    got = lyapax.spectrum(cell.map_arrays(f64), f64(x), h0=f64(h0))
    assert got.backend == "tensorflow" and got.dtype == "float64" and got.dt == dt
    np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.exponents_per_time, ref.exponents / dt, rtol=0, atol=1e-10)
