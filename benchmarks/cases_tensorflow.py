"""Benchmark cases of the TensorFlow backend: Keras 3 layers, full spectrum, float32.

``cases()`` returns zero-argument callables (keys ``"RNN"``, ``"GRU"``,
``"LSTM"``: ``keras.layers.SimpleRNN``, ``GRU``, ``LSTM``) that compute the full
Lyapunov spectrum of the layer driven by a fixed input batch (built once, a
``tf`` tensor). ``lyapax.spectrum`` returns numpy arrays, so each call blocks
until the result is on the host. The first call of each traces its
``tf.function``; the runner calls every callable once before timing.
Weights: as the torch cases, normal with standard deviation ``1.5 / sqrt(hidden)``
(order-one gain), zero biases.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _build(kind: str, hidden: int, seed: int):
    import keras

    cls = {"RNN": keras.layers.SimpleRNN, "GRU": keras.layers.GRU, "LSTM": keras.layers.LSTM}[kind]
    init = keras.initializers.RandomNormal(0.0, 1.5 / hidden**0.5, seed=seed)
    layer = cls(hidden, kernel_initializer=init, recurrent_initializer=init)
    layer.build((None, None, hidden))
    return layer


def cases(
    hidden: int = 128, batch: int = 16, steps: int = 200, seed: int = 0, **options: object
) -> dict[str, Callable[[], object]]:
    """Zero-argument callables computing the full float32 spectrum of each Keras layer (inputs built once)."""
    import tensorflow as tf

    import lyapax

    x = tf.constant(np.random.default_rng(seed + 1).standard_normal((batch, steps, hidden)), dtype=tf.float32)
    out: dict[str, Callable[[], object]] = {}
    for kind in ("RNN", "GRU", "LSTM"):
        layer = _build(kind, hidden, seed)
        out[kind] = lambda layer=layer: lyapax.spectrum(layer, x, dtype="float32", **options).exponents
    return out


if __name__ == "__main__":  # a quick look: python benchmarks/cases_tensorflow.py
    import time

    for name, fn in cases().items():
        fn()
        t0 = time.perf_counter()
        fn()
        print(f"{name:6s} {time.perf_counter() - t0:8.3f} s")
