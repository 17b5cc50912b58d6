"""Shared cases of the RateNetwork tests of each backend (tests/<framework>_backend/test_*_rate_network.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_compat.numpy as xnp
import numpy as np

import lyapax
from lyapax.cells import RateNetwork

N, F, B = 5, 2, 2
#: (method, dt), tau = 0.8: the leak form at δ = dt/tau = 0.375 and 1 (the discrete map), RK4.
METHODS = [("euler", 0.3), ("euler", 0.8), ("rk4", 0.2)]


def network(method: str, dt: float) -> RateNetwork:
    rng = np.random.default_rng(7)
    return RateNetwork(rng.normal(0, 2.5 / np.sqrt(N), (N, N)), rng.normal(size=(N, F)), rng.normal(0, 0.3, N),
                       dt=dt, tau=0.8, method=method)


def point() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A state ``(B, N)``, an input ``(B, F)`` and a basis ``(B, N, 3)``."""
    rng = np.random.default_rng(1)
    return rng.normal(size=(B, N)), rng.normal(size=(B, F)), rng.normal(size=(B, N, 3))


def reference_tangent(cell: RateNetwork) -> tuple[np.ndarray, np.ndarray]:
    """The numpy step and tangent at `point`."""
    return cell.step_tangent(xnp, *point())


def check_spectrum_matches_numpy(method: str, dt: float, convert: Callable[[np.ndarray], Any], backend: str,
                                 **options: Any) -> None:
    """The backend's spectrum (cell, inputs and h0 converted) equals the numpy reference's, per step and per time."""
    cell = network(method, dt)
    rng = np.random.default_rng(2)
    x, h0 = rng.normal(size=(B, 40, F)), rng.normal(size=(B, N))
    ref = lyapax.spectrum(cell, x, h0=h0)
    got = lyapax.spectrum(cell.map_arrays(convert), convert(x), h0=convert(h0), **options)
    assert got.backend == backend and got.dtype == "float64" and got.dt == dt
    np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.exponents_per_time, ref.exponents / dt, rtol=0, atol=1e-10)
