"""Identities: the sum rule against Keras' own Jacobians, the prefix property, autodiff = analytic."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from tf_reference import keras_logdets, numpy_cell

import lyapax
from lyapax.testing.conformance import one_step_tolerance

MAKERS = {
    "simple": lambda: keras.layers.SimpleRNNCell(4, dtype="float64"),
    "lstm": lambda: keras.layers.LSTMCell(3, dtype="float64"),  # forget bias 1: a moderate spread of exponents
    "gru_after": lambda: keras.layers.GRUCell(3, dtype="float64", bias_initializer="random_normal"),
    "gru_before": lambda: keras.layers.GRUCell(3, reset_after=False, dtype="float64", bias_initializer="random_normal"),
}


def _cell(kind, features=2):
    cell = MAKERS[kind]()
    cell.build((None, features))
    return cell


# an LSTM's exponents spread widely (its h directions contract fast): with ortho_every > 1 the
# product's conditioning, e^(ortho_every * spread), amplifies round-off (one_step_tolerance); test it at 1
@pytest.mark.parametrize(("kind", "ortho_every"), [(k, 1) for k in sorted(MAKERS)]
                         + [("simple", 3), ("gru_after", 3), ("gru_before", 3)])
def test_sum_rule_against_keras_jacobians(kind, ortho_every, rng):
    cell = _cell(kind)
    x = rng.normal(size=(2, 30, 2))
    layer = keras.layers.RNN(cell)
    s = lyapax.spectrum(layer, x, ortho_every=ortho_every, seed=3)
    tol = one_step_tolerance(layer, x, s, backend=None)
    np.testing.assert_allclose(s.per_sequence.sum(axis=1), keras_logdets([cell], x), rtol=0, atol=tol)


def test_sum_rule_of_a_stack_against_keras_jacobians(rng):
    cells = [_cell("lstm"), _cell("gru_before", features=3), keras.layers.SimpleRNNCell(2, dtype="float64")]
    cells[2].build((None, 3))
    model = keras.Sequential([keras.Input((None, 2), dtype="float64")]
                             + [keras.layers.RNN(c, return_sequences=True) for c in cells])
    x = rng.normal(size=(2, 25, 2))
    s = lyapax.spectrum(model, x)
    tol = one_step_tolerance(model, x, s, backend=None)
    np.testing.assert_allclose(s.per_sequence.sum(axis=1), keras_logdets(cells, x), rtol=0, atol=tol)


@pytest.mark.parametrize("kind", ["simple", "lstm", "gru_after"])
def test_prefix_property(kind, rng):
    layer = keras.layers.RNN(_cell(kind))
    x = rng.normal(size=(2, 120, 2))
    full = lyapax.spectrum(layer, x, seed=2)
    tol = one_step_tolerance(layer, x, full, backend=None)
    for k in (1, 2):
        part = lyapax.spectrum(layer, x, k=k, seed=2)
        np.testing.assert_allclose(part.per_sequence, full.per_sequence[:, :k], rtol=0, atol=tol)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_autodiff_step_function_equals_analytic(kind, rng):
    cell = _cell(kind)
    x = rng.normal(size=(3, 40, 2))
    analytic = lyapax.spectrum(keras.layers.RNN(cell), x, warmup=3)
    sizes = cell.state_size if isinstance(cell.state_size, list) else [cell.state_size]
    h0 = [tf.zeros((3, n), tf.float64) for n in sizes]

    def step(h, x):  # the Keras cell's own forward pass: (B, n) tensors in, same structure out
        return list(cell(x, list(h), training=False)[1])

    auto = lyapax.spectrum(step, tf.constant(x), h0=h0, warmup=3)
    assert auto.backend == "tensorflow"
    tol = one_step_tolerance(keras.layers.RNN(cell), x, analytic, backend=None, warmup=3)
    np.testing.assert_allclose(auto.per_sequence, analytic.per_sequence, rtol=0, atol=tol)


class LeakyCell(keras.layers.SimpleRNNCell):
    """A custom cell with no analytic counterpart in the core: differentiated through its call."""

    def call(self, inputs, states, training=False):
        out, _ = super().call(inputs, states, training=training)
        h = 0.5 * states[0] + 0.5 * out
        return h, [h]


def test_custom_keras_cell_goes_through_autodiff(rng):
    cell = LeakyCell(3, dtype="float64")
    cell.build((None, 2))
    x = rng.normal(size=(2, 30, 2))
    layer = keras.layers.RNN(cell)
    s = lyapax.spectrum(layer, x)
    tol = one_step_tolerance(layer, x, s, backend=None)
    np.testing.assert_allclose(s.per_sequence.sum(axis=1), keras_logdets([cell], x), rtol=0, atol=tol)
    base = numpy_cell(cell)  # the plain Elman part: a different map, so different exponents
    assert np.abs(lyapax.spectrum(base, x).per_sequence - s.per_sequence).max() > 1e-3


def test_custom_keras_cell_takes_h0_in_keras_structure_and_its_own_dtype(rng):
    cell = LeakyCell(3, dtype="float64")
    cell.build((None, 2))
    layer = keras.layers.RNN(cell)
    x = rng.normal(size=(2, 30, 2))
    h = rng.normal(size=(2, 3)) * 0.5
    flat = lyapax.spectrum(layer, x, h0=h)
    for h0 in ([h], [tf.constant(h)]):  # Keras' initial_state list, as for the standard layers
        np.testing.assert_array_equal(lyapax.spectrum(layer, x, h0=h0).per_sequence, flat.per_sequence)
    assert np.abs(lyapax.spectrum(layer, x).per_sequence - flat.per_sequence).max() > 1e-6  # h0 was used
    with pytest.raises(lyapax.InputError, match=r"h0\[0\]: expected shape \(2, 3\)"):
        lyapax.spectrum(layer, x, h0=[np.zeros((2, 4))])
    with pytest.raises(lyapax.InputError, match="dtype: .* differentiated through its own call, which computes in float64"):
        lyapax.spectrum(layer, x, dtype="float32")
    with pytest.raises(lyapax.InputError, match="inputs: .* needs inputs"):
        lyapax.spectrum(layer, steps=5, h0=h, backend="tensorflow")


def test_dict_state_step_function(rng):
    A = rng.normal(size=(2, 2)) * 0.5
    At = tf.constant(A.T)

    def step(h, x):
        return {"a": tf.tanh(tf.matmul(h["a"], At) + x), "b": 0.5 * h["b"]}

    h0 = {"a": tf.zeros((2, 2), tf.float64), "b": tf.ones((2, 1), tf.float64)}
    s = lyapax.spectrum(step, tf.constant(rng.normal(size=(2, 30, 2))), h0=h0, basis=np.eye(3))
    assert s.state_dim == 3
    assert np.min(np.abs(s.per_sequence - np.log(0.5)), axis=1).max() < 1e-12  # the decoupled b exponent
