"""The flossing loss and its gradient agree across PyTorch, JAX and TensorFlow for the same weights (float64).

Measured on this network: the three losses agree to 6e-16 relative and the
gradients with respect to the recurrent weights to 6e-15 of their largest entry (float64
round-off through 30 QR steps); the test allows 1e-9.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import lyapax_jax
import numpy as np
import pytest
import tensorflow as tf
import torch

import lyapax

H, B, T, K, TARGET = 5, 3, 30, 3, 0.05
RNG = np.random.default_rng(42)
W = RNG.standard_normal((H, H)) * 1.4 / H**0.5  # h' = tanh(W h + U x + b)
U = RNG.standard_normal((H, 2)) * 0.5
BIAS = RNG.standard_normal(H) * 0.1
X = RNG.standard_normal((B, T, 2))


def torch_loss_and_grad() -> tuple[float, np.ndarray]:
    rnn = torch.nn.RNN(2, H, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.as_tensor(W))
        rnn.weight_ih_l0.copy_(torch.as_tensor(U))
        rnn.bias_ih_l0.copy_(torch.as_tensor(BIAS))
        rnn.bias_hh_l0.zero_()
    loss = lyapax.flossing_loss(rnn, torch.as_tensor(X), k=K, target=TARGET, warmup=5)
    loss.backward()
    return loss.item(), rnn.weight_hh_l0.grad.numpy()


def tensorflow_loss_and_grad() -> tuple[float, np.ndarray]:
    layer = keras.layers.SimpleRNN(H, dtype="float64")
    layer.build((None, None, 2))
    layer.set_weights([U.T, W.T, BIAS])
    with tf.GradientTape() as tape:
        loss = lyapax.flossing_loss(layer, tf.constant(X), k=K, target=TARGET, warmup=5)
    grad = tape.gradient(loss, layer.cell.recurrent_kernel)
    return float(loss), grad.numpy().T  # Keras stores W^T


def jax_loss_and_grad() -> tuple[float, np.ndarray]:
    with jax.enable_x64(True):
        def step(params, h, x):
            return jnp.tanh(h @ params["w"].T + x @ params["u"].T + params["b"])

        params = {"w": jnp.asarray(W), "u": jnp.asarray(U), "b": jnp.asarray(BIAS)}
        h0 = jnp.zeros((B, H))
        loss, grads = jax.value_and_grad(
            lambda p: lyapax_jax.flossing_loss(step, p, jnp.asarray(X), k=K, target=TARGET, warmup=5, h0=h0)
        )(params)
        return float(loss), np.asarray(grads["w"])


@pytest.fixture(scope="module")
def results() -> dict:
    return {"torch": torch_loss_and_grad(), "tensorflow": tensorflow_loss_and_grad(), "jax": jax_loss_and_grad()}


def test_loss_agrees_with_the_numpy_reference(results):
    lam = lyapax.spectrum(lyapax.cells.Elman(U, W, BIAS, None), X, k=K, warmup=5).per_sequence
    reference = float(np.mean(np.sum((lam - TARGET) ** 2, axis=1)))
    for name, (loss, _) in results.items():
        assert loss == pytest.approx(reference, rel=1e-9), name


def test_gradients_agree(results):
    grads = {name: g for name, (_, g) in results.items()}
    assert np.abs(grads["torch"]).max() > 1e-3  # a gradient worth comparing
    for name in ("tensorflow", "jax"):
        np.testing.assert_allclose(grads[name], grads["torch"], rtol=1e-9, atol=1e-12 * np.abs(grads["torch"]).max())
