"""`lyapax.cells.RateNetwork` on JAX arrays: the same core code as numpy (jit + scan), checked against jax.jacfwd."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lyapax_jax.namespace import namespace
from rate_network_cases import METHODS, check_spectrum_matches_numpy, network, point, reference_tangent


@pytest.mark.parametrize(("method", "dt"), METHODS)
def test_tangent_map_equals_numpy_and_jax_autodiff(method, dt):
    cell = network(method, dt)
    ref_h, ref_JQ = reference_tangent(cell)
    with jax.enable_x64(True):
        xp, on_jax = namespace(), cell.map_arrays(jnp.asarray)
        h, u, Q = (jnp.asarray(a) for a in point())
        got_h, got_JQ = on_jax.step_tangent(xp, h, u, Q)
        # the exact Jacobian of the same step, by forward-mode autodiff
        jac = jax.vmap(jax.jacfwd(lambda hb, ub: on_jax.step(xp, hb[None], ub[None])[0]))(h, u)
        ad_JQ = np.asarray(jac @ Q)
    np.testing.assert_allclose(np.asarray(got_h), ref_h, rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.asarray(got_JQ), ref_JQ, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ad_JQ, np.asarray(got_JQ), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("method", "dt"), METHODS)
def test_spectrum_on_jax_equals_numpy(method, dt):
    with jax.enable_x64(True):
        check_spectrum_matches_numpy(method, dt, jnp.asarray, "jax", dtype="float64")
