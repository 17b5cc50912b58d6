"""Benchmark cases of the TensorFlow backend: Keras 3 layers, full spectrum, float32.

``build``/``inputs`` make the models and inputs that ``benchmarks/run.py`` times
(``keras.layers.SimpleRNN``, ``GRU``, ``LSTM``; every weight ``N(0, 1.5² / hidden)``
as in the torch cases, zero biases); ``matmul_op``/``qr_op`` the primitives of its lower
bounds (``tf.function``, each call returns a host-ready result on a CPU). ``cases()``
returns zero-argument callables for a quick look. The first call of each traces its
``tf.function``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def build(kind: str, hidden: int, features: int | None = None, seed: int = 0) -> Any:
    """A built ``keras.layers.SimpleRNN`` (tanh), ``GRU`` or ``LSTM``."""
    import keras

    cls = {"RNN": keras.layers.SimpleRNN, "GRU": keras.layers.GRU, "LSTM": keras.layers.LSTM}[kind]
    init = keras.initializers.RandomNormal(0.0, 1.5 / hidden**0.5, seed=seed)
    layer = cls(hidden, kernel_initializer=init, recurrent_initializer=init)
    layer.build((None, None, features or hidden))
    return layer


def inputs(batch: int, steps: int, features: int, seed: int = 0) -> Any:
    """Standard normal inputs ``(batch, steps, features)``, a float32 ``tf`` tensor."""
    import tensorflow as tf

    return tf.constant(np.random.default_rng(seed + 1).standard_normal((batch, steps, features)), dtype=tf.float32)


def _blocks(rows: int, cols: int) -> np.ndarray:
    """``(rows, cols)``: stacked random orthogonal ``cols x cols`` blocks (norms stay put when iterated)."""
    rng = np.random.default_rng(0)
    return np.concatenate([np.linalg.qr(rng.standard_normal((cols, cols)))[0] for _ in range(-(-rows // cols))])[:rows]


def matmul_op(rows: int, cols: int, batch: int, k: int, dtype: str = "float32", n: int = 10) -> Callable[[], Any]:
    """``n`` dependent products ``Q <- (W (rows, cols) @ Q (batch, cols, k))[:, :cols]`` in one ``tf.function``:
    the matmul of a tangent map, timed for the GEMM rate."""
    import tensorflow as tf

    W = tf.constant(_blocks(rows, cols)[None], dtype=dtype)
    Q = tf.constant(np.random.default_rng(1).standard_normal((batch, cols, k)), dtype=dtype)

    @tf.function
    def run() -> Any:
        q = Q
        for _ in tf.range(n):
            q = tf.linalg.matmul(W, q)[:, :cols]
        return q

    return run


def qr_op(batch: int, d: int, k: int, dtype: str = "float64", n: int = 5) -> Callable[[], Any]:
    """``n`` dependent batched Householder QRs of ``(batch, d, k)`` in one ``tf.function`` (``tf.linalg.qr``, Eigen)."""
    import tensorflow as tf

    A = tf.constant(np.random.default_rng(0).standard_normal((batch, d, k)), dtype=dtype)

    @tf.function
    def run() -> Any:
        q = A
        for _ in tf.range(n):
            q = tf.linalg.qr(q)[0]
        return q

    return run


def cases(
    hidden: int = 128, batch: int = 16, steps: int = 200, seed: int = 0, features: int | None = None, **options: object
) -> dict[str, Callable[[], object]]:
    """Zero-argument callables computing the full float32 spectrum of each Keras layer (inputs built once)."""
    import lyapax

    x = inputs(batch, steps, features or hidden, seed)
    out: dict[str, Callable[[], object]] = {}
    for kind in ("RNN", "GRU", "LSTM"):
        layer = build(kind, hidden, features, seed)
        out[kind] = lambda layer=layer: lyapax.spectrum(layer, x, dtype="float32", **options)
    return out


if __name__ == "__main__":  # a quick look: python benchmarks/cases_tensorflow.py
    import time

    for name, fn in cases().items():
        fn()
        t0 = time.perf_counter()
        fn()
        print(f"{name:6s} {time.perf_counter() - t0:8.3f} s")
