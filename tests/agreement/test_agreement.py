"""The same network gives the same spectrum in every framework.

Runs in one environment with all backends installed (``nox -s agreement``).
Each drawn canonical network is written into every framework's own model and
compared with the numpy reference, so all backends agree with each other.
"""

from __future__ import annotations

import dataclasses

import array_api_compat.numpy as xp
import jax  # noqa: F401  (all frameworks imported: detection must still pick the right backend)
import numpy as np
import tensorflow  # noqa: F401
import torch  # noqa: F401
from hypothesis import given, settings
from hypothesis import strategies as st

import lyapax
from lyapax.errors import NumericalError
from lyapax.testing.conformance import backend_builders, float32_agrees, float64_tolerance
from lyapax.testing.strategies import cases

BACKENDS = ("torch", "jax", "tensorflow")
# relu spectra are discontinuous in the state (see lyapax.testing.conformance); the
# conformance suite of each backend compares relu networks on a well-posed case
COMMON = tuple(
    k for k in lyapax.testing.LAYER_KINDS if k != "relu" and all(k in backend_builders(b).KINDS for b in BACKENDS)
)


def test_all_backends_installed_and_common_kinds():
    assert set(BACKENDS) <= set(lyapax.backends())
    assert {"tanh", "lstm", "gru"} <= set(COMMON)


def _run(backend, case, dtype):
    t = backend_builders(backend)
    model, x = t.native_model(case.cell, dtype), t.native_array(case.inputs, dtype)
    try:
        return lyapax.spectrum(model, x, dtype=dtype, **case.options), None  # backend chosen by type
    except NumericalError as exc:
        return None, exc


# 10 examples, not the profile's 25: each backend meets the reference on the profile's examples in
# its own session (tests/*_backend conformance); here the same cases run in every framework in one
# process, each chosen by its model's type with all of them imported (47 s for 25 here, JAX compiling).
@settings(max_examples=10)
@given(data=st.data())
def test_spectra_agree_across_backends_float64(data):
    case = data.draw(cases(kinds=COMMON))
    try:
        ref, ref_err = case.reference(), None
    except NumericalError as exc:
        ref, ref_err = None, exc
    for backend in BACKENDS:
        got, err = _run(backend, case, "float64")
        if ref_err is not None:
            assert err is not None and err.kind == ref_err.kind, (backend, ref_err, err)
            continue
        assert err is None, (backend, err)
        assert got.backend == backend
        np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=float64_tolerance(ref),
                                   err_msg=backend)


@settings(max_examples=10)
@given(data=st.data())
def test_spectra_agree_across_backends_float32(data):
    case = data.draw(cases(kinds=COMMON))
    # ortho_every = 1 and k = d: see BackendConformance.test_float32_within_documented_tolerance
    case = dataclasses.replace(case, ortho_every=1, k=case.cell.dim)
    try:
        ref = case.reference()
    except NumericalError:
        return
    for backend in BACKENDS:
        got, err = _run(backend, case, "float32")
        assert err is None or err.kind == "zero" or ref.max_exponent > 0, (backend, err)
        if got is not None:
            assert float32_agrees(got, ref), (backend, (got.per_sequence - ref.per_sequence)[:, [0, -1]].tolist(),
                                              (got.per_sequence.sum(1) - ref.per_sequence.sum(1)).tolist(), ref.steps, ref.per_sequence[:, :2].tolist())


@settings()
@given(data=st.data())
def test_one_step_states_agree_across_backends(data):
    case = data.draw(cases(kinds=COMMON))
    h = np.random.default_rng(case.seed).normal(scale=0.5, size=(case.inputs.shape[0], case.cell.dim))
    expected = case.cell.step(xp, h, case.inputs[:, 0])
    for backend in BACKENDS:
        t = backend_builders(backend)
        got = t.native_step(t.native_model(case.cell, "float64"), h, case.inputs[:, 0], "float64")
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, err_msg=backend)
