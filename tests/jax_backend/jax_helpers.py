"""Helpers of the JAX backend tests: the numpy reference and basis permutations."""

from __future__ import annotations

import numpy as np

import lyapax
from lyapax.algorithm import orthonormal_basis

B, T, F, H = 3, 24, 2, 4


def f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def reference(cell, x, **kw) -> np.ndarray:
    """Per-sequence exponents of the numpy reference path (float64)."""
    cell = cell.map_arrays(f64)
    return lyapax.spectrum(cell, f64(x), dtype="float64", **kw).per_sequence


def permuted_basis(perm: np.ndarray, k: int | None = None, seed: int = 0) -> np.ndarray:
    """The reference's initial basis expressed in a state layout ``u = s[perm]``."""
    d = len(perm)
    return orthonormal_basis(d, d if k is None else k, seed)[np.asarray(perm)]


def ch_perm(hidden: int) -> np.ndarray:
    """Layout [c; h] (flax LSTM carry flattened) from lyapax's [h; c]."""
    return np.concatenate([np.arange(hidden, 2 * hidden), np.arange(hidden)])
