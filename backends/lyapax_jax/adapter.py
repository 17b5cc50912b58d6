"""The JAX backend: Flax (nnx, linen), Equinox, lyapax cells with JAX weights, plain step functions.

What it accepts (see docs/backends/jax.md):

- ``flax.nnx`` cells (``SimpleCell``, ``LSTMCell``, ``OptimizedLSTMCell``,
  ``GRUCell``), ``nnx.RNN`` wrapping one, a small ``nnx.Module`` holding a
  stack of ``nnx.RNN`` layers (applied in attribute order; checked against the
  module's own forward pass), and any other nnx module called as a step
  ``module(h, x)``;
- ``flax.linen`` modules with their variables: ``(module, variables)`` (the
  documented way) or ``module.bind(variables)``;
- ``equinox.nn.GRUCell``/``LSTMCell`` and any equinox module called as ``module(h, x)``;
- :mod:`lyapax.cells` cells whose weights are ``jax.Array``;
- any function ``f(h, x) -> h_next`` over (pytrees of) batched arrays, picked by
  its inputs/``h0`` being JAX arrays or with ``backend="jax"``.

Standard cells become the core's analytic cells (:mod:`.models`); everything
else gets its tangent map from ``jax.jvp`` (:mod:`.tangent`). The iteration
runs in compiled chunks (:mod:`.loop`). Float64 is enabled only for the
duration of a computation (:func:`.namespace.x64`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lyapax.algorithm import orthonormal_basis
from lyapax.backend import Backend, Problem
from lyapax.cells import Cell, Stack
from lyapax.errors import InputError, ModelTypeError
from lyapax.validation import check_h0_shape, check_inputs_shape, check_int, normalize_dtype

from . import models
from .loop import CellSpec, Runner, make_step_spec, run_traced
from .namespace import namespace, x64
from .tangent import Flattener

__all__ = ["JaxBackend", "exponents", "classify"]

#: Preferred steps per compiled chunk (host sync point of progress bars and checks).
CHUNK = 256


def _mod(name: str) -> Any:
    return sys.modules.get(name)


def _is_jax_array(a: Any) -> bool:
    jax = _mod("jax")
    return jax is not None and isinstance(a, jax.Array)


def _linen_module(obj: Any) -> bool:
    nn = _mod("flax.linen")
    return nn is not None and isinstance(obj, nn.Module)


def classify(model: Any) -> str | None:
    """``'linen'``, ``'nnx'``, ``'eqx'`` or ``'cell'`` for the models this backend takes by type, else ``None``."""
    if isinstance(model, tuple) and len(model) == 2 and _linen_module(model[0]):
        return "linen"
    if _linen_module(model):
        return "linen"
    nnx = _mod("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):
        return "nnx"
    eqx = _mod("equinox")
    if eqx is not None and isinstance(model, eqx.Module):
        return "eqx"
    if isinstance(model, Cell) and not isinstance(model, type):
        arrays = model.arrays()
        if arrays and all(_is_jax_array(a) for a in arrays.values()):
            return "cell"
    return None


# --- model resolution ------------------------------------------------------------------


@dataclass
class Resolved:
    """A model made ready to build a spec: a canonical cell or an autodiff step."""

    name: str
    cell: Cell | None = None
    carry_to_state: Callable[[Any], Any] | None = None
    step_kind: str = "fn"
    static: Any = None
    params: Any = None
    mode: str = "auto"
    has_params: bool = False
    carry_template: Callable[[int, int | None], Any] | None = None
    stack_check: Any = None


def _float_dtype(tree: Any) -> str | None:
    import jax

    for leaf in jax.tree_util.tree_leaves(tree):
        dt = getattr(leaf, "dtype", None)
        if dt is not None and np.issubdtype(np.dtype(dt), np.floating):
            return np.dtype(dt).name
    return None


def _model_arrays(model: Any) -> Any:
    """The model's parameter arrays, read without converting anything (to find its dtype)."""
    kind = classify(model)
    if kind == "cell":
        return model.arrays()
    if kind == "linen":
        if isinstance(model, tuple):
            return model[1]
        return model.variables if model.scope is not None else None
    if kind == "nnx":
        from flax import nnx

        return nnx.state(model, nnx.Param)
    if kind == "eqx":
        import equinox as eqx

        return eqx.filter(model, eqx.is_array)
    return None


