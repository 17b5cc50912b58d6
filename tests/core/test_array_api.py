"""The core's algorithm and cells on a strict array-API namespace, not only on numpy.

``array_api_strict`` refuses everything the standard does not specify (implicit
trailing axes in indexing, numpy-only functions, mixed-kind promotion...), so a
core that runs on it runs on any conforming namespace. The ``xp`` fixture is
parametrised over the namespaces at hand, with readable ids, as in scipy's
array-API tests. A minimal backend for ``array_api_strict`` (below) also runs
the whole pipeline, from `lyapax.session.session` to ``Spectrum``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import lyapax
from lyapax import algorithm, cells
from lyapax.backend import Backend
from lyapax.driver import iterate
from lyapax.linalg import orthonormalize
from lyapax.options import Options
from lyapax.session import session
from lyapax.testing import CELL_KINDS, random_cell

strict = pytest.importorskip("array_api_strict", reason="array-api-strict is not installed (the tests-numpy nox session installs it)")

StrictArray = type(strict.asarray(0.0))
NAMESPACES = {"numpy": "array_api_compat.numpy", "array_api_strict": "array_api_strict"}


@pytest.fixture(params=sorted(NAMESPACES), ids=str)
def xp(request):
    import importlib

    return importlib.import_module(NAMESPACES[request.param])


def _to(xp: Any, a: np.ndarray | None) -> Any:
    return None if a is None else xp.asarray(a, dtype=xp.float64)


def _np(a: Any) -> np.ndarray:
    return np.from_dlpack(a) if not isinstance(a, np.ndarray) else a


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_cells_step_and_tangent_on_the_namespace(xp, kind):
    import array_api_compat.numpy as xnp

    rng = np.random.default_rng(0)
    cell = random_cell(kind, 4, 3, rng)
    h = rng.normal(scale=0.5, size=(2, cell.dim))
    x = rng.normal(size=(2, 3))
    Q = rng.normal(size=(2, cell.dim, 3))
    ref_h, ref_JQ = cell.step_tangent(xnp, h, x, Q)
    on_xp = cell.map_arrays(lambda a: _to(xp, a))
    got_h, got_JQ = on_xp.step_tangent(xp, _to(xp, h), _to(xp, x), _to(xp, Q))
    np.testing.assert_allclose(_np(got_h), ref_h, rtol=0, atol=1e-14)
    np.testing.assert_allclose(_np(got_JQ), ref_JQ, rtol=0, atol=1e-13)


def test_qr_trouble_flags_and_run_chunk_on_the_namespace(xp):
    rng = np.random.default_rng(1)
    cell = random_cell("lstm", 3, 2, rng)
    B, d, k, T = 2, cell.dim, 4, 9
    Q0 = np.broadcast_to(algorithm.orthonormal_basis(d, k), (B, d, k)).copy()
    xs = rng.normal(size=(T, B, 2))
    flags = np.full((B, algorithm.FLAGS), -1, dtype=np.int32)
    import array_api_compat.numpy as xnp

    ref, ref_sum = algorithm.run_chunk(xnp, cell, (np.zeros((B, d)), Q0, flags), xs, 0, T, 2)
    on_xp = cell.map_arrays(lambda a: _to(xp, a))
    carry = (_to(xp, np.zeros((B, d))), _to(xp, Q0), xp.asarray(flags))
    got, got_sum = algorithm.run_chunk(xp, on_xp, carry, _to(xp, xs), 0, T, 2)
    np.testing.assert_allclose(_np(got_sum), ref_sum, rtol=0, atol=1e-12)
    np.testing.assert_allclose(_np(got[1]), ref[1], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(_np(got[2]), -1)
    # a zero column in A: the QR keeps Q orthonormal, its log is -inf and the flag names the step
    A = np.array([[[1.0, 0.0], [0.0, 0.0]]])
    with np.errstate(divide="ignore"):
        Qz, Rz, _ = orthonormalize(xp, _to(xp, A))
        log_r = xp.log(xp.linalg.diagonal(Rz))
    np.testing.assert_allclose(_np(Qz)[0].T @ _np(Qz)[0], np.eye(2), atol=1e-15)
    assert np.isneginf(_np(log_r)[0, 1])
    f = algorithm.track_trouble(xp, _to(xp, np.zeros((1, 2))), log_r, xp.asarray(np.full((1, 4), -1, np.int32)), 7)
    np.testing.assert_array_equal(_np(f), [[7, -1, -1, -1]])


class StrictBackend(Backend):
    """Canonical cells with ``array_api_strict`` weights: a backend in a dozen lines."""

    name = "strict"
    modules = ("array_api_strict",)
    accepts = "a lyapax.cells cell with array_api_strict weights"
    default_dtype = "float64"
    autodiff = False

    def recognises_array(self, array: Any) -> bool:
        return isinstance(array, StrictArray)

    def namespace(self) -> Any:
        return strict

    def dtype_of(self, array: Any) -> str:
        return str(array.dtype).rsplit(".", 1)[-1]

    def asarray(self, value: Any, dtype: str | None, device: Any, *, differentiable: bool = False) -> Any:
        value = value if isinstance(value, StrictArray) else strict.asarray(np.asarray(value))
        return value if dtype is None else strict.astype(value, getattr(strict, dtype))

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.from_dlpack(array)


@pytest.mark.parametrize("kind", ["tanh", "lstm_proj", "gru_before", "stack"])
def test_whole_pipeline_on_array_api_strict_matches_numpy(kind):
    rng = np.random.default_rng(2)
    cell = random_cell(kind, 3, 2, rng, gain=2.0)
    x = rng.normal(size=(2, 40, 2))
    opts = Options(warmup=5, ortho_every=3, k=3, history=6)
    ref = lyapax.spectrum(cell, x, warmup=5, ortho_every=3, k=3, history=6)
    backend = StrictBackend()
    with session(backend, cell.map_arrays(lambda a: _to(strict, a)), _to(strict, x), opts) as problem:
        got = iterate(problem, opts)
    np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.history, ref.history, rtol=0, atol=1e-12)


def test_the_strict_backend_refuses_what_every_backend_refuses():
    rng = np.random.default_rng(3)
    cell = random_cell("gru", 3, 2, rng).map_arrays(lambda a: _to(strict, a))
    backend = StrictBackend()
    with pytest.raises(lyapax.InputError, match="inputs: the model expects 2 features"):
        with session(backend, cell, _to(strict, np.zeros((1, 5, 3))), Options()):
            pass
    with pytest.raises(lyapax.ModelTypeError, match="strict arrays"):
        with session(backend, cells.Elman(np.ones((2, 1)), np.eye(2)), None, Options(steps=3)):
            pass
