"""The compiled chunk runner: no retracing, chunking, devices, dtypes, and gradients through it."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from lyapax_tensorflow import TensorFlowBackend, loop
from tf_reference import numpy_cell

import lyapax
from lyapax.options import Options
from lyapax.pipeline import compute
from lyapax.session import session


def _gru(units=3, features=2, dtype="float64"):
    layer = keras.layers.GRU(units, dtype=dtype, bias_initializer="random_normal")
    layer.build((None, None, features))
    return layer


def test_second_call_with_the_same_shapes_does_not_retrace(rng):
    x = rng.normal(size=(2, 37, 2))
    first = lyapax.spectrum(_gru(), x, ortho_every=2, warmup=5)
    count = loop.trace_count()
    other = _gru()  # same architecture, other weights: still the same trace
    second = lyapax.spectrum(other, x, ortho_every=2, warmup=5)
    again = lyapax.spectrum(other, tf.constant(x), ortho_every=2, warmup=5)
    assert loop.trace_count() == count
    assert np.abs(first.exponents - second.exponents).max() > 1e-6
    np.testing.assert_array_equal(second.per_sequence, again.per_sequence)


def test_chunking_and_history_do_not_change_results(rng):
    layer = _gru()
    x = rng.normal(size=(2, 45, 2))
    ref = lyapax.spectrum(numpy_cell(layer), x, warmup=4, ortho_every=3)
    opts = Options(warmup=4, ortho_every=3)
    for chunk in (6, 9, 1000):
        got = compute(layer, x, opts, chunk=chunk)
        np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=1e-9)
    hist = lyapax.spectrum(layer, x, warmup=4, ortho_every=3, history=12)
    np.testing.assert_array_equal(hist.history_steps, [12, 24, 36, 41])
    np.testing.assert_allclose(hist.history[-1], ref.exponents, atol=1e-9)


def test_device_placement_follows_device_argument_and_inputs(rng):
    layer = _gru()
    x = tf.constant(rng.normal(size=(2, 10, 2)))
    with session(TensorFlowBackend(), layer, x, Options(device="cpu")) as problem:
        assert problem.device == "/device:CPU:0"
        assert problem.inputs.device.endswith("CPU:0") and problem.h0.device.endswith("CPU:0")
        assert problem.asarray(np.zeros(2)).device.endswith("CPU:0")
    with tf.device("CPU:0"):
        y = tf.identity(x)
    with session(TensorFlowBackend(), layer, y, Options()) as problem:
        assert problem.device == y.device
    assert lyapax.spectrum(layer, y, device="CPU:0").exponents.shape == (3,)


def test_autonomous_map_without_inputs():
    A = tf.constant(np.diag([0.9, 0.5]))
    s = lyapax.spectrum(lambda h, x: tf.matmul(h, A), steps=20, h0=tf.ones((1, 2), tf.float64), basis=np.eye(2))
    np.testing.assert_allclose(s.exponents, np.log([0.9, 0.5]), atol=1e-12)


def test_importing_the_backend_does_not_import_tensorflow():
    code = ("import sys, lyapax, lyapax_tensorflow; from lyapax import registry; registry.backends(); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def _chaotic_rnn(units=16, gain=3.0, seed=2):
    # Weights from numpy, not from a seeded Keras initializer: Keras' draws for a given seed
    # differ between versions (Keras 3.0 gave this test a network with λ1 = 0.03, not chaotic).
    layer = keras.layers.SimpleRNN(units, dtype="float64")
    layer.build((None, None, 2))
    recurrent = np.random.default_rng(seed).normal(0.0, gain / np.sqrt(units), (units, units))
    layer.cell.recurrent_kernel.assign(recurrent)
    return layer


def test_gradient_step_lowers_the_top_exponent(rng):
    """Steps along -grad, each sized for a first-order decrease of 0.005 nats/step.

    (In a chaotic network the gradient is large and the landscape rough, so
    steps must be small; the decrease then matches the first-order prediction.)
    """
    layer = _chaotic_rnn()
    x = tf.constant(rng.normal(size=(2, 40, 2)) * 0.3)
    tops = []
    for _ in range(3):
        with tf.GradientTape() as tape:
            s = lyapax.spectrum(layer, x, k=2, differentiable=True)
            loss = tf.reduce_mean(s.raw[:, 0])
        grads = tape.gradient(loss, layer.trainable_variables)
        assert isinstance(s.raw, tf.Tensor) and s.raw.shape == (2, 2)
        np.testing.assert_allclose(s.raw.numpy(), s.per_sequence, atol=1e-12)
        assert all(g is not None and np.any(g.numpy() != 0) for g in grads)
        tops.append(s.max_exponent)
        norm2 = float(tf.linalg.global_norm(grads)) ** 2
        for v, g in zip(layer.trainable_variables, grads):
            v.assign_sub(0.005 / norm2 * g)
    assert tops[0] > 0.1, tops  # chaotic to start with
    steps = np.diff(tops)
    assert np.all(steps < -0.002) and np.all(steps > -0.02), tops


def test_gradient_matches_finite_differences(rng):
    layer = _chaotic_rnn(8, 1.5)
    x = tf.constant(rng.normal(size=(2, 30, 2)) * 0.3)
    kernel = layer.cell.recurrent_kernel
    direction = rng.normal(size=kernel.shape)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(lyapax.spectrum(layer, x, k=3, differentiable=True).raw)
    grad = tape.gradient(loss, kernel).numpy()
    base = kernel.numpy()
    eps = 1e-6
    values = []
    for sign in (1, -1):
        kernel.assign(base + sign * eps * direction)
        values.append(lyapax.spectrum(layer, x, k=3).per_sequence.sum())
    kernel.assign(base)
    np.testing.assert_allclose((values[0] - values[1]) / (2 * eps), np.sum(grad * direction), rtol=1e-5)


def test_gradients_through_a_step_function(rng):
    w = tf.Variable(rng.normal(size=(3, 3)) * 0.9)
    x = tf.constant(rng.normal(size=(2, 20, 3)))
    with tf.GradientTape() as tape:
        s = lyapax.spectrum(lambda h, x: tf.tanh(tf.matmul(h, w) + x), x, h0=tf.zeros((2, 3), tf.float64),
                            differentiable=True)
        loss = tf.reduce_sum(s.raw)
    g = tape.gradient(loss, w)
    assert g is not None and np.all(np.isfinite(g.numpy())) and np.any(g.numpy() != 0)


def test_float32_and_float64_of_the_same_layer(rng):
    layer = _gru(4, dtype="float32")
    x = rng.normal(size=(2, 60, 2))
    f32 = lyapax.spectrum(layer, x)
    f64 = lyapax.spectrum(layer, x, dtype="float64")
    assert (f32.dtype, f64.dtype) == ("float32", "float64")
    np.testing.assert_allclose(f32.per_sequence, f64.per_sequence, atol=2e-3)
    with pytest.raises(lyapax.InputError, match="dtype"):
        lyapax.spectrum(layer, x, dtype="bfloat16")


def test_step_functions_and_custom_cells_do_not_retrace_on_a_second_call(rng):
    """The autodiff path is split like the cells: definition (the function, the Keras cells) as key,
    parameters as arguments; a variable the step reads is read at run time."""

    class Leaky(keras.layers.SimpleRNNCell):
        def call(self, inputs, states, training=False):
            out, _ = super().call(inputs, states, training=training)
            return 0.5 * states[0] + 0.5 * out, [0.5 * states[0] + 0.5 * out]

    cell = Leaky(3, dtype="float64")
    cell.build((None, 2))
    layer = keras.layers.RNN(cell)
    w = tf.Variable(rng.normal(size=(3, 3)) * 0.5)

    def step(h, x):
        return tf.tanh(tf.matmul(h, w) + x[:, :1])

    x = rng.normal(size=(2, 23, 2))
    h0 = tf.zeros((2, 3), tf.float64)
    first = (lyapax.spectrum(layer, x, ortho_every=2), lyapax.spectrum(step, tf.constant(x), h0=h0, ortho_every=2))
    count = loop.trace_count()
    cell.kernel.assign(cell.kernel * 0.5)  # training moves the variables: read at run time, no retrace
    w.assign(w * 0.5)
    second = (lyapax.spectrum(layer, x[:, :17], ortho_every=2),
              lyapax.spectrum(step, tf.constant(x[:, :17]), h0=h0, ortho_every=2))
    assert loop.trace_count() == count
    for a, b in zip(first, second):
        assert np.abs(a.exponents - b.exponents).max() > 1e-6
