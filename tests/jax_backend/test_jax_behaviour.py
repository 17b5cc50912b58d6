"""Behaviour of the JAX backend: sum rule, prefix property, compilation, x64 scope,
errors, untouched models, progress, devices and the differentiable functional API."""

from __future__ import annotations

import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import lyapax_jax
import numpy as np
import optax
import pytest
from flax import nnx
from jax_helpers import B, F, H
from lyapax_jax import loop

import lyapax
from lyapax.options import Options
from lyapax.session import session
from lyapax.testing.conformance import one_step_tolerance


def _gru64(seed=0):
    with jax.enable_x64(True):
        return nnx.GRUCell(F, H, param_dtype=jnp.float64, rngs=nnx.Rngs(seed))


def test_sum_rule_against_jacfwd(x):
    """Sum of all exponents = mean log|det J_t| over the visited states (J from jax.jacfwd)."""
    cell = _gru64()
    s = lyapax.spectrum(cell, x, warmup=3)
    with jax.enable_x64(True):
        step = lambda h, xt: cell(h, xt)[0]  # noqa: E731
        h = jnp.zeros((B, H))
        logdets = []
        for t in range(x.shape[1]):
            xt = jnp.asarray(x[:, t])
            J = jax.vmap(jax.jacfwd(lambda hh, xx: step(hh[None], xx[None])[0]))(h, xt)
            if t >= 3:
                logdets.append(np.linalg.slogdet(np.asarray(J))[1])
            h = step(h, xt)
    tol = one_step_tolerance(cell, x, s, backend=None, warmup=3)
    np.testing.assert_allclose(s.per_sequence.sum(axis=1), np.mean(logdets, axis=0), rtol=0, atol=tol)


def test_prefix_property(x):
    cell = _gru64(1)
    full = lyapax.spectrum(cell, x, ortho_every=2)
    two = lyapax.spectrum(cell, x, k=2, ortho_every=2)
    np.testing.assert_allclose(two.exponents, full.exponents[:2], rtol=0,
                               atol=one_step_tolerance(cell, x, full, backend=None))


def test_no_recompilation_for_same_shapes():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((2, 600, F)).astype(np.float32)  # 3 chunks: 256, 256, 88
    lyapax.spectrum(nnx.LSTMCell(F, H, rngs=nnx.Rngs(0)), xs)
    before = loop.trace_count()
    other = nnx.LSTMCell(F, H, rngs=nnx.Rngs(1))  # new weights, same shapes
    s = lyapax.spectrum(other, xs + 1.0)
    assert loop.trace_count() == before
    assert np.all(np.isfinite(s.exponents))


def test_float32_default_and_x64_scoped(x):
    cell = nnx.GRUCell(F, H, rngs=nnx.Rngs(0))
    s32 = lyapax.spectrum(cell, x)
    assert s32.dtype == "float32"
    s64 = lyapax.spectrum(cell, x, dtype="float64")
    assert s64.dtype == "float64"
    assert not jax.config.read("jax_enable_x64")
    assert jnp.ones(2).dtype == jnp.float32
    np.testing.assert_allclose(s32.exponents, s64.exponents, atol=1e-4)


def test_model_parameters_rng_and_inputs_unchanged(x):
    model = nnx.RNN(nnx.LSTMCell(F, H, rngs=nnx.Rngs(0)))

    def snapshot():
        leaves = jax.tree_util.tree_leaves(nnx.state(model))
        return [np.array(jax.random.key_data(a) if jnp.issubdtype(a.dtype, jax.dtypes.prng_key) else a) for a in leaves]

    before = snapshot()
    xj = jnp.asarray(x, dtype=jnp.float32)
    x_before = np.array(xj)
    lyapax.spectrum(model, xj, dtype="float64")
    after = snapshot()
    assert len(before) == len(after) and all(np.array_equal(a, b) for a, b in zip(before, after))
    assert nnx.state(model, nnx.Param)["cell"]["ii"]["kernel"][...].dtype == jnp.float32
    np.testing.assert_array_equal(np.array(xj), x_before)
    module = nn.GRUCell(features=H)
    v = module.init(jax.random.key(0), jnp.zeros((B, H)), jnp.zeros((B, F)))
    v_before = jax.tree_util.tree_map(np.array, v)
    lyapax.spectrum((module, v), x, dtype="float64")
    jax.tree_util.tree_map(np.testing.assert_array_equal, v_before, jax.tree_util.tree_map(np.array, v))


