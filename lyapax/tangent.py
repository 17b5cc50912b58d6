"""Tangent maps of any step function ``f(h, x) -> h_next`` by forward-mode autodiff, written once.

The state may be one array ``(B, ...)`` or a pytree of them (a tuple ``(h, c)``,
a list of per-layer carries, a dict), each with the batch first; inside the
iteration it is flattened to the core's ``(B, d)`` array (leaves in tree order,
each row-major) and unflattened around each call of ``f``.

``J @ Q`` comes from forward-mode JVPs of the (batched) step along the ``k``
basis columns: vectorised over the columns with the backend's ``vmap`` where it
has one (the primal step is then computed once), else by tiling the batch ``k``
times so one JVP carries every column. ``f`` must treat the rows of a batch
independently, as recurrent cells do.

A backend supplies only primitives (hooks of `lyapax.backend.Backend`):
``tree_flatten``/``tree_unflatten`` (the defaults here handle tuples, lists and
dicts), ``jvp(fn, primal, tangent)`` and, with ``vectorises = True``, ``vmap``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import InputError

__all__ = [
    "Step",
    "StateLayout",
    "AutodiffDynamics",
    "AutodiffDef",
    "tree_flatten",
    "tree_unflatten",
    "call_plain",
    "hashable",
]


# -- the default pytree: nested tuples, lists and dicts ---------------------------------------


def tree_flatten(tree: Any) -> tuple[list[Any], Any]:
    """Leaves (in order; dict keys sorted) and a hashable structure of nested tuples, lists and dicts.

    Tuples and lists are one kind of node (a step may return a list for a tuple
    state); they are rebuilt as the type they had when flattened.
    """
    leaves: list[Any] = []

    def walk(node: Any) -> Any:
        if isinstance(node, (tuple, list)):
            return ("seq", type(node) is list, tuple(walk(v) for v in node))
        if isinstance(node, dict):
            keys = tuple(sorted(node))
            return ("dict", keys, tuple(walk(node[k]) for k in keys))
        leaves.append(node)
        return None

    return leaves, walk(tree)


def tree_unflatten(treedef: Any, leaves: list[Any]) -> Any:
    """Inverse of `tree_flatten`."""
    it = iter(leaves)

    def build(node: Any) -> Any:
        if node is None:
            return next(it)
        kind, extra, children = node
        if kind == "seq":
            values = [build(c) for c in children]
            return values if extra else tuple(values)
        return {k: build(c) for k, c in zip(extra, children)}

    return build(treedef)


def _same_structure(a: Any, b: Any) -> bool:
    """Treedefs equal up to tuple-vs-list (the default tree's sequence nodes)."""
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == 3 and len(b) == 3 and a[0] == b[0] == "seq":
        return len(a[2]) == len(b[2]) and all(_same_structure(x, y) for x, y in zip(a[2], b[2]))
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == 3 and len(b) == 3 and a[0] == b[0] == "dict":
        return a[1] == b[1] and all(_same_structure(x, y) for x, y in zip(a[2], b[2]))
    return a == b


class _ByIdentity:
    """A static value that cannot be hashed, compared by identity."""

    def __init__(self, value: Any):
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _ByIdentity) and other.value is self.value


def hashable(value: Any) -> Any:
    """``value`` if it can key a cache (hash and ``==``), else a wrapper compared by identity."""
    try:
        hash(value)
        bool(value == value)
        return value
    except Exception:  # noqa: BLE001 - any failure means "not usable as a key"
        return _ByIdentity(value)


def _unwrap(value: Any) -> Any:
    return value.value if isinstance(value, _ByIdentity) else value


def call_plain(static: Any, params: Any, h: Any, x: Any) -> Any:
    """``apply`` of a plain step function ``f(h, x)`` held as ``static``."""
    return static(h, x)


