"""Splitting the batch over threads changes nothing but the wall time (numpy backend, float64).

The sequences of a batch are independent, so a spectrum computed by n threads, each on
its own rows, must equal the one-thread spectrum row for row; history, flags and
warnings are merged over the parts.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lyapax
from lyapax.errors import InputError, NumericalWarning
from lyapax.testing import random_cell as make_cell


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("threads", [2, 3])
def test_threads_equal_one_thread_row_for_row(kind, threads, rng):
    cell = make_cell(kind, 6, 3, rng)
    x = rng.normal(size=(5, 60, 3))
    kw = dict(warmup=10, k=4, history=7, seed=3)
    one = lyapax.spectrum(cell, x, threads=1, **kw)
    many = lyapax.spectrum(cell, x, threads=threads, **kw)
    assert (one.threads, many.threads) == (1, threads)
    np.testing.assert_allclose(many.per_sequence, one.per_sequence, rtol=0, atol=1e-12)
    np.testing.assert_allclose(many.exponents, one.exponents, rtol=0, atol=1e-12)
    np.testing.assert_allclose(many.stderr, one.stderr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(many.history, one.history, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(many.history_steps, one.history_steps)


def test_more_threads_than_sequences_uses_one_per_sequence(rng):
    cell = make_cell("gru", 4, 2, rng)
    x = rng.normal(size=(2, 30, 2))
    s = lyapax.spectrum(cell, x, threads=8, warmup=5)
    assert s.threads == 2
    np.testing.assert_allclose(s.per_sequence, lyapax.spectrum(cell, x, threads=1, warmup=5).per_sequence, atol=1e-12)


def test_a_problem_in_one_part_is_reported(rng):
    # sequence 3 (in the second thread's rows) has an input that zeroes the tangent map: -inf + a warning
    cell = make_cell("tanh", 4, 2, rng)
    x = rng.normal(size=(4, 30, 2))
    x[3, 12] = 1e6  # saturates tanh: diag(R) underflows to exact zeros
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = lyapax.spectrum(cell, x, threads=2, warmup=5)
    assert any(issubclass(w.category, NumericalWarning) for w in caught)
    assert np.isneginf(s.per_sequence[3]).any() and np.isfinite(s.per_sequence[:3]).all()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "two"])
def test_bad_threads(bad, rng):
    cell = make_cell("gru", 4, 2, rng)
    with pytest.raises(InputError, match="threads"):
        lyapax.spectrum(cell, rng.normal(size=(2, 10, 2)), threads=bad)


def test_a_backend_limit_on_threads_lowers_an_explicit_request_with_a_warning(rng, monkeypatch):
    from lyapax.numpy_backend import NumpyBackend

    monkeypatch.setattr(NumpyBackend, "max_threads", 1)
    monkeypatch.setattr(NumpyBackend, "thread_limit_reason", "a test says so")
    cell = make_cell("gru", 4, 2, rng)
    x = rng.normal(size=(4, 20, 2))
    with pytest.warns(RuntimeWarning, match=r"threads=2: the numpy backend runs at most 1 thread.*a test says so"):
        s = lyapax.spectrum(cell, x, threads=2, warmup=5)
    assert s.threads == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lyapax.spectrum(cell, x, warmup=5).threads == 1  # the default asks for no more: no warning
