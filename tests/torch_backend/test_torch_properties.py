"""Properties of the spectrum: sum rule, prefix property, differentiable mode."""

from __future__ import annotations

import lyapax_torch
import numpy as np
import torch
from torch import nn

import lyapax
from lyapax.testing.conformance import one_step_tolerance

F, H, B, T = 3, 4, 3, 40


def _chaotic_lstm(seed=0):
    torch.manual_seed(seed)
    m = nn.LSTM(F, H, num_layers=2, batch_first=True).double()
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.startswith("weight_hh"):
                p.mul_(3.0)
    return m


def test_sum_rule_equals_mean_log_det_jacobian(gen):
    """Sum of all exponents == mean over steps of log|det J_t|, J_t from jacfwd of the module's own forward."""
    m = _chaotic_lstm()
    x = torch.randn(B, T, F, generator=gen, dtype=torch.float64)
    sp = lyapax.spectrum(m, x)
    step = lyapax_torch.step_function(m)
    h = torch.zeros(B, step.dim, dtype=torch.float64)
    logdet = torch.zeros(B, dtype=torch.float64)
    with torch.no_grad():
        for t in range(T):
            xt = x[:, t]
            for b in range(B):  # one Jacobian per sequence, independently of lyapax
                J = torch.func.jacfwd(lambda s, xb=xt[b : b + 1]: step(s[None], xb)[0])(h[b])
                logdet[b] += torch.linalg.slogdet(J).logabsdet
            h = step(h, xt)
    tol = one_step_tolerance(m, x, sp, backend=None)
    np.testing.assert_allclose(sp.per_sequence.sum(axis=1), (logdet / T).numpy(), rtol=0, atol=tol)


def test_prefix_property(gen):
    m = _chaotic_lstm(1)
    x = torch.randn(B, T, F, generator=gen, dtype=torch.float64)
    full = lyapax.spectrum(m, x, warmup=10)
    for k in (1, 3):
        part = lyapax.spectrum(m, x, warmup=10, k=k)
        assert part.k == k
        # the k exponents of the first k basis columns are exactly those of the full run's first k columns;
        # each sequence's exponents are sorted, so look each one up among the full run's
        for b in range(B):
            dist = np.abs(part.per_sequence[b][:, None] - full.per_sequence[b][None, :]).min(axis=1)
            assert dist.max() < 1e-12
        # and, after enough steps, they are the leading ones
        np.testing.assert_allclose(part.exponents, full.exponents[:k], rtol=0, atol=0.05)


def test_float32_close_to_float64(gen):
    m = _chaotic_lstm(2).float()
    x = torch.randn(B, T, F, generator=gen)
    s32 = lyapax.spectrum(m, x)
    s64 = lyapax.spectrum(m, x, dtype=torch.float64)
    assert s32.dtype == "float32" and s64.dtype == "float64"
    np.testing.assert_allclose(s32.exponents, s64.exponents, rtol=0, atol=1e-3)


def test_differentiable_gradient_step_lowers_largest_exponent(gen):
    torch.manual_seed(1)
    rnn = nn.RNN(F, 8, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_hh_l0.normal_(0.0, 4.0 / 8**0.5)  # large recurrent gain: chaotic
    x = 0.5 * torch.randn(4, 40, F, generator=gen, dtype=torch.float64)
    before = lyapax.spectrum(rnn, x, warmup=5, differentiable=True)
    assert before.exponents[0] > 0  # chaotic
    raw = before.raw
    assert isinstance(raw, torch.Tensor) and raw.shape == (4, 8) and raw.requires_grad
    np.testing.assert_allclose(raw.detach().numpy(), before.per_sequence, rtol=0, atol=1e-12)
    loss = raw[:, 0].mean()
    loss.backward()
    grad_sq = sum(float((p.grad**2).sum()) for p in rnn.parameters())
    assert grad_sq > 0
    # gradients through a chaotic trajectory are large: a step that the first-order model says lowers
    # the loss by 1e-3 (the finite-time exponent is a rough function of the weights far beyond that)
    opt = torch.optim.SGD(rnn.parameters(), lr=1e-3 / grad_sq)
    opt.step()
    after = lyapax.spectrum(rnn, x, warmup=5)
    assert after.exponents[0] < before.exponents[0] - 5e-4


def test_differentiable_step_function_reaches_parameters(gen):
    torch.manual_seed(1)
    cell = nn.GRUCell(F, H)
    x = torch.randn(2, 20, F, generator=gen)
    sp = lyapax.spectrum(lambda h, xt: cell(xt, h), x, h0=torch.zeros(2, H), differentiable=True)
    sp.raw.sum().backward()
    assert cell.weight_hh.grad is not None and cell.weight_hh.grad.abs().sum() > 0
    ref = lyapax.spectrum(cell, x)
    np.testing.assert_allclose(sp.per_sequence, ref.per_sequence, rtol=0, atol=1e-5)


def test_not_differentiable_builds_no_graph(gen):
    m = nn.GRU(F, H)
    x = torch.randn(2, 10, F, generator=gen, requires_grad=True)
    sp = lyapax.spectrum(m, x)
    assert sp.raw is None
    assert x.grad is None and all(p.grad is None for p in m.parameters())
