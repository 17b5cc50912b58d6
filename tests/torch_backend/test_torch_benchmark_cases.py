"""The benchmark's re-implementation of the paper's approach computes what lyapax computes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import lyapax
from lyapax.testing.conformance import one_step_tolerance

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import cases_torch  # noqa: E402


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_paper_baseline_agrees_with_lyapax(kind):
    model = cases_torch._build(kind, 6, seed=0).double()
    x = torch.randn(3, 25, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    paper = cases_torch.paper_spectrum(model, x)
    d = paper.shape[1]
    ours = lyapax.spectrum(model, x, basis=np.eye(d))
    tol = one_step_tolerance(model, x, ours, backend=None, basis=np.eye(d))
    np.testing.assert_allclose(np.sort(paper.numpy(), axis=1)[:, ::-1], ours.per_sequence, rtol=0, atol=tol)


def test_cases_keys_and_float32():
    cs = cases_torch.cases(hidden=4, batch=2, steps=5)
    assert set(cs) == {"RNN", "GRU", "LSTM", "paper-RNN", "paper-GRU", "paper-LSTM"}
    sp = cs["LSTM"]()
    assert sp.dtype == "float32" and sp.k == 8
    assert cs["paper-GRU"]().shape == (2, 4)
