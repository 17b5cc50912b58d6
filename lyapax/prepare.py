"""Building a `Problem` from a backend's `Plan`: the inputs, the dynamics, the initial state.

The same steps for every backend (the hooks of `lyapax.backend.Backend` do the
framework's part)::

    inputs -> time-major (T, B, F) on the device
    dynamics: canonical cell | ready Map | step function -> autodiff tangent (lyapax.tangent)
    h0 -> (B, d) (the model's own format through Plan.state)
    probe step of a user's map (a wrong signature is a clear error now, not in the loop)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .backend import Backend, Plan, Problem
from .cells import Map
from .errors import InputError, ModelTypeError
from .hints import probe_message
from .namespace import check_namespace
from .options import Options
from .tangent import AutodiffDynamics, StateLayout, Step
from .validation import check_h0_shape, check_inputs_shape, check_real_dtype, numeric_array

__all__ = ["prepare", "native_or_numpy"]


def native_or_numpy(backend: Backend, value: Any, name: str) -> Any:
    """A native array of ``backend`` as it is, anything else read as a numeric numpy array (clear errors)."""
    if backend.recognises_array(value) and not isinstance(value, np.ndarray):
        check_real_dtype(name, backend.dtype_of(value))
        return value
    return numeric_array(value, name)


def prepare(
    backend: Backend, plan: Plan, inputs: Any, options: Options, *, dtype: str, qr_dtype: str | None, device: Any,
    accelerator: bool, check: bool = True
) -> Problem:
    """Build the `Problem` (call it within the backend's `Backend.scope`, as `lyapax.session.session` does).

    ``dtype``, ``qr_dtype``, ``device``, ``accelerator``: as the session resolved them (see `Problem`).
    ``check=False`` skips the probe step (for traced, functional use).
    """
    xp = backend.namespace()
    check_namespace(backend.name, xp)
    diff = options.differentiable

    def convert(a: Any) -> Any:  # the model's own arrays
        return backend.asarray(a, dtype, device, differentiable=diff)

    def convert_state(a: Any) -> Any:  # what the user passed as h0
        return backend.asarray(native_or_numpy(backend, a, "h0"), dtype, device, differentiable=diff)

    time_major = options.time_major if options.time_major is not None else bool(plan.time_major)
    xs, batch, features, steps = None, None, None, options.steps
    if inputs is not None:
        native = native_or_numpy(backend, inputs, "inputs")
        shape = tuple(int(s) for s in native.shape)
        batch, steps, features = check_inputs_shape(shape, plan.input_size, time_major=time_major)
        xs = backend.asarray(native, dtype, device, differentiable=diff)
        if not time_major:
            xs = xp.permute_dims(xs, (1, 0, 2))
        if plan.reverse:
            xs = xp.flip(xs, axis=0)

    if plan.step is not None:
        dynamics, h0 = _autodiff(backend, plan, options.h0, batch, features, convert, convert_state, device, xp)
    else:
        dynamics = plan.dynamics if plan.dynamics is not None else plan.cell(convert)
        dynamics, h0 = _initial_state(plan, dynamics, options.h0, batch, convert, convert_state)
    if check and (plan.step is not None or plan.dynamics is not None):
        _probe(backend, xp, dynamics, h0, None if xs is None else xs[0, ...], convert)
    if plan.check is not None:
        plan.check(dynamics, xs, h0)
    return Problem(
        backend=backend,
        xp=xp,
        dynamics=dynamics,
        inputs=xs,
        h0=h0,
        steps=int(steps),
        dtype=dtype,
        device=device,
        run_chunk=backend.runner(dynamics, device, diff),
        chunk=backend.chunk,
        qr_dtype=qr_dtype,
        accelerator=accelerator,
        time_major=time_major,
    )


def _initial_state(
    plan: Plan, dynamics: Any, h0: Any, batch: int | None, convert: Callable, convert_state: Callable
) -> tuple:
    dim = dynamics.dim
    if h0 is None:
        if dim is None:
            raise InputError("h0: a Map needs an initial state h0 of shape (batch, d), or Map(..., dim=d).")
        return dynamics, convert(np.zeros((batch or 1, dim)))
    if plan.state is not None:
        if batch is None:
            raise InputError("h0: with inputs=None, pass the initial state in the model's own format with its batch axis.")
        state = plan.state(h0, batch, convert_state)
    else:
        state = convert_state(h0)
    check_h0_shape(tuple(state.shape), batch, dim)
    if isinstance(dynamics, Map) and dim is None:
        dynamics = Map(dynamics.step_fn, dynamics.jacobian_fn, dim=int(state.shape[1]), input_size=dynamics.input_size)
    return dynamics, state


def _tree_map(backend: Backend, fn: Callable[[Any], Any], tree: Any) -> Any:
    leaves, treedef = backend.tree_flatten(tree)
    return backend.tree_unflatten(treedef, [fn(a) for a in leaves])


def _autodiff(
    backend: Backend, plan: Plan, h0: Any, batch: int | None, features: int | None, convert: Callable,
    convert_state: Callable, device: Any, xp: Any,
) -> tuple:
    """The autodiff dynamics of a step function and its flat initial state ``(B, d)``."""
    step = plan.step

    def param(a: Any) -> Any:  # floating parameters in the compute dtype; the rest (RNG keys...) only moved
        if backend.is_floating(a):
            return convert(a)
        return backend.asarray(a, None, device) if backend.recognises_array(a) else a

    params = None if step.params is None else _tree_map(backend, param, step.params)
    template = None if step.carry is None else _tree_map(backend, convert, step.carry(batch or 1, features))
    if h0 is not None and plan.state is not None and batch is not None:
        h0 = plan.state(h0, batch, convert_state)  # the model's own format -> (B, d), as for cells
    if h0 is None:
        if template is None and plan.hint:  # a whole network holding recurrent layers: say so first
            raise ModelTypeError(f"model: {plan.hint}")
        if template is None:
            raise InputError(
                "h0: a step function f(h, x) needs an initial state h0 to fix the state's structure: pass an "
                "array (batch, d) or a tuple of arrays, each with the batch first (e.g. zeros(batch, hidden_size))."
            )
        tree = template
    else:
        tree = _tree_map(backend, convert_state, h0)
    layout = StateLayout.of(backend, tree, "h0")
    if template is not None and h0 is not None:
        carry = StateLayout.of(backend, template, "h0")
        if not carry.matches(backend, tree):
            if not (len(layout.shapes) == 1 and layout.shapes[0] == (carry.dim,)):
                raise InputError(
                    f"h0: expected the model's carry, [{carry.describe()}], or a (batch, {carry.dim}) array in "
                    f"lyapax's flat layout; got [{layout.describe()}]."
                )
            tree = carry.unflatten(backend, xp, tree)  # a flat (B, d) h0 for a structured carry
            layout = carry
    state = layout.flatten(backend, xp, tree, "h0")
    rows = int(state.shape[0])
    if batch is not None and rows != batch:
        raise InputError(
            f"h0: its batch axis (first) has {rows} rows but inputs has {batch} sequences; pass one initial "
            "state per sequence."
        )
    dynamics = AutodiffDynamics(backend, Step(step.apply, step.static, params, output=step.output), layout, plan.input_size)
    return dynamics, state


def _probe(backend: Backend, xp: Any, dynamics: Any, h0: Any, x0: Any, convert: Callable) -> None:
    """One step of a user-supplied map, so a wrong signature, shape, dtype or device is a clear error now."""
    B, d = (int(s) for s in h0.shape)
    e0 = np.zeros((B, d, 1))
    e0[:, 0, 0] = 1.0
    try:
        h1, jq = dynamics.step_tangent(xp, h0, x0, convert(e0))
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's function may raise anything
        raise InputError(probe_message(exc, backend.name)) from exc
    if tuple(int(s) for s in h1.shape) != (B, d):
        raise InputError(
            f"model: the step function returned a state of shape {tuple(int(s) for s in h1.shape)} for a state "
            f"of shape ({B}, {d}); it must return the next state in the shape of h, (batch, d)."
        )
    if tuple(int(s) for s in jq.shape) != (B, d, 1):
        raise InputError(
            f"model: the tangent map returned shape {tuple(int(s) for s in jq.shape)}, expected ({B}, {d}, 1); "
            "check the Jacobian's shape (batch, d, d)."
        )
