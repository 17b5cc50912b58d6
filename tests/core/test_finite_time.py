"""Finite-time exponents: exact on linear maps, consistent with the spectrum, statistics right."""

from __future__ import annotations

import numpy as np
import pytest

import lyapax
from lyapax.finite_time import finite_time
from lyapax.testing import random_cell


def test_diagonal_linear_map_gives_the_log_of_its_diagonal_in_every_window():
    d = np.array([1.3, 0.8, 0.5])
    cell = lyapax.cells.Elman(np.ones((3, 1)), np.diag(d), nonlinearity="linear")
    x = np.random.default_rng(0).normal(size=(2, 120, 1))
    ft = finite_time(cell, x, window=20, keep_windows=True)
    # a random basis needs a few steps to align with the axes; from then on every window is exact
    np.testing.assert_allclose(ft.windows[-1], np.log(d)[None].repeat(2, 0), atol=1e-9)
    assert ft.count == 6 and ft.windows.shape == (6, 2, 3)


def test_window_means_are_the_spectrum_and_the_statistics_are_those_of_the_windows():
    rng = np.random.default_rng(1)
    cell = random_cell("gru", 4, 2, rng, gain=2.5)
    x = rng.normal(size=(3, 510, 2))
    ft = finite_time(cell, x, window=50, warmup=10, keep_windows=True)
    assert ft.count == 10
    # 500 counted steps = 10 whole windows: the windows' mean is the spectrum (sorted per sequence)
    np.testing.assert_allclose(-np.sort(-ft.mean, axis=1), ft.spectrum.per_sequence, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ft.mean, ft.windows.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ft.variance, ft.windows.var(axis=0, ddof=1), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ft.minimum, ft.windows.min(axis=0))
    np.testing.assert_array_equal(ft.maximum, ft.windows.max(axis=0))
    pooled = ft.windows.reshape(-1, ft.windows.shape[-1])
    np.testing.assert_allclose(ft.pooled_variance, pooled.var(axis=0, ddof=1), rtol=1e-10)
    assert np.all(ft.variance > 0)  # a nonlinear network: the rates do fluctuate
    without = finite_time(cell, x, window=50, warmup=10)
    assert without.windows is None
    np.testing.assert_array_equal(without.variance, ft.variance)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"window": 0}, "window: expected an integer >= 1"),
     ({"window": 5, "ortho_every": 2}, "window: 5 steps is not a multiple of ortho_every=2"),
     ({"window": 100}, "window: 100 steps is longer than the 40 counted steps"),
     ({"window": 10, "keep_windows": "yes"}, "keep_windows: expected True or False"),
     ({"window": 10, "k": 0}, "k: expected an integer >= 1")],
)
def test_bad_inputs(kwargs, match):
    rng = np.random.default_rng(2)
    with pytest.raises(lyapax.InputError, match=match):
        finite_time(random_cell("tanh", 3, 2, rng), rng.normal(size=(1, 40, 2)), **kwargs)


def test_threads_sharing_the_batch_each_see_every_window(monkeypatch):
    """With the batch split over threads, each thread observes its rows' windows as they come, the
    first ones at the same time: every row must get every window. (The statistics were once created
    by whichever thread came first, and the other could replace them, losing a window: about one
    call in ten with PyTorch on 2 cores.) Here both threads enter ``observe`` together and creating
    arrays is slow, as for a large batch, which widens any such window to a certainty."""
    import sys
    import threading
    import time

    from lyapax.numpy_backend import NumpyBackend

    module = sys.modules["lyapax.finite_time"]  # the name lyapax.finite_time is the function
    pipeline = sys.modules["lyapax.pipeline"]
    rng = np.random.default_rng(3)
    cell = random_cell("gru", 8, 2, rng)
    x = rng.normal(size=(4, 40, 2))
    alone = finite_time(cell, x, window=4, keep_windows=True)
    barrier = threading.Barrier(2)
    iterate = pipeline.iterate

    def together(problem, opts, observers):
        for observer in observers:

            def chunk_together(chunk, seen=observer.chunk):
                barrier.wait(timeout=10)
                seen(chunk)

            observer.chunk = chunk_together
        return iterate(problem, opts, observers)

    class SlowCreation:
        def __getattr__(self, name):
            attr = getattr(np, name)
            if name not in ("zeros", "full"):
                return attr

            def slow(*args, **kwargs):
                time.sleep(0.002)
                return attr(*args, **kwargs)

            return slow

    monkeypatch.setattr(NumpyBackend, "threads", lambda self, problem, k: 2)
    monkeypatch.setattr(pipeline, "iterate", together)
    monkeypatch.setattr(module, "np", SlowCreation())
    for _ in range(5):
        shared = finite_time(cell, x, window=4, keep_windows=True)
        assert shared.spectrum.threads == 2 and shared.count == alone.count
        np.testing.assert_array_equal(shared.windows, alone.windows)
        np.testing.assert_array_equal(shared.variance, alone.variance)
