"""equinox models as the core's `Plan`: ``nn.GRUCell``/``nn.LSTMCell`` (analytic), any module as
``module(h, x)`` (`call_module`; the static part of ``eqx.partition(model, eqx.is_array)`` keys
compiled code)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx

from lyapax.backend import Plan
from lyapax.cells import GRU, LSTM, Cell
from lyapax.tangent import Step

from ..state import flatten_h0
from .common import arrays_of, reset_bias

__all__ = ["Equinox", "LIBRARY", "call_module"]


def call_module(static: Any, params: Any, h: Any, x: Any) -> Any:
    """``model(h, x)`` for the equinox module ``eqx.combine(params, static)``."""
    return eqx.combine(params, static)(h, x)


def canonical_cell(model: Any, convert: Callable[[Any], Any]) -> Cell:
    """The core cell of an equinox ``GRUCell``/``LSTMCell``, each weight read through ``convert``."""

    def get(a: Any) -> Any:
        return None if a is None else convert(a)

    if type(model) is eqx.nn.GRUCell:
        return GRU(get(model.weight_ih), get(model.weight_hh), get(model.bias), reset_bias(get(model.bias_n)))
    return LSTM(get(model.weight_ih), get(model.weight_hh), bias_ih=get(model.bias))


class Equinox:
    """equinox: ``nn.GRUCell``/``nn.LSTMCell`` (analytic), any module as ``module(h, x)``."""

    by_type = True

    def matches(self, model: Any) -> bool:
        return isinstance(model, eqx.Module)

    def plan(self, model: Any) -> Plan:
        arrays, static = eqx.partition(model, eqx.is_array)
        if type(model) in (eqx.nn.GRUCell, eqx.nn.LSTMCell):
            name = f"equinox.nn.{type(model).__name__}"
            kind = "h" if type(model) is eqx.nn.GRUCell else "hc"
            return Plan(
                name, arrays_of(arrays), model.input_size,
                cell=functools.partial(canonical_cell, model),
                state=functools.partial(flatten_h0, (name, (kind,))),
            )
        return Plan(type(model).__name__, arrays_of(arrays), step=Step(call_module, static, arrays, output="auto"))

    def with_params(self, model: Any, params: Any) -> Any:
        return eqx.combine(params, model)


LIBRARY = Equinox()
