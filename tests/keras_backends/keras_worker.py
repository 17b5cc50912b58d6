"""One Keras backend's answers to `keras_cases`, as JSON on stdout (run by test_keras_backends.py).

``KERAS_BACKEND`` picks the backend (Keras reads it once, at import); with ``HIDE_TENSORFLOW=1``
TensorFlow cannot be imported, as where it is not installed. Models get their weights from
`keras_cases` (``set_weights``), so every backend computes the same model.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import sys

if os.environ.get("HIDE_TENSORFLOW") == "1":

    class _NoTensorFlow(importlib.machinery.PathFinder):
        """The path finder, blind to TensorFlow: ``import tensorflow`` fails and ``find_spec`` says None."""

        @classmethod
        def find_spec(cls, name, path=None, target=None):  # noqa: ANN001, ANN206 - the finder protocol
            if name.split(".")[0] == "tensorflow":
                return None
            return super().find_spec(name, path, target)

    sys.meta_path[:] = [_NoTensorFlow if f is importlib.machinery.PathFinder else f for f in sys.meta_path]

import keras  # noqa: E402 - after the finder
import keras_cases as C  # noqa: E402
import numpy as np  # noqa: E402
from lyapax_tensorflow import FlossingCallback, SpectrumCallback  # noqa: E402

import lyapax  # noqa: E402

BACKEND = keras.backend.backend()


def float64_scope():
    """Where float64 Keras variables need it (JAX: x64), the scope to create them in."""
    if BACKEND != "jax":
        import contextlib

        return contextlib.nullcontext()
    from lyapax_jax.namespace import x64

    return x64(True)


def build(case: dict, *, reset_after: bool = True, **kw) -> tuple:
    """The case's model (one layer, or a Sequential for several) with its seeded weights, and its layers."""
    layers = []
    for i, (kind, units) in enumerate(case["layers"]):
        extra = {"reset_after": reset_after} if kind == "GRU" else {}
        layers.append(getattr(keras.layers, kind)(units, return_sequences=i < len(case["layers"]) - 1, **extra, **kw))
    if len(layers) == 1:
        model = layers[0]
        model.build((None, None, case["features"]))
    else:
        model = keras.Sequential([keras.Input((None, case["features"])), *layers])
    for layer, w in zip(layers, C.layer_weights(case, reset_after=reset_after)):
        layer.set_weights(w)
    return model, layers


def rows(s: lyapax.Spectrum) -> list:
    return np.asarray(s.per_sequence, np.float64).tolist()


class MinimalRNNCell(keras.layers.Layer):
    """A custom cell (Keras's own example, with a gain): h' = tanh(x W + gain h U + b)."""

    def __init__(self, units: int, gain: float, **kwargs):
        super().__init__(**kwargs)
        self.units, self.gain, self.state_size = units, gain, units

    def build(self, input_shape):  # noqa: ANN001
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel")
        self.bias = self.add_weight(shape=(self.units,), name="bias")

    def call(self, inputs, states, training=False):  # noqa: ANN001
        h = keras.ops.tanh(keras.ops.matmul(inputs, self.kernel)
                           + self.gain * keras.ops.matmul(states[0], self.recurrent_kernel) + self.bias)
        return h, [h]


def flossing(layer, x: np.ndarray, k: int) -> tuple[float, list]:
    """The flossing loss (float64) and its gradients with respect to the layer's trainable variables,
    written as a user of this backend would."""
    variables = layer.trainable_variables
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = lyapax.flossing_loss(layer, x, k=k, dtype="float64")
        grads = tape.gradient(loss, variables)
        return float(loss), [np.asarray(g, np.float64).tolist() for g in grads]
    if BACKEND == "torch":
        import torch

        loss = lyapax.flossing_loss(layer, x, k=k, dtype="float64")
        grads = torch.autograd.grad(loss, [v.value for v in variables])
        return float(loss.detach()), [g.detach().double().numpy().tolist() for g in grads]
    import jax
    import jax.numpy as jnp
    import lyapax_jax

    with float64_scope():
        values = [jnp.asarray(v.value, jnp.float64) for v in variables]
        loss, grads = jax.value_and_grad(lambda p: lyapax_jax.flossing_loss(layer, p, x, k=k))(values)
        return float(loss), [np.asarray(g, np.float64).tolist() for g in grads]


def note(what: str) -> None:
    print(f"[{BACKEND}] {what}", file=sys.stderr, flush=True)


