"""float32 (PyTorch's default, with the QR in float64) against float64, exponent by exponent.

The documented tolerance (docs/performance.md, and ``FLOAT32_RTOL`` in
tests/core/test_qr_engine.py): every exponent of every sequence within
``5e-3 * max(1, |λ_i|)`` nats/step of float64, on trajectories that are not chaotic (λ1 < 0;
on a chaotic one float32 rounding moves the state itself onto another trajectory).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lyapax

FLOAT32_RTOL = 5e-3
F, H, B, T, WARMUP = 4, 32, 4, 300, 50


def build(kind: str, gain: float | None) -> nn.Module:
    """``nn.RNN``/``GRU``/``LSTM`` with PyTorch's initialisation, or recurrent weights ``N(0, gain² / H)``."""
    torch.manual_seed(0)
    module = getattr(nn, kind)(F, H, batch_first=True)
    if gain is not None:
        with torch.no_grad():
            module.weight_hh_l0.normal_(0.0, gain / H**0.5)
    return module


@pytest.mark.parametrize("gain", [None, 1.5], ids=["default-init", "gain1.5"])
@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_float32_default_every_exponent_within_tolerance(kind: str, gain: float | None) -> None:
    module = build(kind, gain)
    x = torch.randn(B, T, F, generator=torch.Generator().manual_seed(1))
    ref = lyapax.spectrum(module, x, warmup=WARMUP, dtype="float64", threads=1)
    f32 = lyapax.spectrum(module, x, warmup=WARMUP, threads=1)
    assert ref.exponents[0] < 0  # (the premise) not chaotic: the same trajectory in both precisions
    assert f32.dtype == "float32" and f32.qr == "householder (float64)"
    assert next(module.parameters()).dtype == torch.float32  # the module is left as it was
    err = np.abs(f32.per_sequence - ref.per_sequence)
    assert np.all(err <= FLOAT32_RTOL * np.maximum(1, np.abs(ref.per_sequence))), err.max()
