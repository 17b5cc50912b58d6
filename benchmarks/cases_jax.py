"""Benchmark cases of the JAX backend: Flax nnx cells, full spectrum, float32.

``build``/``inputs`` make the models and inputs that ``benchmarks/run.py`` times (every
weight ``N(0, 1.5² / hidden)`` as in the torch and TensorFlow cases, zero biases);
``matmul_op``/``qr_op`` the primitives of its lower bounds (jit-compiled, each call
blocks until done), ``step_rows`` the rows of ``run.py --step-functions`` (the cell's own call
through XLA's autodiff). ``cases()`` returns zero-argument callables (one per model) for
a quick look. ``lyapax.spectrum`` returns numpy, so each call blocks until the result is
on the host; the first call of each compiles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _device(name: str) -> Any:
    """The ``jax.Device`` named ``name`` (``"cpu"``, ``"gpu"``, ``"cuda:0"`` ...), as ``device=`` reads it."""
    from lyapax_jax.devices import resolve_device

    return resolve_device(name, [], [])


def build(kind: str, hidden: int, features: int | None = None, seed: int = 0, device: str = "cpu") -> Any:
    """``nnx.SimpleCell`` (tanh), ``nnx.GRUCell`` or ``nnx.OptimizedLSTMCell``, its parameters on ``device``."""
    import jax
    from flax import nnx

    init = jax.nn.initializers.normal(1.5 / hidden**0.5)
    cls = {"RNN": nnx.SimpleCell, "GRU": nnx.GRUCell, "LSTM": nnx.OptimizedLSTMCell}[kind]
    with jax.default_device(_device(device)):
        return cls(features or hidden, hidden, kernel_init=init, recurrent_kernel_init=init, rngs=nnx.Rngs(seed))


def inputs(batch: int, steps: int, features: int, seed: int = 0, device: str = "cpu") -> Any:
    """Standard normal inputs ``(batch, steps, features)``, float32, on ``device``."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(np.random.default_rng(seed + 1).standard_normal((batch, steps, features)), dtype=jnp.float32)
    return jax.device_put(x, _device(device))


def _blocks(rows: int, cols: int) -> np.ndarray:
    """``(rows, cols)``: stacked random orthogonal ``cols x cols`` blocks (norms stay put when iterated)."""
    rng = np.random.default_rng(0)
    return np.concatenate([np.linalg.qr(rng.standard_normal((cols, cols)))[0] for _ in range(-(-rows // cols))])[:rows]


def _looped(step: Callable[[Any], Any], start: np.ndarray, n: int, dtype: str, *consts: np.ndarray,
            device: str = "cpu") -> Callable[[], Any]:
    """``n`` dependent applications of ``step`` in one jit-compiled loop (float64 within a 64-bit scope), blocking."""
    import contextlib

    import jax
    import jax.numpy as jnp
    from jax import lax

    scope = getattr(jax, "enable_x64", None)
    if scope is None:  # JAX < 0.7
        from jax.experimental import enable_x64 as scope

    def x64() -> contextlib.AbstractContextManager:
        return scope(True) if dtype == "float64" else contextlib.nullcontext()

    compiled = jax.jit(lambda a, *c: lax.fori_loop(0, n, lambda i, q: step(q, *c), a))
    with x64():
        args = [jax.device_put(jnp.asarray(a, dtype=dtype), _device(device)) for a in (start, *consts)]

    def call() -> Any:
        with x64():
            return jax.block_until_ready(compiled(*args))

    return call


def matmul_op(rows: int, cols: int, batch: int, k: int, dtype: str = "float32", n: int = 10,
              device: str = "cpu") -> Callable[[], Any]:
    """``n`` dependent products ``Q <- (W (rows, cols) @ Q (batch, cols, k))[:, :cols]``: the matmul of a
    tangent map, timed for the GEMM rate."""
    import jax.numpy as jnp

    Q = np.random.default_rng(1).standard_normal((batch, cols, k))
    return _looped(lambda q, W: jnp.matmul(W, q)[:, :cols], Q, n, dtype, _blocks(rows, cols), device=device)


def qr_op(batch: int, d: int, k: int, dtype: str = "float64", n: int = 5, device: str = "cpu") -> Callable[[], Any]:
    """``n`` dependent batched Householder QRs of ``(batch, d, k)`` (``jnp.linalg.qr``)."""
    import jax.numpy as jnp

    A = np.random.default_rng(0).standard_normal((batch, d, k))
    return _looped(lambda q: jnp.linalg.qr(q)[0], A, n, dtype, device=device)


def step_rows(cell: Any, x: Any, k: int) -> dict[str, Callable[[], object]]:
    """``run.py --step-functions``: the flax cell called as a plain step function ``f(h, x)`` (so its
    tangent map is XLA's autodiff of the cell's own code, not lyapax's analytic cell), float32."""
    import jax.numpy as jnp
    from flax import nnx

    import lyapax

    graphdef, state = nnx.split(cell)

    def f(h: Any, x_t: Any) -> Any:
        return nnx.merge(graphdef, state)(h, x_t)[0]

    h0 = jnp.zeros((int(x.shape[0]), cell.hidden_features), dtype=x.dtype)
    return {"flax cell autodiff": lambda: lyapax.spectrum(f, x, h0=h0, k=k, dtype="float32", threads=1, backend="jax")}


def cases(
    hidden: int = 128, batch: int = 16, steps: int = 200, seed: int = 0, features: int | None = None, **options: object
) -> dict[str, Callable[[], object]]:
    """Zero-argument callables computing the full float32 spectrum of each model (inputs built once)."""
    import lyapax

    x = inputs(batch, steps, features or hidden, seed)

    def make(model: object) -> Callable[[], object]:
        return lambda: lyapax.spectrum(model, x, dtype="float32", **options)

    return {kind: make(build(kind, hidden, features, seed)) for kind in ("RNN", "GRU", "LSTM")}


if __name__ == "__main__":
    import time

    for name, fn in cases().items():
        fn()
        t0 = time.perf_counter()
        fn()
        print(f"{name}: {(time.perf_counter() - t0) * 1e3:.1f} ms")
