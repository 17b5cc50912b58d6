"""The compiled chunks' tangent products (lyapax_jax.loop.XP: W @ Q formed as (Q^T W^T)^T for XLA's
layout) change no number beyond rounding: the analytic cells still agree with XLA's autodiff of
the same flax cell and with the numpy reference.

Tolerance (float64, 1e-9 relative to the exponents' scale): both sides compute the same products
and differ by the summation order of a GEMM and by the slopes (lyapax's from the pre-activation,
autodiff's from the output), a few ulps (~1e-15) per step; the GRU is contracting (every exponent
< 0), so those differences do not grow along the trajectory and move each exponent by about that
times the basis' conditioning (< 1e2 here). A wrong product (W^T for W, a missing gate) moves them
by 1e-3 or more.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax_helpers import B, F, reference
from lyapax_jax.libraries.nnx import canonical_cell
from lyapax_jax.loop import XP
from lyapax_jax.namespace import x64

import lyapax

H = 5


def test_the_product_is_the_matmul():
    rng = np.random.default_rng(0)
    with x64():
        W, Q = jnp.asarray(rng.standard_normal((3 * H, H))), jnp.asarray(rng.standard_normal((B, H, 4)))
        np.testing.assert_allclose(XP.matmul(W, Q), jnp.matmul(W, Q), rtol=1e-13, atol=0)
        A = jnp.asarray(rng.standard_normal((B, 4, H)))
        np.testing.assert_array_equal(XP.matmul(A, Q), jnp.matmul(A, Q))  # other shapes: jnp's own
    assert XP.tanh is jnp.tanh


def test_analytic_gru_agrees_with_xla_autodiff_of_the_flax_cell(x):
    cell = nnx.GRUCell(F, H, rngs=nnx.Rngs(0), param_dtype=jnp.float64)
    graphdef, state = nnx.split(cell)

    def f(h, x_t):
        return nnx.merge(graphdef, state)(h, x_t)[0]

    analytic = lyapax.spectrum(cell, x, dtype="float64")
    assert np.all(analytic.exponents < 0)  # the contracting regime the tolerance is argued for
    autodiff = lyapax.spectrum(f, x, h0=np.zeros((B, H)), dtype="float64", backend="jax")
    tol = 1e-9 * max(1.0, float(np.abs(analytic.per_sequence).max()))
    np.testing.assert_allclose(autodiff.per_sequence, analytic.per_sequence, rtol=0, atol=tol)
    numpy = reference(canonical_cell(cell, np.asarray), x)  # the same weights on the numpy path (no XP)
    np.testing.assert_allclose(numpy, analytic.per_sequence, rtol=0, atol=tol)
