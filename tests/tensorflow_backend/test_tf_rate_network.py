"""`lyapax.cells.RateNetwork` on TensorFlow tensors: the same core code as numpy, checked against tf autodiff."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from lyapax_tensorflow.namespace import namespace
from rate_network_cases import METHODS, check_spectrum_matches_numpy, network, point, reference_tangent


def f64(a: np.ndarray) -> tf.Tensor:
    return tf.constant(a, dtype=tf.float64)


@pytest.mark.parametrize(("method", "dt"), METHODS)
def test_tangent_map_equals_numpy_and_tf_autodiff(method, dt):
    cell, xp = network(method, dt), namespace()
    on_tf = cell.map_arrays(f64)
    h, u, Q = (f64(a) for a in point())
    with tf.GradientTape() as tape:
        tape.watch(h)
        got_h, got_JQ = on_tf.step_tangent(xp, h, u, Q)
    jac = tape.batch_jacobian(got_h, h)  # (B, N, N): the exact Jacobian of the same step
    ref_h, ref_JQ = reference_tangent(cell)
    np.testing.assert_allclose(got_h.numpy(), ref_h, rtol=0, atol=1e-13)
    np.testing.assert_allclose(got_JQ.numpy(), ref_JQ, rtol=0, atol=1e-12)
    np.testing.assert_allclose((jac @ Q).numpy(), got_JQ.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("method", "dt"), METHODS)
def test_spectrum_on_tensorflow_equals_numpy(method, dt):
    check_spectrum_matches_numpy(method, dt, f64, "tensorflow")
