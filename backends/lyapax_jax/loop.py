"""The compiled chunk runner: the core's QR iteration inside ``jax.jit`` + ``lax.scan``.

:func:`run_chunk` has the signature and results of
:func:`lyapax.algorithm.run_chunk` (less ``xp`` and ``dynamics``, which the
:class:`Runner` holds). One call runs a whole chunk of time steps as one
compiled program: a ``lax.scan`` over the QR intervals, each interval being
the core's own :func:`~lyapax.algorithm.tangent_interval` (its ``ortho_every``
steps unrolled; longer intervals are a nested ``lax.scan`` of the dynamics'
``step_tangent`` followed by the core's :func:`~lyapax.algorithm.qr_positive`)
and :func:`~lyapax.algorithm.track_trouble`. Nothing of the algorithm is
re-implemented here.

Compilation: the dynamics enter the compiled function as a hashable *spec*
(static: the cell type and its options, or the step function / flax graph
definition, plus the state layout) and its *params* (traced arrays). ``length``
and ``ortho_every`` are static and ``start`` is traced, so the chunks of a
computation, and later computations with the same model structure and shapes,
reuse one compiled program; new weights do not recompile.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from lyapax.algorithm import qr_positive, tangent_interval, track_trouble
from lyapax.cells import Cell, Stack

from .tangent import AutodiffDynamics, Flattener

__all__ = ["CellSpec", "StepSpec", "Runner", "run_traced", "trace_count", "UNROLL"]

#: QR intervals up to this many steps are unrolled; longer ones are scanned.
UNROLL = 8

_TRACES = [0]


def trace_count() -> int:
    """How many times the chunk runner has been traced (compiled) in this process."""
    return _TRACES[0]


class _ByIdentity:
    """A static value that cannot be hashed, compared by identity (compiles once per object)."""

    def __init__(self, value: Any):
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _ByIdentity) and other.value is self.value


def _hashable(value: Any) -> Any:
    try:
        hash(value)
        value == value  # noqa: B015  (some objects fail on comparison)
        return value
    except Exception:  # noqa: BLE001
        return _ByIdentity(value)


def _unwrap(value: Any) -> Any:
    return value.value if isinstance(value, _ByIdentity) else value


class CellSpec:
    """The static part of a canonical cell: its type and non-array options (per layer for a Stack)."""

    def __init__(self, cell: Cell):
        if isinstance(cell, Stack):
            self.layers: tuple | None = tuple(CellSpec(layer) for layer in cell.layers)
            self.cls, self.options, self.names = Stack, (), ()
        else:
            self.layers = None
            self.cls = type(cell)
            arrays = cell.arrays()
            self.names = tuple(sorted(arrays))
            self.options = tuple(
                sorted(
                    (f.name, getattr(cell, f.name))
                    for f in dataclasses.fields(cell)
                    if f.name not in arrays and getattr(cell, f.name) is not None
                )
            )

    def _key(self) -> tuple:
        return (self.cls, self.options, self.names, self.layers)

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, CellSpec) and self._key() == other._key()

    def params(self, cell: Cell) -> Any:
        """The cell's arrays as a pytree (a dict, or a list of dicts for a Stack)."""
        if self.layers is not None:
            return [spec.params(layer) for spec, layer in zip(self.layers, cell.layers)]
        return {name: cell.arrays()[name] for name in self.names}

    def build(self, params: Any) -> Cell:
        """The cell with ``params`` as its arrays (traced inside ``jit``)."""
        if self.layers is not None:
            return Stack([spec.build(p) for spec, p in zip(self.layers, params)])
        return self.cls(**params, **dict(self.options))


@dataclasses.dataclass(frozen=True)
class StepSpec:
    """The static part of an autodiff step: how to rebuild the step function from its params.

    Attributes:
        kind: ``"fn"`` (a plain function; with params it is called ``f(params, h, x)``),
            ``"nnx"`` (params: nnx states merged into the graph definition), ``"nnx_stack"``
            (the same, stepping each nnx.RNN layer's cell in turn), ``"linen"``
            (``module.apply(params, h, x)``) or ``"eqx"`` (``eqx.combine(params, static)``).
        static: the function, nnx GraphDef, unbound linen module or equinox static part.
        layout: the state's ``(treedef, per-leaf shapes)``.
        input_size: features per step or ``None``.
        mode: how to read the step's output (``"auto"`` or ``"carry_y"``).
        has_params: whether ``params`` are passed to a plain function.
    """

    kind: str
    static: Any
    layout: tuple
    input_size: int | None
    mode: str = "auto"
    has_params: bool = False

    def step_fn(self, params: Any) -> Callable[[Any, Any], Any]:
        static = _unwrap(self.static)
        if self.kind == "fn":
            return (lambda h, x: static(params, h, x)) if self.has_params else static
        if self.kind == "nnx":
            from flax import nnx

            module = nnx.merge(static, *params)
            return lambda h, x: module(h, x)
        if self.kind == "nnx_stack":
            from flax import nnx

            from .models import nnx_rnn_stack_layers

            layers = nnx_rnn_stack_layers(nnx.merge(static, *params))

            def stack_step(h: Any, x: Any) -> list:
                new, inp = [], x
                for rnn, carry in zip(layers, h):
                    carry, inp = rnn.cell(carry, inp)
                    new.append(carry)
                return new

            return stack_step
        if self.kind == "linen":
            return lambda h, x: static.apply(params, h, x)
        if self.kind == "eqx":
            import equinox as eqx

            model = eqx.combine(params, static)
            return lambda h, x: model(h, x)
        raise ValueError(f"unknown step kind {self.kind!r}")

    def build(self, params: Any) -> AutodiffDynamics:
        return AutodiffDynamics(self.step_fn(params), Flattener(*self.layout), self.input_size, self.mode)