def _nnx_template(module: Any) -> Callable[[int, int | None], Any] | None:
    if not hasattr(module, "initialize_carry"):
        return None

    def template(batch: int, features: int | None) -> Any:
        from flax import nnx

        feats = features if features is not None else getattr(module, "in_features", 1)
        return module.initialize_carry((batch, feats), rngs=nnx.Rngs(0))

    return template


def _linen_template(module: Any) -> Callable[[int, int | None], Any] | None:
    if not hasattr(module, "initialize_carry"):
        return None

    def template(batch: int, features: int | None) -> Any:
        import jax

        return module.initialize_carry(jax.random.key(0), (batch, features or 1))

    return template


def _stack_template(layers: list) -> Callable[[int, int | None], Any]:
    def template(batch: int, features: int | None) -> Any:
        from flax import nnx

        out, feats = [], features
        for rnn in layers:
            out.append(rnn.cell.initialize_carry((batch, feats or rnn.cell.in_features), rngs=nnx.Rngs(0)))
            feats = rnn.cell.hidden_features
        return list(out)

    return template


def _cast_model(model: Any, kind: str | None, dtype: Any) -> Any:
    """A copy of the model with its floating parameters in ``dtype`` (the user's model is not touched)."""
    if kind == "cell":
        return model.map_arrays(lambda a: _cast_tree(a, dtype))
    if kind == "linen":
        if isinstance(model, tuple):
            return (model[0], _cast_tree(model[1], dtype))
        if model.scope is not None:
            module, variables = model.unbind()
            return (module, _cast_tree(variables, dtype))
        return model
    if kind == "nnx":
        from flax import nnx

        graphdef, p, rest = nnx.split(model, nnx.Param, ...)
        return nnx.merge(graphdef, _cast_tree(p, dtype), rest)
    if kind == "eqx":
        import equinox as eqx

        return eqx.combine(_cast_tree(eqx.filter(model, eqx.is_array), dtype), model)
    return model


def resolve(model: Any, params: Any = None, dtype: Any = None) -> Resolved:
    """Turn a user's model (and optional replacement parameters) into a :class:`Resolved`.

    With ``dtype``, the parameters are cast before any conversion arithmetic.
    """
    kind = classify(model)
    if dtype is not None and params is None:
        r = resolve(_cast_model(model, kind, dtype))
        if r.stack_check is not None:
            r.stack_check = model  # checked in the model's own dtype
        return r
    if kind == "cell":
        cell = CellSpec(model).build(params) if params is not None else model
        return Resolved(name=type(model).__name__, cell=cell, carry_to_state=lambda h: h)
    if kind == "linen":
        return _resolve_linen(model, params)
    if kind == "nnx":
        return _resolve_nnx(model, params)
    if kind == "eqx":
        import equinox as eqx

        if params is not None:
            model = eqx.combine(params, model)
        std = models.standard_cell("eqx", model)
        if std is not None:
            return Resolved(name=std.name, cell=std.cell, carry_to_state=std.carry_to_state)
        dyn, static = eqx.partition(model, eqx.is_array)
        return Resolved(name=type(model).__name__, step_kind="eqx", static=static, params=dyn)
    if isinstance(model, Cell) or type(model).__name__ == "Map" and hasattr(model, "jacobian_fn"):
        raise ModelTypeError(
            f"model: the jax backend takes lyapax.cells cells whose weights are jax arrays; this "
            f"{type(model).__name__} has weights of another type. Convert them (cell.map_arrays(jnp.asarray)) "
            "or use backend='numpy'."
        )
    if callable(model) and not isinstance(model, type):
        return Resolved(
            name=getattr(model, "__name__", type(model).__name__),
            step_kind="fn",
            static=model,
            params=params,
            has_params=params is not None,
        )
    raise ModelTypeError(
        f"model: the jax backend takes flax.nnx / flax.linen / equinox modules, lyapax cells with jax weights "
        f"or a step function f(h, x) -> h_next; got {type(model).__module__}.{type(model).__qualname__}."
    )


