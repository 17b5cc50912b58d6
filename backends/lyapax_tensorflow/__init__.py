"""lyapax backend for TensorFlow and Keras 3 (``backend="tensorflow"``).

Importing this package does not import TensorFlow or Keras: the backend is
registered through the ``lyapax.backends`` entry point and imports its
framework only when it prepares a computation. ``SpectrumCallback`` (a
``keras.callbacks.Callback``) is loaded on first access.
"""

from __future__ import annotations

from typing import Any

from .adapter import TensorFlowBackend

__all__ = ["TensorFlowBackend", "SpectrumCallback"]


def __getattr__(name: str) -> Any:
    if name == "SpectrumCallback":
        from .callbacks import SpectrumCallback

        return SpectrumCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
