"""Fixtures of the sweep tests (Ray and Optuna needed: ``nox -s sweeps`` installs them; without them they skip)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with two CPUs for the tests of one module."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (the sweeps session installs lyapax-rnn[ray])")
    ray.init(num_cpus=2, include_dashboard=False, address="local", log_to_driver=False)
    yield ray
    ray.shutdown()