def test_progress_bar_gives_same_result(x, capsys):
    cell = _gru64(2)
    quiet = lyapax.spectrum(cell, x)
    loud = lyapax.spectrum(cell, x, progress=True)
    np.testing.assert_array_equal(quiet.per_sequence, loud.per_sequence)
    assert "lyapax" in capsys.readouterr().err


def test_device_follows_inputs_and_argument(x):
    cpu = jax.devices("cpu")[0]
    xj = jax.device_put(jnp.asarray(x, dtype=jnp.float32), cpu)
    cell = nnx.GRUCell(F, H, rngs=nnx.Rngs(0))
    with session(lyapax_jax.JaxBackend(), cell, xj, Options()) as problem:
        assert problem.inputs.devices() == {cpu} and problem.h0.devices() == {cpu}
        assert str(problem.device) == str(cpu)
    s = lyapax.spectrum(cell, x, device="cpu")
    assert np.all(np.isfinite(s.exponents))
    with pytest.raises(lyapax.InputError, match="device"):
        lyapax.spectrum(cell, x, device="tpu:7")


def test_bad_inputs_raise_clear_errors(x):
    cell = nnx.GRUCell(F, H, rngs=nnx.Rngs(0))
    with pytest.raises(lyapax.InputError, match="features"):
        lyapax.spectrum(cell, np.zeros((B, 5, F + 1)))
    with pytest.raises(lyapax.InputError, match="batch axis"):
        lyapax.spectrum(cell, np.zeros((5, F)))
    with pytest.raises(lyapax.InputError, match="NaN"):
        lyapax.spectrum(cell, np.full((B, 5, F), np.nan))
    with pytest.raises(lyapax.InputError, match="h0"):
        lyapax.spectrum(lambda h, xx: jnp.tanh(h), x, backend="jax")  # a function needs h0
    with pytest.raises(lyapax.InputError, match="h0"):
        lyapax.spectrum(nnx.LSTMCell(F, H, rngs=nnx.Rngs(0)), x, h0=np.zeros((B, H)))  # not (c, h)
    with pytest.raises(lyapax.InputError, match=r"\(module, variables\)"):
        lyapax.spectrum(nn.GRUCell(features=H), x)
    with pytest.raises(lyapax.InputError, match="reverse"):
        lyapax.spectrum(nnx.RNN(nnx.GRUCell(F, H, rngs=nnx.Rngs(0)), reverse=True), x)
    with pytest.raises(lyapax.InputError, match="lyapax_jax.exponents"):
        lyapax.spectrum(cell, x, differentiable=True)
    with pytest.raises(lyapax.ModelTypeError, match="jax arrays"):
        lyapax.spectrum(lyapax.cells.Elman(np.ones((H, F)), np.eye(H)), x, backend="jax")
    with pytest.raises(lyapax.InputError, match="same structure as h"):
        lyapax.spectrum(lambda h, xx: h[:, :2], x, h0=np.zeros((B, H)), backend="jax")
    with pytest.raises(lyapax.NumericalError):
        lyapax.spectrum(lambda h, xx: 1e30 * h * h + 1.0, x, h0=np.ones((B, H)), backend="jax")