def main() -> dict:
    out: dict = {"backend": BACKEND, "tensorflow_imported": False}

    # the README's Keras block as written, then with its weights and inputs seeded, and in float64
    note("readme_verbatim")
    scope: dict = {}
    exec(os.environ["README_BLOCK"], scope)  # noqa: S102 - the documentation's own code
    out["readme_verbatim"] = {"backend": scope["s"].backend, "k": scope["s"].k}
    c = C.README
    layer, _ = build(c)
    x = C.inputs(c["shape"], c["seed"])
    s = lyapax.spectrum(layer, x, warmup=c["warmup"], k=c["k"])
    note("readme")
    out["readme"] = {"backend": s.backend, "dtype": s.dtype, "float32": rows(s),
                     "float64": rows(lyapax.spectrum(layer, x, warmup=c["warmup"], k=c["k"], dtype="float64"))}

    # an LSTM -> GRU -> SimpleRNN Sequential, and the same layers as a list (the backend named)
    c = C.STACK
    model, layers = build(c)
    x = C.inputs(c["shape"], c["seed"])
    note("stack")
    out["stack"] = rows(lyapax.spectrum(model, x, dtype="float64"))
    out["stack_list"] = rows(lyapax.spectrum(layers, x, dtype="float64", backend=BACKEND))

    # cells: keras.layers.RNN(GRUCell(reset_after=False), go_backwards=True), and the cell itself
    c = C.GRU_BEFORE
    cell = keras.layers.GRUCell(4, reset_after=False)
    rnn = keras.layers.RNN(cell, go_backwards=True)
    rnn.build((None, None, c["features"]))
    rnn.set_weights(C.layer_weights(c, reset_after=False)[0])
    x = C.inputs(c["shape"], c["seed"])
    note("rnn_backwards")
    out["rnn_backwards"] = rows(lyapax.spectrum(rnn, x, dtype="float64"))
    out["cell"] = rows(lyapax.spectrum(cell, x, dtype="float64"))

    # a custom cell, through this backend's own autodiff, in float64 (its variables' dtype)
    c = C.CUSTOM
    with float64_scope():
        custom = keras.layers.RNN(MinimalRNNCell(c["units"], c["gain"], dtype="float64"))
        custom.build((None, None, c["features"]))
        custom.set_weights([w.astype(np.float64) for w in C.weights("SimpleRNN", c["units"], c["features"], c["seed"])])
    s = lyapax.spectrum(custom, C.inputs(c["shape"], c["seed"]))
    note("custom")
    out["custom"] = {"dtype": s.dtype, "rows": rows(s)}

    # flossing: the loss and its gradients
    c = C.GRU_BEFORE
    floss_layer, _ = build({**c, "layers": [("LSTM", 3)]})
    loss, grads = flossing(floss_layer, C.inputs((2, 30, 2), 5), k=2)
    note("flossing")
    out["flossing"] = {"loss": loss, "grads": grads, "refused": None}
    if BACKEND == "jax":  # the framework-scalar form has no JAX counterpart: the error names the pure form
        try:
            lyapax.flossing_loss(floss_layer, C.inputs((2, 30, 2), 5), k=2)
        except lyapax.InputError as exc:
            out["flossing"]["refused"] = str(exc)

    # the callbacks in fit: the spectrum at initialisation and after each epoch; a flossing step before
    c = C.README
    net = keras.Sequential([keras.Input((20, 3)), keras.layers.LSTM(6), keras.layers.Dense(1)])
    net.layers[0].set_weights(C.weights("LSTM", 6, 3, 6))
    net.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    xs = C.inputs((16, 20, 3), 7)
    records = []
    spec_cb = SpectrumCallback(xs[:3], k=4, at_start=True, dtype="float64",
                               on_record=lambda rec, spectrum: records.append(rec.step))
    floss_cb = FlossingCallback(xs[:3], k=1, before=1, warmup=0, optimizer=keras.optimizers.SGD(1e-3))
    history = net.fit(xs, xs[:, -1, :1], epochs=2, batch_size=8, shuffle=False, verbose=0,
                      callbacks=[spec_cb, floss_cb])
    note("callbacks")
    out["callbacks"] = {
        "epochs": spec_cb.epochs, "on_record": records, "monitor_steps": spec_cb.monitor.steps.tolist(),
        "initial": spec_cb.monitor.exponents[0].tolist(), "history_max": history.history["lyap_max"],
        "floss_losses": floss_cb.losses, "floss_logs": history.history["floss_loss"],
    }

    # the wrong lyapax backend for this Keras: an error naming KERAS_BACKEND
    other = "jax" if BACKEND != "jax" else "torch"
    note("wrong_backend")
    try:
        lyapax.spectrum(layer, C.inputs((1, 10, 3), 0), backend=other)
        out["wrong_backend"] = None
    except lyapax.ModelTypeError as exc:
        out["wrong_backend"] = str(exc)
    out["backends"] = lyapax.backends()
    out["tensorflow_imported"] = "tensorflow" in sys.modules
    return out


if __name__ == "__main__":
    import faulthandler

    faulthandler.dump_traceback_later(float(os.environ.get("WORKER_DUMP_AFTER", "600")), exit=True)
    result = main()
    print(json.dumps(result))
