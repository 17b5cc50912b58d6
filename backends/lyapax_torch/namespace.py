"""The array namespace the core computes with on PyTorch tensors.

``array_api_compat.torch`` is the array-API namespace for PyTorch; this module
wraps it and binds the handful of functions the core calls on every time step
(matmul, elementwise maths, concat, QR) straight to ``torch``, which saves the
compatibility layer's Python overhead in the inner loop. Everything else is
looked up in ``array_api_compat.torch``, so any array-API function the core
uses works.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as compat
import torch

__all__ = ["namespace", "TorchNamespace"]


class _Linalg:
    def __init__(self, torch: Any, compat_linalg: Any) -> None:
        self._torch = torch
        self._compat = compat_linalg

    def qr(self, A: Any) -> tuple[Any, Any]:
        """Reduced QR of a batch ``A (..., d, k)`` (Householder, LAPACK / cuSOLVER)."""
        return self._torch.linalg.qr(A, mode="reduced")

    def diagonal(self, A: Any) -> Any:
        return self._torch.diagonal(A, dim1=-2, dim2=-1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._compat, name)


class TorchNamespace:
    """``array_api_compat.torch`` with the core's hot functions bound directly to ``torch``."""

    def __init__(self) -> None:
        self._compat = compat
        self.linalg = _Linalg(torch, compat.linalg)
        self.matmul = torch.matmul
        self.tanh = torch.tanh
        self.exp = torch.exp
        self.log = torch.log
        self.abs = torch.abs
        self.isfinite = torch.isfinite
        self.isnan = torch.isnan
        self.zeros_like = torch.zeros_like
        self.ones_like = torch.ones_like
        self.where = torch.where

    @staticmethod
    def matrix_transpose(x: Any) -> Any:
        return x.mT

    @staticmethod
    def concat(arrays: Any, /, *, axis: int = 0) -> Any:
        return torch.cat(tuple(arrays), dim=axis)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._compat, name)

    def __repr__(self) -> str:
        return "lyapax_torch.namespace"


_NAMESPACE: TorchNamespace | None = None


def namespace() -> TorchNamespace:
    """The shared torch namespace (created on first use; imports torch)."""
    global _NAMESPACE
    if _NAMESPACE is None:
        _NAMESPACE = TorchNamespace()
    return _NAMESPACE
