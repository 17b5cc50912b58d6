"""What a backend (framework adapter) provides to the core, and the one pipeline that uses it.

A backend is a `Backend` subclass registered under the entry-point group
``lyapax.backends``. Importing the module that defines it must not import its
framework: the registry asks `Backend.recognises_model` only once the
framework is already in ``sys.modules``, and imports nothing to check.

`Backend.session` runs the same sequence for every framework::

    recognise the model (plan) -> dtype -> device -> scope (x64, no_grad, ...) ->
    inputs to time-major (T, B, F) -> dynamics (native layer -> canonical cell,
    step function -> autodiff tangent) and h0 to (B, d) -> probe step -> runner -> Problem

An adapter fills in the hooks (``plan``, ``namespace``, ``dtype_of``, ``device``,
``asarray``, ``to_numpy``, ``scope``, ``runner``, and for step functions
``jvp``/``vmap``/``tree_flatten``/``tree_unflatten``) and nothing else; all
validation is here, so a mistake gets the same message on every backend.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import validation
from .algorithm import Dynamics
from .cells import Cell, Map
from .errors import InputError, ModelTypeError
from .tangent import AutodiffDynamics, StateLayout, Step, call_plain, tree_flatten, tree_unflatten
from .validation import Options, check_h0_shape, check_inputs_shape, check_real_dtype, numeric_array

__all__ = ["Backend", "Plan", "Problem", "whole_model_hint"]


@dataclass
class Plan:
    """What a backend made of the user's model (the answer of `Backend.plan`).

    Exactly one of ``cell``, ``step`` and ``dynamics`` is set.

    Attributes:
        name: a short description for reports.
        params: the model's parameter arrays (native): their dtype is the default
            compute dtype and their device the default device.
        input_size: features per step, or ``None`` when the model does not say.
        time_major: the input layout the model itself declares (PyTorch
            ``batch_first=False``, flax ``time_major=True``); ``None``: none declared,
            inputs are ``(batch, time, features)``.
        reverse: the model reads its inputs backwards (Keras ``go_backwards``).
        cell: ``cell(convert)`` builds the canonical cell, passing each weight array
            through ``convert`` (cast to the compute dtype, placed on the device).
        state: ``state(h0, batch, convert)`` turns an initial state in the model's own
            format into the flat ``(batch, d)`` array; ``None``: ``h0`` is ``(batch, d)``.
        step: a step function for the autodiff tangent map.
        dynamics: a ready `lyapax.algorithm.Dynamics` (a `lyapax.Map`).
        check: ``check(dynamics, xs, h0)`` after the dynamics are built (e.g. that a
            module's forward pass is what the plan assumed); ``xs`` is time-major or ``None``.
        hint: for a module that holds recurrent layers but is not one: the error (naming the
            fix, e.g. "pass model.lstm") raised when it is called without ``h0``.
        fixed_dtype: the only dtype the model computes in (a module differentiated
            through its own call, which cannot be cast), or ``None``.
        model: the user's model (for `Backend.scope`).
    """

    name: str
    params: list = field(default_factory=list)
    input_size: int | None = None
    time_major: bool | None = None
    reverse: bool = False
    cell: Callable[[Callable[[Any], Any]], Cell] | None = None
    state: Callable[[Any, int, Callable[[Any], Any]], Any] | None = None
    step: Step | None = None
    dynamics: Any = None
    check: Callable[[Any, Any, Any], None] | None = None
    hint: str = ""
    fixed_dtype: str | None = None
    model: Any = None


@dataclass(frozen=True)
class Problem:
    """A model and its inputs made ready for the core's iteration (built by `Backend.prepare`).

    Attributes:
        backend: the backend that built it.
        xp: the array namespace the core computes with.
        dynamics: the system; see `lyapax.algorithm.Dynamics`.
        inputs: time-major inputs ``(T, B, F)`` of ``xp`` on the compute device, or ``None``.
        h0: initial states ``(B, d)`` of ``xp``.
        steps: the number of time steps ``T``.
        dtype: ``"float32"`` or ``"float64"``.
        device: the compute device (the backend's own object).
        run_chunk: a compiled runner with the signature and results of
            `lyapax.algorithm.run_chunk` less its first two arguments, or ``None``.
        model_name: a short description of the model for reports.
        chunk: preferred steps per chunk (host sync and compile unit), or ``None``.
        qr_dtype: the dtype of the QR and of the sums of logs (``"float64"`` for a float32
            tangent map by default), or ``None`` for ``dtype``.
        accelerator: whether ``device`` is a GPU or another accelerator (it decides the QR engine).
    """

    backend: Backend
    xp: Any
    dynamics: Dynamics
    inputs: Any | None
    h0: Any
    steps: int
    dtype: str
    device: Any
    run_chunk: Callable[..., Any] | None = None
    model_name: str = ""
    chunk: int | None = None
    qr_dtype: str | None = None
    accelerator: bool = False

    def asarray(self, a: np.ndarray, dtype: str | None = None) -> Any:
        """A numpy array as an ``xp`` array on the compute device (in the compute dtype by default)."""
        return self.backend.asarray(a, dtype or self.dtype, self.device)

    def to_numpy(self, a: Any) -> np.ndarray:
        """An ``xp`` array as a numpy array (a host copy)."""
        return self.backend.to_numpy(a)


class Backend:
    """Base class of framework adapters: detection, the hooks, and the pipeline that calls them.

    Class attributes:
        name: the backend's name (``spectrum(..., backend=name)``).
        modules: top-level modules of the framework; the backend is only asked
            to recognise objects once one of them is imported.
        extra: the pip extra that installs the framework (``lyapax-rnn[extra]``), or ``None``.
        accepts: what models it takes, in words (for errors).
        default_dtype: the compute dtype when neither ``dtype=`` nor the model says.
        dtype_from_model: whether the model's (or data's) dtype is the default.
        autodiff: whether plain step functions ``f(h, x)`` are differentiated (``jvp``).
        differentiable_error: why ``differentiable=True`` is refused, or ``None``.
        chunk: preferred steps per compiled chunk, or ``None`` (the driver's default).
        max_threads: the most threads that may run the backend's runners at once (``threads=``
            above it is lowered, with a warning), or ``None``: no limit.
        thread_limit_reason: why ``max_threads`` is set (said in that warning).
    """

    name: str = ""
    modules: tuple[str, ...] = ()
    extra: str | None = None
    accepts: str = "a lyapax.cells cell"
    default_dtype: str = "float32"
    dtype_from_model: bool = True
    autodiff: bool = True
    differentiable_error: str | None = None
    chunk: int | None = None
    max_threads: int | None = None
    thread_limit_reason: str = ""

    # -- detection (never imports the framework) ---------------------------------------------

    def is_installed(self) -> bool:
        """Whether the framework can be imported (checked without importing it)."""
        return all(m in sys.modules or importlib.util.find_spec(m) is not None for m in self.modules)

    def is_imported(self) -> bool:
        """Whether the user has already imported the framework."""
        return any(m in sys.modules for m in self.modules)

    def recognises_model(self, model: Any) -> bool:
        """Whether ``model`` is of this framework. Only called when `is_imported`."""
        return False

    def recognises_array(self, array: Any) -> bool:
        """Whether ``array`` is an array of this framework. Only called when `is_imported`."""
        return False

    # -- hooks: the same names and signatures in every adapter ---------------------------------

    def namespace(self) -> Any:
        """The array namespace the core computes with."""
        raise NotImplementedError

    def plan(self, model: Any) -> Plan | None:
        """A `Plan` for the framework's own models (layers, cells, modules), else ``None``.

        ``None`` hands the model to the core's generic handling: `lyapax.cells`
        cells with this framework's arrays, `lyapax.Map` (numpy only) and plain
        step functions ``f(h, x)`` (with `autodiff`).
        """
        return None

    def dtype_of(self, array: Any) -> str:
        """The numpy name of a native array's dtype (``"float32"``, ``"int64"`` ...)."""
        return np.dtype(array.dtype).name

    def device(self, requested: Any, model_arrays: list, data_arrays: list) -> Any:
        """The compute device: ``requested`` (``device=``) if given, else where the model (else the data) lives."""
        if requested not in (None, "cpu"):
            raise InputError(f"device: the {self.name} backend runs on the CPU only, got {requested!r}; omit device.")
        return "cpu"

    def asarray(self, value: Any, dtype: str | None, device: Any, *, differentiable: bool = False) -> Any:
        """A native or numpy array as an ``xp`` array in ``dtype`` (``None``: kept) on ``device``.

        With ``differentiable``, stays attached to the autodiff graph (never detached).
        """
        raise NotImplementedError

    def to_numpy(self, array: Any) -> np.ndarray:
        """An ``xp`` array as a numpy array (a host copy)."""
        return np.asarray(array)

    def scope(self, plan: Plan, dtypes: tuple[str, ...], device: Any, differentiable: bool) -> contextlib.AbstractContextManager:
        """Resources held for the whole computation (float64 mode, no-grad, the model's
        training flags, a device scope). Everything it changes is restored on exit."""
        return contextlib.nullcontext()

    def runner(self, dynamics: Any, device: Any, differentiable: bool) -> Callable[..., Any] | None:
        """A compiled chunk runner (see `Problem.run_chunk`), or ``None`` for the core's loop.

        It takes ``(carry, xs, start, length, ortho_every, *, qr=HOUSEHOLDER)`` and returns
        `lyapax.algorithm.run_chunk`'s results; with ``factors=True`` too if it sets the
        attribute ``factors = True`` on itself (else covariant vectors use the core's loop).
        """
        return None

    def is_accelerator(self, device: Any) -> bool:
        """Whether ``device`` is a GPU (or another accelerator), where GEMM-bound QR pays."""
        return False

    def threads(self, problem: Problem, k: int) -> int:
        """How many threads split the batch when ``threads=None`` (``k`` exponents): 1 (a backend
        that measured a gain on CPUs says more, and for which sizes)."""
        return 1

    def thread_scope(self, n: int) -> contextlib.AbstractContextManager:
        """Held (by the calling thread) while ``n`` threads each run a share of the batch (e.g. one
        intra-op thread each)."""
        return contextlib.nullcontext()

    def worker_scope(self, problem: Problem) -> contextlib.AbstractContextManager:
        """Held by each of those threads around its share: what `scope` set that is local to a
        thread and the runner needs (JAX's float64 mode, TensorFlow's device scope)."""
        return contextlib.nullcontext()

    # autodiff primitives (see lyapax.tangent)
    tree_flatten = staticmethod(tree_flatten)
    tree_unflatten = staticmethod(tree_unflatten)
    #: ``vmap(fn, in_axis, out_axes)`` vectorising ``fn`` over one axis, or ``None`` (then the core tiles).
    vmap: Callable[..., Any] | None = None

    def jvp(self, fn: Callable[[Any], Any], primal: Any, tangent: Any) -> tuple[Any, Any]:
        """``(fn(primal), d fn(primal) · tangent)``: forward-mode autodiff of ``fn`` at ``primal``."""
        raise NotImplementedError

    def is_floating(self, array: Any) -> bool:
        """Whether a native array holds real floating-point numbers."""
        try:
            return np.dtype(self.dtype_of(array)).kind == "f"
        except TypeError:
            return False

    # -- the pipeline ------------------------------------------------------------------------

    def resolve(self, model: Any) -> Plan:
        """The `Plan` of ``model``: the adapter's `plan`, else the core's generic kinds."""
        plan = self.plan(model)
        if plan is not None:
            plan.model = model if plan.model is None else plan.model
            return plan
        if isinstance(model, Cell):
            arrays = list(model.arrays().values())
            if not arrays or not all(self.recognises_array(a) for a in arrays):
                kinds = sorted({type(a).__name__ for a in arrays})
                raise ModelTypeError(
                    f"model: the {self.name} backend takes lyapax.cells cells whose weights are {self.name} arrays; "
                    f"this {type(model).__name__} holds {', '.join(kinds) or 'no arrays'}. Convert them "
                    "(cell.map_arrays(...)) or use the backend of their framework (numpy arrays: backend='numpy')."
                )
            return Plan(type(model).__name__, arrays, model.input_size, cell=model.map_arrays, model=model)
        if isinstance(model, Map):
            raise ModelTypeError(
                f"model: a lyapax.Map carries a numpy Jacobian; run it with the numpy backend, or pass a step "
                f"function f(h, x) on {self.name} arrays to the {self.name} backend (its Jacobian comes from autodiff)."
            )
        if self.autodiff and callable(model) and not isinstance(model, type):
            name = getattr(model, "__name__", type(model).__name__)
            return Plan(name, step=Step(call_plain, model), model=model)
        raise ModelTypeError(f"model: the {self.name} backend takes {self.accepts}, got {type(model).__name__}.")

    def _data_arrays(self, inputs: Any, h0: Any) -> list:
        leaves = [] if h0 is None else self.tree_flatten(h0)[0]
        return [a for a in ([inputs] if inputs is not None else []) + leaves if self.recognises_array(a)]

    def _default_dtype(self, plan: Plan, data: list) -> str:
        if self.dtype_from_model:
            for a in list(plan.params) + data:
                if self.is_floating(a):
                    name = self.dtype_of(a)
                    return name if name in ("float32", "float64") else "float32"  # half precision: float32
        return self.default_dtype

    @contextlib.contextmanager
    def session(self, model: Any, inputs: Any, options: Options) -> Iterator[Problem]:
        """The `Problem` of ``model`` and ``inputs``, inside the backend's `scope`.

        Run the iteration inside the ``with`` block: the scope (float64 mode, no-grad,
        the model's training flags, locks) holds until it ends.
        """
        options = options.with_inputs(inputs)
        if options.differentiable and self.differentiable_error:
            raise InputError(f"differentiable: {self.differentiable_error}")
        plan = self.resolve(model)
        data = self._data_arrays(inputs, options.h0)
        dtype = options.dtype or plan.fixed_dtype or self._default_dtype(plan, data)
        if plan.fixed_dtype is not None and dtype != plan.fixed_dtype:
            raise InputError(
                f"dtype: {plan.name} is differentiated through its own call, which computes in {plan.fixed_dtype}; "
                f"omit dtype, or build the model with dtype={dtype!r}."
            )
        device = self.device(options.device, list(plan.params), data)
        qr_dtype = "float64" if options.qr_dtype == "auto" else options.qr_dtype
        qr_dtype = None if qr_dtype == dtype else qr_dtype
        with self.scope(plan, (dtype,) if qr_dtype is None else (dtype, qr_dtype), device, options.differentiable):
            problem = self.prepare(plan, inputs, options, dtype, device)
            yield dataclasses.replace(problem, qr_dtype=qr_dtype, accelerator=bool(self.is_accelerator(device)))

    def _native(self, value: Any, name: str) -> Any:
        """A native array as it is, anything else read as a numeric numpy array (clear errors)."""
        if self.recognises_array(value) and not isinstance(value, np.ndarray):
            check_real_dtype(name, self.dtype_of(value))
            return value
        return numeric_array(value, name)

    def prepare(
        self, plan: Plan, inputs: Any, options: Options, dtype: str, device: Any, *, check: bool = True
    ) -> Problem:
        """Build the `Problem` (call it within `session`'s scope).

        ``check=False`` skips the probe step (for traced, functional use).
        """
        xp = self.namespace()
        diff = options.differentiable

        def convert(a: Any) -> Any:  # the model's own arrays
            return self.asarray(a, dtype, device, differentiable=diff)

        def convert_state(a: Any) -> Any:  # what the user passed as h0
            return self.asarray(self._native(a, "h0"), dtype, device, differentiable=diff)

        # inputs -> time-major (T, B, F) on the device
        time_major = options.time_major if options.time_major is not None else bool(plan.time_major)
        xs, batch, features, steps = None, None, None, options.steps
        if inputs is not None:
            native = self._native(inputs, "inputs")
            shape = tuple(int(s) for s in native.shape)
            batch, steps, features = check_inputs_shape(shape, plan.input_size, time_major=time_major)
            xs = self.asarray(native, dtype, device, differentiable=diff)
            if not time_major:
                xs = xp.permute_dims(xs, (1, 0, 2))
            if plan.reverse:
                xs = xp.flip(xs, axis=0)
        validation.warn_suspicious_inputs(batch, steps, options.warmup, time_major=time_major, explicit=options.time_major is not None)

        # dynamics and the initial state (B, d)
        if plan.step is not None:
            dynamics, h0 = self._autodiff(plan, options.h0, batch, features, convert, convert_state, device, xp)
        else:
            dynamics = plan.dynamics if plan.dynamics is not None else plan.cell(convert)
            dynamics, h0 = self._initial_state(plan, dynamics, options.h0, batch, convert, convert_state)
        if check and (plan.step is not None or plan.dynamics is not None):
            self._probe(xp, dynamics, h0, None if xs is None else xs[0, ...], convert)
        if plan.check is not None:
            plan.check(dynamics, xs, h0)
        return Problem(
            backend=self,
            xp=xp,
            dynamics=dynamics,
            inputs=xs,
            h0=h0,
            steps=int(steps),
            dtype=dtype,
            device=device,
            run_chunk=self.runner(dynamics, device, diff),
            model_name=plan.name,
            chunk=self.chunk,
        )

    def _initial_state(
        self, plan: Plan, dynamics: Any, h0: Any, batch: int | None, convert: Callable, convert_state: Callable
    ) -> tuple:
        dim = dynamics.dim
        if h0 is None:
            if dim is None:
                raise InputError("h0: a Map needs an initial state h0 of shape (batch, d), or Map(..., dim=d).")
            return dynamics, convert(np.zeros((batch or 1, dim)))
        if plan.state is not None:
            if batch is None:
                raise InputError(
                    "h0: with inputs=None, pass the initial state in the model's own format with its batch axis."
                )
            state = plan.state(h0, batch, convert_state)
        else:
            state = convert_state(h0)
        check_h0_shape(tuple(state.shape), batch, dim)
        if isinstance(dynamics, Map) and dim is None:
            dynamics = Map(dynamics.step_fn, dynamics.jacobian_fn, dim=int(state.shape[1]), input_size=dynamics.input_size)
        return dynamics, state

    def _tree_map(self, fn: Callable[[Any], Any], tree: Any) -> Any:
        leaves, treedef = self.tree_flatten(tree)
        return self.tree_unflatten(treedef, [fn(a) for a in leaves])

    def _autodiff(
        self, plan: Plan, h0: Any, batch: int | None, features: int | None, convert: Callable,
        convert_state: Callable, device: Any, xp: Any,
    ) -> tuple:
        step = plan.step

        def param(a: Any) -> Any:  # floating parameters in the compute dtype; the rest (RNG keys...) only moved
            if self.is_floating(a):
                return convert(a)
            return self.asarray(a, None, device) if self.recognises_array(a) else a

        params = None if step.params is None else self._tree_map(param, step.params)
        template = None if step.carry is None else self._tree_map(convert, step.carry(batch or 1, features))
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
            tree = self._tree_map(convert_state, h0)
        layout = StateLayout.of(self, tree, "h0")
        if template is not None and h0 is not None:
            carry = StateLayout.of(self, template, "h0")
            if not carry.matches(self, tree):
                if not (len(layout.shapes) == 1 and layout.shapes[0] == (carry.dim,)):
                    raise InputError(
                        f"h0: expected the model's carry, [{carry.describe()}], or a (batch, {carry.dim}) array in "
                        f"lyapax's flat layout; got [{layout.describe()}]."
                    )
                tree = carry.unflatten(self, xp, tree)  # a flat (B, d) h0 for a structured carry
                layout = carry
        state = layout.flatten(self, xp, tree, "h0")
        rows = int(state.shape[0])
        if batch is not None and rows != batch:
            raise InputError(
                f"h0: its batch axis (first) has {rows} rows but inputs has {batch} sequences; pass one initial "
                "state per sequence."
            )
        return AutodiffDynamics(self, Step(step.apply, step.static, params, output=step.output), layout, plan.input_size), state

    def _probe(self, xp: Any, dynamics: Any, h0: Any, x0: Any, convert: Callable) -> None:
        """One step of a user-supplied map, so a wrong signature, shape, dtype or device is a clear error now."""
        B, d = (int(s) for s in h0.shape)
        e0 = np.zeros((B, d, 1))
        e0[:, 0, 0] = 1.0
        try:
            h1, jq = dynamics.step_tangent(xp, h0, x0, convert(e0))
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's function may raise anything
            raise InputError(_probe_message(exc, self.name)) from exc
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


def whole_model_hint(model: Any, layers: list[tuple[tuple, str]]) -> str:
    """The hint of a `Plan` for a network that holds recurrent layers but is not one.

    ``layers``: ``(path, class name)`` of the recurrent layers inside, a path being the
    attribute names or indices from the model down (outermost layers first).
    """
    if not layers:
        return ""

    def access(path: tuple) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) or str(p).isdigit() else f".{p}" for p in path)

    layers = sorted(layers, key=lambda item: len(item[0]))
    first = access(layers[0][0])
    held = ", ".join(f"model{access(p)} ({cls})" for p, cls in layers[:3])
    return (
        f"{type(model).__name__} is not a recurrent layer but holds {held}: to get the spectrum of that layer, "
        f"pass it (model{first}) with its own inputs (embedded, if the network embeds tokens), or "
        f"lyapax.Monitor(probe, select=lambda m: m{first}). Pass h0 only if the module itself is a step "
        "function f(h, x) -> h_next."
    )


def _probe_message(exc: Exception, backend: str) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    low = msg.lower()
    hint = ""
    if "random" in low or "rng" in low:
        hint = (
            " The step draws random numbers (dropout in training mode?): the spectrum is that of the deterministic "
            "map. Call model.eval() before, or pass the module itself as f(h, x) (lyapax switches its dropout off "
            "for the call and restores the training flags)."
        )
    elif "device" in low:
        hint = (
            " The function's own tensors seem to be on another device than the computation: pass device= "
            "matching them, or move them."
        )
    elif "dtype" in low or "double" in low or "float" in low:
        hint = (
            " The computation runs in the dtype lyapax chose (the model's, or dtype=): pass dtype= matching the "
            "function's own arrays (a module's parameters are cast automatically; a closure's arrays are not)."
        )
    return (
        f"model: calling the step function f(h, x) on h0 and the first input step failed: {type(exc).__name__}: "
        f"{msg}.{hint} A step function takes the state h (as passed in h0, batch first) and one input step x "
        "(batch, features) and returns the next state in the format of h. For a whole network (embedding, RNN, "
        f"head), pass its recurrent layer with pre-embedded inputs instead (see the {backend} page of the docs)."
    )
