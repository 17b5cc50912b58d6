"""How small an effect a sweep of n networks can detect (numpy only).

The stated argument, used by the report's warning: the spectrum's added value over a
baseline of k predictors is, at its simplest, one more predictor whose partial
correlation r with the target (given the baseline) is tested at two-sided α = 0.05.
With Fisher's z, atanh(r) has standard error 1/sqrt(n - 3 - k), so a test with 80 %
power needs |atanh(r)| >= (z_0.975 + z_0.80) / sqrt(n - 3 - k). A partial correlation r
adds ΔR² = r² (1 - R²_baseline). The out-of-fold ΔR² of the analysis, with several
principal components and nested selection, can only need more networks than this, so
the numbers are a lower bound on what the sweep misses.
"""

from __future__ import annotations

import math

__all__ = ["Z_ALPHA", "Z_POWER", "detectable_partial_r", "detectable_delta_r2"]

#: Two-sided α = 0.05 and 80 % power: standard normal quantiles 0.975 and 0.80.
Z_ALPHA = 1.959963984540054
Z_POWER = 0.8416212335729143


def detectable_partial_r(n: int, covariates: int) -> float | None:
    """The smallest |partial correlation| detected with 80 % power at α = 0.05 by ``n`` networks given ``covariates``.

    ``None`` when ``n - 3 - covariates < 1`` (too few networks for any such test).
    """
    dof = int(n) - 3 - int(covariates)
    if dof < 1:
        return None
    return math.tanh((Z_ALPHA + Z_POWER) / math.sqrt(dof))


def detectable_delta_r2(n: int, covariates: int, baseline_r2: float) -> float | None:
    """The smallest ΔR² over a baseline of R² ``baseline_r2`` that the test above detects (``None``: too few networks).

    A negative out-of-fold baseline R² counts as 0 (the baseline explains nothing).
    """
    r = detectable_partial_r(n, covariates)
    if r is None:
        return None
    base = baseline_r2 if math.isfinite(baseline_r2) else 0.0
    return r * r * (1.0 - min(max(base, 0.0), 1.0))
