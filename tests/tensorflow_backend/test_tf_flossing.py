"""Gradient flossing on TensorFlow / Keras: gradient, effect on the spectrum, nothing of the user's changed, bad input."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import lyapax
from lyapax.errors import ChaoticGradientWarning, InputError


def simple_rnn(hidden: int, gain: float, seed: int, dtype: str = "float64") -> keras.layers.SimpleRNN:
    """A tanh SimpleRNN with recurrent weights N(0, gain^2 / hidden), input weights N(0, 0.01), no bias."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((hidden, hidden)) * gain / hidden**0.5
    u = rng.standard_normal((hidden, 1)) * 0.1
    layer = keras.layers.SimpleRNN(hidden, dtype=dtype)
    layer.build((None, None, 1))
    layer.set_weights([u.T, w.T, np.zeros(hidden)])
    return layer


def inputs(batch: int, steps: int, seed: int) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal((batch, steps, 1))


def loss_and_grads(layer, x, **kw):
    with tf.GradientTape() as tape:
        loss = lyapax.flossing_loss(layer, x, **kw)
    return loss, tape.gradient(loss, layer.trainable_variables)


def test_value_matches_spectrum_and_gradient_matches_finite_differences():
    layer, x = simple_rnn(4, 1.5, 0), inputs(2, 20, 1)
    loss, grads = loss_and_grads(layer, x, k=2, target=0.1, warmup=5)
    assert loss.dtype == tf.float64 and loss.shape == ()
    lam = lyapax.spectrum(layer, x, k=2, warmup=5).per_sequence
    assert float(loss) == pytest.approx(float(np.mean(np.sum((lam - 0.1) ** 2, axis=1))), rel=1e-12)
    recurrent = layer.cell.recurrent_kernel
    grad = grads[[v.path for v in layer.trainable_variables].index(recurrent.path)].numpy()
    eps = 1e-6
    w0 = recurrent.numpy()
    for i, j in ((0, 0), (1, 3), (3, 2)):
        values = []
        for sign in (1, -1):
            w = w0.copy()
            w[i, j] += sign * eps
            recurrent.assign(w)
            values.append(float(lyapax.flossing_loss(layer, x, k=2, target=0.1, warmup=5)))
        recurrent.assign(w0)
        assert grad[i, j] == pytest.approx((values[0] - values[1]) / (2 * eps), rel=1e-5)


def test_step_function_over_variables():
    w = tf.Variable(np.random.default_rng(3).standard_normal((3, 3)) * 0.8)

    def step(h, x):
        return tf.tanh(tf.matmul(h, w, transpose_b=True) + x)

    with tf.GradientTape() as tape:
        loss = lyapax.flossing_loss(step, tf.constant(inputs(2, 15, 2)), k=3, h0=tf.zeros((2, 3), tf.float64))
    grad = tape.gradient(loss, w)
    assert grad is not None and np.all(np.isfinite(grad.numpy())) and np.abs(grad.numpy()).sum() > 0


def test_ordered_network_moves_to_target():
    layer = simple_rnn(8, 0.5, 0)
    probe = inputs(4, 300, 7)
    before = lyapax.spectrum(layer, probe, k=2, warmup=50).exponents
    assert before[0] < -0.3
    opt = keras.optimizers.Adam(4e-2)
    for i in range(20):
        _, grads = loss_and_grads(layer, inputs(2, 45, 100 + i), k=2, warmup=20)
        opt.apply_gradients(zip(grads, layer.trainable_variables))
    after = lyapax.spectrum(layer, probe, k=2, warmup=50).exponents
    assert np.all(after > before)
    np.testing.assert_allclose(after, 0.0, atol=0.1)


