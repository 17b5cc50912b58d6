"""Bad input gets a clear lyapax error naming the argument; nothing is mutated."""

from __future__ import annotations

import numpy as np
import pytest

import lyapax
from lyapax import cells
from lyapax.errors import BackendNotFoundError, InputError, ModelTypeError, NumericalError
from lyapax.testing import random_cell as make_cell


@pytest.fixture
def lstm(rng):
    return make_cell("lstm", 3, 2, rng)


@pytest.fixture
def x(rng):
    return rng.normal(size=(2, 20, 2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k: expected an integer >= 1"),
        ({"k": 7}, r"k: expected 1 <= k <= state dimension 6"),
        ({"k": 2.5}, "k: expected an integer"),
        ({"warmup": 20}, "warmup: 20 warm-up steps leave nothing"),
        ({"warmup": -1}, "warmup: expected an integer >= 0"),
        ({"ortho_every": 0}, "ortho_every: expected an integer >= 1"),
        ({"history": 3, "ortho_every": 2}, "history: must be a multiple of ortho_every"),
        ({"dtype": "float16"}, "dtype: 'float16' is not supported"),
        ({"dtype": np.int32}, "dtype: 'int32' is not supported"),
        ({"h0": np.zeros((2, 5))}, r"h0: expected shape \(batch, d\) = \(2, 6\)"),
        ({"steps": 10}, "steps: only for autonomous maps"),
        ({"basis": np.ones((6, 2))}, "basis: columns are linearly dependent"),
        ({"basis": np.eye(5)}, r"basis: expected shape \(d, k\)"),
        ({"device": "cuda"}, "device: the numpy backend runs on the CPU only"),
        ({"differentiable": True}, "differentiable: the numpy backend has no autodiff"),
    ],
)
def test_bad_options(lstm, x, kwargs, match):
    with pytest.raises(InputError, match=match):
        lyapax.spectrum(lstm, x, **kwargs)


@pytest.mark.parametrize(
    ("shape", "match"),
    [((20, 2), r"inputs: expected shape \(batch, time, features\).*add a batch axis"),
     ((2, 20, 3), "inputs: the model expects 2 features per step, got 3"),
     ((2, 0, 2), "inputs: need at least one sequence and one time step")],
)
def test_bad_input_shapes(lstm, shape, match):
    with pytest.raises(InputError, match=match):
        lyapax.spectrum(lstm, np.zeros(shape))


def test_missing_inputs_and_steps(lstm):
    with pytest.raises(InputError, match="inputs: pass input sequences"):
        lyapax.spectrum(lstm)


def test_nan_inputs_are_reported_with_position(lstm, x):
    x = x.copy()
    x[1, 7, 0] = np.nan
    with pytest.raises(InputError, match="inputs: contains NaN or Inf \\(first at sequence 1, step 7"):
        lyapax.spectrum(lstm, x)


def test_nan_weights_are_reported_by_name(rng, x):
    cell = make_cell("gru", 3, 2, rng)
    cell.weight_hh[0, 0] = np.inf
    with pytest.raises(InputError, match="weight weight_hh contains NaN or Inf"):
        lyapax.spectrum(cell, x)


def test_state_blowing_up_with_a_finite_tangent_is_a_warning_and_the_exponents_are_returned(rng):
    d = 3
    cell = cells.Elman(np.ones((d, 1)), 10.0 * np.eye(d), nonlinearity="linear")
    x = np.zeros((2, 400, 1))
    x[1] = 1.0  # only sequence 1 leaves the origin and diverges (10^t overflows after ~308 steps)
    with pytest.warns(lyapax.NumericalWarning, match=r"state overflowed to NaN/Inf in sequence\(s\) \[1\]") as info:
        s = lyapax.spectrum(cell, x)
    w = info[0].message
    assert w.kind == "state" and w.sequences == [1]
    assert 300 < w.steps[0] < 320
    # J = 10 I at every step, whatever the state: every exponent is log 10, in both sequences
    np.testing.assert_allclose(s.per_sequence, np.log(10.0), rtol=0, atol=1e-12)


