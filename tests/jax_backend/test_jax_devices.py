"""``is_accelerator`` and ``qr="auto"`` on a device that reports a GPU; on a machine with a JAX GPU the
same numbers as on the CPU (skipped without one)."""

from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import lyapax_jax
import lyapax_jax.devices
import numpy as np
import pytest
from lyapax_jax.devices import is_accelerator

import lyapax


def _gpus() -> list:
    try:
        return jax.devices("gpu")
    except RuntimeError:  # no GPU backend in this installation
        return []


GPUS = _gpus()
needs_gpu = pytest.mark.skipif(not GPUS, reason="needs a JAX GPU device")


def _cell_and_inputs(steps: int = 128) -> tuple[lyapax.cells.Elman, np.ndarray]:
    rng = np.random.default_rng(3)
    H, F, B = 8, 3, 2
    # an orthogonal recurrent matrix times 0.9 and small inputs: a narrow spectrum, well inside what
    # CholeskyQR2 takes over ortho_every="auto"'s intervals (a wider one makes the engine fall back)
    cell = lyapax.cells.Elman(
        weight_ih=jnp.asarray(0.3 * rng.normal(size=(H, F)), jnp.float32),
        weight_hh=jnp.asarray(0.9 * np.linalg.qr(rng.normal(size=(H, H)))[0], jnp.float32),
        bias_ih=None,
        bias_hh=None,
    )
    return cell, rng.normal(size=(B, steps, F))


def test_is_accelerator():
    assert not is_accelerator(jax.devices("cpu")[0])
    assert is_accelerator(SimpleNamespace(platform="gpu")) and is_accelerator(SimpleNamespace(platform="tpu"))
    assert lyapax_jax.JaxBackend().is_accelerator(SimpleNamespace(platform="gpu")) is True
    assert lyapax_jax.JaxBackend().is_accelerator(jax.devices("cpu")[0]) is False


def test_auto_qr_is_cholesky_on_a_device_that_reports_a_gpu(monkeypatch):
    """``qr="auto"``: Householder on the CPU; the CholeskyQR engine once the device reads as a GPU
    (float64; after the first 32-step chunk of ``ortho_every="auto"`` has estimated the conditioning)."""
    cell, x = _cell_and_inputs()
    cpu = lyapax.spectrum(cell, x, dtype="float64", ortho_every="auto")
    monkeypatch.setattr(lyapax_jax.devices, "is_accelerator", lambda device: True)
    gpu = lyapax.spectrum(cell, x, dtype="float64", ortho_every="auto")
    assert cpu.qr == "householder" and gpu.qr.startswith("cholesky"), (cpu.qr, gpu.qr)
    np.testing.assert_allclose(gpu.per_sequence, cpu.per_sequence, rtol=1e-8, atol=1e-8)


@needs_gpu
def test_gpu_matches_cpu_and_auto_qr_is_cholesky():
    cell, x = _cell_and_inputs()
    cpu = lyapax.spectrum(cell, x, dtype="float64", ortho_every="auto", device="cpu")
    gpu = lyapax.spectrum(cell, x, dtype="float64", ortho_every="auto", device="gpu")
    assert gpu.qr.startswith("cholesky"), gpu.qr
    np.testing.assert_allclose(gpu.per_sequence, cpu.per_sequence, rtol=1e-8, atol=1e-8)
    f32 = lyapax.spectrum(cell, x, device="gpu")
    np.testing.assert_allclose(f32.per_sequence, cpu.per_sequence, rtol=0, atol=2e-3)
