"""Clark's random map ``x <- J tanh(x)`` (δ = 1, g = 3) at N = 64: a statistical check against the measured N-dependence.

``benchmarks/rate_networks.py --part map`` runs 16 networks at N = 64 (seeds 0-15) up to N = 1024 and
compares the 1/N fit with D. G. Clark's N = 4096 spectra (docs/rate-networks.md has the table). Here four
other networks (seeds 100-103), same protocol, must agree with those 16 within 4 standard errors of
the difference, the standard deviation over networks being the measured one: a wrong tangent map, a
wrong leak or a per-time/per-step mix-up moves these numbers by far more (λ1 at N = 64 is 0.270, at
N = 4096 0.310; the same networks' h0 = 0 fixed point gives no positive exponent at all).
"""

from __future__ import annotations

import array_api_compat.numpy as xp
import numpy as np
import pytest

import lyapax
from lyapax.cells import RateNetwork

N, G, BURN, WARMUP, OBSERVE = 64, 3.0, 300, 200, 2000
SEEDS = (100, 101, 102, 103)
#: Measured at N = 64 over 16 networks (seeds 0-15) by benchmarks/rate_networks.py: (mean, sd over networks).
MEASURED = {"lambda1": (0.27027, 0.00986), "dky": (0.26023, 0.01090), "hks": (0.02053, 0.00153)}


def summaries(seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    J, h = rng.normal(0.0, G / np.sqrt(N), (N, N)), rng.normal(size=(1, N))
    cell = RateNetwork(J, dt=1.0, method="euler")
    for _ in range(BURN):
        h = cell.step(xp, h, None)
    s = lyapax.spectrum(cell, steps=WARMUP + OBSERVE, warmup=WARMUP, h0=h, seed=seed)
    return {"lambda1": s.max_exponent, "dky": s.kaplan_yorke_dimension / N, "hks": s.entropy / N}


@pytest.fixture(scope="module")
def networks() -> list[dict[str, float]]:
    return [summaries(seed) for seed in SEEDS]


@pytest.mark.parametrize("quantity", sorted(MEASURED))
def test_small_networks_follow_the_measured_size_dependence(networks, quantity):
    mean, sd = MEASURED[quantity]
    got = np.mean([n[quantity] for n in networks])
    tolerance = 4 * sd * np.sqrt(1 / len(SEEDS) + 1 / 16)
    assert abs(got - mean) < tolerance, f"{quantity}: {got:.5f} against {mean:.5f} ± {tolerance:.5f}"