def test_backend_is_lazy_and_recognises_types():
    be = lyapax_jax.JaxBackend()
    assert be.name == "jax" and "lyapax_jax.exponents" in be.differentiable_error and be.extra == "jax"
    assert be.recognises_model(nnx.GRUCell(F, H, rngs=nnx.Rngs(0)))
    assert be.recognises_model((nn.GRUCell(features=H), {}))
    assert not be.recognises_model(lambda h, x: h)
    assert be.recognises_array(jnp.zeros(3)) and not be.recognises_array(np.zeros(3))


def test_a_plain_function_with_jax_state_and_numpy_inputs_runs_on_jax(x):
    """The backend is picked from h0 too: a JAX array wins over numpy inputs (issue 27)."""
    W = jnp.asarray(np.random.default_rng(0).normal(0, 0.5, (H, H)))

    def step(h, u):
        return jnp.tanh(h @ W.T + u.sum(axis=-1, keepdims=True))

    s = lyapax.spectrum(step, np.asarray(x), h0=jnp.zeros((x.shape[0], H)), k=2)
    assert s.backend == "jax" and np.all(np.isfinite(s.exponents))


def test_import_does_not_import_jax():
    code = "import sys, lyapax, lyapax_jax; lyapax_jax.JaxBackend(); assert 'jax' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_functional_api_matches_spectrum(x):
    cell = _gru64(3)
    s = lyapax.spectrum(cell, x, warmup=4, ortho_every=3, k=3)
    with jax.enable_x64(True):
        fn = jax.jit(lambda p: lyapax_jax.exponents(cell, p, x, warmup=4, ortho_every=3, k=3))
        got = fn(nnx.state(cell, nnx.Param))
    tol = one_step_tolerance(cell, x, s, backend=None, warmup=4)
    np.testing.assert_allclose(np.asarray(got), s.per_sequence, rtol=0, atol=tol)


def test_gradient_step_lowers_top_exponent():
    """A chaotic cell: an optax step on the top exponent (via the functional API) lowers it.

    Gradients through a chaotic trajectory grow like exp(lambda_1 T): short sequences,
    float64 and a small learning rate keep the step inside the region where they are informative.
    """
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        xs = jnp.asarray(0.1 * rng.standard_normal((4, 20, F)))
        cell = nnx.SimpleCell(F, 16, dtype=jnp.float64, param_dtype=jnp.float64, rngs=nnx.Rngs(0))
        cell.dense_h.kernel[...] = jnp.asarray(3.0 * rng.standard_normal((16, 16)) / 4.0)  # gain 3: chaotic
        _, params, _ = nnx.split(cell, nnx.Param, ...)

        def top(p):
            return lyapax_jax.exponents(cell, p, xs, k=1).mean()

        before = float(top(params))
        assert before > 0.1
        opt = optax.sgd(1e-3)
        grads = jax.grad(top)(params)
        updates, _ = opt.update(grads, opt.init(params), params)
        after = float(top(optax.apply_updates(params, updates)))
        assert after < before - 0.1
        # nnx.grad over the module itself gives the same gradient, and leaves the module untouched
        kernel = np.array(cell.dense_h.kernel[...])
        g = nnx.grad(lambda m: lyapax_jax.exponents(m, None, xs, k=1).mean())(cell)
        np.testing.assert_allclose(np.asarray(g["dense_h"]["kernel"][...]), np.asarray(grads["dense_h"]["kernel"][...]), rtol=1e-8)
        np.testing.assert_array_equal(np.asarray(cell.dense_h.kernel[...]), kernel)


def test_functional_rows_sorted_like_per_sequence():
    """Each row descending, as Spectrum.per_sequence; sorting the columns by their mean would not do it:
    a diagonal map with the identity basis gives sequence 0 (log 2, 0) and sequence 1 (0, log 3)."""
    x = np.ones((2, 10, 2), dtype=np.float32)
    x[0, :] = (2.0, 1.0)
    x[1, :] = (1.0, 3.0)
    step = lambda h, xt: h * xt  # noqa: E731
    h0, xj = jnp.ones((2, 2)), jnp.asarray(x)
    got = np.asarray(lyapax_jax.exponents(step, None, xj, h0=h0, basis=np.eye(2)))
    s = lyapax.spectrum(step, xj, h0=h0, basis=np.eye(2))
    np.testing.assert_allclose(got, [[np.log(2.0), 0.0], [np.log(3.0), 0.0]], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got, s.per_sequence, rtol=0, atol=1e-6)


