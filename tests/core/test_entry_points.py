"""The entry points agree and report NaN/Inf states on the numpy reference path (the kit every
backend runs, lyapax.testing.entry_points), and the error for a framework array numpy cannot read."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import lyapax
from lyapax.testing.entry_points import EntryPointConformance


def _linear_map(A: np.ndarray, U: np.ndarray, dtype: str) -> lyapax.Map:  # noqa: ARG001 - the builders' signature
    """``h A^T + x U^T`` with its constant Jacobian ``A``."""
    return lyapax.Map(
        lambda h, x: h @ A.T + x @ U.T, lambda h, x: np.broadcast_to(A, (h.shape[0], *A.shape)), dim=A.shape[0]
    )


NUMPY_BUILDERS = SimpleNamespace(
    KINDS=("tanh", "relu", "lstm", "gru", "gru_before"),
    native_model=lambda cell, dtype: cell,
    native_array=lambda a, dtype: np.asarray(a, dtype=dtype),
)


class TestNumpyEntryPoints(EntryPointConformance):
    backend = "numpy"

    @property
    def t(self):
        return NUMPY_BUILDERS


def test_an_overflowing_map_with_a_constant_jacobian_keeps_its_exponents():
    rng = np.random.default_rng(0)
    orth, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    m = _linear_map(1e10 * orth, rng.normal(size=(4, 2)), "float64")
    with pytest.warns(lyapax.NumericalWarning, match="does not depend on the state"):
        s = lyapax.spectrum(m, rng.normal(size=(2, 60, 2)), h0=np.ones((2, 4)))
    np.testing.assert_allclose(s.per_sequence, np.log(1e10), rtol=0, atol=1e-10)


def test_a_state_dependent_map_that_overflows_is_an_error():
    """A relu-like map with slope 1e200 overflows to Inf in two steps; its slope depends on the sign of
    the state, so at Inf it is no answer (the tangent map itself stays finite: no other check sees it)."""
    m = lyapax.Map(lambda h, x: np.where(h > 0, 1e200 * h, 0.0), lambda h, x: np.where(h > 0, 1e200, 0.0)[:, :, None],
                   dim=1)
    with pytest.raises(lyapax.NumericalError, match=r"state overflowed .* sequence\(s\) \[0, 1\] at step\(s\) \[1, 1\]") as info:
        lyapax.spectrum(m, None, steps=40, h0=np.full((2, 1), 3.0))
    assert info.value.kind == "state"


def test_a_framework_array_numpy_cannot_read_is_an_input_error():
    """A numpy cell given an array that refuses the host copy (a PyTorch tensor that requires grad
    does) gets lyapax's error naming the argument, not the framework's own."""

    class Attached:
        """An array-API object whose host copy raises, as an attached tensor's does."""

        shape, dtype, ndim = (2, 10, 2), np.dtype("float64"), 3

        def __array_namespace__(self, api_version=None):
            return np

        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("Can't call numpy() on Tensor that requires grad.")

    cell = lyapax.testing.random_cell("gru", 3, 2, np.random.default_rng(0))
    for kwargs in ({"inputs": Attached()}, {"inputs": np.zeros((2, 10, 2)), "h0": Attached()}):
        name = "h0" if "h0" in kwargs else "inputs"
        try:
            lyapax.spectrum(cell, **kwargs)
        except lyapax.InputError as exc:
            assert str(exc).startswith(f"{name}: ") and "requires grad" in str(exc) and "numpy array" in str(exc)
        else:  # pragma: no cover
            raise AssertionError("no InputError")


def test_finite_time_windows_with_auto_intervals_and_a_given_basis():
    """The issue's call (window=50, ortho_every="auto") once raised a bare TypeError; its windows are
    those of QR every step, and a given basis is the one `spectrum` starts from."""
    rng = np.random.default_rng(4)
    cell = lyapax.testing.random_cell("lstm", 4, 2, rng)
    x = rng.normal(size=(2, 210, 2))
    every = lyapax.finite_time(cell, x, window=50, warmup=10, keep_windows=True)
    auto = lyapax.finite_time(cell, x, window=50, warmup=10, keep_windows=True, ortho_every="auto")
    assert auto.count == every.count == 4 and max(auto.spectrum.intervals) > 1
    np.testing.assert_allclose(auto.windows, every.windows, rtol=0, atol=1e-7)
    basis = rng.normal(size=(8, 3))
    ft = lyapax.finite_time(cell, x, window=200, warmup=10, basis=basis)
    np.testing.assert_allclose(-np.sort(-ft.mean, axis=1), lyapax.spectrum(cell, x, warmup=10, basis=basis).per_sequence,
                               rtol=0, atol=1e-12)
