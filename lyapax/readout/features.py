"""Scalar features of a Lyapunov spectrum (exponents in nats/step), used as readouts of training.

Spectra of different sizes (a sweep that pools hidden sizes, an LSTM's 2H exponents beside a
GRU's H) are compared on the normalised index u = (i - 1) / (k - 1) in [0, 1], so the slopes
over index ranges and `interpolate_spectrum` mean the same part of the spectrum at every size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..results import kaplan_yorke_dimension

__all__ = ["FEATURES", "FEATURE_LABELS", "SLOPE_RANGES", "spectrum_features", "interpolate_spectrum"]

#: Ranges of the normalised index u over which ``slope_head``/``slope_mid``/``slope_tail`` are fitted.
SLOPE_RANGES = {"slope_head": (0.0, 0.25), "slope_mid": (0.25, 0.75), "slope_tail": (0.75, 1.0)}

#: Feature names, in the order used by tables and regressions.
FEATURES = (
    "max_exponent", "mean_top", "mean_exponent", "n_above", "n_above_0", "n_above_-0.5", "fraction_above",
    "slope", "slope_head", "slope_mid", "slope_tail", "kaplan_yorke_dimension", "entropy",
)

#: Human-readable labels (with units) for plots and reports.
FEATURE_LABELS = {
    "max_exponent": "max exponent λ₁ (nats/step)",
    "mean_top": "mean of the top exponents (nats/step)",
    "mean_exponent": "mean of all exponents (nats/step)",
    "n_above": "number of exponents above the threshold",
    "n_above_0": "number of positive exponents",
    "n_above_-0.5": "number of exponents above -0.5 nats/step",
    "fraction_above": "fraction of exponents above the threshold",
    "slope": "spectrum slope dλ_i/di (nats/step per index)",
    "slope_head": "slope over the top quarter (nats/step per unit u)",
    "slope_mid": "slope over the middle half (nats/step per unit u)",
    "slope_tail": "slope over the bottom quarter (nats/step per unit u)",
    "kaplan_yorke_dimension": "Kaplan-Yorke dimension",
    "entropy": "sum of positive exponents (nats/step)",
}


def _slope(u: np.ndarray, lam: np.ndarray, lo: float, hi: float) -> float:
    sel = (u >= lo - 1e-12) & (u <= hi + 1e-12)
    return float(np.polyfit(u[sel], lam[sel], 1)[0]) if np.count_nonzero(sel) > 1 else 0.0


def spectrum_features(exponents: Any, *, top: int = 4, threshold: float = -0.1) -> dict[str, float]:
    """Features of a spectrum (any order; sorted descending here), exponents in nats/step.

    - ``max_exponent``: λ₁; ``mean_top``: the mean of the ``top`` largest;
      ``mean_exponent``: the mean of all (for a full spectrum: the mean log volume
      contraction per step and dimension).
    - ``n_above``: how many exponents exceed ``threshold``; ``n_above_0``, ``n_above_-0.5``:
      how many exceed 0 and -0.5 (absolute thresholds, as the paper counts them);
      ``fraction_above``: ``n_above / k`` (comparable across sizes).
    - ``slope``: least-squares slope of λ_i against the index i = 1..k;
      ``slope_head``/``slope_mid``/``slope_tail``: slopes against the normalised index
      u = (i-1)/(k-1) over u in [0, 0.25], [0.25, 0.75], [0.75, 1] (`SLOPE_RANGES`).
    - ``kaplan_yorke_dimension`` (a lower bound when k is less than the state dimension);
      ``entropy``: the sum of the positive exponents (Pesin bound on the KS entropy).

    NaN entries (a missing spectrum) give NaN features.
    """
    lam = np.sort(np.asarray(exponents, dtype=np.float64).ravel())[::-1]
    if lam.size == 0 or not np.all(np.isfinite(lam)):
        return {name: float("nan") for name in FEATURES}
    if top < 1:
        raise ValueError(f"top: expected >= 1 exponents to average, got {top}.")
    idx = np.arange(1, lam.size + 1, dtype=np.float64)
    u = (idx - 1) / max(lam.size - 1, 1)
    out = {
        "max_exponent": float(lam[0]),
        "mean_top": float(lam[: min(top, lam.size)].mean()),
        "mean_exponent": float(lam.mean()),
        "n_above": float(np.count_nonzero(lam > threshold)),
        "n_above_0": float(np.count_nonzero(lam > 0.0)),
        "n_above_-0.5": float(np.count_nonzero(lam > -0.5)),
        "fraction_above": float(np.count_nonzero(lam > threshold) / lam.size),
        "slope": float(np.polyfit(idx, lam, 1)[0]) if lam.size > 1 else 0.0,
    }
    for name, (lo, hi) in SLOPE_RANGES.items():
        out[name] = _slope(u, lam, lo, hi)
    out["kaplan_yorke_dimension"] = float(kaplan_yorke_dimension(lam))
    out["entropy"] = float(lam[lam > 0].sum())
    return out


def interpolate_spectrum(exponents: Any, length: int) -> np.ndarray:
    """The spectrum sorted descending and linearly interpolated onto ``length`` points of u in [0, 1]."""
    lam = np.sort(np.asarray(exponents, dtype=np.float64).ravel())[::-1]
    if lam.size == 1:
        return np.full(length, lam[0])
    return np.interp(np.linspace(0.0, 1.0, length), np.linspace(0.0, 1.0, lam.size), lam)
