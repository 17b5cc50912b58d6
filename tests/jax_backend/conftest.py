"""Fixtures of the JAX backend tests."""

from __future__ import annotations

import numpy as np
import pytest
from jax_helpers import B, F, T


@pytest.fixture
def x() -> np.ndarray:
    """Batch-first float64 inputs (B, T, F)."""
    return np.random.default_rng(1).standard_normal((B, T, F))