@dataclass(frozen=True)
class Step:
    """A step function as a pure function of its parameters: ``apply(static, params, h, x)``.

    Attributes:
        apply: ``apply(static, params, h, x) -> h_next`` (or ``(h_next, output)``, as flax
            cells return), with ``h`` in the model's own state structure.
        static: what does not change between calls (the function, a module's graph
            definition): part of the compiled code's key, compared by ``==`` when hashable.
        params: the arrays ``apply`` reads (a pytree), cast to the compute dtype and
            placed on the device by the core; ``None`` when ``static`` holds them.
        carry: ``carry(batch, features)`` gives the default initial state (e.g. flax's
            ``initialize_carry``); ``None``: the user must pass ``h0``.
        output: how to read what ``apply`` returns: ``"state"`` (the next state itself),
            ``"carry"`` (a pair ``(next state, output)``, as flax cells return) or ``"auto"``
            (the state if it has the state's structure, else the first of such a pair).
    """

    apply: Callable[[Any, Any, Any, Any], Any]
    static: Any
    params: Any = None
    carry: Callable[[int, int | None], Any] | None = None
    output: str = "state"


@dataclass(frozen=True)
class StateLayout:
    """A state's tree structure and per-leaf shapes (without the batch axis), and the flat ``(B, d)`` view."""

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(math.prod(s) for s in self.shapes)

    @property
    def dim(self) -> int:
        return int(sum(self.sizes))

    @classmethod
    def of(cls, backend: Any, tree: Any, what: str = "h0") -> StateLayout:
        """The layout of ``tree`` (leaves with a leading batch axis of one common size)."""
        leaves, treedef = backend.tree_flatten(tree)
        if not leaves:
            raise InputError(f"{what}: the state has no arrays; pass an array (batch, d) or a tuple of arrays.")
        shapes = []
        for leaf in leaves:
            shape = getattr(leaf, "shape", None)
            if shape is None:
                raise InputError(
                    f"{what}: expected arrays (each (batch, ...)) in the state, got {type(leaf).__name__}."
                )
            if len(shape) < 1:
                raise InputError(f"{what}: every state array needs a leading batch axis (batch, ...), got a scalar.")
            shapes.append(tuple(int(s) for s in shape))
        batch = {s[0] for s in shapes}
        if len(batch) != 1:
            raise InputError(f"{what}: all state arrays need the same batch size (first axis), got {sorted(batch)}.")
        return cls(treedef, tuple(s[1:] for s in shapes))

    def describe(self) -> str:
        return ", ".join(f"(B, {', '.join(map(str, s))})" if s else "(B,)" for s in self.shapes)

    def matches(self, backend: Any, tree: Any) -> bool:
        """Whether ``tree`` has this structure and these per-row shapes."""
        try:
            leaves, treedef = backend.tree_flatten(tree)
        except Exception:  # noqa: BLE001
            return False
        shapes = tuple(tuple(int(s) for s in getattr(leaf, "shape", ())[1:]) for leaf in leaves)
        return _same_structure(treedef, self.treedef) and shapes == self.shapes and all(
            len(getattr(leaf, "shape", ())) >= 1 for leaf in leaves
        )

    def flatten(self, backend: Any, xp: Any, tree: Any, what: str = "f(h, x)") -> Any:
        """``(B, d)`` from a state of this layout."""
        if not self.matches(backend, tree):
            detail = ""
            try:
                returned = StateLayout.of(backend, tree, "model")
                got = returned.describe()
                wrong = [i for i, (a, b) in enumerate(zip(returned.shapes, self.shapes)) if a != b]
                if wrong and len(returned.shapes) == len(self.shapes):  # same structure, a wrong shape: name it
                    detail = f" (array {wrong[0]}: expected (batch{''.join(f', {n}' for n in self.shapes[wrong[0]])}))"
            except InputError:
                got = type(tree).__name__
            raise InputError(
                f"model: {what} returned a state of structure [{got}], but the state it was given is "
                f"[{self.describe()}]{detail}; a step function must return the next state in the same structure as h."
            )
        leaves, _ = backend.tree_flatten(tree)
        flat = [xp.reshape(leaf, (-1, size)) for leaf, size in zip(leaves, self.sizes)]
        return flat[0] if len(flat) == 1 else xp.concat(flat, axis=1)

    def unflatten(self, backend: Any, xp: Any, h: Any) -> Any:
        """A state of this layout from ``(B, d)``."""
        parts, start = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            parts.append(xp.reshape(h[:, start : start + size], (-1, *shape)))
            start += size
        return backend.tree_unflatten(self.treedef, parts)

    def select(self, backend: Any, out: Any, output: str) -> Any:
        """The next state from what a step returned (see `Step.output`)."""
        if output == "carry":
            return out[0]
        if output == "auto" and not self.matches(backend, out) and isinstance(out, (tuple, list)) and len(out) == 2:
            if self.matches(backend, out[0]):
                return out[0]
        return out


