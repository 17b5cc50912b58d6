"""Flax (nnx, linen) and Equinox standard cells as the core's canonical cells.

Each converter reads the library's own parameters and returns a
:mod:`lyapax.cells` cell with ``jax.numpy`` weights (PyTorch conventions:
weights ``(out, in)``, gate rows ``i, f, g, o`` for the LSTM and ``r, z, n``
for the GRU, LSTM state ``[h; c]``). Only ``jnp`` operations are used, so the
conversion can run under ``jax.grad``/``jax.jit`` (the functional API traces
it). A converter returns ``None`` when a cell is not standard (e.g. a custom
``activation_fn``): the adapter then falls back to the autodiff tangent map.

Conventions of the libraries (checked against their source):

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

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lyapax.cells import GRU, LSTM, Cell, Elman, Stack
from lyapax.errors import InputError

__all__ = ["Standard", "standard_cell", "nnx_rnn_stack_layers"]


@dataclass
class Standard:
    """A standard cell converted to a canonical one.

    Attributes:
        cell: the canonical cell (``jnp`` weights).
        carry_to_state: the library's carry (e.g. flax LSTM's ``(c, h)``) to the
            core's ``(B, d)`` state.
        name: a short description for reports.
    """

    cell: Cell
    carry_to_state: Callable[[Any], Any]
    name: str


def _jnp():
    import jax.numpy as jnp

    return jnp


def _val(v: Any) -> Any:
    """The array of an nnx Variable (or the array itself)."""
    if hasattr(v, "get_value"):
        return v.get_value()
    if hasattr(v, "value"):
        return v.value
    return v


def _is_std(fn: Any, name: str) -> bool:
    import jax

    ref = {"tanh": (jax.numpy.tanh, jax.nn.tanh if hasattr(jax.nn, "tanh") else jax.numpy.tanh),
           "sigmoid": (jax.nn.sigmoid,),
           "relu": (jax.nn.relu,)}[name]
    return any(fn is r for r in ref)


def _act_name(fn: Any) -> str | None:
    for n in ("tanh", "relu"):
        if _is_std(fn, n):
            return n
    return None


def _lstm_gates_ok(cell: Any) -> bool:
    return _is_std(getattr(cell, "gate_fn", None), "sigmoid") and _is_std(getattr(cell, "activation_fn", None), "tanh")


# --- carries -------------------------------------------------------------------------


def _h_carry(carry: Any) -> Any:
    return carry


def _ch_carry(carry: Any) -> Any:
    c, h = carry
    return _jnp().concatenate([h, c], axis=-1)


def _hc_carry(carry: Any) -> Any:
    h, c = carry
    return _jnp().concatenate([h, c], axis=-1)


# --- flax (shared by nnx and linen) ----------------------------------------------------


def _flax_simple(Wi, bi, Wh, residual, act, hidden):
    jnp = _jnp()
    Whh = Wh.T
    if residual:
        Whh = Whh + jnp.eye(hidden, dtype=Whh.dtype)
    return Elman(weight_ih=Wi.T, weight_hh=Whh, bias_ih=bi, bias_hh=None, nonlinearity=act)


def _flax_lstm(Wi_gates, Wh_gates, bh_gates):
    """Gates given in the order i, f, g, o as (in, out) kernels."""
    jnp = _jnp()
    return LSTM(
        weight_ih=jnp.concatenate([w.T for w in Wi_gates], axis=0),
        weight_hh=jnp.concatenate([w.T for w in Wh_gates], axis=0),
        bias_ih=None,
        bias_hh=jnp.concatenate(bh_gates, axis=0),
    )


def _flax_gru(Wi, bi, Wh, bhn, hidden):
    """``Wi (F, 3H)``, ``bi (3H,)``, ``Wh (H, 3H)``, ``bhn (H,)`` or None; gates r, z, n."""
    jnp = _jnp()
    bias_hh = None
    if bhn is not None:
        bias_hh = jnp.concatenate([jnp.zeros((2 * hidden,), dtype=bhn.dtype), bhn])
    return GRU(weight_ih=Wi.T, weight_hh=Wh.T, bias_ih=bi, bias_hh=bias_hh, reset_after=True)


# --- nnx ------------------------------------------------------------------------------


def _nnx_cell(cell: Any) -> Standard | None:
    from flax import nnx

    name = type(cell).__name__
    if type(cell) is nnx.SimpleCell:
        act = _act_name(cell.activation_fn)
        if act is None:
            return None
        bias = None if cell.dense_i.bias is None else _val(cell.dense_i.bias)
        wh = _val(cell.dense_h.kernel)
        ec = _flax_simple(_val(cell.dense_i.kernel), bias, wh, bool(cell.residual), act, cell.hidden_features)
        return Standard(ec, _h_carry, f"flax.nnx.{name}")
    if type(cell) is nnx.LSTMCell:
        if not _lstm_gates_ok(cell):
            return None
        ins = [cell.ii, cell.if_, cell.ig, cell.io]
        hs = [cell.hi, cell.hf, cell.hg, cell.ho]
        lc = _flax_lstm([_val(m.kernel) for m in ins], [_val(m.kernel) for m in hs], [_val(m.bias) for m in hs])
        return Standard(lc, _ch_carry, f"flax.nnx.{name}")
    if type(cell) is nnx.OptimizedLSTMCell:
        if not _lstm_gates_ok(cell):
            return None
        jnp = _jnp()
        wi, wh, bh = _val(cell.dense_i.kernel), _val(cell.dense_h.kernel), _val(cell.dense_h.bias)
        lc = LSTM(weight_ih=wi.T, weight_hh=wh.T, bias_ih=None, bias_hh=jnp.asarray(bh))
        return Standard(lc, _ch_carry, f"flax.nnx.{name}")
    if type(cell) is nnx.GRUCell:
        if not _lstm_gates_ok(cell):
            return None
        gc = _flax_gru(_val(cell.dense_i.kernel), _val(cell.dense_i.bias), _val(cell.dense_h.kernel), None, cell.hidden_features)
        if getattr(cell.dense_h, "bias", None) is not None:
            # a dense_h given a bias (e.g. to hold PyTorch's b_hn): r multiplies W_h h + b_h, which is bias_hh
            gc = GRU(weight_ih=gc.weight_ih, weight_hh=gc.weight_hh, bias_ih=gc.bias_ih,
                     bias_hh=_val(cell.dense_h.bias), reset_after=True)
        return Standard(gc, _h_carry, f"flax.nnx.{name}")
    return None


def _rnn_ok(rnn: Any) -> None:
    if rnn.reverse:
        raise InputError(
            "model: an nnx.RNN with reverse=True runs backwards in time, which is not a forward dynamical system; "
            "use reverse=False."
        )
    if rnn.time_major:
        raise InputError("model: nnx.RNN(time_major=True) is not supported: lyapax inputs are batch-first (batch, time, features).")


def nnx_rnn_stack_layers(module: Any) -> list | None:
    """The nnx.RNN layers of a small module that holds only a stack of them, in attribute order.

    ``None`` when the module has any other submodule (then it is not taken as a plain stack).
    """
    from flax import nnx

    layers: list = []
    for key, value in vars(module).items():
        if key.startswith("_"):
            continue
        items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "List" else [value]
        for item in items:
            if isinstance(item, nnx.RNN):
                layers.append(item)
            elif isinstance(item, nnx.Module):
                return None
    return layers or None


def _nnx(model: Any) -> Standard | None:
    from flax import nnx

    if isinstance(model, nnx.RNN):
        _rnn_ok(model)
        return _nnx_cell(model.cell)
    if isinstance(model, nnx.RNNCellBase):
        return _nnx_cell(model)
    layers = nnx_rnn_stack_layers(model)
    if layers is None:
        return None
    converted = []
    for rnn in layers:
        _rnn_ok(rnn)
        s = _nnx_cell(rnn.cell)
        if s is None:
            return None
        converted.append(s)
    stack = Stack([s.cell for s in converted])
    return Standard(stack, _stack_carry([s.carry_to_state for s in converted]), f"{type(model).__name__} (stack of nnx.RNN)")


def _stack_carry(convs: list) -> Callable[[Any], Any]:
    def to_state(carry: Any) -> Any:
        if not isinstance(carry, (list, tuple)) or len(carry) != len(convs):
            raise InputError(
                f"h0: a stack of {len(convs)} RNN layers takes a list with one carry per layer "
                f"(each in the cell's own format, e.g. (c, h) for an LSTM cell), got {type(carry).__name__}."
            )
        return _jnp().concatenate([c(x) for c, x in zip(convs, carry)], axis=-1)

    return to_state


# --- linen ----------------------------------------------------------------------------


def _linen(module: Any, variables: Any) -> Standard | None:
    import flax.linen as nn

    name = type(module).__name__
    p = variables.get("params", variables) if hasattr(variables, "get") else None
    if p is None:
        return None
    try:
        if type(module) is nn.SimpleCell:
            act = _act_name(module.activation_fn)
            if act is None:
                return None
            bias = p["i"].get("bias")
            ec = _flax_simple(p["i"]["kernel"], bias, p["h"]["kernel"], bool(module.residual), act, module.features)
            return Standard(ec, _h_carry, f"flax.linen.{name}")
        if type(module) in (nn.LSTMCell, nn.OptimizedLSTMCell):
            if not _lstm_gates_ok(module):
                return None
            g = "ifgo"
            lc = _flax_lstm([p["i" + k]["kernel"] for k in g], [p["h" + k]["kernel"] for k in g], [p["h" + k]["bias"] for k in g])
            return Standard(lc, _ch_carry, f"flax.linen.{name}")
        if type(module) is nn.GRUCell:
            if not _lstm_gates_ok(module):
                return None
            jnp = _jnp()
            Wi = jnp.concatenate([p["i" + k]["kernel"] for k in "rzn"], axis=1)
            bi = jnp.concatenate([p["i" + k]["bias"] for k in "rzn"])
            Wh = jnp.concatenate([p["h" + k]["kernel"] for k in "rzn"], axis=1)
            gc = _flax_gru(Wi, bi, Wh, p["hn"]["bias"], module.features)
            return Standard(gc, _h_carry, f"flax.linen.{name}")
    except (KeyError, TypeError) as exc:
        raise InputError(
            f"model: the variables do not match flax.linen.{name} (missing {exc}); pass the variables "
            "returned by module.init(...) for this module."
        ) from exc
    return None


# --- equinox --------------------------------------------------------------------------


def _eqx(model: Any) -> Standard | None:
    import equinox as eqx

    if type(model) is eqx.nn.GRUCell:
        H = model.hidden_size
        gc = _flax_gru(model.weight_ih.T, model.bias, model.weight_hh.T, model.bias_n, H)
        return Standard(gc, _h_carry, "equinox.nn.GRUCell")
    if type(model) is eqx.nn.LSTMCell:
        lc = LSTM(weight_ih=model.weight_ih, weight_hh=model.weight_hh, bias_ih=model.bias, bias_hh=None)
        return Standard(lc, _hc_carry, "equinox.nn.LSTMCell")
    return None


def standard_cell(kind: str, model: Any, variables: Any = None) -> Standard | None:
    """The canonical cell of a standard model of library ``kind`` ('nnx', 'linen', 'eqx'), else ``None``."""
    if kind == "nnx":
        return _nnx(model)
    if kind == "linen":
        return _linen(model, variables)
    if kind == "eqx":
        return _eqx(model)
    return None


def flax_loaded(sub: str) -> Any:
    """``flax.nnx`` / ``flax.linen`` / ``equinox`` if the user has imported it, else ``None``."""
    return sys.modules.get(sub)