def _resolve_linen(model: Any, params: Any) -> Resolved:
    import flax.linen as nn

    if isinstance(model, tuple):
        module, variables = model
        if module.scope is not None:
            module = module.unbind()[0]
    elif model.scope is not None:
        module, variables = model.unbind()
    else:
        module, variables = model, None
    if params is not None:
        variables = params
    if variables is None:
        raise InputError(
            f"model: the flax.linen module {type(module).__name__} has no parameters; pass it with its variables "
            "as (module, variables), e.g. lyapax.spectrum((cell, cell.init(key, carry, x)), inputs)."
        )
    if hasattr(variables, "keys") and "params" not in variables:
        variables = {"params": variables}
    std = models.standard_cell("linen", module, variables)
    if std is not None:
        return Resolved(name=std.name, cell=std.cell, carry_to_state=std.carry_to_state)
    mode = "carry_y" if isinstance(module, nn.RNNCellBase) else "auto"
    return Resolved(
        name=f"flax.linen.{type(module).__name__}",
        step_kind="linen",
        static=module,
        params=variables,
        mode=mode,
        carry_template=_linen_template(module),
    )


def _resolve_nnx(model: Any, params: Any) -> Resolved:
    from flax import nnx

    if params is not None:
        graphdef, _, rest = nnx.split(model, nnx.Param, ...)
        try:
            model = nnx.merge(graphdef, params, rest)
        except Exception as exc:  # noqa: BLE001
            raise InputError(
                f"params: does not fit the nnx module {type(model).__name__} ({exc}); pass nnx.state(model, nnx.Param)."
            ) from exc
    std = models.standard_cell("nnx", model)
    stack_layers = None
    if isinstance(model, nnx.RNN):
        models._rnn_ok(model)
        model = model.cell
    elif not isinstance(model, nnx.RNNCellBase):
        stack_layers = models.nnx_rnn_stack_layers(model)
        if stack_layers is not None:
            for rnn in stack_layers:
                models._rnn_ok(rnn)
    if std is not None:
        return Resolved(
            name=std.name, cell=std.cell, carry_to_state=std.carry_to_state, stack_check=model if stack_layers else None
        )
    graphdef, p, rest = nnx.split(model, nnx.Param, ...)
    if stack_layers is not None:
        return Resolved(
            name=f"{type(model).__name__} (stack of nnx.RNN)",
            step_kind="nnx_stack",
            static=graphdef,
            params=(p, rest),
            carry_template=_stack_template(stack_layers),
            stack_check=model,
        )
    mode = "carry_y" if isinstance(model, nnx.RNNCellBase) else "auto"
    return Resolved(
        name=f"flax.nnx.{type(model).__name__}",
        step_kind="nnx",
        static=graphdef,
        params=(p, rest),
        mode=mode,
        carry_template=_nnx_template(model),
    )


def _cast_tree(tree: Any, dtype: Any) -> Any:
    import jax
    import jax.numpy as jnp

    def cast(a: Any) -> Any:
        if hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating):
            return jnp.asarray(a, dtype=dtype)
        return a

    return jax.tree_util.tree_map(cast, tree)


# --- device ----------------------------------------------------------------------------