def test_concurrent_spectra_of_one_nnx_module(x):
    """Two threads on the same module (one in float64, one in float32; autodiff through the cell
    and an nnx.RNN holding an RNG stream) get the sequential results and leave the module as it was."""
    from concurrent.futures import ThreadPoolExecutor

    model = nnx.RNN(nnx.GRUCell(F, H, activation_fn=lambda z: jnp.tanh(z), rngs=nnx.Rngs(0)))
    cell = nnx.LSTMCell(F, H, rngs=nnx.Rngs(1))  # the analytic path
    jobs = [(model, "float64"), (model, "float32"), (cell, "float64"), (cell, "float32")]

    def run(job):
        return lyapax.spectrum(job[0], x, dtype=job[1], k=3).per_sequence

    def snapshot(m):
        leaves = jax.tree_util.tree_leaves(nnx.state(m))
        return [np.array(jax.random.key_data(a) if jnp.issubdtype(a.dtype, jax.dtypes.prng_key) else a) for a in leaves]

    sequential = [run(job) for job in jobs]
    before = snapshot(model) + snapshot(cell)
    with ThreadPoolExecutor(max_workers=2) as pool:
        concurrent = list(pool.map(run, jobs * 3))
    for i, got in enumerate(concurrent):
        np.testing.assert_array_equal(got, sequential[i % len(jobs)])
    after = snapshot(model) + snapshot(cell)
    assert len(before) == len(after) and all(np.array_equal(a, b) for a, b in zip(before, after))
    assert not jax.config.read("jax_enable_x64")


def test_degenerate_cases_are_warnings():
    """Dead relu units: -inf with a warning naming sequences and steps (the compiled runner tracks
    every interval); a state overflowing while J stays finite: a warning, the exponents returned."""
    with jax.enable_x64(True):
        dead = lyapax.cells.Elman(jnp.ones((4, 1)), 0.5 * jnp.eye(4), -jnp.ones(4), None, nonlinearity="relu")
    x = np.zeros((2, 30, 1))
    x[0, :5] = 5.0  # sequence 0: h = 4, 6, 7, 7.5, 7.75, 2.875, 0.4375, dead at step 7; sequence 1: dead at 0
    with pytest.warns(lyapax.NumericalWarning, match=r"exact zero on diag\(R\)") as info:
        s = lyapax.spectrum(dead, x)
    w = info[0].message
    assert w.kind == "zero" and w.sequences == [0, 1] and w.steps == [7, 0]
    assert np.all(np.isneginf(s.per_sequence))
    with pytest.warns(lyapax.NumericalWarning, match="state overflowed") as info:
        s = lyapax.spectrum(lambda h, xt: 2.0 * h, None, steps=200, h0=jnp.ones((1, 2)))  # 2^t overflows float32
    assert info[0].message.kind == "state" and 120 < info[0].message.steps[0] < 135
    np.testing.assert_allclose(s.per_sequence, np.log(2.0), rtol=0, atol=1e-6)


