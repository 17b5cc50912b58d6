"""Monitor.to_pandas (needs pandas; no framework)."""

import numpy as np
import pandas as pd
import pytest

import lyapax
from lyapax.monitor import Monitor


def test_to_pandas_wide_and_long():
    rng = np.random.default_rng(0)
    cell = lyapax.cells.Elman(rng.normal(size=(6, 3)), 1.5 * rng.normal(size=(6, 6)) / np.sqrt(6))
    mon = Monitor(rng.normal(size=(4, 60, 3)), every=1, k=4)
    for s in range(3):
        mon(cell, step=s * 10)
    arrays = mon.to_numpy()
    wide = mon.to_pandas()
    assert isinstance(wide, pd.DataFrame) and len(wide) == 3
    assert {"step", "max_exponent", "kaplan_yorke_dimension", "entropy", "seconds", "lambda_1", "lambda_4"} <= set(wide)
    long = mon.to_pandas(long=True)
    assert list(long.columns) == ["step", "index", "exponent", "stderr"] and len(long) == 12
    assert long.loc[(long.step == 10) & (long["index"] == 2), "exponent"].item() == pytest.approx(arrays["exponents"][1, 1])