def _resolve_device(device: Any, inputs: Any, params: Any) -> Any:
    import jax

    if device is None:
        for obj in (inputs, *jax.tree_util.tree_leaves(params)):
            if _is_jax_array(obj):
                devs = list(obj.devices())
                if len(devs) == 1:
                    return devs[0]
        return jax.devices()[0]
    if isinstance(device, jax.Device):
        return device
    if isinstance(device, str):
        platform, _, index = device.partition(":")
        platform = {"cuda": "gpu", "rocm": "gpu"}.get(platform, platform)
        try:
            devs = jax.devices(platform)
            return devs[int(index) if index else 0]
        except (RuntimeError, IndexError, ValueError) as exc:
            raise InputError(
                f"device: JAX has no device {device!r} here (available: {[str(d) for d in jax.devices()]}); "
                "pass a jax.Device or a name such as 'cpu' or 'gpu:0'."
            ) from exc
    raise InputError(f"device: expected a jax.Device or a name such as 'cpu' or 'gpu:0', got {device!r}.")


# --- building the dynamics -------------------------------------------------------------


@dataclass
class Built:
    spec: Any
    params: Any
    dim: int
    input_size: int | None
    to_state: Callable[[Any], Any]
    zeros: Callable[[int], Any] | None


def _as_jnp_tree(tree: Any, dtype: Any) -> Any:
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=dtype), tree)


def _build(r: Resolved, dtype: Any, batch: int | None, features: int | None, h0: Any, cast: bool = True) -> Built:
    """Spec and params (cast to ``dtype``) of a resolved model, with its state conversions."""
    import jax.numpy as jnp

    if r.cell is not None:
        cell = r.cell.map_arrays(lambda a: jnp.asarray(a, dtype=dtype)) if cast else r.cell
        spec = CellSpec(cell)

        def to_state(h: Any) -> Any:
            if _is_array_like(h) and len(np.shape(h)) == 2 and np.shape(h)[1] == cell.dim:
                return jnp.asarray(h, dtype=dtype)
            try:
                return jnp.asarray(r.carry_to_state(_as_jnp_tree(h, dtype)), dtype=dtype)
            except InputError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise InputError(
                    f"h0: cannot read it as the carry of {r.name} ({exc}); pass the cell's own carry "
                    f"(e.g. (c, h) for a flax LSTM cell) or a (batch, {cell.dim}) array in lyapax's state layout."
                ) from exc

        return Built(spec, spec.params(cell), cell.dim, cell.input_size, to_state, lambda B: jnp.zeros((B, cell.dim), dtype))

    params = _cast_tree(r.params, dtype) if cast and r.params is not None else r.params
    template = None
    if r.carry_template is not None:
        template = r.carry_template(batch or 1, features)
    elif h0 is not None:
        template = h0
    if template is None:
        raise InputError(
            f"h0: {r.name} is a step function whose state structure lyapax cannot know; pass h0, the initial "
            "state (an array (batch, d) or a pytree of arrays with a leading batch axis, e.g. a carry tuple)."
        )
    flat = Flattener.of(template)
    spec = make_step_spec(r.step_kind, r.static, flat, features, r.mode, r.has_params)

    def to_state(h: Any) -> Any:
        h = _as_jnp_tree(h, dtype)
        if not flat.matches(h) and _is_array_like(h) and len(np.shape(h)) == 2 and np.shape(h)[1] == flat.dim:
            return h
        if not flat.matches(h):
            raise InputError(
                f"h0: expected the state structure {flat.treedef} with per-sequence shapes {list(flat.shapes)} "
                f"(a leading batch axis on every array), or a (batch, {flat.dim}) array; got "
                f"{[tuple(np.shape(a)) for a in _leaves(h)]}."
            )
        return flat.flatten(h)

    def zeros(B: int) -> Any:
        return jnp.zeros((B, flat.dim), dtype)

    return Built(spec, params, flat.dim, features, to_state, zeros if r.carry_template is not None else None)


def _leaves(tree: Any) -> list:
    import jax

    return jax.tree_util.tree_leaves(tree)


def _is_array_like(a: Any) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype")


