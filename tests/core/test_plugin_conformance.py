"""A third-party backend (tests/toy_backend, installed with pip) registered through entry
points passes the conformance suite: registration works end to end, and the suite can fail."""

from __future__ import annotations

import numpy as np

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
