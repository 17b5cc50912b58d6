"""JAX models as the core's `Plan`: one small class per library.

Every library class has the same methods: ``matches(model)`` (is it one of the
library's models; only libraries the user has imported are looked at, through
``sys.modules``), ``plan(model)`` (its Plan, or ``None`` for the core's generic
handling) and ``with_params(model, params)`` (the model with ``params`` in place
of its own arrays, for `lyapax_jax.exponents`):

- `Nnx`: flax.nnx cells and ``nnx.RNN`` (standard ones as canonical cells),
  modules holding a stack of ``nnx.RNN`` layers, any other module as ``module(h, x)``;
- `Linen`: ``(module, variables)`` or a bound module, likewise (``nn.RNN`` too);
- `Equinox`: ``GRUCell``/``LSTMCell`` as canonical cells, any module as ``module(h, x)``;
- `Cells`: `lyapax.cells` cells with JAX weights; `Functions`:
  ``f(h, x)`` (both planned by the core).

Standard cells become `lyapax.cells` cells (PyTorch conventions: weights
``(out, in)``, LSTM gates ``i, f, g, o``, GRU gates ``r, z, n``, LSTM state
``[h; c]``), their arrays passed through the core's ``convert`` (dtype, device)
before any arithmetic. Conventions of the libraries (checked against their source):

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

import functools
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from lyapax.backend import Plan, whole_model_hint
from lyapax.cells import GRU, LSTM, Cell, Elman, Stack
from lyapax.errors import InputError, ModelTypeError
from lyapax.tangent import Step

from .tangent import apply_eqx, apply_linen, apply_nnx, apply_nnx_stack, apply_partial, rnn_layers

__all__ = ["Nnx", "Linen", "Equinox", "Cells", "Functions", "LIBRARIES", "library", "recognises", "plan", "with_params"]


# -- shared helpers ------------------------------------------------------------------------


def _arrays(tree: Any) -> list:
    return [a for a in jax.tree_util.tree_leaves(tree) if hasattr(a, "dtype")]


def _val(v: Any) -> Any:
    """The array of an nnx Variable (or the array itself)."""
    return v.get_value() if hasattr(v, "get_value") else getattr(v, "value", v)


def _act_name(fn: Any) -> str | None:
    if fn is jnp.tanh or fn is getattr(jax.nn, "tanh", jnp.tanh):
        return "tanh"
    return "relu" if fn is jax.nn.relu else None


def _gates_ok(cell: Any) -> bool:
    return getattr(cell, "gate_fn", None) is jax.nn.sigmoid and _act_name(getattr(cell, "activation_fn", None)) == "tanh"


def _check_rnn(rnn: Any, what: str) -> None:
    if rnn.reverse:
        raise InputError(
            f"model: an {what} with reverse=True runs backwards in time, which is not a forward dynamical system; "
            "use reverse=False."
        )


def _bidirectional(what: str) -> ModelTypeError:
    return ModelTypeError(
        f"model: {what} reads each sequence backwards as well as forwards, so it is not a causal dynamical system "
        "and has no Lyapunov spectrum. Pass its forward layer (model.forward_rnn) with the same inputs instead."
    )


_CARRY = {"h": "an array h", "ch": "a pair (c, h)", "hc": "a pair (h, c)"}


def _layer_state(kind: str, carry: Any, convert: Callable[[Any], Any]) -> Any:
    if kind == "h":
        if not hasattr(carry, "shape"):
            raise InputError(f"h0: expected {_CARRY[kind]} (batch, hidden), got {type(carry).__name__}.")
        return convert(carry)
    if not isinstance(carry, (tuple, list)) or len(carry) != 2:
        raise InputError(f"h0: expected the cell's carry, {_CARRY[kind]}, got {type(carry).__name__}.")
    first, second = (convert(v) for v in carry)
    h, c = (second, first) if kind == "ch" else (first, second)
    return jnp.concatenate([h, c], axis=1)


def _state(name: str, kinds: tuple[str, ...]) -> Callable[[Any, int, Callable[[Any], Any]], Any]:
    """``Plan.state``: the library's carry (one per layer for a stack) or lyapax's flat ``(batch, d)`` array."""

    def state(h0: Any, batch: int, convert: Callable[[Any], Any]) -> Any:
        if hasattr(h0, "shape"):  # lyapax's own layout (its shape is checked by the core)
            return convert(h0)
        try:
            if len(kinds) == 1:
                return _layer_state(kinds[0], h0, convert)
            if not isinstance(h0, (list, tuple)) or len(h0) != len(kinds):
                raise InputError(
                    f"h0: a stack of {len(kinds)} RNN layers takes a list with one carry per layer "
                    f"(each in the cell's own format, e.g. (c, h) for an LSTM cell), got {type(h0).__name__}."
                )
            return jnp.concatenate([_layer_state(k, c, convert) for k, c in zip(kinds, h0)], axis=1)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - mismatched shapes inside a carry
            raise InputError(
                f"h0: cannot read it as the carry of {name} ({exc}); pass the cell's own carry (e.g. (c, h) for "
                "a flax LSTM cell) or a (batch, d) array in lyapax's state layout."
            ) from exc

    return state


def _traced(*trees: Any) -> bool:
    return any(isinstance(a, jax.core.Tracer) for a in jax.tree_util.tree_leaves(trees))


# -- canonical cells from the libraries' weights ------------------------------------------


def _flax_simple(Wi: Any, bi: Any, Wh: Any, residual: bool, act: str) -> Elman:
    Whh = Wh.T + jnp.eye(Wh.shape[0], dtype=Wh.dtype) if residual else Wh.T
    return Elman(weight_ih=Wi.T, weight_hh=Whh, bias_ih=bi, bias_hh=None, nonlinearity=act)


def _flax_lstm(Wi: list, Wh: list, bh: list) -> LSTM:
    """Per-gate ``(in, out)`` kernels and recurrent biases in the order i, f, g, o."""
    return LSTM(
        weight_ih=jnp.concatenate([w.T for w in Wi], axis=0),
        weight_hh=jnp.concatenate([w.T for w in Wh], axis=0),
        bias_hh=jnp.concatenate(bh, axis=0),
    )


def _reset_bias(b_hn: Any) -> Any:
    """``[0, 0, b_hn]``: a GRU's candidate recurrent bias as the core's ``bias_hh``."""
    return None if b_hn is None else jnp.concatenate([jnp.zeros((2 * b_hn.shape[0],), b_hn.dtype), b_hn])


def _nnx_kind(cell: Any) -> str | None:
    """The carry format of a standard nnx cell (``"h"``, ``"ch"``), ``None`` if not standard."""
    from flax import nnx

    if type(cell) is nnx.SimpleCell:
        return "h" if _act_name(cell.activation_fn) else None
    if type(cell) in (nnx.LSTMCell, nnx.OptimizedLSTMCell):
        return "ch" if _gates_ok(cell) else None
    if type(cell) is nnx.GRUCell:
        return "h" if _gates_ok(cell) else None
    return None


def _nnx_cell(cell: Any, convert: Callable[[Any], Any]) -> Cell:
    from flax import nnx

    def get(v: Any) -> Any:
        return None if v is None else convert(_val(v))

    if type(cell) is nnx.SimpleCell:
        act = _act_name(cell.activation_fn)
        return _flax_simple(get(cell.dense_i.kernel), get(cell.dense_i.bias), get(cell.dense_h.kernel), cell.residual, act)
    if type(cell) is nnx.LSTMCell:
        hs = (cell.hi, cell.hf, cell.hg, cell.ho)
        ins = [get(m.kernel) for m in (cell.ii, cell.if_, cell.ig, cell.io)]
        return _flax_lstm(ins, [get(m.kernel) for m in hs], [get(m.bias) for m in hs])
    if type(cell) is nnx.OptimizedLSTMCell:
        return LSTM(weight_ih=get(cell.dense_i.kernel).T, weight_hh=get(cell.dense_h.kernel).T, bias_hh=get(cell.dense_h.bias))
    # GRUCell; a dense_h given a bias (PyTorch's b_hn ported): r multiplies W_h h + b_h, which is bias_hh
    return GRU(
        weight_ih=get(cell.dense_i.kernel).T,
        weight_hh=get(cell.dense_h.kernel).T,
        bias_ih=get(cell.dense_i.bias),
        bias_hh=get(getattr(cell.dense_h, "bias", None)),
    )


def _linen_kind(module: Any) -> str | None:
    import flax.linen as nn

    if type(module) is nn.SimpleCell:
        return "h" if _act_name(module.activation_fn) else None
    if type(module) in (nn.LSTMCell, nn.OptimizedLSTMCell):
        return "ch" if _gates_ok(module) else None
    if type(module) is nn.GRUCell:
        return "h" if _gates_ok(module) else None
    return None


def _linen_cell(module: Any, p: Any, convert: Callable[[Any], Any]) -> Cell:
    import flax.linen as nn

    try:
        if type(module) is nn.SimpleCell:
            bias = p["i"].get("bias")
            Wi, Wh = convert(p["i"]["kernel"]), convert(p["h"]["kernel"])
            return _flax_simple(Wi, None if bias is None else convert(bias), Wh, module.residual, _act_name(module.activation_fn))
        if type(module) is nn.GRUCell:
            Wi = jnp.concatenate([convert(p["i" + g]["kernel"]) for g in "rzn"], axis=1)
            Wh = jnp.concatenate([convert(p["h" + g]["kernel"]) for g in "rzn"], axis=1)
            bi = jnp.concatenate([convert(p["i" + g]["bias"]) for g in "rzn"])
            return GRU(weight_ih=Wi.T, weight_hh=Wh.T, bias_ih=bi, bias_hh=_reset_bias(convert(p["hn"]["bias"])))
        return _flax_lstm(
            [convert(p["i" + g]["kernel"]) for g in "ifgo"],
            [convert(p["h" + g]["kernel"]) for g in "ifgo"],
            [convert(p["h" + g]["bias"]) for g in "ifgo"],
        )
    except (KeyError, TypeError) as exc:
        raise InputError(
            f"model: the variables do not match flax.linen.{type(module).__name__} (missing {exc}); pass the "
            "variables returned by module.init(...) for this module."
        ) from exc


def _eqx_cell(model: Any, convert: Callable[[Any], Any]) -> Cell:
    import equinox as eqx

    def get(a: Any) -> Any:
        return None if a is None else convert(a)

    if type(model) is eqx.nn.GRUCell:
        return GRU(get(model.weight_ih), get(model.weight_hh), get(model.bias), _reset_bias(get(model.bias_n)))
    return LSTM(get(model.weight_ih), get(model.weight_hh), bias_ih=get(model.bias))


# -- the libraries -------------------------------------------------------------------------


class Nnx:
    """flax.nnx: standard cells (analytic), ``nnx.RNN``, stacks of ``nnx.RNN``, any module as ``module(h, x)``.

    Autodiff steps run on ``nnx.merge(graphdef, state)``: the graph definition is the static part, the
    state the arrays; the user's module is only read (``nnx.split``, ``nnx.clone``).
    """

    by_type = True

    def matches(self, model: Any) -> bool:
        nnx = sys.modules.get("flax.nnx")
        return nnx is not None and isinstance(model, nnx.Module)

    def plan(self, model: Any) -> Plan:
        from flax import nnx

        if isinstance(model, nnx.Bidirectional):
            raise _bidirectional("nnx.Bidirectional")
        if isinstance(model, nnx.RNN):
            _check_rnn(model, "nnx.RNN")
            return self._cell(model.cell, f"flax.nnx.RNN({type(model.cell).__name__})", model.time_major)
        if isinstance(model, nnx.RNNCellBase):
            return self._cell(model, f"flax.nnx.{type(model).__name__}")
        layers = rnn_layers(model)
        if layers is not None:
            return self._stack(model, layers)
        carry = self._carry([model], stacked=False) if hasattr(model, "initialize_carry") else None
        graphdef, state = nnx.split(model)
        walk = getattr(nnx, "iter_modules", None) or nnx.iter_graph  # flax < 0.12.1 has only iter_graph
        inner = [(tuple(path), type(m).__name__) for path, m in walk(model)
                 if path and isinstance(m, (nnx.RNN, nnx.RNNCellBase))]
        inner = [(p, c) for p, c in inner if not any(p[: len(q)] == q and p != q for q, _ in inner)]
        return Plan(
            f"flax.nnx.{type(model).__name__}",
            _arrays(nnx.state(model, nnx.Param)),
            step=Step(apply_nnx, graphdef, state, carry=carry, output="auto"),
            hint=whole_model_hint(model, inner),
        )

    def with_params(self, model: Any, params: Any) -> Any:
        from flax import nnx

        graphdef, _, rest = nnx.split(model, nnx.Param, ...)
        try:
            return nnx.merge(graphdef, params, rest)
        except Exception as exc:  # noqa: BLE001
            raise InputError(
                f"params: does not fit the nnx module {type(model).__name__} ({exc}); pass nnx.state(model, nnx.Param)."
            ) from exc

    def _cell(self, cell: Any, name: str, time_major: bool | None = None) -> Plan:
        from flax import nnx

        kind = _nnx_kind(cell)
        params = _arrays(nnx.state(cell, nnx.Param))
        size = getattr(cell, "in_features", None)
        if kind is not None:
            return Plan(
                name, params, size, time_major,
                cell=lambda convert: _nnx_cell(cell, convert),
                state=_state(name, (kind,)),
            )
        graphdef, state = nnx.split(cell)
        step = Step(apply_nnx, graphdef, state, carry=self._carry([cell], stacked=False), output="carry")
        return Plan(name, params, size, time_major, step=step)

    def _stack(self, model: Any, layers: list) -> Plan:
        from flax import nnx

        for rnn in layers:
            _check_rnn(rnn, "nnx.RNN")
        cells = [rnn.cell for rnn in layers]
        kinds = tuple(_nnx_kind(c) for c in cells)
        name = f"{type(model).__name__} (stack of nnx.RNN)"
        time_major = layers[0].time_major
        common = dict(
            name=name,
            params=_arrays(nnx.state(model, nnx.Param)),
            input_size=getattr(cells[0], "in_features", None),
            time_major=time_major,
            check=functools.partial(_check_stack, model, time_major),
        )
        if all(kinds):
            return Plan(**common, cell=lambda convert: Stack([_nnx_cell(c, convert) for c in cells]), state=_state(name, kinds))
        graphdef, state = nnx.split(model)
        return Plan(**common, step=Step(apply_nnx_stack, graphdef, state, carry=self._carry(cells, stacked=True)))

    @staticmethod
    def _carry(cells: list, stacked: bool) -> Callable[[int, int | None], Any]:
        """``Step.carry``: the cells' ``initialize_carry`` (fresh RNGs: the module's own are not advanced)."""

        def carry(batch: int, features: int | None) -> Any:
            from flax import nnx

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
    from flax import nnx

    if xs is None or _traced(xs, h0, nnx.state(model)):
        return
    probe = xs[: min(int(xs.shape[0]), 4)]  # time-major
    floats = [a.dtype for a in _arrays(nnx.state(model, nnx.Param)) if jnp.issubdtype(a.dtype, jnp.floating)]
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


class Linen:
    """flax.linen: ``(module, variables)`` or a bound module; standard cells (analytic), ``nn.RNN``,
    any module as ``module.apply(variables, h, x)`` (the unbound module is the static part)."""

    by_type = True

    def matches(self, model: Any) -> bool:
        nn = sys.modules.get("flax.linen")
        if isinstance(model, tuple) and len(model) == 2:
            model = model[0]
        return nn is not None and isinstance(model, nn.Module)

    @staticmethod
    def _split(model: Any) -> tuple[Any, Any]:
        if isinstance(model, tuple):
            module, variables = model
            return (module.unbind()[0] if module.scope is not None else module), variables
        return model.unbind() if model.scope is not None else (model, None)

    def plan(self, model: Any) -> Plan:
        import flax.linen as nn

        module, variables = self._split(model)
        if isinstance(module, nn.Bidirectional):
            raise _bidirectional("flax.linen.Bidirectional")
        if variables is None:
            raise InputError(
                f"model: the flax.linen module {type(module).__name__} has no parameters; pass it with its "
                "variables as (module, variables), e.g. lyapax.spectrum((cell, cell.init(key, carry, x)), inputs)."
            )
        if hasattr(variables, "keys") and "params" not in variables:
            variables = {"params": variables}
        time_major = None
        if isinstance(module, nn.RNN):
            _check_rnn(module, "nn.RNN")
            time_major = module.time_major
            module, variables = module.cell, {k: v["cell"] for k, v in variables.items() if "cell" in v}
        name = f"flax.linen.{type(module).__name__}"
        params, p = _arrays(variables), variables.get("params", {})
        kind = _linen_kind(module)
        if kind is not None:
            first = next((p[k]["kernel"] for k in ("i", "ii", "ir") if k in p and "kernel" in p[k]), None)
            return Plan(
                name, params, None if first is None else int(first.shape[0]), time_major,
                cell=lambda convert: _linen_cell(module, p, convert),
                state=_state(name, (kind,)),
            )
        carry = None
        if hasattr(module, "initialize_carry"):
            carry = lambda batch, features: module.initialize_carry(jax.random.key(0), (batch, features or 1))  # noqa: E731
        output = "carry" if isinstance(module, nn.RNNCellBase) else "auto"
        return Plan(name, params, time_major=time_major, step=Step(apply_linen, module, variables, carry=carry, output=output))

    def with_params(self, model: Any, params: Any) -> Any:
        return (self._split(model)[0], params)


class Equinox:
    """equinox: ``nn.GRUCell``/``nn.LSTMCell`` (analytic), any module as ``module(h, x)``
    (the static part of ``eqx.partition(model, eqx.is_array)`` keys compiled code)."""

    by_type = True

    def matches(self, model: Any) -> bool:
        eqx = sys.modules.get("equinox")
        return eqx is not None and isinstance(model, eqx.Module)

    def plan(self, model: Any) -> Plan:
        import equinox as eqx

        arrays, static = eqx.partition(model, eqx.is_array)
        if type(model) in (eqx.nn.GRUCell, eqx.nn.LSTMCell):
            name = f"equinox.nn.{type(model).__name__}"
            kind = "h" if type(model) is eqx.nn.GRUCell else "hc"
            return Plan(
                name, _arrays(arrays), model.input_size,
                cell=lambda convert: _eqx_cell(model, convert),
                state=_state(name, (kind,)),
            )
        return Plan(type(model).__name__, _arrays(arrays), step=Step(apply_eqx, static, arrays, output="auto"))

    def with_params(self, model: Any, params: Any) -> Any:
        import equinox as eqx

        return eqx.combine(params, model)


class Cells:
    """`lyapax.cells` cells whose weights are JAX arrays (planned by the core)."""

    by_type = True

    def matches(self, model: Any) -> bool:
        arrays = list(model.arrays().values()) if isinstance(model, Cell) else []
        return bool(arrays) and all(isinstance(a, jax.Array) for a in arrays)

    def plan(self, model: Any) -> None:
        return None

    def with_params(self, model: Any, params: Any) -> Cell:
        return model.split()[0].build(params)


class Functions:
    """Plain step functions ``f(h, x)`` (planned by the core: `lyapax.tangent.call_plain`).

    Not picked by type (any callable would match): by the inputs' or ``h0``'s arrays, or ``backend="jax"``.
    With ``params`` (functional API) the function is called as ``f(params, h, x)``.

    ``functools.partial(step, params)`` (the way to bind a training loop's current parameters)
    becomes ``step`` with the bound arrays as traced parameters: a new partial each epoch
    reuses the compiled chunk instead of compiling the step again.
    """

    by_type = False

    def matches(self, model: Any) -> bool:
        return callable(model) and not isinstance(model, type)

    def plan(self, model: Any) -> Plan | None:
        import jax

        if not isinstance(model, functools.partial):
            return None
        bound = (model.args, dict(model.keywords))
        leaves = jax.tree_util.tree_leaves(bound)
        if not leaves or not all(hasattr(a, "shape") and hasattr(a, "dtype") for a in leaves):
            return None  # non-array arguments (e.g. sizes) stay constants of the function: the core's plain path
        name = getattr(model.func, "__name__", type(model.func).__name__)
        return Plan(f"functools.partial({name})", leaves, step=Step(apply_partial, model.func, bound))

    def with_params(self, model: Any, params: Any) -> Any:
        return functools.partial(model, params)


#: In the order they are asked (an equinox module is callable too: Functions last).
LIBRARIES = (Nnx(), Linen(), Equinox(), Cells(), Functions())


def library(model: Any) -> Any:
    """The library class that takes ``model``, or ``None``."""
    return next((lib for lib in LIBRARIES if lib.matches(model)), None)


def recognises(model: Any) -> bool:
    """Whether ``model`` is, by its type, a model of this backend."""
    lib = library(model)
    return lib is not None and lib.by_type


def plan(model: Any) -> Plan | None:
    """The `Plan` of a JAX library's model, ``None`` for the core's generic kinds."""
    lib = library(model)
    return None if lib is None else lib.plan(model)


def with_params(model: Any, params: Any) -> Any:
    """``model`` with ``params`` in place of its own arrays (see `lyapax_jax.exponents`)."""
    lib = library(model)
    if lib is None:
        raise ModelTypeError(f"model: the jax backend cannot put params into a {type(model).__name__}.")
    return lib.with_params(model, params)
