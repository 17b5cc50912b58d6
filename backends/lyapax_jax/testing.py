"""Builders for lyapax's conformance suite (see `lyapax.testing.conformance`), in Flax NNX.

A canonical cell (PyTorch conventions, two biases) becomes the ``flax.nnx`` cell
with the same map, Flax kernels being ``(in, out)`` (transposed):

- Elman tanh/relu -> ``nnx.SimpleCell`` (``activation_fn``); it has one bias
  (``dense_i``), which holds ``bias_ih + bias_hh`` (both sit outside the
  nonlinearity, so this is the same map);
- LSTM -> ``nnx.LSTMCell`` (one Dense per gate ``i, f, g, o``; only the
  recurrent ones have a bias, which holds ``bias_ih + bias_hh`` of that gate);
  its carry is ``(c, h)``, lyapax's state ``[h; c]``;
- GRU with ``reset_after=True`` -> ``nnx.GRUCell``, whose equations are the
  core's: ``r = σ(W_ir x + b_ir + W_hr h)``, ``z = σ(W_iz x + b_iz + W_hz h)``,
  ``n = tanh(W_in x + b_in + r ⊙ (W_hn h))``, ``h' = (1 - z) ⊙ n + z ⊙ h``.
  ``b_hr`` and ``b_hz`` are folded into ``dense_i``'s bias (same map).
  ``b_hn`` sits inside the reset product and cannot be folded; flax's
  ``dense_h`` has no bias, so a cell with a nonzero ``b_hn`` gets a
  ``dense_h = nnx.Linear(H, 3H, use_bias=True)`` holding ``[0, 0, b_hn]``: the
  GRUCell's own ``__call__`` then computes ``r ⊙ (W_hn h + b_hn)`` exactly (the
  form PyTorch GRU weights need when ported to flax);
- a homogeneous `lyapax.cells.Stack` -> a small ``nnx.Module`` holding
  an ``nnx.List`` of ``nnx.RNN`` layers applied in order (the multi-layer form
  the backend takes, see docs/backends/jax.md).

Flax has no GRU with the reset gate before the recurrent matmul, so
``"gru_before"`` is not among `KINDS`.

float64 needs JAX's x64 mode: models and arrays are built inside the backend's
scoped `x64` switch (the arrays stay float64 after
it; `lyapax.spectrum` enters the scope again to compute).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import lyapax

from .namespace import x64

__all__ = ["KINDS", "native_model", "native_array", "native_step", "linear_step", "snapshot"]

KINDS = ("tanh", "relu", "lstm", "gru")


def _jdtype(name: str) -> Any:
    return {"float32": jnp.float32, "float64": jnp.float64}[name]


def _set(var: Any, value: np.ndarray, dtype: str) -> None:
    arr = jnp.asarray(np.asarray(value, dtype=np.float64), dtype=_jdtype(dtype))
    if tuple(arr.shape) != tuple(var.shape):
        raise ValueError(f"shape mismatch: {arr.shape} vs {var.shape}")
    if hasattr(var, "set_value"):
        var.set_value(arr)
    else:  # older flax
        var.value = arr


def _np(a: Any, n: int) -> np.ndarray:
    return np.zeros(n) if a is None else np.asarray(a, dtype=np.float64)


@functools.lru_cache(maxsize=1)
def _stack_class() -> type:
    class StackedRNN(nnx.Module):
        """``nnx.RNN`` layers applied one after the other (batch-first)."""

        def __init__(self, layers: list) -> None:
            self.layers = nnx.List(layers)

        def __call__(self, x: Any) -> Any:
            for layer in self.layers:
                x = layer(x)
            return x

    return StackedRNN


def _abstract(module: type, *args: Any, **kwargs: Any) -> Any:
    """``module(*args, **kwargs)`` with shapes only (`nnx.eval_shape`): its initialisers never run,
    because each drawn shape compiled them anew (a third of the conformance suite's time, measured)."""
    return nnx.eval_shape(lambda: module(*args, rngs=nnx.Rngs(0), **kwargs))


def _all_set(m: Any) -> Any:
    """``m``, after checking that every one of its variables was given a value."""
    unset = [jax.tree_util.keystr(path) for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.state(m))
             if isinstance(leaf, jax.ShapeDtypeStruct)]
    if unset:
        raise ValueError(f"{type(m).__name__}: no value given to {unset}")
    return m


def _nnx_cell(cell: lyapax.cells.Cell, dtype: str) -> Any:
    """The flax.nnx cell holding ``cell``'s weights (call inside the x64 scope for float64)."""
    return _all_set(_filled_cell(cell, dtype))


