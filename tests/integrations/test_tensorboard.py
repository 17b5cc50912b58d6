"""TensorBoardLogger round trip: a torch and a JAX loop log through Monitor, TensorBoard's own
reader (EventAccumulator) reads the event files back, and every value is the monitor's."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

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


def test_log_dir_that_is_a_file_or_not_a_path(tmp_path):
    existing = tmp_path / "a_file"
    existing.write_text("")
    with pytest.raises(InputError, match="^log_dir: .* is not a folder"):
        TensorBoardLogger(existing)
    with pytest.raises(InputError, match="^log_dir: cannot create"):
        TensorBoardLogger(existing / "below")
    with pytest.raises(InputError, match="^log_dir: expected a folder path"):
        TensorBoardLogger(3)
    with pytest.raises(InputError, match="^flush_secs"):
        TensorBoardLogger(tmp_path, flush_secs=-1)
    assert existing.read_text() == ""


def test_each_logger_writes_its_own_file_and_a_closed_one_refuses(tmp_path):
    first, second = TensorBoardLogger(tmp_path), TensorBoardLogger(tmp_path)
    assert first.path != second.path and first.log_dir == second.log_dir == str(tmp_path)
    monitor = LOOPS["torch"](first)
    first.close()
    first.close()
    with pytest.raises(InputError, match="closed"):
        first(monitor.records[0])
    second.close()
    assert [e.step for e in _read(tmp_path).Scalars("lyapax/lambda_1")] == [r.step for r in monitor.records]


WITHOUT_TENSORFLOW = r"""
import sys, numpy as np
from lyapax.monitor import MonitorRecord
from lyapax.integrations.tensorboard import TensorBoardLogger
records = [MonitorRecord(step=s, exponents=np.array([0.1 * s, -0.2, -0.5]), stderr=np.array([0.01, 0.02, 0.03]),
                         max_exponent=0.1 * s, kaplan_yorke_dimension=1.5, entropy=0.1 * s, seconds=0.1, backend="numpy")
           for s in range(3)]
with TensorBoardLogger(sys.argv[1]) as logger:
    for record in records:
        logger(record)
print(sorted(m for m in ("tensorflow", "torch", "jax", "keras") if m in sys.modules))
"""


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs TensorFlow installed (it must not load)")
def test_logging_does_not_import_tensorflow_where_it_is_installed(tmp_path):
    done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, str(tmp_path)], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split("\n")[-2] == "[]", done.stdout  # nor any other framework
    acc = _read(tmp_path)
    assert [(e.step, round(e.value, 6)) for e in acc.Scalars("lyapax/lambda_1")] == [(0, 0.0), (1, 0.1), (2, 0.2)]
    assert [e.histogram_value.num for e in acc.Histograms("lyapax/spectrum")] == [3, 3, 3]


@pytest.mark.parametrize("module, extra", [("tensorboard", "tensorboard"), ("wandb", "wandb")])
def test_a_missing_logger_library_gives_the_install_line(module, extra):
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            f"import lyapax.integrations.{module}")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    assert f'ModuleNotFoundError: lyapax.integrations.{module} needs' in done.stderr
    assert f'pip install "lyapax-rnn[{extra}]"' in done.stderr
