"""The same network gives the same covariant vectors and finite-time exponents in every framework.

Runs with all backends installed (``nox -s agreement``), like test_agreement.py: each
canonical network is written into every framework's own model; the backend is chosen
by the model's type. Covariant vectors are compared up to sign.
"""

from __future__ import annotations

import jax  # noqa: F401  (all frameworks imported: detection must still pick the right backend)
import numpy as np
import pytest
import tensorflow  # noqa: F401
import torch  # noqa: F401

import lyapax
from lyapax.testing.conformance import assert_covariant_close, backend_builders, covariant_case, float64_tolerance

BACKENDS = ("torch", "jax", "tensorflow")
COMMON = tuple(k for k in ("tanh", "lstm", "gru", "gru_before") if all(k in backend_builders(b).KINDS for b in BACKENDS))


def _native(backend: str, cell, x: np.ndarray) -> tuple:
    t = backend_builders(backend)
    return t.native_model(cell, "float64"), t.native_array(x, "float64")


@pytest.mark.parametrize("ortho_every", [1, 3])
@pytest.mark.parametrize("kind", COMMON)
def test_covariant_vectors_agree_across_backends(kind, ortho_every):
    case = covariant_case(kind, ortho_every)
    results = {}
    for backend in BACKENDS:
        results[backend] = lyapax.covariant_vectors(*_native(backend, case.cell, case.inputs), dtype="float64",
                                                    **case.options)
        assert results[backend].backend == backend
        assert_covariant_close(results[backend], case.reference)
    # and with each other directly (not only through the reference)
    for a, b in zip(BACKENDS, BACKENDS[1:]):
        assert_covariant_close(results[b], results[a])


@pytest.mark.parametrize("kind", COMMON)
def test_finite_time_exponents_agree_across_backends(kind):
    case = covariant_case(kind, 1)  # a network with a negative largest exponent: windows are predictable
    options = {"window": 20, "warmup": 10, "k": case.options["k"], "keep_windows": True}
    ref = lyapax.finite_time(case.cell, case.inputs, backend="numpy", **options)
    tol = float64_tolerance(ref.spectrum) * ref.spectrum.steps / options["window"]
    for backend in BACKENDS:
        got = lyapax.finite_time(*_native(backend, case.cell, case.inputs), dtype="float64", **options)
        assert got.spectrum.backend == backend and got.count == ref.count
        np.testing.assert_allclose(got.windows, ref.windows, rtol=0, atol=tol, err_msg=backend)
