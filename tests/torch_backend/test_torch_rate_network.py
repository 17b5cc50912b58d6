"""`lyapax.cells.RateNetwork` on torch tensors: the same core code as numpy, checked against torch autodiff."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lyapax_torch.namespace import namespace
from rate_network_cases import METHODS, check_spectrum_matches_numpy, network, point, reference_tangent


@pytest.mark.parametrize(("method", "dt"), METHODS)
def test_tangent_map_equals_numpy_and_torch_autodiff(method, dt):
    cell, xp = network(method, dt), namespace()
    on_torch = cell.map_arrays(torch.from_numpy)
    h, u, Q = (torch.from_numpy(a) for a in point())
    got_h, got_JQ = on_torch.step_tangent(xp, h, u, Q)
    ref_h, ref_JQ = reference_tangent(cell)
    np.testing.assert_allclose(got_h.numpy(), ref_h, rtol=0, atol=1e-13)
    np.testing.assert_allclose(got_JQ.numpy(), ref_JQ, rtol=0, atol=1e-12)
    for b in range(h.shape[0]):  # the exact Jacobian of the same step, by forward-mode autodiff
        jac = torch.func.jacfwd(lambda hb, b=b: on_torch.step(xp, hb[None], u[b : b + 1])[0])(h[b])
        np.testing.assert_allclose((jac @ Q[b]).numpy(), got_JQ[b].numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("method", "dt"), METHODS)
def test_spectrum_on_torch_equals_numpy(method, dt):
    check_spectrum_matches_numpy(method, dt, torch.from_numpy, "torch")