@pytest.mark.training
def test_chaotic_network_flossed_to_target():
    # Gradients through a chaotic trajectory grow like exp(λ1 T): clipped, on 30-step windows, with a
    # decaying rate (the weights and schedule of the JAX test, which says what was measured).
    layer = simple_rnn(32, 3.0, 0)
    probe = inputs(4, 300, 7)
    before = lyapax.spectrum(layer, probe, k=2, warmup=50).exponents
    assert before[0] > 0.1  # chaotic
    opt = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-2, 300, alpha=0.1), global_clipnorm=1.0)
    for i in range(300):
        _, grads = loss_and_grads(layer, inputs(8, 30, 100 + i), k=2, warmup=20)
        # the kernels only: the weights of the JAX test, which has no bias
        opt.apply_gradients([(g, v) for g, v in zip(grads, layer.trainable_variables) if "bias" not in v.path])
    after = lyapax.spectrum(layer, probe, k=2, warmup=50).exponents
    # chaos amplifies rounding: the same weights end differently per framework and version (TF 2.21, 6 input
    # seeds at 300 and 500 steps: max |λ| 0.04-0.12, squared distance 3.7-7x smaller); a bound for all of them
    assert np.sum(after**2) < np.sum(before**2) / 3
    np.testing.assert_allclose(after, 0.0, atol=0.15)


def test_nothing_of_the_users_changed():
    layer = simple_rnn(4, 1.0, 0, dtype="float32")
    layer.cell.bias.trainable = False
    before = [v.numpy().copy() for v in layer.weights]
    x = inputs(2, 10, 0).astype("float32")
    x_before = x.copy()
    state = tf.random.get_global_generator().state.numpy().copy()
    _, grads = loss_and_grads(layer, x, k=2)
    assert len(grads) == 2 and all(g is not None for g in grads)  # the frozen bias is not trained
    assert not layer.cell.bias.trainable and len(layer.trainable_variables) == 2
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, layer.weights))
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(tf.random.get_global_generator().state.numpy(), state)


def test_bad_input():
    layer, x = simple_rnn(4, 1.0, 0), inputs(2, 10, 0)
    with pytest.raises(InputError, match="^k:"):
        lyapax.flossing_loss(layer, x, k=5)
    for bad in (float("nan"), float("inf"), "0"):
        with pytest.raises(InputError, match="^target:"):
            lyapax.flossing_loss(layer, x, k=1, target=bad)
    layer.trainable = False
    with pytest.raises(InputError, match="^model: it has no trainable parameters"):
        lyapax.flossing_loss(layer, x, k=1)


def test_keras_callback_flosses_before_and_during_fit():
    from lyapax_tensorflow.callbacks import FlossingCallback

    model = keras.Sequential([keras.Input((20, 1)), keras.layers.SimpleRNN(6), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rnn = model.layers[0]
    rng = np.random.default_rng(0)
    rnn.cell.recurrent_kernel.assign(rng.standard_normal((6, 6)) * 0.4 / 6**0.5)  # ordered
    x = rng.standard_normal((16, 20, 1)).astype("float32")
    y = x[:, -1] * 0.5
    probe = rng.standard_normal((4, 40, 1)).astype("float32")
    before = lyapax.spectrum(rnn, probe, k=2, warmup=20).exponents
    cb = FlossingCallback(probe, k=2, before=30, every=2, warmup=10, optimizer=keras.optimizers.Adam(3e-2))
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])
    assert len(cb.losses) == 30 + 2  # 2 epochs x 2 batches, every 2nd batch
    assert np.isfinite(history.history["floss_loss"]).all() and len(history.history["loss"]) == 2
    after = lyapax.spectrum(rnn, probe, k=2, warmup=20).exponents
    assert np.all(after > before) and np.all(np.abs(after) < 0.5 * np.abs(before))


def test_keras_callback_argument_errors_name_the_argument():
    from lyapax_tensorflow.callbacks import FlossingCallback

    probe = np.zeros((2, 10, 1), np.float32)
    for kwargs, name in [({"before": "abc"}, "before"), ({"before": -1}, "before"), ({"every": 0}, "every"),
                         ({"every": 1.5}, "every"), ({"k": 0}, "k"), ({"warmup": -2}, "warmup"),
                         ({"ortho_every": 0}, "ortho_every"), ({"target": "0"}, "target")]:
        with pytest.raises(InputError, match=f"^{name}:"):
            FlossingCallback(probe, **{"k": 2, **kwargs})
    with pytest.raises(InputError, match="^probe_inputs:"):
        FlossingCallback(probe[0], k=2)


