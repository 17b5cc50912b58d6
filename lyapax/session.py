"""Opening a backend's session on a model: its plan, dtype, device and scope, then the `Problem`.

`session` is what every entry point runs (through `lyapax.pipeline`):

    resolve the model (the adapter's Plan, else the core's generic kinds)
    -> dtype (dtype=, else what the model or data computes in) -> device -> QR dtype
       (float64 unless the device has none: `lyapax.backend.Backend.has_float64`)
    -> the backend's scope (x64 mode, no-grad, training flags ...) -> `lyapax.prepare.prepare`,
       which builds the complete `Problem`

`traced_problem` builds the same `Problem` without the scope and without the probe
step, for a backend's traced functional form (`lyapax_jax.exponents`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .backend import Backend, Plan, Problem
from .cells import Cell, Map
from .errors import InputError, ModelTypeError
from .options import Options
from .prepare import prepare
from .tangent import Step, call_plain

__all__ = ["session", "traced_problem", "resolve_plan", "compute_dtype", "qr_dtype"]


def resolve_plan(backend: Backend, model: Any) -> Plan:
    """The `Plan` of ``model``: the adapter's `Backend.plan`, else the core's generic kinds."""
    plan = backend.plan(model)
    if plan is not None:
        return plan
    if isinstance(model, Cell):
        arrays = list(model.arrays().values())
        if not arrays or not all(backend.recognises_array(a) for a in arrays):
            kinds = sorted({type(a).__name__ for a in arrays})
            raise ModelTypeError(
                f"model: the {backend.name} backend takes lyapax.cells cells whose weights are {backend.name} arrays; "
                f"this {type(model).__name__} holds {', '.join(kinds) or 'no arrays'}. Convert them "
                "(cell.map_arrays(...)) or use the backend of their framework (numpy arrays: backend='numpy')."
            )
        return Plan(type(model).__name__, arrays, model.input_size, cell=model.map_arrays)
    if isinstance(model, Map):
        raise ModelTypeError(
            f"model: a lyapax.Map carries a numpy Jacobian; run it with the numpy backend, or pass a step "
            f"function f(h, x) on {backend.name} arrays to the {backend.name} backend (its Jacobian comes from autodiff)."
        )
    if backend.autodiff and callable(model) and not isinstance(model, type):
        return Plan(getattr(model, "__name__", type(model).__name__), step=Step(call_plain, model))
    raise ModelTypeError(f"model: the {backend.name} backend takes {backend.accepts}, got {type(model).__name__}.")


def _data_arrays(backend: Backend, inputs: Any, h0: Any) -> list:
    leaves = [] if h0 is None else backend.tree_flatten(h0)[0]
    return [a for a in ([inputs] if inputs is not None else []) + leaves if backend.recognises_array(a)]


def compute_dtype(backend: Backend, plan: Plan, options: Options, inputs: Any) -> str:
    """``dtype=``, else the model's own (a fixed one, else its parameters', else the data's), else the backend's."""
    if plan.fixed_dtype is not None and options.dtype not in (None, plan.fixed_dtype):
        raise InputError(
            f"dtype: {plan.name} is differentiated through its own call, which computes in {plan.fixed_dtype}; "
            f"omit dtype, or build the model with dtype={options.dtype!r}."
        )
    if options.dtype or plan.fixed_dtype:
        return options.dtype or plan.fixed_dtype
    if backend.dtype_from_model:
        for a in list(plan.params) + _data_arrays(backend, inputs, options.h0):
            if backend.is_floating(a):
                name = backend.dtype_of(a)
                return name if name in ("float32", "float64") else "float32"  # half precision: float32
    return backend.default_dtype


def _device(backend: Backend, plan: Plan, options: Options, inputs: Any) -> Any:
    return backend.device(options.device, list(plan.params), _data_arrays(backend, inputs, options.h0))


def qr_dtype(backend: Backend, options: Options, dtype: str, device: Any) -> str | None:
    """The QR's dtype (``None``: the compute dtype ``dtype``): ``qr_dtype="auto"`` is float64 where the
    device has it, else the compute dtype; float64 asked of a device without it is an `InputError`."""
    has64 = backend.has_float64(device)
    for name, value in (("dtype", dtype), ("qr_dtype", options.qr_dtype)):
        if value == "float64" and not has64:
            raise InputError(
                f"{name}: the {backend.name} backend has no float64 on {device!r}; pass {name}='float32'"
                + (" (or qr_dtype='auto', which computes the QR in float32 there)." if name == "qr_dtype" else ".")
            )
    wanted = ("float64" if has64 else dtype) if options.qr_dtype == "auto" else options.qr_dtype
    return None if wanted in (None, dtype) else wanted


@contextlib.contextmanager
def session(backend: Backend, model: Any, inputs: Any, options: Options) -> Iterator[Problem]:
    """The `Problem` of ``model`` and ``inputs`` on ``backend``, inside the backend's `Backend.scope`.

    Run the iteration inside the ``with`` block: the scope (float64 mode, no-grad,
    the model's training flags, locks) holds until it ends.
    """
    options = options.with_inputs(inputs)
    if options.differentiable and backend.differentiable_error:
        argument = "model" if options.entry != "lyapax.spectrum" else "differentiable"  # flossing is always so
        raise InputError(f"{argument}: {backend.differentiable_error}")
    plan = resolve_plan(backend, model)
    dtype = compute_dtype(backend, plan, options, inputs)
    device = _device(backend, plan, options, inputs)
    qr = qr_dtype(backend, options, dtype, device)
    with backend.scope(plan, (dtype,) if qr is None else (dtype, qr), device, options.differentiable):
        yield prepare(backend, plan, inputs, options, dtype=dtype, qr_dtype=qr, device=device,
                      accelerator=bool(backend.is_accelerator(device)))


def traced_problem(backend: Backend, model: Any, inputs: Any, options: Options) -> Problem:
    """The `Problem` as `session` builds it, for traced use: no scope entered, no probe step (nothing is
    read back to the host), the QR in the compute dtype."""
    options = options.with_inputs(inputs)
    plan = resolve_plan(backend, model)
    dtype = compute_dtype(backend, plan, options, inputs)
    device = _device(backend, plan, options, inputs)
    return prepare(backend, plan, inputs, options, dtype=dtype, qr_dtype=None, device=device,
                   accelerator=bool(backend.is_accelerator(device)), check=False)
