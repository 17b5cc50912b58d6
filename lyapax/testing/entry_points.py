"""Conformance of the entry points with each other, on one backend: the same computation through
`lyapax.spectrum`, `lyapax.finite_time` and `lyapax.covariant_vectors`, with every option they
share, and the NaN/Inf-state cases.

`EntryPointConformance` is mixed into `lyapax.testing.conformance.BackendConformance`, so every
backend's suite runs it; it needs of the backend's ``testing`` module only ``KINDS``,
``native_model`` and ``native_array`` (see that module).

The three entry points run one driver loop: a window spanning the whole counted run is the
spectrum (the same sums), and the time averages of the covariant growth rates are the Lyapunov
exponents up to a boundary term of O(1) nats over the window (see
``test_covariant_growth_rates_average_to_the_exponents`` for the exact identity).
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import ClassVar

import numpy as np

from . import _missing_test_tool

try:
    import pytest
except ModuleNotFoundError as exc:
    raise _missing_test_tool(__name__, ("pytest",), exc) from exc

from .. import cells, registry
from ..api import spectrum
from ..covariant import covariant_vectors
from ..errors import NumericalError, NumericalWarning
from ..finite_time import finite_time
from .networks import random_cell

__all__ = ["EntryPointConformance", "VARIANTS", "backend_builders"]

#: Options that must not change the answer beyond the ``ortho_every="auto"`` tolerance (1e-8 nats/step
#: in float64, the condition number its interval is chosen for), with the engine they must record.
VARIANTS = {"auto": ({"ortho_every": "auto"}, "householder"), "cholesky": ({"qr": "cholesky"}, "cholesky")}
#: The agreement between variants: that of ``ortho_every="auto"`` with QR every step (float64).
VARIANT_TOL = 1e-8


def backend_builders(backend: str) -> ModuleType:
    """The ``testing`` module of the package that defines backend ``backend``."""
    package = type(registry.get_backend(backend)).__module__.split(".")[0]
    return importlib.import_module(f"{package}.testing")


class EntryPointConformance:
    """The entry points agree with each other, and report NaN/Inf states, on the backend ``backend``."""

    backend: ClassVar[str] = ""

    @property
    def t(self) -> ModuleType:
        """The backend's ``testing`` module (its builders)."""
        return backend_builders(self.backend)

    @pytest.mark.parametrize("variant", sorted(VARIANTS))
    def test_spectrum_finite_time_and_covariant_agree(self, variant):
        options, engine = VARIANTS[variant]
        rng = np.random.default_rng(11)
        cell = random_cell("gru", 4, 2, rng, gain=1.5)
        inputs = rng.normal(size=(2, 300, 2))
        model, x, T = self.t.native_model(cell, "float64"), self.t.native_array(inputs, "float64"), inputs.shape[1]
        warmup, transient = 40, 100  # nearly equal exponents (0.1 apart): the backward pass converges slowly
        common = {"backend": self.backend, "dtype": "float64", "warmup": warmup}
        reference = spectrum(model, x, **common)
        got = spectrum(model, x, **common, **options)
        ft = finite_time(model, x, window=T - warmup, **common, **options)
        np.testing.assert_allclose(got.per_sequence, reference.per_sequence, rtol=0, atol=VARIANT_TOL)
        assert ft.count == 1 and ft.spectrum.steps == T - warmup
        np.testing.assert_allclose(-np.sort(-ft.mean, axis=1), reference.per_sequence, rtol=0, atol=VARIANT_TOL)
        assert engine in got.qr and engine in ft.spectrum.qr, (got.qr, ft.spectrum.qr)

        cv_common = {**common, "transient": transient, "at": [0], "tolerance": 1e-4}
        cv_reference = covariant_vectors(model, x, **cv_common, ortho_every=1, qr="householder")
        cv = covariant_vectors(model, x, **cv_common, **options)
        assert engine in cv.qr, cv.qr
        np.testing.assert_allclose(cv.per_sequence, cv_reference.per_sequence, rtol=0, atol=1e-7)
        # over the window the growth-rate averages are the spectrum up to O(1) nats / window
        window_only = spectrum(model, self.t.native_array(inputs[:, : T - transient], "float64"), **common)
        np.testing.assert_allclose(np.sort(cv.exponents)[::-1], window_only.exponents, rtol=0, atol=3.0 / cv.window)
        if variant == "auto":
            assert max(got.intervals) > 1 and max(cv.intervals) > 1 and max(ft.spectrum.intervals) > 1

    def _overflowing_relu(self):
        if "relu" not in self.t.KINDS:
            pytest.skip(f"{self.backend} has no standard relu layer")
        d, rng = 3, np.random.default_rng(5)
        # positive input weights, biases and inputs keep every unit active: the state grows by 1e20 a step
        # and overflows within 16 steps; relu's slope at the NaN state that follows reads 0
        cell = cells.Elman(np.abs(rng.normal(size=(d, 2))), 1e20 * np.eye(d), np.ones(d), np.ones(d),
                           nonlinearity="relu")
        x = rng.uniform(0.1, 1.0, size=(2, 40, 2))
        return self.t.native_model(cell, "float64"), self.t.native_array(x, "float64")

    @pytest.mark.parametrize("entry", ["spectrum", "finite_time", "covariant_vectors"])
    def test_an_overflowing_nonlinear_state_is_an_error(self, entry):
        model, x = self._overflowing_relu()
        run = {
            "spectrum": lambda: spectrum(model, x, backend=self.backend, dtype="float64"),
            "finite_time": lambda: finite_time(model, x, window=10, backend=self.backend, dtype="float64"),
            "covariant_vectors": lambda: covariant_vectors(model, x, backend=self.backend, dtype="float64"),
        }[entry]
        with warnings.catch_warnings():
            warnings.simplefilter("error", NumericalWarning)  # no warning may pass for an answer
            with pytest.raises(NumericalError, match=r"state overflowed .* sequence\(s\) \[0, 1\]") as info:
                run()
        assert info.value.kind == "state" and info.value.sequences == [0, 1]
        assert all(10 <= s <= 20 for s in info.value.steps), info.value.steps

    def test_an_overflowing_linear_map_keeps_its_exponents(self):
        """The tangent map of a linear cell does not depend on the state: the exponents stay defined
        (log c for c times an orthogonal matrix) after the state overflowed, with a warning. (A step
        function's autodiff tangent at an Inf state is NaN in the frameworks: that case is an error.)"""
        rng = np.random.default_rng(0)
        orth, _ = np.linalg.qr(rng.normal(size=(4, 4)))
        c = 1e10
        cell = cells.Elman(rng.normal(size=(4, 2)), c * orth, nonlinearity="linear")
        cell = cell.map_arrays(lambda a: self.t.native_array(a, "float64"))
        x = self.t.native_array(rng.normal(size=(2, 60, 2)), "float64")
        h0 = self.t.native_array(np.ones((2, 4)), "float64")
        with pytest.warns(NumericalWarning, match="does not depend on the state") as info:
            s = spectrum(cell, x, h0=h0, backend=self.backend, dtype="float64")
        assert [w.message.kind for w in info if isinstance(w.message, NumericalWarning)] == ["state"]
        assert all(25 <= step <= 35 for step in info[0].message.steps)  # 1e10 a step overflows float64 at ~31
        np.testing.assert_allclose(s.per_sequence, np.log(c), rtol=0, atol=1e-10)
