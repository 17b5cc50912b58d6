"""`lyapax.cells.RateNetwork` on torch tensors: the same core code as numpy, checked against torch autodiff."""

from __future__ import annotations

import array_api_compat.numpy as xnp
import numpy as np
import pytest
import torch
from lyapax_torch.namespace import namespace

import lyapax
from lyapax.cells import RateNetwork

N, F, B = 5, 2, 2
METHODS = [("euler", 0.3), ("euler", 1.0), ("rk4", 0.2)]


def network(method: str, dt: float) -> RateNetwork:
    rng = np.random.default_rng(7)
    return RateNetwork(rng.normal(0, 2.5 / np.sqrt(N), (N, N)), rng.normal(size=(N, F)), rng.normal(0, 0.3, N),
                       dt=dt, tau=0.8, method=method)


@pytest.mark.parametrize(("method", "dt"), METHODS)
def test_tangent_map_equals_numpy_and_torch_autodiff(method, dt):
    cell = network(method, dt)
    on_torch = cell.map_arrays(torch.from_numpy)
    xp = namespace()
    rng = np.random.default_rng(1)
    h, u, Q = rng.normal(size=(B, N)), rng.normal(size=(B, F)), rng.normal(size=(B, N, 3))
    got_h, got_JQ = on_torch.step_tangent(xp, torch.from_numpy(h), torch.from_numpy(u), torch.from_numpy(Q))
    ref_h, ref_JQ = cell.step_tangent(xnp, h, u, Q)
    np.testing.assert_allclose(got_h.numpy(), ref_h, rtol=0, atol=1e-13)
    np.testing.assert_allclose(got_JQ.numpy(), ref_JQ, rtol=0, atol=1e-12)
    for b in range(B):  # the exact Jacobian of the step, by forward-mode autodiff of the same step
        jac = torch.func.jacfwd(lambda hb, b=b: on_torch.step(xp, hb[None], torch.from_numpy(u[b : b + 1]))[0])
        np.testing.assert_allclose((jac(torch.from_numpy(h[b])) @ torch.from_numpy(Q[b])).numpy(), got_JQ[b].numpy(),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize(("method", "dt"), METHODS)
def test_spectrum_on_torch_equals_numpy(method, dt):
    cell = network(method, dt)
    rng = np.random.default_rng(2)
    x, h0 = rng.normal(size=(B, 40, F)), rng.normal(size=(B, N))
    ref = lyapax.spectrum(cell, x, h0=h0)
    got = lyapax.spectrum(cell.map_arrays(torch.from_numpy), torch.from_numpy(x), h0=torch.from_numpy(h0))
    assert got.backend == "torch" and got.dtype == "float64" and got.dt == dt
    np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.exponents_per_time, ref.exponents / dt, rtol=0, atol=1e-10)
