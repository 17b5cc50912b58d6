"""Every model kind of the JAX backend equals the numpy reference path (float64, 1e-9),
and the autodiff path (the libraries' own forward code) equals the analytic one (1e-10)."""

from __future__ import annotations

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import lyapax_jax
import numpy as np
import pytest
from flax import nnx
from jax_helpers import B, F, H, ch_perm, f64, permuted_basis, reference

import lyapax
from lyapax import cells


def T_(a) -> np.ndarray:
    return f64(a).T


def _nnx_lstm_weights(c) -> cells.LSTM:
    if isinstance(c, nnx.OptimizedLSTMCell):
        return cells.LSTM(T_(c.dense_i.kernel[...]), T_(c.dense_h.kernel[...]), None, f64(c.dense_h.bias[...]))
    ins, hs = (c.ii, c.if_, c.ig, c.io), (c.hi, c.hf, c.hg, c.ho)
    return cells.LSTM(
        np.concatenate([T_(m.kernel[...]) for m in ins]),
        np.concatenate([T_(m.kernel[...]) for m in hs]),
        None,
        np.concatenate([f64(m.bias[...]) for m in hs]),
    )


def _nnx_gru_weights(c) -> cells.GRU:
    return cells.GRU(T_(c.dense_i.kernel[...]), T_(c.dense_h.kernel[...]), f64(c.dense_i.bias[...]), None)


def _nnx_simple_weights(c) -> cells.Elman:
    Whh = T_(c.dense_h.kernel[...]) + (np.eye(c.hidden_features) if c.residual else 0.0)
    return cells.Elman(T_(c.dense_i.kernel[...]), Whh, f64(c.dense_i.bias[...]), None)


def _close(a, b, tol=1e-9):
    np.testing.assert_allclose(a, b, rtol=0, atol=tol)


@pytest.mark.parametrize("cls", [nnx.LSTMCell, nnx.OptimizedLSTMCell], ids=["LSTMCell", "OptimizedLSTMCell"])
def test_nnx_lstm_matches_reference_and_autodiff(cls, x):
    with jax.enable_x64(True):
        cell = cls(F, H, param_dtype=jnp.float64, rngs=nnx.Rngs(0))
    ref = reference(_nnx_lstm_weights(cell), x)
    got = lyapax.spectrum(cell, x, dtype="float64")
    assert got.backend == "jax" and got.dtype == "float64"
    _close(got.per_sequence, ref)
    # autodiff through flax's own __call__ with its (c, h) carry: layout [c; h]
    zeros = (jnp.zeros((B, H)), jnp.zeros((B, H)))
    ad = lyapax.spectrum(
        lambda h, xx: cell(h, xx)[0], x, h0=zeros, dtype="float64", basis=permuted_basis(ch_perm(H)), backend="jax")
    _close(ad.per_sequence, ref, 1e-10)


def test_nnx_gru_and_simple_match_reference(x):
    with jax.enable_x64(True):
        gru = nnx.GRUCell(F, H, param_dtype=jnp.float64, rngs=nnx.Rngs(1))
    _close(lyapax.spectrum(gru, x, dtype="float64").per_sequence, reference(_nnx_gru_weights(gru), x))
    ad = lyapax.spectrum(
        lambda h, xx: gru(h, xx)[0], x, h0=jnp.zeros((B, H)), dtype="float64", backend="jax")
    _close(ad.per_sequence, reference(_nnx_gru_weights(gru), x), 1e-10)
    for residual in (False, True):
        with jax.enable_x64(True):
            simple = nnx.SimpleCell(F, H, residual=residual, dtype=jnp.float64, param_dtype=jnp.float64, rngs=nnx.Rngs(2))
        got = lyapax.spectrum(simple, x, dtype="float64").per_sequence
        _close(got, reference(_nnx_simple_weights(simple), x))
        ad = lyapax.spectrum(
        lambda h, xx, simple=simple: simple(h, xx)[0], x, h0=jnp.zeros((B, H)), dtype="float64", backend="jax")
        _close(ad.per_sequence, got, 1e-10)


def test_nnx_non_standard_activation_uses_autodiff(x):
    """A custom activation cannot use the analytic cell: the module itself is differentiated."""
    cell = nnx.GRUCell(F, H, activation_fn=lambda z: jnp.tanh(z), rngs=nnx.Rngs(1))
    std = nnx.GRUCell(F, H, rngs=nnx.Rngs(1))
    got = lyapax.spectrum(cell, x, dtype="float64")
    _close(got.per_sequence, reference(_nnx_gru_weights(std), x), 1e-10)


def test_nnx_rnn_wrapper_and_h0_carry(x):
    cell = nnx.LSTMCell(F, H, rngs=nnx.Rngs(3))
    rnn = nnx.RNN(cell)
    h = np.random.default_rng(0).standard_normal((B, H)) * 0.3
    c = np.random.default_rng(1).standard_normal((B, H)) * 0.3
    ref = reference(_nnx_lstm_weights(cell), x, h0=np.concatenate([h, c], axis=1))
    got = lyapax.spectrum(rnn, x, h0=(c, h), dtype="float64")
    _close(got.per_sequence, ref)


