"""The PyTorch backend passes lyapax's conformance suite (lyapax.testing.conformance)."""

from __future__ import annotations

import torch  # noqa: F401  (the session must fail, not skip, without torch)

from lyapax.testing.conformance import BackendConformance


class TestConformance(BackendConformance):
    backend = "torch"
