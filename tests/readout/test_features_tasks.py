"""Spectrum features on known spectra; the embedded task (numpy only)."""

import subprocess
import sys

import numpy as np
import pytest

from lyapax.readout.features import FEATURES, spectrum_features
from lyapax.readout.tasks import grammar_text, make_corpus


def test_features_on_a_known_spectrum():
    f = spectrum_features([-0.3, 0.1, -0.05, -1.0], top=2, threshold=-0.1)
    assert f["max_exponent"] == pytest.approx(0.1)
    assert f["mean_top"] == pytest.approx((0.1 - 0.05) / 2)
    assert f["n_above"] == 2  # 0.1 and -0.05
    # sorted: [0.1, -0.05, -0.3, -1.0] vs i = 1..4: least-squares slope
    i = np.arange(1, 5)
    lam = np.array([0.1, -0.05, -0.3, -1.0])
    expect = ((i - i.mean()) * (lam - lam.mean())).sum() / ((i - i.mean()) ** 2).sum()
    assert f["slope"] == pytest.approx(expect)


def test_linear_spectrum_slope_and_flat_spectrum():
    assert spectrum_features(-0.2 * np.arange(1, 9))["slope"] == pytest.approx(-0.2)
    flat = spectrum_features(np.zeros(5), threshold=-0.1)
    assert flat["slope"] == pytest.approx(0.0) and flat["n_above"] == 5


def test_missing_spectrum_gives_nan():
    f = spectrum_features([np.nan])
    assert set(f) == set(FEATURES) and all(np.isnan(v) for v in f.values())


def test_grammar_text_deterministic_and_corpus_split():
    a, b = grammar_text(5000, seed=3), grammar_text(5000, seed=3)
    assert a == b and len(a) == 5000 and a != grammar_text(5000, seed=4)
    c = make_corpus(a, "g", val_fraction=0.2)
    assert c.vocab == "".join(sorted(set(a)))
    assert c.train.size == 4000 and c.val.size == 1000
    assert "".join(c.vocab[i] for i in c.val[:50]) == a[4000:4050]
    x, y = c.train_batch(np.random.default_rng(0), 3, 20)
    assert x.shape == y.shape == (3, 20)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # targets are the next characters
    vx, vy = c.val_windows(4, 30)
    np.testing.assert_array_equal(vx, c.val_windows(4, 30)[0])


def test_importing_readout_imports_no_framework_but_training_imports_torch():
    code = (
        "import sys, lyapax, lyapax.monitor, lyapax.readout, lyapax.readout.cli, lyapax.readout.analysis; "
        "print(sorted(m for m in ('torch', 'matplotlib', 'tensorflow', 'jax', 'pandas') if m in sys.modules)); "
        "import lyapax.readout.study; print(sorted(m for m in ('torch', 'tensorflow', 'jax') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "['torch']"]
