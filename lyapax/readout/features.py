"""Scalar features of a Lyapunov spectrum (exponents in nats/step), used as readouts of training."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FEATURES", "FEATURE_LABELS", "spectrum_features"]

#: Feature names, in the order used by tables and regressions.
FEATURES = ("max_exponent", "mean_top", "n_above", "slope")

#: Human-readable labels (with units) for plots and reports.
FEATURE_LABELS = {
    "max_exponent": "max exponent λ₁ (nats/step)",
    "mean_top": "mean of the top exponents (nats/step)",
    "n_above": "number of exponents above the threshold",
    "slope": "spectrum slope dλ_i/di (nats/step per index)",
}


def spectrum_features(exponents: Any, *, top: int = 4, threshold: float = -0.1) -> dict[str, float]:
    """Features of a spectrum (any order; sorted descending here).

    - ``max_exponent``: the largest exponent λ₁.
    - ``mean_top``: the mean of the ``top`` largest exponents.
    - ``n_above``: how many exponents exceed ``threshold`` (nats/step).
    - ``slope``: least-squares slope of λ_i against the index i = 1..k
      (how fast the spectrum falls off; negative for a decreasing spectrum).

    NaN entries (a missing spectrum) give NaN features.
    """
    lam = np.sort(np.asarray(exponents, dtype=np.float64).ravel())[::-1]
    if lam.size == 0 or not np.all(np.isfinite(lam)):
        return {name: float("nan") for name in FEATURES}
    if top < 1:
        raise ValueError(f"top: expected >= 1 exponents to average, got {top}.")
    idx = np.arange(1, lam.size + 1, dtype=np.float64)
    slope = float(np.polyfit(idx, lam, 1)[0]) if lam.size > 1 else 0.0
    return {
        "max_exponent": float(lam[0]),
        "mean_top": float(lam[: min(top, lam.size)].mean()),
        "n_above": float(np.count_nonzero(lam > threshold)),
        "slope": slope,
    }
