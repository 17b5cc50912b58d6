"""What the JAX libraries' modules share: reading arrays and activations, refusing non-causal layers,
and the canonical cells of flax's weight layouts.

Standard cells become `lyapax.cells` cells (PyTorch conventions: weights ``(out, in)``,
LSTM gates ``i, f, g, o``, GRU gates ``r, z, n``, LSTM state ``[h; c]``), their arrays
passed through the core's ``convert`` (dtype, device) before any arithmetic. Conventions
of the libraries (checked against their source):

- Flax kernels are ``(in, out)``: transposed here.
- Flax LSTM (``LSTMCell``: one Dense per gate ``ii, if, ig, io`` without bias
  and ``hi, hf, hg, ho`` with bias; ``OptimizedLSTMCell`` (nnx): ``dense_i``
  and ``dense_h`` with the gates concatenated ``i, f, g, o``). Carry ``(c, h)``.
- Flax GRU: input Dense with bias, recurrent Dense without bias except the
  candidate's (linen ``hn``); the reset gate multiplies ``W_hn h (+ b_hn)``,
  i.e. ``reset_after=True``. Carry ``h``.
- Flax SimpleCell: ``act(W_i x + b_i + W_h h (+ h if residual))``; the residual
  connection is folded into the recurrent weights (``W_h + I``).
- Equinox ``GRUCell``: ``bias`` (3H) on the input side, ``bias_n`` inside the
  reset product (``reset_after=True``); ``LSTMCell``: one ``bias`` (4H), gates
  ``i, f, g, o``, carry ``(h, c)``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lyapax.cells import LSTM, Elman
from lyapax.errors import InputError, ModelTypeError

__all__ = [
    "arrays_of", "value_of", "activation_name", "standard_gates", "carry_kind", "check_rnn", "bidirectional_error",
    "traced", "flax_simple", "flax_lstm", "reset_bias",
]


def arrays_of(tree: Any) -> list:
    """The array leaves of a pytree."""
    return [a for a in jax.tree_util.tree_leaves(tree) if hasattr(a, "dtype")]


def value_of(v: Any) -> Any:
    """The array of an nnx Variable (or the array itself)."""
    return v.get_value() if hasattr(v, "get_value") else getattr(v, "value", v)


def activation_name(fn: Any) -> str | None:
    """``"tanh"`` or ``"relu"`` for those activations, else ``None``."""
    if fn is jnp.tanh or fn is getattr(jax.nn, "tanh", jnp.tanh):
        return "tanh"
    return "relu" if fn is jax.nn.relu else None


def standard_gates(cell: Any) -> bool:
    """Whether a gated flax cell has the standard sigmoid gates and tanh activation."""
    return getattr(cell, "gate_fn", None) is jax.nn.sigmoid and activation_name(getattr(cell, "activation_fn", None)) == "tanh"


def carry_kind(cell: Any, simple: type, lstms: tuple[type, ...], gru: type) -> str | None:
    """The carry format of a standard flax cell (``"h"``, ``"ch"``), ``None`` if not standard; the
    library's classes are passed: its ``SimpleCell``, LSTM cells and ``GRUCell``."""
    if type(cell) is simple:
        return "h" if activation_name(cell.activation_fn) else None
    if type(cell) in lstms:
        return "ch" if standard_gates(cell) else None
    if type(cell) is gru:
        return "h" if standard_gates(cell) else None
    return None


def check_rnn(rnn: Any, what: str) -> None:
    """Refuse an RNN layer that runs backwards in time."""
    if rnn.reverse:
        raise InputError(
            f"model: an {what} with reverse=True runs backwards in time, which is not a forward dynamical system; "
            "use reverse=False."
        )


def bidirectional_error(what: str) -> ModelTypeError:
    return ModelTypeError(
        f"model: {what} reads each sequence backwards as well as forwards, so it is not a causal dynamical system "
        "and has no Lyapunov spectrum. Pass its forward layer (model.forward_rnn) with the same inputs instead."
    )


def traced(*trees: Any) -> bool:
    """Whether any leaf is a tracer (inside a JAX transformation)."""
    return any(isinstance(a, jax.core.Tracer) for a in jax.tree_util.tree_leaves(trees))


def flax_simple(Wi: Any, bi: Any, Wh: Any, residual: bool, act: str) -> Elman:
    """The Elman cell of a flax ``SimpleCell``'s ``(in, out)`` kernels."""
    Whh = Wh.T + jnp.eye(Wh.shape[0], dtype=Wh.dtype) if residual else Wh.T
    return Elman(weight_ih=Wi.T, weight_hh=Whh, bias_ih=bi, bias_hh=None, nonlinearity=act)


def flax_lstm(Wi: list, Wh: list, bh: list) -> LSTM:
    """Per-gate ``(in, out)`` kernels and recurrent biases in the order i, f, g, o."""
    return LSTM(
        weight_ih=jnp.concatenate([w.T for w in Wi], axis=0),
        weight_hh=jnp.concatenate([w.T for w in Wh], axis=0),
        bias_hh=jnp.concatenate(bh, axis=0),
    )


def reset_bias(b_hn: Any) -> Any:
    """``[0, 0, b_hn]``: a GRU's candidate recurrent bias as the core's ``bias_hh``."""
    return None if b_hn is None else jnp.concatenate([jnp.zeros((2 * b_hn.shape[0],), b_hn.dtype), b_hn])
