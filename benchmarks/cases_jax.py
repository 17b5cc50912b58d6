"""Benchmark cases of the JAX backend: Flax nnx cells, full spectrum, float32.

``cases()`` returns zero-argument callables (one per model) that compute the
full Lyapunov spectrum of a Flax ``nnx`` cell driven by a fixed input batch;
each blocks until the result is on the host (``lyapax.spectrum`` returns numpy).
The first call of each compiles; the runner calls every callable once before timing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def cases(
    hidden: int = 128, batch: int = 16, steps: int = 200, seed: int = 0, **options: object
) -> dict[str, Callable[[], object]]:
    import jax.numpy as jnp
    from flax import nnx

    import lyapax

    features = hidden
    rngs = nnx.Rngs(seed)
    models = {
        "RNN": nnx.SimpleCell(features, hidden, rngs=rngs),
        "GRU": nnx.GRUCell(features, hidden, rngs=rngs),
        "LSTM": nnx.OptimizedLSTMCell(features, hidden, rngs=rngs),
    }
    x = jnp.asarray(np.random.default_rng(seed).standard_normal((batch, steps, features)), dtype=jnp.float32)

    def make(model: object) -> Callable[[], object]:
        def run() -> object:
            return lyapax.spectrum(model, x, dtype="float32", **options).exponents

        return run

    return {name: make(model) for name, model in models.items()}


if __name__ == "__main__":
    import time

    for name, fn in cases().items():
        fn()
        t0 = time.perf_counter()
        n = 3
        for _ in range(n):
            fn()
        print(f"{name}: {(time.perf_counter() - t0) / n * 1e3:.1f} ms")
