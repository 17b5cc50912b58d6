"""Synthetic sweeps whose answer is known, in the documented record format."""

import numpy as np
import pytest


def synthetic_sweep(n: int, depends_on: str, *, noise: float = 0.05, seed: int = 0) -> list[dict]:
    """``n`` records whose final loss depends on ``depends_on``: "spectrum", "early" or "init_scale".

    The spectrum's shape (its fall-off, a) and the early loss's offset (b) are independent
    of each other and of the init scale, so only the named source carries the signal.
    Sizes 16 and 32 are pooled (LSTM-like: 2H exponents), given in random order.
    """
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        p = [0.04, 0.08, 0.16, 0.24][i % 4]
        hidden = [16, 32][(i // 4) % 2]
        a, b = rng.normal(), rng.normal()
        lam = np.linspace(0.0, -1.0, 2 * hidden) * (1.0 + 0.3 * a) - 0.1 + 0.02 * rng.normal(size=2 * hidden)
        early = 3.5 + 0.3 * b  # above every final loss: no network ends above its own best (none unstable)
        signal = {"spectrum": 0.3 * a, "early": 0.3 * b, "init_scale": 0.5 * np.log10(p) ** 2}[depends_on]
        records.append({
            "id": f"net{i}",
            "network": {"arch": "lstm", "init_scale": p, "hidden": hidden, "seed": i},
            "val_loss": [3.6, float(early)],
            "spectra": [{"epoch": 1, "exponents": rng.permutation(lam).tolist()}],
            "final_val_loss": float(1.5 + signal + noise * rng.normal()),
        })
    return records


@pytest.fixture
def sweep():
    return synthetic_sweep
