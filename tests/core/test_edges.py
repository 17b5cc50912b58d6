"""Edges found by an adversarial pass (issue 23) in the core's own entry points: each raised a raw error, named the
wrong argument or wrote non-standard output before."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lyapax
from lyapax.errors import InputError
from lyapax.testing.networks import random_cell


@pytest.fixture
def cell_and_inputs():
    rng = np.random.default_rng(0)
    return random_cell("tanh", 3, 2, rng), rng.normal(size=(2, 40, 2))


def test_spill_that_is_an_existing_file_is_named(cell_and_inputs, tmp_path):
    cell, x = cell_and_inputs
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    with pytest.raises(InputError, match=r"spill: .* exists and is not a folder"):
        lyapax.covariant_vectors(cell, x, max_memory=0, spill=str(a_file))
    assert a_file.read_text() == "x"


def test_spill_folder_is_created_and_used(cell_and_inputs, tmp_path):
    cell, x = cell_and_inputs
    in_memory = lyapax.covariant_vectors(cell, x)
    spilled = lyapax.covariant_vectors(cell, x, max_memory=0, spill=tmp_path / "new" / "folder")
    np.testing.assert_array_equal(spilled.vectors, in_memory.vectors)


def _monitor_with_minus_infinity():
    """A Monitor whose record holds an exponent of -inf: a linear map that zeroes one direction."""
    A = np.diag([0.5, 0.0])
    mon = lyapax.Monitor(np.zeros((1, 20, 1)), k=2)
    with pytest.warns(lyapax.NumericalWarning, match="exact zero"):
        mon(lyapax.cells.Elman(np.zeros((2, 1)), A, nonlinearity="linear"), step=0)
    return mon


def test_monitor_json_is_standard_and_reads_back():
    mon = _monitor_with_minus_infinity()
    text = mon.to_json()
    assert "Infinity" not in text and "NaN" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    back = lyapax.Monitor.load_records(json.loads(text))
    assert back[0].exponents[1] == -np.inf and np.isclose(back[0].exponents[0], np.log(0.5))
    assert np.isnan(back[0].stderr).all()  # one probe sequence


@pytest.mark.parametrize(
    ("source", "message"),
    [({"records": [{"exponents": [0.1]}]}, "each record needs 'step' and 'exponents'"),
     ({"records": [{"step": 1, "exponents": ["abc"]}]}, "exponents must be a list of numbers"),
     ({"records": [{"step": "one", "exponents": [0.1]}]}, "'step' must be an integer"),
     ({"record": []}, "an object with a 'records' list")],
)
def test_monitor_load_records_refuses_bad_records_by_name(source, message):
    with pytest.raises(InputError, match=message):
        lyapax.Monitor.load_records(source)


def test_monitor_load_records_from_a_folder_or_fifo_does_not_block(tmp_path):
    import os

    with pytest.raises(InputError, match="is not a file"):
        lyapax.Monitor.load_records(tmp_path)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.json")
        with pytest.raises(InputError, match="is not a file"):
            lyapax.Monitor.load_records(tmp_path / "pipe.json")


def test_monitor_to_pandas_without_records_has_the_documented_columns():
    pytest.importorskip("pandas", reason="to_pandas needs pandas (lyapax-rnn[pandas]; the test extra installs it)")
    mon = lyapax.Monitor(np.zeros((1, 20, 1)))
    assert list(mon.to_pandas().columns) == ["step", "max_exponent", "kaplan_yorke_dimension", "entropy", "seconds",
                                             "backend"]
    assert list(mon.to_pandas(long=True).columns) == ["step", "index", "exponent", "stderr"]


def test_a_failed_monitor_call_changes_nothing(cell_and_inputs):
    cell, x = cell_and_inputs
    mon = lyapax.Monitor(x)
    with pytest.raises(InputError):
        mon(random_cell("tanh", 3, 5, np.random.default_rng(1)))  # 5 features for a 2-feature probe
    assert mon.records == []
    mon(cell)
    assert mon.steps.tolist() == [0]
    with pytest.raises(InputError, match="step: expected an integer >= 0"):
        mon(cell, step="3")

