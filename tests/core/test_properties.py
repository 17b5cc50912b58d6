"""Property-based tests over random sizes and weights (kept small and fast)."""

from __future__ import annotations

import array_api_compat.numpy as xp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import lyapax
from lyapax import cells
from lyapax.testing.conformance import one_step_tolerance

KINDS = ["tanh", "lstm", "gru", "gru_before"]


@st.composite
def networks(draw):
    kind = draw(st.sampled_from(KINDS))
    H = draw(st.integers(1, 5))
    F = draw(st.integers(1, 3))
    gain = draw(st.floats(0.2, 4.0))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    from lyapax.testing import random_cell as make_cell

    cell = make_cell(kind, H, F, rng, gain=gain, bias=draw(st.booleans()))
    B, T = draw(st.integers(1, 3)), draw(st.integers(5, 40))
    return cell, rng.normal(size=(B, T, F))


@settings()
@given(networks())
def test_sum_rule_property(net):
    cell, x = net
    s = lyapax.spectrum(cell, x)
    h = np.zeros((x.shape[0], cell.dim))
    logdet = np.zeros(x.shape[0])
    for t in range(x.shape[1]):
        logdet += np.linalg.slogdet(cells.jacobian(xp, cell, h, x[:, t]))[1]
        h = cell.step(xp, h, x[:, t])
    np.testing.assert_allclose(s.per_sequence.sum(1), logdet / x.shape[1], rtol=0, atol=one_step_tolerance(cell, x, s))


@settings()
@given(networks(), st.integers(1, 4))
def test_ortho_every_and_history_do_not_change_the_result(net, p):
    cell, x = net
    a = lyapax.spectrum(cell, x)
    b = lyapax.spectrum(cell, x, ortho_every=p, history=p)
    # exact in exact arithmetic; the p-step product has condition number ~ exp(p * spread)
    spread = float(a.per_sequence[:, 0].max() - a.per_sequence[:, -1].min())
    tol = 1e-9 + 1e-13 * np.exp(p * spread)
    np.testing.assert_allclose(b.per_sequence, a.per_sequence, rtol=0, atol=tol)
    np.testing.assert_allclose(b.history[-1], a.exponents, rtol=0, atol=tol)


@settings()
@given(st.integers(1, 6), st.floats(0.3, 3.0), st.integers(0, 2**31 - 1))
def test_permuting_hidden_units_leaves_the_spectrum(H, gain, seed):
    from lyapax.algorithm import orthonormal_basis

    rng = np.random.default_rng(seed)
    cell = cells.Elman(rng.normal(size=(H, 2)), rng.normal(size=(H, H)) * gain / np.sqrt(H), rng.normal(size=H))
    perm = rng.permutation(H)
    permuted = cells.Elman(cell.weight_ih[perm], cell.weight_hh[perm][:, perm], cell.bias_ih[perm])
    x = rng.normal(size=(2, 30, 2))
    a = lyapax.spectrum(cell, x, seed=1)
    b = lyapax.spectrum(permuted, x, basis=orthonormal_basis(H, H, seed=1)[perm])
    np.testing.assert_allclose(b.per_sequence, a.per_sequence, rtol=0, atol=one_step_tolerance(cell, x, a))
