"""TensorBoardLogger round trip: a torch and a JAX loop log through Monitor, TensorBoard's own
reader (EventAccumulator) reads the event files back, and every value is the monitor's."""

from __future__ import annotations

import numpy as np
import pytest
from loops import LOOPS, STEPS
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lyapax.errors import InputError
from lyapax.integrations.tensorboard import TensorBoardLogger


def _read(log_dir) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_round_trip_from_a_training_loop(loop, tmp_path):
    logger = TensorBoardLogger(tmp_path, leading=2, figure=True)
    monitor = LOOPS[loop](logger)
    logger.close()
    acc = _read(tmp_path)
    tags = acc.Tags()
    assert set(tags["scalars"]) == {"lyapax/lambda_1", "lyapax/lambda_2", "lyapax/kaplan_yorke_dimension",
                                    "lyapax/entropy"}
    assert tags["histograms"] == ["lyapax/spectrum"] and tags["images"] == ["lyapax/spectrum_plot"]
    records = monitor.records
    assert len(records) == STEPS
    for i in (1, 2):
        events = acc.Scalars(f"lyapax/lambda_{i}")
        assert [e.step for e in events] == [r.step for r in records]
        np.testing.assert_allclose([e.value for e in events], [r.exponents[i - 1] for r in records], rtol=1e-6)
    np.testing.assert_allclose([e.value for e in acc.Scalars("lyapax/kaplan_yorke_dimension")],
                               [r.kaplan_yorke_dimension for r in records], rtol=1e-6)
    np.testing.assert_allclose([e.value for e in acc.Scalars("lyapax/entropy")], [r.entropy for r in records],
                               rtol=1e-6, atol=1e-9)
    for event, record in zip(acc.Histograms("lyapax/spectrum"), records):
        h = event.histogram_value
        assert event.step == record.step and h.num == record.exponents.size == 4 and sum(h.bucket) == 4
        np.testing.assert_allclose([h.min, h.max, h.sum, h.sum_squares],
                                   [record.exponents.min(), record.exponents.max(), record.exponents.sum(),
                                    np.square(record.exponents).sum()], rtol=1e-12)
        assert h.bucket_limit[-1] == pytest.approx(record.exponents.max())
    images = acc.Images("lyapax/spectrum_plot")
    assert [e.step for e in images] == [r.step for r in records]
    assert all(e.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n" and e.width > 100 and e.height > 100 for e in images)


def test_without_figure_no_image_is_written(tmp_path):
    with TensorBoardLogger(tmp_path) as logger:
        monitor = LOOPS["torch"](logger)
    acc = _read(tmp_path)
    assert acc.Tags()["images"] == []
    assert [e.step for e in acc.Scalars("lyapax/lambda_3")] == [r.step for r in monitor.records]


def test_leading_must_be_positive(tmp_path):
    with pytest.raises(InputError, match="leading"):
        TensorBoardLogger(tmp_path, leading=0)
