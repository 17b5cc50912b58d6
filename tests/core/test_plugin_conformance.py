"""A third-party backend (tests/toy_backend, installed with pip) registered through entry
points passes the conformance suite: registration works end to end, and the suite can fail."""

from __future__ import annotations

import numpy as np
import pytest

import lyapax
from lyapax.testing.conformance import BackendConformance


class TestToyConformance(BackendConformance):
    backend = "toy"


def test_toy_models_are_routed_to_the_toy_backend():
    import lyapax_toy

    from lyapax.testing import random_cell

    cell = random_cell("gru", 3, 2, np.random.default_rng(0))
    model = lyapax_toy.testing.native_model(cell, "float64")
    s = lyapax.spectrum(model, np.random.default_rng(1).normal(size=(2, 30, 2)))
    assert s.backend == "toy"


def _corrupt_factors(monkeypatch, corrupt):
    """Give the toy backend a runner whose ``R`` factors pass through ``corrupt`` (the state, the
    basis and the log-diagonal sums, hence every spectrum, stay right)."""
    import lyapax_toy

    from lyapax.algorithm import run_chunk
    from lyapax.linalg import HOUSEHOLDER

    def runner(self, dynamics, device, differentiable):
        def run(carry, xs, start, length, ortho_every, *, qr=HOUSEHOLDER, factors=False):
            out = run_chunk(self.namespace(), dynamics, carry, xs, start, length, ortho_every, qr=qr, factors=factors)
            return (*out[:2], corrupt(out[2])) if factors else out

        run.factors = True
        return run

    monkeypatch.setattr(lyapax_toy.ToyBackend, "runner", runner)


def test_covariant_property_catches_wrong_off_diagonal_factors(monkeypatch):
    _corrupt_factors(monkeypatch, lambda R: R * (1 + 1e-6 * np.triu(np.ones(R.shape[-2:]), 1)))
    with pytest.raises(AssertionError, match="covariant vector"):
        TestToyConformance().test_covariant_vectors_match_numpy_reference("gru", 1)


def test_growth_rate_identity_catches_factors_one_step_late(monkeypatch):
    # each interval handed the next interval's R (the last one repeated): vectors and rates shift in time
    _corrupt_factors(monkeypatch, lambda R: np.concatenate([R[1:], R[-1:]]))
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        TestToyConformance().test_covariant_growth_rates_average_to_the_exponents("lstm")
