"""Devices: the selection rules and errors (no GPU needed), ``is_accelerator`` and ``qr="auto"`` on a
device that reports a GPU, and on a CUDA machine the same numbers as on the CPU (skipped without CUDA)."""

from __future__ import annotations

from types import SimpleNamespace

import lyapax_torch.devices
import numpy as np
import pytest
import torch
from lyapax_torch.devices import is_accelerator, resolve_device
from torch import nn

import lyapax
from lyapax.errors import InputError

F, H, B, T = 3, 4, 2, 15
CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


def _on(device: torch.device, floating: bool = True) -> SimpleNamespace:
    """A stand-in for a tensor on ``device`` (no CUDA needed to describe one)."""
    return SimpleNamespace(device=device, is_floating_point=lambda: floating)


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
def test_device_cuda_unavailable_is_a_clear_error():
    with pytest.raises(InputError, match="device: cannot compute on 'cuda'"):
        lyapax.spectrum(nn.GRU(F, H), torch.randn(B, T, F), device="cuda")


def test_device_invalid_and_meta():
    with pytest.raises(InputError, match="is not a torch device"):
        lyapax.spectrum(nn.GRU(F, H), torch.randn(B, T, F), device="gpu-please")
    with pytest.raises(InputError, match="meta tensors hold no data"):
        lyapax.spectrum(nn.GRU(F, H), torch.randn(B, T, F), device="meta")
    with pytest.raises(InputError, match="on the meta device"):
        lyapax.spectrum(nn.GRU(F, H, device="meta"), torch.randn(B, T, F))


def test_device_selection_rules():
    cpu, cuda0, cuda1 = torch.device("cpu"), torch.device("cuda", 0), torch.device("cuda", 1)
    assert resolve_device(None, [_on(cpu), _on(cpu)], [_on(cuda0)]) == cpu  # the model's device wins
    assert resolve_device(None, [_on(cuda0, floating=False)], [_on(cpu)]) == cpu  # integer buffers say nothing
    assert resolve_device(None, [], [_on(cuda0), _on(cuda0)]) == cuda0  # no parameters: follow the tensors
    assert resolve_device(None, [], []) == cpu
    assert resolve_device("cpu", [_on(cuda0)], []) == cpu  # explicit device= wins (weights are copied)
    with pytest.raises(InputError, match="several devices"):
        resolve_device(None, [_on(cuda0), _on(cuda1)], [])
    with pytest.raises(InputError, match="different devices"):
        resolve_device(None, [], [_on(cpu), _on(cuda0)])


def test_explicit_cpu_device_and_numpy_inputs(gen):
    m = nn.GRU(F, H)
    x = torch.randn(B, T, F, generator=gen)
    a = lyapax.spectrum(m, x, device="cpu")
    b = lyapax.spectrum(m, x.numpy(), device=torch.device("cpu"))
    np.testing.assert_array_equal(a.per_sequence, b.per_sequence)


def test_is_accelerator():
    assert not is_accelerator(torch.device("cpu")) and not is_accelerator("cpu")
    assert is_accelerator(torch.device("cuda", 0)) and is_accelerator("mps")
    assert lyapax_torch.TorchBackend().is_accelerator(torch.device("cuda")) is True


def test_auto_qr_is_cholesky_on_a_device_that_reports_a_gpu(gen, monkeypatch):
    """``qr="auto"``: Householder on the CPU; the CholeskyQR engine once the device reads as a GPU
    (float64; after the first 32-step chunk of ``ortho_every="auto"`` has estimated the conditioning)."""
    m = nn.RNN(F, 8, batch_first=True, dtype=torch.float64)
    x = torch.randn(B, 128, F, generator=gen, dtype=torch.float64)
    cpu = lyapax.spectrum(m, x, ortho_every="auto")
    monkeypatch.setattr(lyapax_torch.devices, "is_accelerator", lambda device: True)
    gpu = lyapax.spectrum(m, x, ortho_every="auto")
    assert cpu.qr == "householder" and gpu.qr.startswith("cholesky"), (cpu.qr, gpu.qr)
    np.testing.assert_allclose(gpu.per_sequence, cpu.per_sequence, rtol=1e-8, atol=1e-8)


@needs_cuda
@pytest.mark.parametrize("model", ["gru", "lstm", "step"])
def test_cuda_matches_cpu(model, gen):
    torch.manual_seed(0)
    layer = nn.LSTM(F, H, batch_first=True) if model == "lstm" else nn.GRU(F, H, batch_first=True)
    x = torch.randn(B, 40, F, generator=gen)
    if model == "step":
        cell = nn.GRUCell(F, H)
        layer = lambda h, xt: cell(xt, h)  # noqa: E731 - the torch.func path
        kw = {"h0": torch.zeros(B, H)}
        cpu = lyapax.spectrum(layer, x, **kw, device="cpu")
        cell.cuda()
        got = lyapax.spectrum(layer, x.cuda(), h0=torch.zeros(B, H, device="cuda"))
    else:
        cpu = lyapax.spectrum(layer, x)
        got = lyapax.spectrum(layer.cuda(), x.cuda())
    np.testing.assert_allclose(got.per_sequence, cpu.per_sequence, rtol=0, atol=2e-3)


@needs_cuda
def test_cuda_auto_qr_is_cholesky_in_float64(gen):
    m = nn.RNN(F, 8, batch_first=True, dtype=torch.float64)
    x = torch.randn(B, 128, F, generator=gen, dtype=torch.float64)
    cpu = lyapax.spectrum(m, x, ortho_every="auto")
    gpu = lyapax.spectrum(m.cuda(), x.cuda(), ortho_every="auto")
    assert gpu.qr.startswith("cholesky"), gpu.qr
    np.testing.assert_allclose(gpu.per_sequence, cpu.per_sequence, rtol=1e-8, atol=1e-8)
