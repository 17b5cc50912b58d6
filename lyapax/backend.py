"""What a backend (framework adapter) provides to the core: the contract, and nothing else.

A backend is a `Backend` subclass registered under the entry-point group
``lyapax.backends``. Importing the module that defines it must not import its
framework: the registry asks `Backend.recognises_model` only once the
framework is already in ``sys.modules``, and imports nothing to check.

The core runs the same sequence for every framework (`lyapax.session`)::

    recognise the model (plan) -> dtype -> device -> scope (x64, no_grad, ...) ->
    inputs to time-major (T, B, F) -> dynamics (native layer -> canonical cell,
    step function -> autodiff tangent) and h0 to (B, d) -> probe step -> runner -> Problem

An adapter fills in the hooks of `Backend` (docs/writing-a-backend.md has the table, which
tests/core/test_backend_contract.py holds to this class) and nothing else; all validation is
in the core, so a mistake gets the same message on every backend. The array namespace it
supplies needs only the functions in `lyapax.namespace_subset.REQUIRED`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .algorithm import Dynamics
from .cells import Cell
from .errors import InputError
from .hints import whole_model_hint
from .tangent import Step, tree_flatten, tree_unflatten

# whole_model_hint: re-exported for the adapters that build a Plan's hint (it lives in lyapax.hints)
__all__ = ["Backend", "Plan", "Problem", "Runner", "whole_model_hint"]


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


@dataclass(frozen=True)
class Runner:
    """A backend's compiled chunk runner (the answer of `Backend.runner`) and what it can do.

    ``run(carry, xs, start, length, ortho_every, *, qr, factors=False)`` returns what
    `lyapax.algorithm.run_chunk` returns for the same arguments.

    Attributes:
        run: the compiled function.
        factors: whether it also hands back each interval's ``R`` (``factors=True``); without it,
            covariant vectors use the core's loop.
    """

    run: Callable[..., Any]
    factors: bool = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.run(*args, **kwargs)


@dataclass(frozen=True)
class Problem:
    """A model and its inputs made ready for the core's iteration (built by `lyapax.prepare.prepare`).

    Attributes:
        backend: the backend that built it.
        xp: the array namespace the core computes with.
        dynamics: the system; see `lyapax.algorithm.Dynamics`.
        inputs: time-major inputs ``(T, B, F)`` of ``xp`` on the compute device, or ``None``.
        h0: initial states ``(B, d)`` of ``xp``.
        steps: the number of time steps ``T``.
        dtype: ``"float32"`` or ``"float64"``.
        device: the compute device (the backend's own object).
        run_chunk: the backend's compiled `Runner`, or ``None`` for the core's loop.
        chunk: steps per chunk (host sync and compile unit), or ``None`` (the driver's default).
        qr_dtype: the dtype of the QR and of the sums of logs (``"float64"`` for a float32
            tangent map by default), or ``None`` for ``dtype``.
        accelerator: whether ``device`` is a GPU or another accelerator (it decides the QR engine).
        time_major: whether the inputs were given ``(time, batch, features)``.
    """

    backend: Backend
    xp: Any
    dynamics: Dynamics
    inputs: Any | None
    h0: Any
    steps: int
    dtype: str
    device: Any
    run_chunk: Runner | None = None
    chunk: int | None = None
    qr_dtype: str | None = None
    accelerator: bool = False
    time_major: bool = False

    def asarray(self, a: np.ndarray, dtype: str | None = None) -> Any:
        """A numpy array as an ``xp`` array on the compute device (in the compute dtype by default)."""
        return self.backend.asarray(a, dtype or self.dtype, self.device)

    def to_numpy(self, a: Any) -> np.ndarray:
        """An ``xp`` array as a numpy array (a host copy)."""
        return self.backend.to_numpy(a)


class Backend:
    """Base class of framework adapters: detection and the hooks the core's pipeline calls.

    Class attributes:
        name: the backend's name (``spectrum(..., backend=name)``).
        modules: top-level modules of the framework; the backend is only asked
            to recognise objects once one of them is imported.
        extra: the pip extra that installs the framework (``lyapax-rnn[extra]``), or ``None``.
        accepts: what models it takes, in words (for errors).
        default_dtype: the compute dtype when neither ``dtype=`` nor the model says.
        dtype_from_model: whether the model's (or data's) dtype is the default.
        autodiff: whether plain step functions ``f(h, x)`` are differentiated (``jvp``).
        vectorises: whether `vmap` is supplied (else the core tiles the batch for the JVPs).
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
    vectorises: bool = False
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

    def runner(self, dynamics: Any, device: Any, differentiable: bool) -> Runner | None:
        """A compiled chunk `Runner`, or ``None`` for the core's loop (`lyapax.algorithm.run_chunk`)."""
        return None

    def is_accelerator(self, device: Any) -> bool:
        """Whether ``device`` is a GPU (or another accelerator), where GEMM-bound QR pays."""
        return False

    def has_float64(self, device: Any) -> bool:
        """Whether ``device`` computes in float64. Without it, ``qr_dtype="auto"`` computes the QR in the
        compute dtype, and asking for float64 (``dtype=`` or ``qr_dtype=``) is an `InputError`."""
        return True

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

    def tree_flatten(self, tree: Any) -> tuple[list, Any]:
        """``(leaves, treedef)`` of a state pytree (default: the core's nested tuples, lists and dicts)."""
        return tree_flatten(tree)

    def tree_unflatten(self, treedef: Any, leaves: list) -> Any:
        """The pytree ``treedef`` with ``leaves`` (the inverse of `tree_flatten`)."""
        return tree_unflatten(treedef, leaves)

    def vmap(self, fn: Callable[..., Any], in_axis: int, out_axes: Any) -> Callable[..., Any]:
        """``fn`` vectorised over axis ``in_axis`` of its argument (only called when `vectorises`)."""
        raise NotImplementedError

    def jvp(self, fn: Callable[[Any], Any], primal: Any, tangent: Any) -> tuple[Any, Any]:
        """``(fn(primal), d fn(primal) · tangent)``: forward-mode autodiff of ``fn`` at ``primal``."""
        raise NotImplementedError

    def is_floating(self, array: Any) -> bool:
        """Whether a native array holds real floating-point numbers."""
        try:
            return np.dtype(self.dtype_of(array)).kind == "f"
        except TypeError:
            return False
