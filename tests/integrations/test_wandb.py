"""WandbLogger round trip: a torch and a JAX loop log through Monitor to an offline W&B run,
whose transaction log (run-<id>.wandb) is read back; every value is the monitor's."""

from __future__ import annotations

import numpy as np
import pytest
import wandb
from loops import LOOPS, STEPS
from wandb_records import history

from lyapax.integrations.wandb import WandbLogger


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    return tmp_path


def _run_file(folder):
    wandb.teardown()  # the W&B service writes the log asynchronously: stopping it writes all
    (path,) = folder.glob("wandb/offline-run-*/run-*.wandb")
    return path


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_round_trip_from_a_training_loop(loop, offline):
    logger = WandbLogger(project="lyapax-test", dir=str(offline), leading=2, figure=True)
    assert wandb.run is logger.run
    monitor = LOOPS[loop](logger)
    logger.close()  # the logger started the run: it finishes it
    assert wandb.run is None
    rows = [r for r in history(_run_file(offline)) if "lyapax/step" in r]
    records = monitor.records
    assert len(rows) == len(records) == STEPS
    for row, record in zip(rows, records):
        assert row["lyapax/step"] == record.step
        np.testing.assert_allclose([row["lyapax/lambda_1"], row["lyapax/lambda_2"]], record.exponents[:2], rtol=1e-12)
        assert "lyapax/lambda_3" not in row
        np.testing.assert_allclose([row["lyapax/kaplan_yorke_dimension"], row["lyapax/entropy"]],
                                   [record.kaplan_yorke_dimension, record.entropy], rtol=1e-12, atol=1e-15)
        assert row["lyapax/spectrum/_type"] == "histogram" and sum(row["lyapax/spectrum/values"]) == 4
        bins = row["lyapax/spectrum/bins"]
        assert bins[0] == pytest.approx(record.exponents.min()) and bins[-1] == pytest.approx(record.exponents.max())
        assert row["lyapax/spectrum_plot/_type"] == "image-file" and row["lyapax/spectrum_plot/format"] == "png"


def test_a_run_passed_in_stays_the_users(offline):
    run = wandb.init(project="lyapax-test", dir=str(offline))
    try:
        logger = WandbLogger()  # run=None: the active run
        assert logger.run is run
        run.log({"loss": 1.0})  # the user's own step counter is not disturbed
        monitor = LOOPS["torch"](logger)
        logger.close()
        assert wandb.run is run  # not finished by the logger
        run.log({"loss": 0.5})
    finally:
        run.finish()
    rows = history(_run_file(offline))
    ours = [r for r in rows if "lyapax/step" in r]
    assert [r["lyapax/step"] for r in ours] == [r.step for r in monitor.records]
    assert [r["loss"] for r in rows if "loss" in r] == [1.0, 0.5]
    assert "lyapax/spectrum_plot/_type" not in ours[0]