def test_a_whole_network_is_named_as_such_with_the_fix(x):
    class Net(nnx.Module):
        def __init__(self):
            self.embed = nnx.Linear(F, 4, rngs=nnx.Rngs(0))
            self.rnn = nnx.RNN(nnx.GRUCell(4, H, rngs=nnx.Rngs(1)))
            self.head = nnx.Linear(H, 2, rngs=nnx.Rngs(2))

        def __call__(self, xs):
            return self.head(self.rnn(self.embed(xs)))

    with pytest.raises(lyapax.ModelTypeError, match=r"^model: Net is not a recurrent layer but holds model\.rnn "
                                                   r"\(RNN\).*select=lambda m: m\.rnn"):
        lyapax.spectrum(Net(), x)
    net = Net()
    assert lyapax.Monitor(np.zeros((B, 20, 4), np.float32), select=lambda m: m.rnn)(net).k == H


def test_monitor_with_a_new_partial_each_epoch_compiles_once():
    """The documented training-loop pattern, monitor(functools.partial(step, params)): the bound arrays
    are traced parameters, so new parameters reuse the compiled chunk."""
    import functools

    rng = np.random.default_rng(0)

    def step(params, h, xt):
        return jnp.tanh(h @ params["W"].T + xt @ params["U"].T)

    params = {"W": jnp.asarray(rng.normal(size=(H, H)) / H**0.5, jnp.float32),
              "U": jnp.asarray(rng.normal(size=(H, F)), jnp.float32)}
    probe = jnp.asarray(rng.normal(size=(B, 30, F)), jnp.float32)
    monitor = lyapax.Monitor(probe, k=2, h0=jnp.zeros((B, H)))
    monitor(functools.partial(step, params), step=0)
    before = loop.trace_count()
    for i in range(1, 4):
        params = {k: v * 1.1 for k, v in params.items()}
        monitor(functools.partial(step, params), step=i)
    assert loop.trace_count() == before
    # and it is the same spectrum as the plain closure's
    direct = lyapax.spectrum(lambda h, xt: step(params, h, xt), probe, k=2, h0=jnp.zeros((B, H)), warmup=monitor.warmup)
    np.testing.assert_allclose(monitor.records[-1].exponents, direct.exponents, rtol=0, atol=1e-6)


def test_covariant_vectors_compile_a_bounded_number_of_programs():
    """The runner compiles one program per chunk length; vectors wanted at arbitrary steps must not
    make arbitrary chunk lengths (at most the powers of two up to 256 steps, with and without R factors)."""
    rng = np.random.default_rng(3)
    W, U = rng.normal(size=(3, 3)) / 3**0.5, rng.normal(size=(3, F))  # shapes no other test compiles
    x = rng.standard_normal((1, 1500, F))
    at = np.sort(rng.choice(1000, size=30, replace=False))  # 30 irregular gaps
    with jax.enable_x64(True):
        Wj, Uj, xj, h0 = jnp.asarray(W), jnp.asarray(U), jnp.asarray(x), jnp.zeros((1, 3), jnp.float64)
    before = loop.trace_count()
    cv = lyapax.covariant_vectors(lambda h, xt: jnp.tanh(h @ Wj.T + xt @ Uj.T), xj, h0=h0, dtype="float64",
                                  warmup=250, transient=250, at=at)
    assert 0 < loop.trace_count() - before <= 2 * 9
    ref = lyapax.covariant_vectors(lyapax.cells.Elman(U, W), x, warmup=250, transient=250, at=at)
    np.testing.assert_allclose(cv.per_sequence, ref.per_sequence, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.abs(np.sum(cv.vectors * ref.vectors, axis=-2)), 1.0, rtol=0, atol=1e-12)


def test_threads_are_capped_at_one_with_a_warning(x):
    # two threads each running a compiled loop with a batched QR deadlock in XLA's CPU runtime:
    # an explicit threads=2 must neither hang nor be silently ignored
    cell = nnx.LSTMCell(F, H, rngs=nnx.Rngs(0))
    with pytest.warns(RuntimeWarning, match=r"threads=2: the jax backend runs at most 1 thread"):
        s = lyapax.spectrum(cell, x, threads=2)
    assert s.threads == 1
    np.testing.assert_array_equal(s.per_sequence, lyapax.spectrum(cell, x).per_sequence)
