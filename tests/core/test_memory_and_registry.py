"""Memory independent of T; backend discovery without importing frameworks."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import lyapax
from lyapax import cells
from lyapax.errors import BackendNotFoundError


def peak_bytes(cell, x):
    tracemalloc.start()
    lyapax.spectrum(cell, x, warmup=10)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_steps():
    rng = np.random.default_rng(0)
    cell = cells.GRU(rng.normal(size=(24, 2)), rng.normal(size=(24, 8)) / 3)
    short = rng.normal(size=(2, 1_000, 2))
    long = rng.normal(size=(2, 10_000, 2))  # allocated before tracing: the inputs are the user's
    a, b = peak_bytes(cell, short), peak_bytes(cell, long)
    assert b < 1.2 * a + 20_000, (a, b)


def test_history_memory_is_what_was_asked():
    rng = np.random.default_rng(0)
    cell = cells.Elman(rng.normal(size=(4, 1)), rng.normal(size=(4, 4)))
    s = lyapax.spectrum(cell, rng.normal(size=(1, 1000, 1)), history=100)
    assert s.history.shape == (10, 4)


def test_numpy_backend_is_listed_and_selected():
    assert "numpy" in lyapax.backends()
    rng = np.random.default_rng(0)
    s = lyapax.spectrum(cells.Elman(rng.normal(size=(3, 1)), rng.normal(size=(3, 3))), rng.normal(size=(1, 5, 1)))
    assert s.backend == "numpy"


def test_registered_but_uninstalled_backend_names_the_extra(monkeypatch):
    from lyapax import registry

    registry.refresh()
    name = "torch"
    monkeypatch.setattr(registry._load(name).__class__, "is_installed", lambda self: False)
    with pytest.raises(BackendNotFoundError, match=rf'{name}.*not installed: pip install "lyapax-rnn\[.*\]"'):
        registry.get_backend(name)
    registry.refresh()


def test_import_and_numpy_spectrum_import_no_framework():
    """`import lyapax`, the readout's analysis (pure numpy), every core module and a numpy spectrum."""
    code = (
        "import sys, numpy as np, lyapax, lyapax.readout.analysis\n"
        "from lyapax import pipeline, session, prepare, driver, observers, trouble, covariant, finite_time\n"
        "from lyapax import cells\n"
        "lyapax.backends()\n"
        "c = cells.LSTM(np.ones((8, 1)), np.ones((8, 2)) * 0.1)\n"
        "lyapax.spectrum(c, np.ones((1, 5, 1)))\n"
        "try:\n    lyapax.spectrum('x', np.ones((1, 5, 1)))\nexcept TypeError:\n    pass\n"
        "bad = [m for m in ('torch', 'jax', 'tensorflow', 'keras', 'flax', 'equinox') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"frameworks imported by lyapax: {out.stdout}"
