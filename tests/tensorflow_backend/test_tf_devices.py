"""``is_accelerator`` and ``qr="auto"`` on a device that reports a GPU (TensorFlow's device strings)."""

from __future__ import annotations

import lyapax_tensorflow
import lyapax_tensorflow.devices
import numpy as np
import tensorflow as tf
from lyapax_tensorflow.devices import is_accelerator

import lyapax


def test_is_accelerator():
    assert not is_accelerator("/device:CPU:0") and not is_accelerator("/job:localhost/replica:0/task:0/device:CPU:0")
    assert is_accelerator("/device:GPU:0") and is_accelerator("/device:GPU:1")
    # None is TensorFlow's default placement: the first GPU when there is one
    assert is_accelerator(None) == bool(tf.config.list_logical_devices("GPU"))
    assert lyapax_tensorflow.TensorFlowBackend().is_accelerator("/device:GPU:0") is True


def test_auto_qr_is_cholesky_on_a_device_that_reports_a_gpu(monkeypatch, rng):
    """``qr="auto"``: Householder on the CPU; the CholeskyQR engine once the device reads as a GPU
    (float64; after the first 32-step chunk of ``ortho_every="auto"`` has estimated the conditioning)."""
    H, F, B = 8, 3, 2
    cell = lyapax.cells.Elman(
        weight_ih=tf.constant(rng.normal(size=(H, F)), tf.float32),
        weight_hh=tf.constant(rng.normal(size=(H, H)) * 1.2 / np.sqrt(H), tf.float32),
        bias_ih=None,
        bias_hh=None,
    )
    x = rng.normal(size=(B, 128, F))
    cpu = lyapax.spectrum(cell, x, dtype="float64", ortho_every="auto")
    monkeypatch.setattr(lyapax_tensorflow.devices, "is_accelerator", lambda device: True)
    gpu = lyapax.spectrum(cell, x, dtype="float64", ortho_every="auto")
    assert cpu.qr == "householder" and gpu.qr.startswith("cholesky"), (cpu.qr, gpu.qr)
    np.testing.assert_allclose(gpu.per_sequence, cpu.per_sequence, rtol=1e-8, atol=1e-8)