def test_a_nonfinite_tangent_map_is_an_error():
    m = lyapax.Map(lambda h, x: 1e30 * h * h + 1.0, lambda h, x: (2e30 * h)[:, :, None], dim=1)
    with pytest.raises(NumericalError, match=r"tangent map became NaN/Inf in sequence\(s\) \[0\]") as info:
        lyapax.spectrum(m, steps=50)
    assert info.value.kind == "nonfinite" and info.value.steps[0] < 10


def test_exact_zero_on_diag_r_gives_minus_inf_with_a_warning(rng):
    H = 4
    cell = cells.Elman(np.zeros((H, 1)), rng.normal(size=(H, H)), bias_hh=-np.ones(H), nonlinearity="relu")
    x = np.zeros((3, 10, 1))  # every relu unit inactive: J = 0
    with pytest.warns(lyapax.NumericalWarning, match=r"exact zero on diag\(R\) in sequence\(s\) \[0, 1, 2\] at step\(s\) \[0, 0, 0\]") as info:
        s = lyapax.spectrum(cell, x, warmup=2)
    assert info[0].message.kind == "zero"
    assert np.all(np.isneginf(s.per_sequence)) and np.all(np.isneginf(s.exponents))
    assert s.kaplan_yorke_dimension == 0.0 and s.entropy == 0.0
    np.testing.assert_array_equal(s.stderr, 0.0)  # every sequence is -inf: no spread


def test_a_singular_step_leaves_the_other_exponents_finite():
    """One direction is killed at one step (a zero row of J); the others go on: the collapsed
    exponent is -inf, the rest are the log-growth rates of the surviving directions."""
    d = 3
    scales = np.array([1.5, 0.5, 1.0])

    def step(h, x):
        return h * scales

    def jac(h, x):
        J = np.broadcast_to(np.diag(scales), (len(h), d, d)).copy()
        if step.t == 5:
            J[:, 1, :] = 0.0  # the second coordinate is collapsed once
        step.t += 1
        return J

    step.t = -1  # the probe step comes first
    with pytest.warns(lyapax.NumericalWarning, match="exact zero"):
        s = lyapax.spectrum(lyapax.Map(step, jac, dim=d), steps=200, basis=np.eye(d))
    np.testing.assert_allclose(s.exponents[:2], np.log([1.5, 1.0]), rtol=0, atol=1e-12)
    assert np.isneginf(s.exponents[2])
    assert s.kaplan_yorke_dimension == 2.0 and np.isclose(s.entropy, np.log(1.5))


def test_unknown_model_type():
    with pytest.raises(ModelTypeError, match="model: no installed backend recognises an object of type builtins.str"):
        lyapax.spectrum("not a model", steps=3)
    with pytest.raises(ModelTypeError, match="model: the numpy backend takes a lyapax.cells cell or a lyapax.Map, got str"):
        lyapax.spectrum("not a model", np.zeros((1, 3, 1)))  # chosen by the inputs' type


def test_unknown_and_missing_backends(lstm, x):
    with pytest.raises(BackendNotFoundError, match="backend: unknown backend 'nope'. Installed: .*numpy"):
        lyapax.spectrum(lstm, x, backend="nope")


def test_map_without_dim_or_h0():
    m = lyapax.Map(lambda h, x: h, lambda h, x: np.ones((h.shape[0], 1, 1)))
    with pytest.raises(InputError, match="h0: a Map needs an initial state"):
        lyapax.spectrum(m, steps=5)


def test_map_with_a_badly_shaped_jacobian():
    m = lyapax.Map(lambda h, x: h, lambda h, x: np.ones((2, 2)), dim=2)
    with pytest.raises(InputError, match=r"jacobian: expected shape \(batch, d, d\) = \(1, 2, 2\)"):
        lyapax.spectrum(m, steps=5)