@dataclass(frozen=True)
class AutodiffDef:
    """The static part of `AutodiffDynamics` (hashable: keys compiled code)."""

    backend: Any
    apply: Callable[..., Any]
    static: Any
    layout: StateLayout
    input_size: int | None
    output: str = "state"

    def build(self, params: Any) -> AutodiffDynamics:
        step = Step(self.apply, _unwrap(self.static), params, output=self.output)
        return AutodiffDynamics(self.backend, step, self.layout, self.input_size)


class AutodiffDynamics:
    """A `lyapax.algorithm.Dynamics` for a step function, its tangent map from the backend's JVP.

    Args:
        backend: the `lyapax.backend.Backend` whose primitives are used.
        step: the step function as a `Step`.
        layout: the state's `StateLayout`.
        input_size: features per step, or ``None`` when unknown.
    """

    def __init__(self, backend: Any, step: Step, layout: StateLayout, input_size: int | None):
        self.backend = backend
        self.step_fn = step
        self.layout = layout
        self.dim = layout.dim
        self.input_size = input_size

    def arrays(self) -> dict[str, Any]:
        """The step's floating-point parameter arrays by position (for the NaN/Inf check)."""
        leaves, _ = self.backend.tree_flatten(self.step_fn.params) if self.step_fn.params is not None else ([], None)
        return {f"params[{i}]": a for i, a in enumerate(leaves) if self.backend.is_floating(a)}

    def split(self) -> tuple[AutodiffDef, Any]:
        s = self.step_fn
        return AutodiffDef(self.backend, s.apply, hashable(s.static), self.layout, self.input_size, s.output), s.params

    def _flat_step(self, xp: Any, h: Any, x: Any) -> Any:
        tree = self.layout.unflatten(self.backend, xp, h)
        out = self.step_fn.apply(self.step_fn.static, self.step_fn.params, tree, x)
        flat = self.layout.flatten(self.backend, xp, self.layout.select(self.backend, out, self.step_fn.output))
        # a step computing in another dtype (a module built for float32) keeps the state's dtype
        return flat if flat.dtype == h.dtype else xp.astype(flat, h.dtype)

    def step(self, xp: Any, h: Any, x: Any | None) -> Any:
        return self._flat_step(xp, h, x)

    def step_tangent(self, xp: Any, h: Any, x: Any | None, Q: Any | None) -> tuple[Any, Any]:
        if Q is None:
            return self._flat_step(xp, h, x), None
        jvp, vmap = self.backend.jvp, self.backend.vmap
        if self.backend.vectorises:

            def column(q: Any) -> tuple[Any, Any]:
                return jvp(lambda s: self._flat_step(xp, s, x), h, q)

            return vmap(column, in_axis=2, out_axes=(None, 2))(Q)
        # no vmap: tile the batch k times, one JVP carries every column (row j * B + b)
        B, d, k = (int(n) for n in Q.shape)
        tangents = xp.reshape(xp.permute_dims(Q, (2, 0, 1)), (k * B, d))
        h_rep = xp.concat([h] * k, axis=0)
        x_rep = None if x is None else xp.concat([x] * k, axis=0)
        out, jv = jvp(lambda s: self._flat_step(xp, s, x_rep), h_rep, tangents)
        return out[:B, :], xp.permute_dims(xp.reshape(jv, (k, B, d)), (1, 2, 0))

    def __repr__(self) -> str:
        return f"AutodiffDynamics(dim={self.dim}, state=[{self.layout.describe()}])"