def _filled_cell(cell: lyapax.cells.Cell, dtype: str) -> Any:
    jdt = _jdtype(dtype)
    W_ih, W_hh = np.asarray(cell.weight_ih, np.float64), np.asarray(cell.weight_hh, np.float64)
    F = W_ih.shape[1]
    kw = {"dtype": jdt, "param_dtype": jdt}
    if isinstance(cell, lyapax.cells.Elman):
        if cell.nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"flax.nnx.SimpleCell has no standard {cell.nonlinearity!r} activation")
        H = W_hh.shape[0]
        act = {"tanh": nnx.tanh, "relu": nnx.relu}[cell.nonlinearity]
        m = _abstract(nnx.SimpleCell, F, H, activation_fn=act, **kw)
        _set(m.dense_i.kernel, W_ih.T, dtype)
        _set(m.dense_h.kernel, W_hh.T, dtype)
        _set(m.dense_i.bias, _np(cell.bias_ih, H) + _np(cell.bias_hh, H), dtype)
        return m
    if isinstance(cell, lyapax.cells.LSTM):
        if cell.weight_hr is not None:
            raise ValueError("flax.nnx.LSTMCell has no projection (weight_hr)")
        H = W_hh.shape[1]
        m = _abstract(nnx.LSTMCell, F, H, **kw)
        b = _np(cell.bias_ih, 4 * H) + _np(cell.bias_hh, 4 * H)
        for g, (i_mod, h_mod) in enumerate([(m.ii, m.hi), (m.if_, m.hf), (m.ig, m.hg), (m.io, m.ho)]):
            rows = slice(g * H, (g + 1) * H)
            _set(i_mod.kernel, W_ih[rows].T, dtype)
            _set(h_mod.kernel, W_hh[rows].T, dtype)
            _set(h_mod.bias, b[rows], dtype)
        return m
    if isinstance(cell, lyapax.cells.GRU):
        if not cell.reset_after:
            raise ValueError("flax.nnx.GRUCell applies the reset gate after the recurrent matmul (reset_after=True)")
        H = W_hh.shape[1]
        m = _abstract(nnx.GRUCell, F, H, **kw)
        b_ih, b_hh = _np(cell.bias_ih, 3 * H), _np(cell.bias_hh, 3 * H)
        folded = b_ih.copy()
        folded[: 2 * H] += b_hh[: 2 * H]  # b_hr, b_hz sit outside the reset product
        _set(m.dense_i.kernel, W_ih.T, dtype)
        _set(m.dense_i.bias, folded, dtype)
        if np.any(b_hh[2 * H :] != 0):  # b_hn sits inside r ⊙ (W_hn h + b_hn): give dense_h a bias
            m.dense_h = _abstract(nnx.Linear, H, 3 * H, use_bias=True, **kw)
            _set(m.dense_h.bias, np.concatenate([np.zeros(2 * H), b_hh[2 * H :]]), dtype)
        _set(m.dense_h.kernel, W_hh.T, dtype)
        return m
    raise ValueError(f"no flax.nnx cell for {type(cell).__name__}")


def native_model(cell: lyapax.cells.Cell, dtype: str = "float64") -> Any:
    """An ``nnx`` cell, or a module holding ``nnx.RNN`` layers for a stack, with ``cell``'s weights."""
    with x64(dtype == "float64"):
        if not isinstance(cell, lyapax.cells.Stack):
            return _nnx_cell(cell, dtype)

        return _stack_class()([nnx.RNN(_nnx_cell(layer, dtype)) for layer in cell.layers])


def native_array(a: np.ndarray, dtype: str) -> Any:
    """A numpy array as a ``jax.Array`` of ``dtype`` (float64 ones stay float64 outside the x64 scope)."""

    with x64(dtype == "float64"):
        return jnp.asarray(np.array(a, dtype=np.float64), dtype=_jdtype(dtype))


def _cells(model: Any) -> list:
    if isinstance(model, nnx.RNN):
        return [model.cell]
    if isinstance(model, nnx.RNNCellBase):
        return [model]
    return [layer.cell for layer in model.layers]


def native_step(model: Any, h: np.ndarray, x: np.ndarray, dtype: str) -> np.ndarray:
    """One step of the flax cells' own ``__call__`` from the flat canonical state ``h (B, d)``.

    lyapax's state is ``[h; c]`` per LSTM layer (flax's carry is ``(c, h)``) and
    the layers' states one after the other.
    """

    with x64(dtype == "float64"):
        state = native_array(h, dtype)
        inp = native_array(x, dtype)
        out, pos = [], 0
        for cell in _cells(model):
            H = cell.hidden_features
            if isinstance(cell, nnx.LSTMCell):
                hh, cc = state[:, pos : pos + H], state[:, pos + H : pos + 2 * H]
                (c_new, h_new), inp = cell((cc, hh), inp)
                out += [h_new, c_new]
                pos += 2 * H
            else:
                new, inp = cell(state[:, pos : pos + H], inp)
                out.append(new)
                pos += H
        if pos != state.shape[1]:
            raise ValueError(f"h: expected {pos} state columns, got {state.shape[1]}")
        return np.asarray(jnp.concatenate(out, axis=1), dtype=np.float64)


def linear_step(A: np.ndarray, U: np.ndarray, dtype: str) -> Callable[[Any, Any], Any]:
    """``f(h, x) = h A^T + x U^T`` in ``jax.numpy`` (exercises the autodiff path)."""
    At, Ut = native_array(np.asarray(A).T, dtype), native_array(np.asarray(U).T, dtype)
    return lambda h, x: h @ At + x @ Ut


def snapshot(model: Any) -> list:
    """Everything of an nnx model a computation must leave as it was: every variable (parameters,
    RNG keys and counts) as numpy arrays."""

    def value(a: Any) -> np.ndarray:
        return np.array(jax.random.key_data(a) if jnp.issubdtype(a.dtype, jax.dtypes.prng_key) else a)

    if not isinstance(model, nnx.Module):
        return []
    return [value(a) for a in jax.tree_util.tree_leaves(nnx.state(model))]