@pytest.mark.parametrize(
    ("build", "match"),
    [(lambda: cells.LSTM(np.zeros((7, 2)), np.zeros((7, 2))), "weight_hh: expected 4H rows"),
     (lambda: cells.GRU(np.zeros((6, 2)), np.zeros((6, 3))), r"weight_hh: expected shape \(3H, H\)"),
     (lambda: cells.Elman(np.zeros((3, 2)), np.zeros((3, 3)), nonlinearity="sigmoid"), "nonlinearity: expected"),
     (lambda: cells.Elman(np.zeros((2, 2)), np.zeros((3, 3))), r"weight_ih: expected a matrix of shape \(3, any\)"),
     (lambda: cells.Stack([]), "layers: a Stack needs at least one layer"),
     (lambda: cells.Stack([cells.Elman(np.zeros((3, 2)), np.zeros((3, 3))), cells.Elman(np.zeros((3, 2)), np.zeros((3, 3)))]),
      r"layers\[1\]: input_size 2 does not match the output size 3")],
)
def test_bad_cell_weights(build, match):
    with pytest.raises(InputError, match=match):
        build()


def test_nothing_is_mutated(rng):
    cell = make_cell("stack", 3, 2, rng)
    x = rng.normal(size=(2, 30, 2))
    h0 = rng.normal(size=(2, cell.dim))
    before = ({k: v.copy() for k, v in cell.arrays().items()}, x.copy(), h0.copy())
    state = np.random.get_state()
    lyapax.spectrum(cell, x, h0=h0, warmup=3, ortho_every=2)
    for k, v in cell.arrays().items():
        np.testing.assert_array_equal(v, before[0][k])
    np.testing.assert_array_equal(x, before[1])
    np.testing.assert_array_equal(h0, before[2])
    assert np.all(np.random.get_state()[1] == state[1])


def test_trouble_met_by_an_untracked_runner_is_located_by_the_driver(rng):
    """Backends may run chunks without per-interval tracking (track=False): the driver then
    re-runs a chunk whose result is not finite with tracking, and still names the sequence and the step."""
    import dataclasses

    from lyapax.algorithm import run_chunk
    from lyapax.backend import Runner
    from lyapax.driver import iterate
    from lyapax.numpy_backend import NumpyBackend
    from lyapax.options import Options
    from lyapax.session import session

    d = 3
    cell = cells.Elman(np.ones((d, 1)), 10.0 * np.eye(d), nonlinearity="linear")
    x = np.zeros((2, 400, 1))
    x[1] = 1.0
    opts = Options()
    calls = []
    with session(NumpyBackend(), cell, x, opts) as problem:

        def untracked(carry, xs, start, length, ortho_every, **engine):
            calls.append(start)
            with np.errstate(all="ignore"):
                return run_chunk(problem.xp, problem.dynamics, carry, xs, start, length, ortho_every, track=False, **engine)

        problem = dataclasses.replace(problem, run_chunk=Runner(untracked), chunk=100)
        with pytest.warns(lyapax.NumericalWarning, match=r"state overflowed .* sequence\(s\) \[1\]") as info:
            with np.errstate(all="ignore"):
                s = iterate(problem, opts)
    assert info[0].message.sequences == [1] and 300 < info[0].message.steps[0] < 320
    assert calls == [0, 100, 200, 300]  # the fourth chunk was located by re-running it, and only it
    np.testing.assert_allclose(s.per_sequence, np.log(10.0), rtol=0, atol=1e-12)


@pytest.mark.parametrize("row", __import__("lyapax.testing.bad_inputs", fromlist=["BAD_INPUTS"]).BAD_INPUTS,
                         ids=lambda r: r.id)
def test_bad_input_table_on_numpy(row, rng):
    """The table every backend runs (lyapax.testing.bad_inputs), on the numpy reference path."""
    from lyapax.testing.bad_inputs import Context
    from lyapax.testing.conformance import assert_refused

    cell = make_cell("gru", 3, 2, rng)
    x = rng.normal(size=(2, 10, 2))
    weights = {k: v.copy() for k, v in cell.arrays().items()}
    ctx = Context(cell, x.copy(), x, lambda a, dtype: np.array(a, dtype=dtype), cell.dim, 2, 10, 2)
    assert_refused(row, ctx, "numpy", lambda m: [m.arrays()[k] for k in sorted(weights)])
    for k, v in cell.arrays().items():
        np.testing.assert_array_equal(v, weights[k])