def _check_stack(r: Resolved, built: Built, xs_bt: Any, state0: Any) -> None:
    """A module taken as a stack of nnx.RNN layers must compute what that stack computes."""
    if r.stack_check is None or xs_bt is None:
        return
    import jax.numpy as jnp
    from flax import nnx

    probe = xs_bt[:, : min(int(xs_bt.shape[1]), 4)]
    try:
        clone = nnx.clone(r.stack_check)
        expected = clone(jnp.asarray(probe, dtype=_float_dtype(nnx.state(clone, nnx.Param)) or probe.dtype))
    except Exception as exc:  # noqa: BLE001
        raise ModelTypeError(
            f"model: {type(r.stack_check).__name__} holds nnx.RNN layers but calling it on the inputs failed ({exc}); "
            "pass a step function f(h, x) -> h_next instead."
        ) from exc
    dyn = built.spec.build(built.params)
    h = jnp.zeros_like(state0)
    outs = []
    x_tm = jnp.swapaxes(jnp.asarray(probe, dtype=state0.dtype), 0, 1)
    for t in range(x_tm.shape[0]):
        h = dyn.step(jnp, h, x_tm[t])
        outs.append(_stack_output(dyn, h))
    ours = jnp.stack(outs, axis=1)
    expected = jnp.asarray(expected)
    ok = expected.shape == ours.shape and bool(jnp.allclose(expected.astype(ours.dtype), ours, rtol=1e-3, atol=1e-4))
    if not ok:
        raise ModelTypeError(
            f"model: {type(r.stack_check).__name__} holds nnx.RNN layers, but its output is not that of those layers "
            "applied one after the other in attribute order (lyapax checked on the first input steps). "
            "Pass a step function f(h, x) -> h_next that advances all layers by one step instead."
        )


def _stack_output(dyn: Any, h: Any) -> Any:
    if isinstance(dyn, Stack):
        a = dyn.offsets[-2]
        return h[:, a : a + dyn.layers[-1].output_size]
    # autodiff stack: the state is the flattened list of carries; the last layer's output is its h
    carries = dyn.flat.unflatten(h)
    last = carries[-1]
    return last[1] if isinstance(last, (tuple, list)) else last


# --- the backend -----------------------------------------------------------------------


def _read_inputs(inputs: Any, input_size: int | None) -> tuple[Any, int, int, int]:
    """Batch-first inputs as an array (jax or numpy, not copied yet) and their ``(B, T, F)``."""
    if _is_jax_array(inputs):
        arr = inputs
    else:
        try:
            arr = np.asarray(inputs)
        except Exception as exc:  # noqa: BLE001
            raise InputError(
                f"inputs: cannot read {type(inputs).__name__} as an array ({exc}); pass a jax or numpy array "
                "of shape (batch, time, features)."
            ) from exc
    if not np.issubdtype(np.dtype(arr.dtype), np.number) or np.issubdtype(np.dtype(arr.dtype), np.complexfloating):
        raise InputError(f"inputs: expected real numbers, got dtype {arr.dtype}.")
    B, T, F = check_inputs_shape(tuple(arr.shape), input_size)
    return arr, B, T, F


