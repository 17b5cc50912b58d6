"""flax.linen models as the core's `Plan`: ``(module, variables)`` or a bound module; standard cells
(analytic), ``nn.RNN``, any module as ``module.apply(variables, h, x)`` (`call_module`; the unbound
module is the static part)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lyapax.backend import Plan
from lyapax.cells import GRU, Cell
from lyapax.errors import InputError
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
    reset_bias,
)

__all__ = ["Linen", "LIBRARY", "call_module"]


def call_module(static: Any, params: Any, h: Any, x: Any) -> Any:
    """``static.apply(params, h, x)`` for an unbound linen module ``static`` and its variables ``params``."""
    return static.apply(params, h, x)


def _kind(module: Any) -> str | None:
    return carry_kind(module, nn.SimpleCell, (nn.LSTMCell, nn.OptimizedLSTMCell), nn.GRUCell)


def canonical_cell(model: tuple, convert: Callable[[Any], Any]) -> Cell:
    """The core cell of a standard linen cell ``model = (module, params)``, each weight read through ``convert``."""
    module, p = model
    try:
        if type(module) is nn.SimpleCell:
            bias = p["i"].get("bias")
            Wi, Wh = convert(p["i"]["kernel"]), convert(p["h"]["kernel"])
            act = activation_name(module.activation_fn)
            return flax_simple(Wi, None if bias is None else convert(bias), Wh, module.residual, act)
        if type(module) is nn.GRUCell:
            Wi = jnp.concatenate([convert(p["i" + g]["kernel"]) for g in "rzn"], axis=1)
            Wh = jnp.concatenate([convert(p["h" + g]["kernel"]) for g in "rzn"], axis=1)
            bi = jnp.concatenate([convert(p["i" + g]["bias"]) for g in "rzn"])
            return GRU(weight_ih=Wi.T, weight_hh=Wh.T, bias_ih=bi, bias_hh=reset_bias(convert(p["hn"]["bias"])))
        return flax_lstm(
            [convert(p["i" + g]["kernel"]) for g in "ifgo"],
            [convert(p["h" + g]["kernel"]) for g in "ifgo"],
            [convert(p["h" + g]["bias"]) for g in "ifgo"],
        )
    except (KeyError, TypeError) as exc:
        raise InputError(
            f"model: the variables do not match flax.linen.{type(module).__name__} (missing {exc}); pass the "
            "variables returned by module.init(...) for this module."
        ) from exc


def _split(model: Any) -> tuple[Any, Any]:
    if isinstance(model, tuple):
        module, variables = model
        return (module.unbind()[0] if module.scope is not None else module), variables
    return model.unbind() if model.scope is not None else (model, None)


class Linen:
    """flax.linen: ``(module, variables)`` or a bound module."""

    by_type = True

    def matches(self, model: Any) -> bool:
        if isinstance(model, tuple) and len(model) == 2:
            model = model[0]
        return isinstance(model, nn.Module)

    def plan(self, model: Any) -> Plan:
        module, variables = _split(model)
        if isinstance(module, nn.Bidirectional):
            raise bidirectional_error("flax.linen.Bidirectional")
        if variables is None:
            raise InputError(
                f"model: the flax.linen module {type(module).__name__} has no parameters; pass it with its "
                "variables as (module, variables), e.g. lyapax.spectrum((cell, cell.init(key, carry, x)), inputs)."
            )
        if hasattr(variables, "keys") and "params" not in variables:
            variables = {"params": variables}
        time_major = None
        if isinstance(module, nn.RNN):
            check_rnn(module, "nn.RNN")
            time_major = module.time_major
            module, variables = module.cell, {k: v["cell"] for k, v in variables.items() if "cell" in v}
        name = f"flax.linen.{type(module).__name__}"
        params, p = arrays_of(variables), variables.get("params", {})
        kind = _kind(module)
        if kind is not None:
            first = next((p[k]["kernel"] for k in ("i", "ii", "ir") if k in p and "kernel" in p[k]), None)
            return Plan(
                name, params, None if first is None else int(first.shape[0]), time_major,
                cell=functools.partial(canonical_cell, (module, p)),
                state=functools.partial(flatten_h0, (name, (kind,))),
            )
        carry = None
        if hasattr(module, "initialize_carry"):
            carry = lambda batch, features: module.initialize_carry(jax.random.key(0), (batch, features or 1))  # noqa: E731
        output = "carry" if isinstance(module, nn.RNNCellBase) else "auto"
        return Plan(name, params, time_major=time_major, step=Step(call_module, module, variables, carry=carry, output=output))

    def with_params(self, model: Any, params: Any) -> Any:
        return (_split(model)[0], params)


LIBRARY = Linen()
