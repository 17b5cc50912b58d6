"""Bad inputs and unsupported models raise lyapax errors that name the argument and the fix."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import lyapax
from lyapax.errors import InputError, ModelTypeError


@pytest.fixture
def gru():
    layer = keras.layers.GRU(3)
    layer.build((None, None, 2))
    return layer


def test_bad_inputs(gru, rng):
    x = rng.normal(size=(2, 10, 2))
    with pytest.raises(InputError, match="inputs: the model expects 2 features"):
        lyapax.spectrum(gru, x[:, :, :1])
    with pytest.raises(InputError, match=r"inputs: expected shape \(batch, time, features\)"):
        lyapax.spectrum(gru, x[0])
    bad = x.copy()
    bad[1, 4, 0] = np.inf
    with pytest.raises(InputError, match="NaN or Inf"):
        lyapax.spectrum(gru, tf.constant(bad))
    with pytest.raises(InputError, match="inputs: expected numbers"):
        lyapax.spectrum(gru, tf.constant([[["a", "b"]]]))
    with pytest.raises(InputError, match="dtype"):
        lyapax.spectrum(gru, x, dtype="float16")
    with pytest.raises(InputError, match="k:"):
        lyapax.spectrum(gru, x, k=4)


def test_bad_h0(gru, rng):
    x = rng.normal(size=(2, 10, 2))
    with pytest.raises(InputError, match=r"h0\[0\]: expected shape \(2, 3\)"):
        lyapax.spectrum(gru, x, h0=[np.zeros((2, 4))])
    lstm = keras.layers.LSTM(3)
    lstm.build((None, None, 2))
    with pytest.raises(InputError, match=r"h0: expected the layer's initial-state structure, 2 state tensor\(s\)"):
        lyapax.spectrum(lstm, x, h0=[np.zeros((2, 3))] * 3)
    with pytest.raises(InputError, match=r"h0\[1\]"):
        lyapax.spectrum(lstm, x, h0=[np.zeros((2, 3)), np.zeros((3, 3))])
    with pytest.raises(InputError, match="h0: contains NaN"):
        lyapax.spectrum(gru, x, h0=[np.full((2, 3), np.nan)])


def test_unbuilt_layer_is_refused_and_left_unbuilt():
    layer = keras.layers.LSTM(3)
    with pytest.raises(InputError, match="not built"):
        lyapax.spectrum(layer, np.zeros((1, 5, 2)))
    assert not layer.built and not layer.weights


def test_non_recurrent_models_are_refused(gru):
    with pytest.raises(ModelTypeError, match="not a recurrent layer"):
        lyapax.spectrum(keras.Sequential([keras.Input((None, 2)), keras.layers.GRU(3), keras.layers.Dense(1)]),
                        np.zeros((1, 5, 2)))
    dense = keras.layers.Dense(2)
    dense.build((None, 2))
    with pytest.raises(ModelTypeError, match="not a Keras recurrent layer"):
        lyapax.spectrum(dense, np.zeros((1, 5, 2)))
    bidi = keras.layers.Bidirectional(keras.layers.GRU(2))
    bidi.build((None, None, 2))
    with pytest.raises(ModelTypeError, match="Bidirectional"):
        lyapax.spectrum(bidi, np.zeros((1, 5, 2)))
    inp = keras.Input((None, 2))
    functional = keras.Model(inp, keras.layers.GRU(2)(inp))
    with pytest.raises(ModelTypeError, match="not a Sequential"):
        lyapax.spectrum(functional, np.zeros((1, 5, 2)))
    with pytest.raises(InputError, match="return_sequences=False"):
        lyapax.spectrum([gru, gru], np.zeros((1, 5, 2)), backend="tensorflow")


def test_unsupported_activations_are_refused():
    for layer in (keras.layers.LSTM(2, recurrent_activation="hard_sigmoid"), keras.layers.SimpleRNN(2, activation="elu"),
                  keras.layers.GRU(2, activation="relu")):
        layer.build((None, None, 2))
        with pytest.raises(ModelTypeError, match="activation"):
            lyapax.spectrum(layer, np.zeros((1, 5, 2)))


def test_devices_and_model_types(gru, rng):
    x = rng.normal(size=(1, 5, 2))
    with pytest.raises(InputError, match="device: 'GPU:7' is not available"):
        lyapax.spectrum(gru, x, device="GPU:7")
    with pytest.raises(InputError, match="device: expected a TensorFlow device name"):
        lyapax.spectrum(gru, x, device=3)
    with pytest.raises(InputError, match="h0: a step function"):
        lyapax.spectrum(lambda h, x: h, tf.constant(x))
    with pytest.raises(ModelTypeError, match="lyapax.Map"):
        lyapax.spectrum(lyapax.Map(lambda h, x: h, lambda h, x: h), x, h0=np.zeros((1, 2)), backend="tensorflow")
    with pytest.raises(ModelTypeError, match="got int"):
        lyapax.spectrum(3, x, backend="tensorflow")


def test_step_function_returning_the_wrong_structure(rng):
    x = tf.constant(rng.normal(size=(1, 5, 2)))
    with pytest.raises(InputError, match="same structure as h"):
        lyapax.spectrum(lambda h, x: h[0], x, h0=[tf.zeros((1, 2), tf.float64), tf.zeros((1, 2), tf.float64)])
    with pytest.raises(InputError, match=r"expected \(batch, 2\)"):
        lyapax.spectrum(lambda h, x: tf.concat([h, h], 1), x, h0=tf.zeros((1, 2), tf.float64))


def test_dead_relu_units_are_reported_with_a_warning_and_minus_inf(rng):
    """Every unit dead from the first step: the tangent map is zero, so every direction collapses
    (exponent -inf), reported by a warning naming the sequences and steps (not an error)."""
    layer = keras.layers.SimpleRNN(3, activation="relu", dtype="float64",
                                   bias_initializer=keras.initializers.Constant(-10.0))
    layer.build((None, None, 2))
    with pytest.warns(lyapax.NumericalWarning, match="exact zero on diag") as info:
        s = lyapax.spectrum(layer, rng.normal(size=(2, 10, 2)) * 0.1)
    w = info[0].message
    assert w.kind == "zero" and w.sequences == [0, 1] and w.steps == [0, 0]
    assert np.all(np.isneginf(s.per_sequence))


def test_ragged_nested_lists_are_a_clear_input_error(gru, rng):
    ragged = [[[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0]]]  # two sequences of different lengths
    with pytest.raises(InputError, match="inputs: cannot read list as an array"):
        lyapax.spectrum(gru, ragged)
    with pytest.raises(InputError, match="inputs: cannot read list as an array"):
        lyapax.spectrum(lambda h, x: h, ragged, h0=tf.zeros((2, 3)), backend="tensorflow")
    with pytest.raises(InputError, match="h0: expected the layer.s initial-state structure"):  # lists are structure
        lyapax.spectrum(gru, rng.normal(size=(2, 4, 2)), h0=[[[0.0, 1.0, 2.0], [0.0]]])
    with pytest.raises(InputError, match="h0: every state array needs a leading batch axis"):  # lists are structure
        lyapax.spectrum(lambda h, x: h, rng.normal(size=(2, 4, 2)), h0=[[0.0, 1.0], [0.0]], backend="tensorflow")
    # a rectangular nested list is read like the array it spells
    x = rng.normal(size=(2, 6, 2))
    np.testing.assert_array_equal(lyapax.spectrum(gru, x.tolist()).per_sequence, lyapax.spectrum(gru, x).per_sequence)


def test_state_overflow_with_a_finite_tangent_map_is_a_warning():
    """A linear layer with an eigenvalue 1e30: the state overflows at step 11, the tangent map stays
    finite, so the exponents are returned (log 1e30, log 0.5) with a warning, as on the numpy path."""
    layer = keras.layers.SimpleRNN(2, activation=None, use_bias=False, dtype="float64")
    layer.build((None, None, 1))
    layer.set_weights([np.ones((1, 2)), np.diag([1e30, 0.5])])
    with pytest.warns(lyapax.NumericalWarning, match="state overflowed") as info:
        s = lyapax.spectrum(layer, np.ones((1, 30, 1)), basis=np.eye(2))
    assert info[0].message.kind == "state" and info[0].message.steps == [11]
    np.testing.assert_allclose(s.exponents, np.log([1e30, 0.5]), rtol=1e-12)


def test_inside_a_tf_function_is_a_clear_error(gru, rng):
    x = tf.constant(rng.normal(size=(2, 10, 2)), tf.float32)

    @tf.function
    def traced(inputs):
        return lyapax.spectrum(gru, inputs).raw

    # an InputError (autograph puts the traced frames in front of the message)
    with pytest.raises(InputError, match="tf.function: lyapax.spectrum was called inside a tf.function.* eagerly"):
        traced(x)
    with pytest.raises(InputError, match="^tf.function: "):  # without autograph, the message as written
        tf.function(traced.python_function, autograph=False)(x)
    assert lyapax.spectrum(gru, x).exponents.shape == (3,)  # eagerly, the same call works
