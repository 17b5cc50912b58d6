"""Misuse warnings: too few counted steps, and inputs whose batch and time axes look swapped.

The map is linear, h' = W h + x[:2] with W = diag(0.5, 0.25): cheap, and its spectrum
(log 0.5, log 0.25) checks that a long normal call is computed as usual without a warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lyapax
from lyapax.validation import MIN_COUNTED_STEPS, SWAPPED_RATIO

W = np.diag([0.5, 0.25])
EXPECTED = np.log([0.5, 0.25])


def _linear() -> lyapax.Map:
    return lyapax.Map(lambda h, x: h @ W.T + x[:, :2], lambda h, x: np.broadcast_to(W, (len(h), 2, 2)), dim=2)


def _inputs(batch: int, steps: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(batch, steps, 3))


def test_swapped_layout_warns_naming_the_assumed_layout_and_the_override():
    x = _inputs(100, 20)  # a (time=100, batch=20) tensor given as (batch, time): 100 sequences of 20 steps
    with pytest.warns(UserWarning, match=r"read as \(batch, time, features\), 100 sequences of 20 steps") as caught:
        s = lyapax.spectrum(_linear(), x)
    assert "pass time_major=True" in str(caught[0].message)
    assert s.per_sequence.shape == (100, 2)  # computed as read: the warning changes nothing


def test_an_explicit_time_major_is_not_second_guessed_but_too_few_steps_still_warn():
    x = _inputs(100, 6).transpose(1, 0, 2)  # (time=6, batch=100), declared time-major
    with pytest.warns(UserWarning) as caught:
        s = lyapax.spectrum(_linear(), x, time_major=True)
    assert s.per_sequence.shape == (100, 2)
    # time_major given explicitly: the layout is the user's, only the length is warned about
    assert all("looks like" not in str(w.message) for w in caught)
    assert any("only 6 counted steps" in str(w.message) for w in caught)


def test_threshold_of_the_swapped_layout():
    steps = MIN_COUNTED_STEPS + 2
    with pytest.warns(UserWarning, match="looks like a"):
        lyapax.spectrum(_linear(), _inputs(SWAPPED_RATIO * steps, steps))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lyapax.spectrum(_linear(), _inputs(SWAPPED_RATIO * steps - 1, steps))


def test_an_explicit_layout_is_not_second_guessed():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = lyapax.spectrum(_linear(), _inputs(100, 20), time_major=False)
    assert s.per_sequence.shape == (100, 2)


@pytest.mark.parametrize(("steps", "warmup"), [(MIN_COUNTED_STEPS - 1, 0), (30, 25), (MIN_COUNTED_STEPS + 4, 5)])
def test_too_few_counted_steps_warn(steps, warmup):
    counted = steps - warmup
    with pytest.warns(UserWarning, match=rf"only {counted} counted steps \(2 sequences of {steps} steps.*warmup={warmup}\)"):
        lyapax.spectrum(_linear(), _inputs(2, steps), warmup=warmup)


def test_threshold_of_the_counted_steps():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lyapax.spectrum(_linear(), _inputs(2, MIN_COUNTED_STEPS + 5), warmup=5)  # exactly the minimum
    with pytest.warns(UserWarning, match=f"only {MIN_COUNTED_STEPS - 1} counted steps"):
        lyapax.spectrum(_linear(), _inputs(2, MIN_COUNTED_STEPS + 4), warmup=5)


def test_an_autonomous_map_with_too_few_steps_warns():
    m = lyapax.Map(lambda h, x: h @ W.T, lambda h, x: np.broadcast_to(W, (len(h), 2, 2)), dim=2)
    with pytest.warns(UserWarning, match=r"only 5 counted steps \(5 steps, warmup=0\)"):
        s = lyapax.spectrum(m, steps=5, h0=np.ones((1, 2)))
    assert s.exponents.shape == (2,)


def test_a_normal_call_does_not_warn():
    rng = np.random.default_rng(1)
    cell = lyapax.cells.LSTM(rng.normal(0, 0.5, (16, 3)), rng.normal(0, 0.5, (16, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = lyapax.spectrum(cell, _inputs(8, 300), warmup=100)
        linear = lyapax.spectrum(_linear(), _inputs(4, 400), warmup=100)
    assert s.exponents.shape == (8,)
    np.testing.assert_allclose(linear.exponents, EXPECTED, atol=1e-9)


def test_warning_points_at_the_users_call():
    with pytest.warns(UserWarning) as caught:
        lyapax.spectrum(_linear(), _inputs(2, 5))
    assert caught[0].filename == __file__
