"""`lyapax.cells.RateNetwork` on JAX arrays: the same core code as numpy (jit + scan), checked against jax.jacfwd."""

from __future__ import annotations

import array_api_compat.numpy as xnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lyapax_jax.namespace import namespace

import lyapax
from lyapax.cells import RateNetwork

N, F, B = 5, 2, 2
METHODS = [("euler", 0.3), ("euler", 1.0), ("rk4", 0.2)]


def network(method: str, dt: float) -> RateNetwork:
    rng = np.random.default_rng(7)
    return RateNetwork(rng.normal(0, 2.5 / np.sqrt(N), (N, N)), rng.normal(size=(N, F)), rng.normal(0, 0.3, N),
                       dt=dt, tau=0.8, method=method)


@pytest.mark.parametrize(("method", "dt"), METHODS)
def test_tangent_map_equals_numpy_and_jax_autodiff(method, dt):
    cell = network(method, dt)
    rng = np.random.default_rng(1)
    h, u, Q = rng.normal(size=(B, N)), rng.normal(size=(B, F)), rng.normal(size=(B, N, 3))
    ref_h, ref_JQ = cell.step_tangent(xnp, h, u, Q)
    with jax.enable_x64(True):
        xp = namespace()
        on_jax = cell.map_arrays(jnp.asarray)
        got_h, got_JQ = on_jax.step_tangent(xp, jnp.asarray(h), jnp.asarray(u), jnp.asarray(Q))
        jac = jax.vmap(jax.jacfwd(lambda hb, ub: on_jax.step(xp, hb[None], ub[None])[0]))(jnp.asarray(h), jnp.asarray(u))
        ad_JQ = np.asarray(jac @ jnp.asarray(Q))
    np.testing.assert_allclose(np.asarray(got_h), ref_h, rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.asarray(got_JQ), ref_JQ, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ad_JQ, np.asarray(got_JQ), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("method", "dt"), METHODS)
def test_spectrum_on_jax_equals_numpy(method, dt):
    cell = network(method, dt)
    rng = np.random.default_rng(2)
    x, h0 = rng.normal(size=(B, 40, F)), rng.normal(size=(B, N))
    ref = lyapax.spectrum(cell, x, h0=h0)
    with jax.enable_x64(True):
        on_jax = cell.map_arrays(jnp.asarray)
    got = lyapax.spectrum(on_jax, x, h0=h0, dtype="float64")
    assert got.backend == "jax" and got.dtype == "float64" and got.dt == dt
    np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.exponents_per_time, ref.exponents / dt, rtol=0, atol=1e-10)