# -- chaotic networks: the documented recipe, the warning (docs/flossing.md, "When the gradient grows") ------


def keras_gated(kind: str, seed: int) -> keras.layers.Layer:
    """`lyapax.testing.networks.chaotic_gated_cell` (32 units, gain 3) as a float64 Keras GRU / LSTM."""
    from lyapax.testing.networks import chaotic_gated_cell

    cell = chaotic_gated_cell(kind, 32, seed, gain=3.0)
    w_ih, w_hh, b = cell.weight_ih, cell.weight_hh, cell.bias_ih
    if kind == "gru":  # PyTorch's gate blocks r, z, n are Keras' z, r, h in the order (z, r, h)
        order = np.r_[32:64, 0:32, 64:96]
        w_ih, w_hh, b = w_ih[order], w_hh[order], b[order]
        layer = keras.layers.GRU(32, dtype="float64")
        weights = [w_ih.T, w_hh.T, np.stack([b, np.zeros_like(b)])]
    else:  # i, f, g, o in both
        layer = keras.layers.LSTM(32, dtype="float64")
        weights = [w_ih.T, w_hh.T, b]
    layer.build((None, None, 1))
    layer.set_weights(weights)
    return layer


def recipe(layer: keras.layers.Layer, steps: int = 150, seed: int = 0) -> None:
    """The first Keras recipe of docs/flossing.md: fresh 30-step windows (10 of warm-up), k = 2, Adam with a
    cosine decay from 1e-2 to 1e-3 and global_clipnorm=1, the gradient from a tf.GradientTape."""
    opt = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-2, steps, alpha=0.1), global_clipnorm=1.0)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        loss, grads = loss_and_grads(layer, 0.1 * rng.standard_normal((8, 30, 1)), k=2, warmup=10)
        opt.apply_gradients(zip(grads, layer.trainable_variables))


def leading(layer: keras.layers.Layer) -> tuple[float, float]:
    s = lyapax.spectrum(layer, inputs(8, 300, 99), k=1, warmup=100)
    return float(s.exponents[0]), float(s.stderr[0])


@pytest.mark.training
@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_chaotic_gated_network_flossed_with_the_documented_recipe(kind):
    layer = keras_gated(kind, seed=1)
    before, se_before = leading(layer)
    assert before > 0.1 and before > 5 * se_before  # chaotic by construction
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChaoticGradientWarning)
        recipe(layer)
    after, se_after = leading(layer)
    assert abs(after) < abs(before) - 3 * np.hypot(se_before, se_after)


def test_chaotic_long_window_warns_and_stable_network_does_not():
    chaotic, stable, long = keras_gated("gru", seed=1), simple_rnn(32, 0.8, 0), inputs(4, 200, 3)
    with pytest.warns(ChaoticGradientWarning, match=r"exp\(λ1 \* 200\)"):
        loss_and_grads(chaotic, long, k=2, warmup=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChaoticGradientWarning)
        loss_and_grads(stable, long, k=2, warmup=10)
        loss_and_grads(chaotic, long[:, :30], k=2, warmup=10)


def test_keras_callback_defaults_floss_a_chaotic_network():
    from lyapax_tensorflow.callbacks import FlossingCallback

    layer = keras_gated("lstm", seed=1)
    model = keras.Sequential([keras.Input((600, 1), dtype="float64"), layer])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    before, se_before = leading(layer)
    cb = FlossingCallback(inputs(8, 600, 4), k=2, before=150)  # 20 windows of 30 steps, taken in turn
    cb.set_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChaoticGradientWarning)
        cb.on_train_begin()
    after, se_after = leading(layer)
    assert max(cb.grad_norms) > 1.0  # clipping was needed and applied
    assert abs(after) < abs(before) - 3 * np.hypot(se_before, se_after)