class JaxBackend(Backend):
    """JAX: Flax nnx/linen and Equinox cells, lyapax cells with JAX weights, step functions."""

    name = "jax"
    modules = ("jax",)
    extra = "jax"
    differentiable = True

    def recognises_model(self, model: Any) -> bool:
        return classify(model) is not None

    def recognises_array(self, array: Any) -> bool:
        if _is_jax_array(array):
            return True
        if isinstance(array, (tuple, list, dict)) and array:  # a carry pytree given as h0
            leaves = _leaves(array) if _mod("jax") is not None else []
            return bool(leaves) and all(_is_jax_array(a) for a in leaves)
        return False

    def prepare(self, model, inputs, *, steps, h0, dtype, device, differentiable) -> Problem:

        if differentiable:
            raise InputError(
                "differentiable: in JAX, gradients come from transforming a pure function, which lyapax.spectrum "
                "(a host loop with checks between compiled chunks) is not. Use lyapax_jax.exponents(model, params, "
                "inputs, k=..., warmup=...) inside jax.grad / nnx.grad / eqx.filter_grad: it returns the "
                "(batch, k) exponents as a differentiable jax array (see docs/backends/jax.md)."
            )
        default = _float_dtype(_model_arrays(model))
        if default is None and _is_jax_array(inputs) and np.issubdtype(np.dtype(inputs.dtype), np.floating):
            default = np.dtype(inputs.dtype).name
        name = normalize_dtype(dtype) or default or "float32"
        scope = x64(name == "float64")
        scope.__enter__()
        try:
            problem = self._prepare(resolve(model, dtype=name), inputs, steps, h0, name, device)
        except BaseException:
            scope.__exit__(*sys.exc_info())
            raise
        problem.close = lambda: scope.__exit__(None, None, None)
        return problem

    def _prepare(self, r: Resolved, inputs: Any, steps: int | None, h0: Any, name: str, device: Any) -> Problem:
        import jax
        import jax.numpy as jnp

        jdtype = jnp.dtype(name)
        input_size = r.cell.input_size if r.cell is not None else None
        arr, batch, features = None, None, None
        if inputs is not None:
            arr, batch, steps, features = _read_inputs(inputs, input_size)
        dev = _resolve_device(device, inputs, r.cell.arrays() if r.cell is not None else r.params)
        h0_tree = None if h0 is None else jax.tree_util.tree_map(jnp.asarray, h0)
        built = _build(r, jdtype, batch, features, h0_tree)
        put = lambda a: jax.device_put(a, dev)  # noqa: E731
        params = jax.tree_util.tree_map(put, built.params)
        xs = None if arr is None else put(jnp.swapaxes(jnp.asarray(arr, dtype=jdtype), 0, 1))
        state = _initial_state(r, built, batch, h0_tree)
        state = put(state)
        _check_stack(r, built, None if arr is None else jnp.asarray(arr), state)
        dynamics = built.spec.build(params)
        return Problem(
            xp=namespace(),
            dynamics=dynamics,
            inputs=xs,
            h0=state,
            steps=int(steps),
            to_numpy=lambda a: np.asarray(jax.device_get(a)),
            asarray=lambda a: put(jnp.asarray(a, dtype=jdtype)),
            int_array=lambda a: put(jnp.asarray(np.asarray(a).astype(np.int32))),
            dtype=name,
            device=str(dev),
            run_chunk=Runner(built.spec, params),
            model_name=r.name,
            chunk=CHUNK,
        )


# --- the functional, differentiable API --------------------------------------------------