def make_step_spec(kind: str, static: Any, flat: Flattener, input_size: int | None, mode: str, has_params: bool = False) -> StepSpec:
    return StepSpec(kind, _hashable(static), flat.key(), input_size, mode, has_params)


def _interval(xp: Any, dynamics: Any, h: Any, Q: Any, xs: Any, n: int) -> tuple[Any, Any, Any]:
    """The core's tangent_interval; for long intervals its steps run in a nested scan."""
    if n <= UNROLL:
        return tangent_interval(xp, dynamics, h, Q, xs, n)
    from jax import lax

    def body(c, x):
        return dynamics.step_tangent(xp, c[0], x, c[1]), None

    (h, Q), _ = lax.scan(body, (h, Q), xs, length=n)
    Q, log_r = qr_positive(xp, Q)
    return h, Q, log_r


def run_traced(spec: Any, params: Any, carry: Any, xs: Any, start: Any, length: int, ortho_every: int) -> tuple[Any, Any]:
    """:func:`lyapax.algorithm.run_chunk` as one ``lax.scan`` over QR intervals (traceable, differentiable)."""
    import jax.numpy as jnp
    from jax import lax

    xp = jnp
    dynamics = spec.build(params)
    h, Q, first_zero, first_nonfinite = carry
    n_full, rem = divmod(int(length), int(ortho_every))
    total = jnp.zeros(Q.shape[:1] + Q.shape[2:], dtype=Q.dtype)

    def body(c, xs_i):
        h, Q, fz, fn, total, t = c
        h, Q, log_r = _interval(xp, dynamics, h, Q, xs_i, ortho_every)
        t = t + ortho_every
        fz, fn = track_trouble(xp, h, log_r, fz, fn, start + t - 1)
        return (h, Q, fz, fn, total + log_r, t), None

    t0 = jnp.zeros((), dtype=first_zero.dtype)
    c = (h, Q, first_zero, first_nonfinite, total, t0)
    if n_full:
        xs_full = None
        if xs is not None:
            xs_full = jnp.reshape(xs[: n_full * ortho_every], (n_full, ortho_every) + tuple(xs.shape[1:]))
        c, _ = lax.scan(body, c, xs_full, length=n_full)
    if rem:
        h, Q, fz, fn, total, t = c
        h, Q, log_r = _interval(xp, dynamics, h, Q, None if xs is None else xs[n_full * ortho_every :], rem)
        t = t + rem
        fz, fn = track_trouble(xp, h, log_r, fz, fn, start + t - 1)
        c = (h, Q, fz, fn, total + log_r, t)
    h, Q, fz, fn, total, _ = c
    return (h, Q, fz, fn), total


@functools.lru_cache(maxsize=1)
def _compiled() -> Callable[..., Any]:
    import jax

    def counted(spec, params, carry, xs, start, length, ortho_every):
        _TRACES[0] += 1
        return run_traced(spec, params, carry, xs, start, length, ortho_every)

    return jax.jit(counted, static_argnames=("spec", "length", "ortho_every"))


class Runner:
    """``Problem.run_chunk``: the compiled chunk runner bound to one model's spec and params.

    Args:
        spec: a :class:`CellSpec` or :class:`StepSpec` (static).
        params: the arrays the spec builds its dynamics from (traced).
    """

    def __init__(self, spec: Any, params: Any):
        self.spec = spec
        self.params = params

    def __call__(self, carry: Any, xs: Any, start: int, length: int, ortho_every: int) -> tuple[Any, Any]:
        import jax.numpy as jnp

        start = jnp.asarray(start, dtype=carry[2].dtype)
        return _compiled()(self.spec, self.params, carry, xs, start, length=int(length), ortho_every=int(ortho_every))
