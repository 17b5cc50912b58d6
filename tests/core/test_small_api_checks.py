"""Small public APIs refuse bad arguments with a `lyapax.errors` exception naming them (issue 23).

Each case failed on the code before the fix: a raw TypeError or AttributeError, a bool taken
for a number, or non-standard JSON.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import lyapax
from lyapax import Spectrum, cells


def spectrum(exponents, stderr=None) -> Spectrum:
    e = np.asarray(exponents, dtype=float)
    return Spectrum(exponents=e, per_sequence=e[None, :], stderr=np.full(e.size, np.nan) if stderr is None else stderr,
                    backend="numpy", steps=10, warmup=0, ortho_every=1, state_dim=e.size)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"unit": "bits", "dt": "1"}, r"dt: expected a positive number \(a duration\), got '1' \(str\)"),
        ({"unit": "bits", "dt": True}, r"dt: expected a positive number"),
        ({"unit": "bits", "dt": float("inf")}, r"dt: expected a positive finite duration, got inf"),
        ({"unit": "bits", "dt": -0.1}, r"dt: expected a positive finite duration, got -0.1"),
        ({"unit": ["bits"]}, r"unit: expected 'nats' or 'bits', got \['bits'\]"),
    ],
)
def test_exponents_in_checks_its_arguments(kwargs, message):
    with pytest.raises(lyapax.InputError, match=message):
        spectrum([0.5, -1.0]).exponents_in(**kwargs)


def test_to_dict_is_standard_json():
    s = spectrum([0.5, -np.inf])  # a collapsed direction; one sequence: NaN standard errors
    d = s.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["exponents"] == [0.5, None]
    assert d["stderr"] == [None, None] and d["per_sequence"] == [[0.5, None]] and d["max_exponent"] == 0.5
    assert np.isneginf(s.exponents[1])  # the arrays keep what was measured


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: cells.Elman(None, np.eye(4)), r"weight_ih: expected an array of shape \(4, any\).*got NoneType"),
        (lambda: cells.Elman(np.eye(4), None), r"weight_hh: expected an array of shape \(any, any\).*got NoneType"),
        (lambda: cells.Elman(np.ones((4, 2)), np.eye(4), [0.0] * 4), r"bias_ih: expected an array of shape \(4,\).*list"),
        (lambda: cells.LSTM(None, np.ones((8, 2))), r"weight_ih: expected an array of shape \(8, any\).*NoneType"),
        (lambda: cells.LSTM(np.ones((8, 1)), np.ones((8, 2)), weight_hr="w"), r"weight_hr: expected an array.*str"),
        (lambda: cells.GRU(None, np.ones((6, 2))), r"weight_ih: expected an array of shape \(6, any\).*NoneType"),
        (lambda: cells.GRU(np.ones((6, 1)), np.ones((6, 2)), reset_after="no"),
         r"reset_after: expected True or False, got 'no' \(str\)"),
        (lambda: cells.Elman(np.ones((4, 1)), np.eye(4), nonlinearity=["tanh"]), r"nonlinearity: expected 'tanh'"),
        (lambda: cells.Stack(None), r"layers: expected a list of lyapax.cells cells, got NoneType"),
        (lambda: cells.Stack(cells.Elman(np.ones((4, 1)), np.eye(4))), r"layers: expected a list of lyapax.cells cells"),
        (lambda: cells.Elman(np.ones((4, 1)), np.eye(4)).map_arrays("float32"),
         r"fn: expected a function of one array \(e.g. torch.from_numpy\), got str"),
    ],
)
def test_cell_constructors_name_what_is_not_an_array(build, message):
    with pytest.raises(lyapax.InputError, match=message):
        build()


def _step(h, x):
    return h


def _jac(h, x):
    return np.broadcast_to(np.eye(h.shape[1]), (h.shape[0], h.shape[1], h.shape[1]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": True}, r"dim: expected an integer >= 1, got True \(bool\)"),
        ({"dim": 2.0}, r"dim: expected an integer >= 1, got 2.0 \(float\)"),
        ({"dim": 0}, r"dim: expected an integer >= 1, got 0"),
        ({"input_size": "3"}, r"input_size: expected an integer >= 0, got '3' \(str\)"),
        ({"input_size": -1}, r"input_size: expected an integer >= 0, got -1"),
    ],
)
def test_map_checks_dim_and_input_size(kwargs, message):
    with pytest.raises(lyapax.InputError, match=message):
        lyapax.Map(_step, _jac, **kwargs)
    assert lyapax.Map(_step, _jac, dim=np.int64(2)).dim == 2
