"""Spectrum: derived quantities, units, repr, plots; the demo and the console script."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lyapax import Spectrum
from lyapax.cli import main
from lyapax.results import kaplan_yorke_dimension


def make(exponents, per_sequence=None):
    e = np.asarray(exponents, dtype=float)
    ps = np.stack([e, e]) if per_sequence is None else per_sequence
    return Spectrum(exponents=e, per_sequence=ps, stderr=np.zeros_like(e), backend="numpy", steps=10,
                    warmup=0, ortho_every=1, state_dim=e.size)


@pytest.mark.parametrize(
    ("lam", "expected"),
    [([0.41922, -1.62319], 1 + 0.41922 / 1.62319),  # Hénon
     ([-0.1, -0.5], 0.0),
     ([0.5, 0.2], 2.0),
     ([1.0, -0.5, -1.0], 2 + 0.5 / 1.0),
     ([0.3, 0.0, -0.6], 2 + 0.3 / 0.6)],
)
def test_kaplan_yorke_dimension(lam, expected):
    assert kaplan_yorke_dimension(lam) == pytest.approx(expected)
    assert make(lam).kaplan_yorke_dimension == pytest.approx(expected)


def test_entropy_units_and_dict():
    s = make([0.7, 0.2, -1.0])
    assert s.entropy == pytest.approx(0.9)
    assert s.max_exponent == 0.7 and s.k == 3 and s.batch == 2
    np.testing.assert_allclose(s.exponents_in("bits"), np.array([0.7, 0.2, -1.0]) / np.log(2))
    np.testing.assert_allclose(s.exponents_in("nats", dt=0.1), [7.0, 2.0, -10.0])
    with pytest.raises(ValueError, match="unit: expected 'nats' or 'bits'"):
        s.exponents_in("hz")
    d = json.loads(json.dumps(s.to_dict()))
    assert d["units"] == "nats/step" and d["exponents"] == [0.7, 0.2, -1.0]


def test_repr_is_readable():
    text = repr(make(np.linspace(1, -1, 10)))
    assert "nats/step" in text and "(10 in all)" in text and "Kaplan-Yorke" in text


def test_plots(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    s = make([0.5, -0.5])
    ax = s.plot()
    assert ax.get_ylabel().endswith("(nats/step)")
    with pytest.raises(ValueError, match="history: this Spectrum has no history"):
        s.plot_history()


def test_demo_console_script(tmp_path, capsys):
    assert main(["demo", "--hidden", "32", "--steps", "300", "--warmup", "50", "--gains", "0.5", "3",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("0.50", "3.00"))]
    assert len(rows) == 2
    assert float(rows[0][1]) < 0 < float(rows[1][1])  # ordered at gain 0.5, chaotic at gain 3
    assert (tmp_path / "spectra.png").stat().st_size > 1000


def test_backends_command(capsys):
    assert main(["backends"]) == 0
    assert "numpy" in capsys.readouterr().out
