"""flax.nnx models as the core's `Plan`: standard cells (analytic), ``nnx.RNN``, modules holding a
stack of ``nnx.RNN`` layers, any other module as ``module(h, x)`` (`call_module`).

Autodiff steps run on ``nnx.merge(graphdef, state)``: the graph definition is the static part,
the state the arrays; the user's module is only read (``nnx.split``, ``nnx.clone``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from flax import nnx

from lyapax.backend import Plan, whole_model_hint
from lyapax.cells import GRU, LSTM, Cell, Stack
from lyapax.errors import InputError, ModelTypeError
from lyapax.tangent import Step

from ..state import flatten_h0
from .common import (
    activation_name,
    arrays_of,
    bidirectional_error,
    carry_kind,
    check_rnn,
    flax_lstm,
    flax_simple,
    traced,
    value_of,
)

__all__ = ["Nnx", "LIBRARY", "call_module", "call_stack", "rnn_layers"]


def call_module(static: Any, params: Any, h: Any, x: Any) -> Any:
    """``module(h, x)`` for the nnx module ``nnx.merge(static, params)`` (a new object)."""
    return nnx.merge(static, params)(h, x)


def rnn_layers(module: Any) -> list | None:
    """The ``nnx.RNN`` layers of a module that holds nothing but them, in attribute order, else ``None``."""
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


def call_stack(static: Any, params: Any, h: list, x: Any) -> list:
    """One step of every ``nnx.RNN`` layer's cell in turn; ``h`` is the list of the layers' carries."""
    new, inp = [], x
    for rnn, carry in zip(rnn_layers(nnx.merge(static, params)), h):
        carry, inp = rnn.cell(carry, inp)
        new.append(carry)
    return new


def _kind(cell: Any) -> str | None:
    return carry_kind(cell, nnx.SimpleCell, (nnx.LSTMCell, nnx.OptimizedLSTMCell), nnx.GRUCell)


def canonical_cell(model: Any, convert: Callable[[Any], Any]) -> Cell:
    """The core cell with a standard nnx cell's weights, each read through ``convert``."""
    cell = model

    def get(v: Any) -> Any:
        return None if v is None else convert(value_of(v))

    if type(cell) is nnx.SimpleCell:
        act = activation_name(cell.activation_fn)
        return flax_simple(get(cell.dense_i.kernel), get(cell.dense_i.bias), get(cell.dense_h.kernel), cell.residual, act)
    if type(cell) is nnx.LSTMCell:
        hs = (cell.hi, cell.hf, cell.hg, cell.ho)
        ins = [get(m.kernel) for m in (cell.ii, cell.if_, cell.ig, cell.io)]
        return flax_lstm(ins, [get(m.kernel) for m in hs], [get(m.bias) for m in hs])
    if type(cell) is nnx.OptimizedLSTMCell:
        return LSTM(weight_ih=get(cell.dense_i.kernel).T, weight_hh=get(cell.dense_h.kernel).T, bias_hh=get(cell.dense_h.bias))
    # GRUCell; a dense_h given a bias (PyTorch's b_hn ported): r multiplies W_h h + b_h, which is bias_hh
    return GRU(
        weight_ih=get(cell.dense_i.kernel).T,
        weight_hh=get(cell.dense_h.kernel).T,
        bias_ih=get(cell.dense_i.bias),
        bias_hh=get(getattr(cell.dense_h, "bias", None)),
    )


def _initial_carry(cells: list, stacked: bool) -> Callable[[int, int | None], Any]:
    """``Step.carry``: the cells' ``initialize_carry`` (fresh RNGs: the module's own are not advanced)."""

    def carry(batch: int, features: int | None) -> Any:
        out, feats = [], features
        for cell in cells:
            out.append(cell.initialize_carry((batch, feats or getattr(cell, "in_features", 1)), rngs=nnx.Rngs(0)))
            feats = getattr(cell, "hidden_features", None)
        return out if stacked else out[0]

    return carry