def exponents(
    model: Any,
    params: Any = None,
    inputs: Any = None,
    *,
    k: int | None = None,
    warmup: int = 0,
    ortho_every: int = 1,
    seed: int | None = 0,
    basis: Any = None,
    h0: Any = None,
    steps: int | None = None,
) -> Any:
    """Per-sequence Lyapunov exponents ``(B, k)`` (nats/step) as a pure, jit- and grad-able JAX function.

    The same iteration as :func:`lyapax.spectrum` (the core's pure functions in
    one ``lax.scan``), written so ``jax.grad``, ``nnx.grad``, ``eqx.filter_grad``
    and ``jax.jit`` can transform it. Columns are sorted by their mean over
    sequences, descending, as in :attr:`lyapax.Spectrum.per_sequence`.

    Args:
        model: what :func:`lyapax.spectrum` takes on JAX (nnx / linen / equinox
            models, lyapax cells with jax weights, step functions ``f(h, x)``).
        params: replacement parameters to differentiate with respect to, or
            ``None`` to use the model's own: ``nnx.state(model, nnx.Param)`` for
            nnx, the variables for linen (``(module, None)`` or ``module`` with
            ``params``), an ``eqx.partition`` array part for equinox, a dict
            of arrays (a list of dicts for a Stack) for lyapax cells; for a
            plain function, ``params`` makes it called as ``f(params, h, x)``.
        inputs: ``(batch, time, features)`` inputs, or ``None`` with ``steps``.
        k, warmup, ortho_every, seed, basis, h0: as in :func:`lyapax.spectrum`.
        steps: the number of steps of an autonomous map (``inputs=None``).

    Computes in the parameters' dtype (float64 needs ``jax.enable_x64``
    around the call, see the docs). It does not raise on NaN/Inf or exact
    zeros on diag(R) (a traced function cannot): such sequences give
    NaN/-inf entries; :func:`lyapax.spectrum` checks and reports them.
    """
    import jax
    import jax.numpy as jnp

    warmup = check_int("warmup", warmup, 0)
    ortho_every = check_int("ortho_every", ortho_every, 1)
    k = check_int("k", k, 1, allow_none=True)
    if isinstance(model, tuple) and len(model) == 2 and model[1] is None and params is not None:
        model = (model[0], params)
        params = None
    r = resolve(model, params)
    dtype = _float_dtype(r.cell.arrays() if r.cell is not None else r.params)
    if dtype is None:
        dtype = jnp.dtype(jnp.asarray(inputs).dtype if inputs is not None and np.issubdtype(np.dtype(jnp.asarray(inputs).dtype), np.floating) else jnp.float32).name
    jdtype = jnp.dtype(dtype)
    input_size = r.cell.input_size if r.cell is not None else None
    batch = features = None
    xs = None
    if inputs is not None:
        arr, batch, steps, features = _read_inputs(inputs, input_size)
        xs = jnp.swapaxes(jnp.asarray(arr, dtype=jdtype), 0, 1)
    elif steps is None:
        raise InputError("inputs: pass inputs (batch, time, features), or inputs=None with steps=T.")
    steps = check_int("steps", steps, 1)
    h0_tree = None if h0 is None else jax.tree_util.tree_map(jnp.asarray, h0)
    built = _build(r, jdtype, batch, features, h0_tree, cast=False)
    state = _initial_state(r, built, batch, h0_tree)
    d = built.dim
    kk = d if k is None else k
    if basis is not None and k is None:
        kk = int(np.shape(basis)[-1])
    if not 1 <= kk <= d:
        raise InputError(f"k: expected 1 <= k <= state dimension {d}, got {kk}.")
    if warmup >= steps:
        raise InputError(f"warmup: {warmup} warm-up steps leave nothing to count out of {steps} time steps.")
    B = int(state.shape[0])
    q0 = orthonormal_basis(d, kk, seed, basis)
    Q = jnp.broadcast_to(jnp.asarray(q0, dtype=jdtype), (B, d, kk))
    flags = jnp.full((B,), -1, dtype=jnp.int32)
    carry = (state, Q, flags, flags)
    if warmup:
        carry, _ = run_traced(built.spec, built.params, carry, None if xs is None else xs[:warmup], jnp.int32(0), warmup, ortho_every)
    _, total = run_traced(
        built.spec, built.params, carry, None if xs is None else xs[warmup:], jnp.int32(warmup), steps - warmup, ortho_every
    )
    per_seq = total / (steps - warmup)
    order = jnp.argsort(-jax.lax.stop_gradient(per_seq).mean(axis=0), stable=True)
    return jnp.take(per_seq, order, axis=1)


def _initial_state(r: Any, built: Any, batch: int | None, h0_tree: Any) -> Any:
    """The flat ``(B, d)`` initial state: the model's zeros, or the user's ``h0`` in its own structure."""
    if h0_tree is None:
        if built.zeros is None:
            raise InputError(f"h0: {r.name} needs an initial state h0.")
        state = built.zeros(batch or 1)
    else:
        state = built.to_state(h0_tree)
    check_h0_shape(tuple(state.shape), batch, built.dim)
    return state
