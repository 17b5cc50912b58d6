"""lyapax backend for TensorFlow and Keras 3 (``backend="tensorflow"``), and Keras's callbacks.

Importing this package does not import TensorFlow or Keras: the backend is
registered through the ``lyapax.backends`` entry point and imports its
framework only when it prepares a computation. `.keras_layers` (Keras models,
on whichever backend Keras runs) and the Keras callbacks ``SpectrumCallback``
and ``FlossingCallback`` (loaded on first access) import keras only, and work
with ``KERAS_BACKEND`` set to tensorflow, jax or torch.
"""

from __future__ import annotations

from typing import Any

from .adapter import TensorFlowBackend

__all__ = ["TensorFlowBackend", "SpectrumCallback", "FlossingCallback"]


def __getattr__(name: str) -> Any:
    if name in ("SpectrumCallback", "FlossingCallback"):
        from . import callbacks

        return getattr(callbacks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