def _check_stack(model: Any, time_major: bool, dynamics: Any, xs: Any, h0: Any) -> None:
    """``Plan.check``: a module taken as a stack of nnx.RNN layers must compute what that stack computes.

    Compared on the first input steps with the module's own forward pass (on a clone: calling an
    ``nnx.RNN`` advances its RNG state). Skipped under a JAX transformation (nothing concrete to compare).
    """
    if xs is None or traced(xs, h0, nnx.state(model)):
        return
    probe = xs[: min(int(xs.shape[0]), 4)]  # time-major
    floats = [a.dtype for a in arrays_of(nnx.state(model, nnx.Param)) if jnp.issubdtype(a.dtype, jnp.floating)]
    own = probe.astype(floats[0] if floats else probe.dtype)
    try:
        expected = nnx.clone(model)(own if time_major else jnp.swapaxes(own, 0, 1))
    except Exception as exc:  # noqa: BLE001
        raise ModelTypeError(
            f"model: {type(model).__name__} holds nnx.RNN layers but calling it on the inputs failed ({exc}); "
            "pass a step function f(h, x) -> h_next instead."
        ) from exc
    h, outs = jnp.zeros_like(h0), []
    for t in range(int(probe.shape[0])):
        h = dynamics.step(jnp, h, probe[t])
        if isinstance(dynamics, Stack):
            a = dynamics.offsets[-2]
            outs.append(h[:, a : a + dynamics.layers[-1].output_size])
        else:  # the flattened list of carries: the last layer's output is its h
            last = dynamics.layout.unflatten(dynamics.backend, jnp, h)[-1]
            outs.append(last[1] if isinstance(last, (tuple, list)) else last)
    ours = jnp.stack(outs, axis=0 if time_major else 1)
    same = getattr(expected, "shape", None) == ours.shape
    if not (same and bool(jnp.allclose(jnp.asarray(expected, ours.dtype), ours, rtol=1e-3, atol=1e-4))):
        raise ModelTypeError(
            f"model: {type(model).__name__} holds nnx.RNN layers, but its output is not that of those layers "
            "applied one after the other in attribute order (lyapax checked on the first input steps). "
            "Pass a step function f(h, x) -> h_next that advances all layers by one step instead."
        )


class Nnx:
    """flax.nnx: standard cells (analytic), ``nnx.RNN``, stacks of ``nnx.RNN``, any module as ``module(h, x)``."""

    by_type = True

    def matches(self, model: Any) -> bool:
        return isinstance(model, nnx.Module)

    def plan(self, model: Any) -> Plan:
        if isinstance(model, nnx.Bidirectional):
            raise bidirectional_error("nnx.Bidirectional")
        if isinstance(model, nnx.RNN):
            check_rnn(model, "nnx.RNN")
            return self._cell(model.cell, f"flax.nnx.RNN({type(model.cell).__name__})", model.time_major)
        if isinstance(model, nnx.RNNCellBase):
            return self._cell(model, f"flax.nnx.{type(model).__name__}")
        layers = rnn_layers(model)
        if layers is not None:
            return self._stack(model, layers)
        carry = _initial_carry([model], stacked=False) if hasattr(model, "initialize_carry") else None
        graphdef, state = nnx.split(model)
        walk = getattr(nnx, "iter_modules", None) or nnx.iter_graph  # flax < 0.12.1 has only iter_graph
        inner = [(tuple(path), type(m).__name__) for path, m in walk(model)
                 if path and isinstance(m, (nnx.RNN, nnx.RNNCellBase))]
        inner = [(p, c) for p, c in inner if not any(p[: len(q)] == q and p != q for q, _ in inner)]
        return Plan(
            f"flax.nnx.{type(model).__name__}",
            arrays_of(nnx.state(model, nnx.Param)),
            step=Step(call_module, graphdef, state, carry=carry, output="auto"),
            hint=whole_model_hint(model, inner),
        )

    def with_params(self, model: Any, params: Any) -> Any:
        graphdef, _, rest = nnx.split(model, nnx.Param, ...)
        try:
            return nnx.merge(graphdef, params, rest)
        except Exception as exc:  # noqa: BLE001
            raise InputError(
                f"params: does not fit the nnx module {type(model).__name__} ({exc}); pass nnx.state(model, nnx.Param)."
            ) from exc

    def _cell(self, cell: Any, name: str, time_major: bool | None = None) -> Plan:
        kind = _kind(cell)
        params = arrays_of(nnx.state(cell, nnx.Param))
        size = getattr(cell, "in_features", None)
        if kind is not None:
            return Plan(
                name, params, size, time_major,
                cell=functools.partial(canonical_cell, cell),
                state=functools.partial(flatten_h0, (name, (kind,))),
            )
        graphdef, state = nnx.split(cell)
        step = Step(call_module, graphdef, state, carry=_initial_carry([cell], stacked=False), output="carry")
        return Plan(name, params, size, time_major, step=step)

    def _stack(self, model: Any, layers: list) -> Plan:
        for rnn in layers:
            check_rnn(rnn, "nnx.RNN")
        cells = [rnn.cell for rnn in layers]
        kinds = tuple(_kind(c) for c in cells)
        name = f"{type(model).__name__} (stack of nnx.RNN)"
        time_major = layers[0].time_major
        common = dict(
            name=name,
            params=arrays_of(nnx.state(model, nnx.Param)),
            input_size=getattr(cells[0], "in_features", None),
            time_major=time_major,
            check=functools.partial(_check_stack, model, time_major),
        )
        if all(kinds):
            return Plan(**common, cell=lambda convert: Stack([canonical_cell(c, convert) for c in cells]),
                        state=functools.partial(flatten_h0, (name, kinds)))
        graphdef, state = nnx.split(model)
        return Plan(**common, step=Step(call_stack, graphdef, state, carry=_initial_carry(cells, stacked=True)))


LIBRARY = Nnx()