class TwoLayers(nnx.Module):
    def __init__(self, activation=None):
        kw = {} if activation is None else {"activation_fn": activation}
        self.lower = nnx.RNN(nnx.GRUCell(F, H, rngs=nnx.Rngs(4), **kw))
        self.upper = nnx.RNN(nnx.LSTMCell(H, 3, rngs=nnx.Rngs(5)))

    def __call__(self, x):
        return self.upper(self.lower(x))


class Swapped(TwoLayers):
    def __call__(self, x):  # not a plain stack: input scaled before the layers
        return self.upper(self.lower(2.0 * x))


def test_nnx_stack_module_analytic_and_autodiff(x):
    model = TwoLayers()
    ref_cell = cells.Stack([_nnx_gru_weights(model.lower.cell), _nnx_lstm_weights(model.upper.cell)])
    ref = reference(ref_cell, x)
    _close(lyapax.spectrum(model, x, dtype="float64").per_sequence, ref)
    # a non-standard activation sends the stack through the autodiff path: state [h1; c2; h2]
    ad_model = TwoLayers(activation=lambda z: jnp.tanh(z))
    perm = np.concatenate([np.arange(H), H + 3 + np.arange(3), H + np.arange(3)])
    ad = lyapax.spectrum(ad_model, x, dtype="float64", basis=permuted_basis(perm))
    _close(ad.per_sequence, ref, 1e-10)


def test_nnx_module_that_is_not_a_plain_stack_is_refused(x):
    with pytest.raises(lyapax.ModelTypeError, match="step function"):
        lyapax.spectrum(Swapped(), x, dtype="float64")


def _linen_init(module, hidden):
    carry = module.initialize_carry(jax.random.key(0), (B, F))
    return module.init(jax.random.key(1), carry, jnp.zeros((B, F)))


@pytest.mark.parametrize("cls", [nn.LSTMCell, nn.OptimizedLSTMCell], ids=["LSTMCell", "OptimizedLSTMCell"])
def test_linen_lstm_tuple_and_bound(cls, x):
    module = cls(features=H, param_dtype=jnp.float64)
    with jax.enable_x64(True):
        variables = _linen_init(module, H)
    p = variables["params"]
    ref = reference(
        cells.LSTM(
            np.concatenate([T_(p["i" + g]["kernel"]) for g in "ifgo"]),
            np.concatenate([T_(p["h" + g]["kernel"]) for g in "ifgo"]),
            None,
            np.concatenate([f64(p["h" + g]["bias"]) for g in "ifgo"]),
        ),
        x,
    )
    _close(lyapax.spectrum((module, variables), x, dtype="float64").per_sequence, ref)
    _close(lyapax.spectrum(module.bind(variables), x, dtype="float64").per_sequence, ref)
    ad = lyapax.spectrum(
        lambda h, xx: module.apply(variables, h, xx)[0],
        x,
        h0=module.initialize_carry(jax.random.key(0), (B, F)),
        dtype="float64",
        basis=permuted_basis(ch_perm(H)),
        backend="jax",
    )
    _close(ad.per_sequence, ref, 1e-10)


def test_linen_gru_and_simple(x):
    gru = nn.GRUCell(features=H, param_dtype=jnp.float64)
    with jax.enable_x64(True):
        v = _linen_init(gru, H)
    p = v["params"]
    ref_gru = cells.GRU(
        np.concatenate([T_(p["i" + g]["kernel"]) for g in "rzn"]),
        np.concatenate([T_(p["h" + g]["kernel"]) for g in "rzn"]),
        np.concatenate([f64(p["i" + g]["bias"]) for g in "rzn"]),
        np.concatenate([np.zeros(2 * H), f64(p["hn"]["bias"])]),
    )
    got = lyapax.spectrum((gru, v), x, dtype="float64").per_sequence
    _close(got, reference(ref_gru, x))
    ad = lyapax.spectrum(
        lambda h, xx: gru.apply(v, h, xx)[0], x, h0=jnp.zeros((B, H)), dtype="float64", backend="jax")
    _close(ad.per_sequence, got, 1e-10)
    simple = nn.SimpleCell(features=H, residual=True)
    vs = _linen_init(simple, H)
    ps = vs["params"]
    ref_s = cells.Elman(T_(ps["i"]["kernel"]), T_(ps["h"]["kernel"]) + np.eye(H), f64(ps["i"]["bias"]), None)
    _close(lyapax.spectrum((simple, vs), x, dtype="float64").per_sequence, reference(ref_s, x))


