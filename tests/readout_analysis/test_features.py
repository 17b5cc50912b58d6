"""The spectrum features on spectra whose features are known by hand."""

import numpy as np
import pytest

from lyapax.readout.features import FEATURES, interpolate_spectrum, spectrum_features


def test_counts_dimension_and_entropy_by_hand():
    lam = [0.2, -0.3, 0.1, -1.0, -0.05, -0.6]
    f = spectrum_features(lam, threshold=-0.1)
    assert (f["n_above_0"], f["n_above"], f["n_above_-0.5"]) == (2, 3, 4)
    assert f["fraction_above"] == pytest.approx(3 / 6)
    assert f["entropy"] == pytest.approx(0.3)
    assert f["mean_exponent"] == pytest.approx(np.mean(lam))
    # sorted: 0.2, 0.1, -0.05, -0.3, ...: partial sums 0.2, 0.3, 0.25, -0.05 -> j = 3, D = 3 + 0.25 / 0.3
    assert f["kaplan_yorke_dimension"] == pytest.approx(3 + 0.25 / 0.3)
    assert set(f) == set(FEATURES)


def test_slopes_over_index_ranges_of_a_piecewise_linear_spectrum():
    # 101 exponents on u = 0, 0.01, ..., 1: slope -4 on the top quarter, -1 in the middle, -8 at the bottom
    u = np.linspace(0, 1, 101)
    lam = np.where(u <= 0.25, -4 * u, np.where(u <= 0.75, -1 - (u - 0.25), -1.5 - 8 * (u - 0.75)))
    f = spectrum_features(lam[::-1].copy())  # given in ascending order: sorted here
    assert f["slope_head"] == pytest.approx(-4.0)
    assert f["slope_mid"] == pytest.approx(-1.0)
    assert f["slope_tail"] == pytest.approx(-8.0)
    # the same shape at another size gives the same range slopes (the normalised index)
    g = spectrum_features(interpolate_spectrum(lam, 41))
    assert g["slope_mid"] == pytest.approx(-1.0)


def test_interpolation_keeps_a_linear_spectrum_and_sorts():
    lam = np.linspace(0.5, -2.0, 64)
    np.testing.assert_allclose(interpolate_spectrum(np.random.default_rng(0).permutation(lam), 16),
                               np.linspace(0.5, -2.0, 16), atol=1e-12)
    np.testing.assert_allclose(interpolate_spectrum(lam, 64), lam)
