"""Keras layers, cells, stacks and Sequential models against the numpy reference path (float64)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from tf_reference import assert_unchanged, numpy_cell, numpy_stack, snapshot

import lyapax
from lyapax.testing.conformance import one_step_tolerance

LAYERS = {
    "simple_tanh": lambda: keras.layers.SimpleRNN(4, dtype="float64"),
    # relu with every unit active (a dead unit makes the tangent map singular: reported, see test_tf_errors)
    "simple_relu": lambda: keras.layers.SimpleRNN(4, activation="relu", dtype="float64",
                                                  recurrent_initializer=keras.initializers.RandomUniform(0.0, 0.4),
                                                  bias_initializer=keras.initializers.Constant(4.0)),
    "simple_linear": lambda: keras.layers.SimpleRNN(3, activation=None, dtype="float64"),
    "simple_nobias": lambda: keras.layers.SimpleRNN(4, use_bias=False, dtype="float64"),
    "lstm": lambda: keras.layers.LSTM(3, dtype="float64", bias_initializer="random_normal"),
    "lstm_nobias": lambda: keras.layers.LSTM(3, use_bias=False, dtype="float64"),
    "gru_after": lambda: keras.layers.GRU(4, dtype="float64", bias_initializer="random_normal"),
    "gru_before": lambda: keras.layers.GRU(4, reset_after=False, dtype="float64", bias_initializer="random_normal"),
    "gru_nobias": lambda: keras.layers.GRU(4, use_bias=False, dtype="float64"),
}


def _built(make, features=2):
    layer = make()
    layer.build((None, None, features))
    return layer


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_layer_equals_numpy_reference(kind, rng):
    layer = _built(LAYERS[kind])
    x = rng.normal(size=(3, 50, 2))
    before = snapshot(layer)
    got = lyapax.spectrum(layer, tf.constant(x), warmup=5)
    ref = lyapax.spectrum(numpy_cell(layer), x, warmup=5)
    tol = one_step_tolerance(numpy_cell(layer), x, ref, warmup=5)
    assert got.backend == "tensorflow" and got.dtype == "float64"
    np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=tol)
    assert_unchanged(layer, before)


@pytest.mark.parametrize("make", [
    lambda: keras.layers.SimpleRNNCell(4, dtype="float64"),
    lambda: keras.layers.LSTMCell(3, dtype="float64"),
    lambda: keras.layers.GRUCell(3, dtype="float64", bias_initializer="random_normal"),
    lambda: keras.layers.GRUCell(3, reset_after=False, dtype="float64", bias_initializer="random_normal"),
], ids=["SimpleRNNCell", "LSTMCell", "GRUCell", "GRUCell_before"])
def test_cell_equals_numpy_reference(make, rng):
    cell = make()
    cell.build((None, 2))
    x = rng.normal(size=(2, 40, 2))
    got = lyapax.spectrum(cell, x)  # numpy inputs: the Keras cell picks the backend
    ref = lyapax.spectrum(numpy_cell(cell), x)
    tol = one_step_tolerance(numpy_cell(cell), x, ref)
    np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=tol)


def _stacked_cells():
    return [keras.layers.LSTMCell(3, dtype="float64"), keras.layers.GRUCell(2, dtype="float64"),
            keras.layers.SimpleRNNCell(3, dtype="float64")]


def test_stacked_rnn_cells_full_state(rng):
    stacked = keras.layers.StackedRNNCells(_stacked_cells())
    layer = keras.layers.RNN(stacked, dtype="float64")
    layer.build((None, None, 2))
    x = rng.normal(size=(2, 40, 2))
    ref = lyapax.spectrum(numpy_stack(stacked.cells), x)
    tol = one_step_tolerance(numpy_stack(stacked.cells), x, ref)
    assert ref.per_sequence.shape == (2, 3 + 3 + 2 + 3)
    for model in (layer, stacked):
        got = lyapax.spectrum(model, x)
        np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=tol)


def test_sequential_stack_with_input_layer(rng):
    model = keras.Sequential([
        keras.Input((None, 2), dtype="float64"),
        keras.layers.GRU(3, return_sequences=True, dtype="float64"),
        keras.layers.LSTM(2, return_sequences=True, dtype="float64"),
        keras.layers.SimpleRNN(3, dtype="float64"),
    ])
    x = rng.normal(size=(2, 40, 2))
    before = [snapshot(layer) for layer in model.layers]
    got = lyapax.spectrum(model, x, k=5)
    ref = lyapax.spectrum(numpy_stack(model.layers), x, k=5)
    tol = one_step_tolerance(numpy_stack(model.layers), x, ref)
    np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=tol)
    assert got.state_dim == 3 + 2 + 2 + 3
    for layer, snap in zip(model.layers, before):
        assert_unchanged(layer, snap)
    # a plain list of layers is the same stack (backend named)
    listed = lyapax.spectrum(list(model.layers), x, k=5, backend="tensorflow")
    np.testing.assert_allclose(listed.per_sequence, got.per_sequence, rtol=0, atol=1e-12)


def test_go_backwards_reads_inputs_reversed(rng):
    layer = _built(lambda: keras.layers.GRU(3, go_backwards=True, dtype="float64"))
    x = rng.normal(size=(2, 30, 2))
    got = lyapax.spectrum(layer, x)
    ref = lyapax.spectrum(numpy_cell(layer), x[:, ::-1])
    tol = one_step_tolerance(numpy_cell(layer), x[:, ::-1], ref)
    np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=tol)


def test_untrained_float32_layer_defaults_to_float32(rng):
    layer = keras.layers.LSTM(4)
    layer.build((None, None, 3))
    x = rng.normal(size=(2, 60, 3)).astype(np.float32)
    got = lyapax.spectrum(layer, x)
    assert got.dtype == "float32"
    ref = lyapax.spectrum(numpy_cell(layer), x.astype(np.float64))
    tol = one_step_tolerance(numpy_cell(layer), x.astype(np.float64), ref)
    np.testing.assert_allclose(got.per_sequence, ref.per_sequence, atol=2e-3)
    f64 = lyapax.spectrum(layer, x, dtype="float64")
    assert f64.dtype == "float64"
    np.testing.assert_allclose(f64.per_sequence, ref.per_sequence, rtol=0, atol=tol)


def test_h0_in_keras_structure(rng):
    layer = _built(lambda: keras.layers.LSTM(3, dtype="float64"))
    x = rng.normal(size=(2, 30, 2))
    h, c = rng.normal(size=(2, 3)) * 0.5, rng.normal(size=(2, 3)) * 0.5
    ref = lyapax.spectrum(numpy_cell(layer), x, h0=np.concatenate([h, c], axis=1))
    tol = one_step_tolerance(numpy_cell(layer), x, ref, h0=np.concatenate([h, c], axis=1))
    for h0 in ([h, c], (tf.constant(h), tf.constant(c)), np.concatenate([h, c], axis=1)):
        got = lyapax.spectrum(layer, x, h0=h0)
        np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=tol)
    zero = lyapax.spectrum(layer, x)
    assert np.abs(zero.per_sequence - ref.per_sequence).max() > 1e-6  # h0 was used


def test_h0_of_a_sequential_stack_is_per_layer(rng):
    model = keras.Sequential([keras.Input((None, 2), dtype="float64"),
                              keras.layers.LSTM(2, return_sequences=True, dtype="float64"),
                              keras.layers.GRU(3, dtype="float64")])
    x = rng.normal(size=(2, 25, 2))
    h1, c1, h2 = (rng.normal(size=(2, n)) * 0.3 for n in (2, 2, 3))
    ref = lyapax.spectrum(numpy_stack(model.layers), x, h0=np.concatenate([h1, c1, h2], axis=1))
    tol = one_step_tolerance(numpy_stack(model.layers), x, ref, h0=np.concatenate([h1, c1, h2], axis=1))
    for h0 in ([[h1, c1], [h2]], [h1, c1, h2]):
        got = lyapax.spectrum(model, x, h0=h0)
        np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=tol)


def test_layer_flags_and_training_state_untouched(rng):
    layer = _built(lambda: keras.layers.GRU(3, dropout=0.5, recurrent_dropout=0.5))
    layer.trainable = False
    layer.cell.kernel.trainable = True
    before = snapshot(layer)
    x = rng.normal(size=(2, 20, 2)).astype(np.float32)
    s = lyapax.spectrum(layer, x, dtype="float64")
    # dropout is ignored: the step is the inference-time map
    ref = lyapax.spectrum(numpy_cell(layer), x.astype(np.float64))
    tol = one_step_tolerance(numpy_cell(layer), x.astype(np.float64), ref)
    np.testing.assert_allclose(s.per_sequence, ref.per_sequence, rtol=0, atol=tol)
    assert_unchanged(layer, before)
    assert layer.trainable is False and layer.cell.kernel.trainable is True


def test_core_cell_with_tf_weights_is_routed_here(rng):
    ref_cell = numpy_cell(_built(LAYERS["gru_after"]))
    tf_cell = ref_cell.map_arrays(tf.constant)
    x = rng.normal(size=(2, 30, 2))
    got = lyapax.spectrum(tf_cell, x)
    assert got.backend == "tensorflow"
    np.testing.assert_allclose(got.per_sequence, lyapax.spectrum(ref_cell, x).per_sequence, rtol=0, atol=1e-9)