def test_equinox_cells(x):
    with jax.enable_x64(True):
        gru = eqx.nn.GRUCell(F, H, dtype=jnp.float64, key=jax.random.key(0))
        lstm = eqx.nn.LSTMCell(F, H, dtype=jnp.float64, key=jax.random.key(1))
    ref_gru = cells.GRU(f64(gru.weight_ih), f64(gru.weight_hh), f64(gru.bias), np.concatenate([np.zeros(2 * H), f64(gru.bias_n)]))
    got = lyapax.spectrum(gru, x, dtype="float64").per_sequence
    _close(got, reference(ref_gru, x))
    ad = lyapax.spectrum(
        lambda h, xx: jax.vmap(gru)(xx, h), x, h0=jnp.zeros((B, H)), dtype="float64", backend="jax")
    _close(ad.per_sequence, got, 1e-10)

    ref_lstm = cells.LSTM(f64(lstm.weight_ih), f64(lstm.weight_hh), f64(lstm.bias), None)
    got = lyapax.spectrum(lstm, x, dtype="float64").per_sequence
    _close(got, reference(ref_lstm, x))
    zeros = (jnp.zeros((B, H)), jnp.zeros((B, H)))  # equinox's carry is (h, c): lyapax's layout
    ad = lyapax.spectrum(
        lambda h, xx: jax.vmap(lstm)(xx, h), x, h0=zeros, dtype="float64", backend="jax")
    _close(ad.per_sequence, got, 1e-10)


def test_lyapax_cell_with_jax_weights(x):
    rng = np.random.default_rng(7)
    ref_cell = cells.GRU(rng.standard_normal((3 * H, F)), rng.standard_normal((3 * H, H)), rng.standard_normal(3 * H), None, reset_after=False)
    with jax.enable_x64(True):
        jcell = ref_cell.map_arrays(jnp.asarray)
    got = lyapax.spectrum(jcell, x)
    assert got.backend == "jax" and got.dtype == "float64"  # the weights' own dtype
    _close(got.per_sequence, reference(ref_cell, x))


def test_plain_function_on_numpy_inputs_needs_backend_name(x):
    with jax.enable_x64(True):
        cell = nnx.GRUCell(F, H, param_dtype=jnp.float64, rngs=nnx.Rngs(1))
    got = lyapax.spectrum(
        lambda h, xx: cell(h, xx)[0], x, h0=np.zeros((B, H)), backend="jax", dtype="float64")
    _close(got.per_sequence, reference(_nnx_gru_weights(cell), x), 1e-10)


def test_autonomous_map_with_pytree_state():
    """Hénon map written over a tuple state; inputs=None; known largest exponent ~0.419."""

    def henon(h, x):
        a, b = h
        return (1.0 - 1.4 * a**2 + b, 0.3 * a)

    h0 = (jnp.full((2,), 0.1), jnp.full((2,), 0.0))
    s = lyapax.spectrum(henon, None, steps=20_000, warmup=100, h0=h0, dtype="float64")
    assert s.backend == "jax"
    assert abs(s.exponents[0] - 0.419) < 0.01
    np.testing.assert_allclose(s.exponents.sum(), np.log(0.3), atol=1e-9)  # |det J| = b


def test_bidirectional_is_refused_clearly(x):
    def gru(seed):
        return nnx.RNN(nnx.GRUCell(F, H, rngs=nnx.Rngs(seed)))

    with pytest.raises(lyapax.ModelTypeError, match="nnx.Bidirectional .* not a causal dynamical system"):
        lyapax.spectrum(nnx.Bidirectional(gru(0), gru(1)), x)
    bi = nn.Bidirectional(nn.RNN(nn.GRUCell(features=H)), nn.RNN(nn.GRUCell(features=H)))
    v = bi.init(jax.random.key(0), jnp.zeros((B, 5, F)))
    with pytest.raises(lyapax.ModelTypeError, match="not a causal dynamical system"):
        lyapax.spectrum((bi, v), x)


def test_time_major_is_recorded_and_linen_rnn(x):
    """The layout a flax RNN declares is recorded in its plan; linen nn.RNN computes as its cell."""
    be = lyapax_jax.JaxBackend()
    cell = nnx.GRUCell(F, H, rngs=nnx.Rngs(0))
    assert be.plan(nnx.RNN(cell, time_major=True)).time_major is True
    assert be.plan(nnx.RNN(cell)).time_major is False
    assert be.plan(cell).time_major is None
    rnn = nn.RNN(nn.GRUCell(features=H), time_major=True)
    v = rnn.init(jax.random.key(0), jnp.zeros((5, B, F)))
    assert be.plan((rnn, v)).time_major is True
    ref = lyapax.spectrum((nn.GRUCell(features=H), {"params": v["params"]["cell"]}), x, dtype="float64").per_sequence
    got = lyapax.spectrum((rnn, v), np.swapaxes(x, 0, 1), time_major=True, dtype="float64").per_sequence
    _close(got, ref, 1e-12)
    with pytest.raises(lyapax.InputError, match="reverse"):
        lyapax.spectrum((nn.RNN(nn.GRUCell(features=H), reverse=True), v), x)
