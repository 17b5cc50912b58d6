"""Tangent maps of arbitrary step functions ``f(h, x) -> h_next`` from torch.func.

``J @ Q`` is computed as forward-mode JVPs of the step along the ``k`` basis
columns, vectorised over the columns with :func:`torch.func.vmap`; the batch
is vectorised by ``f`` itself, which takes a batch of states and inputs (as
every PyTorch layer does) and must treat the rows independently.

The state ``h`` may be one tensor or a (nested) tuple/list of tensors, each of
shape ``(B, ...)`` with the batch first; it is flattened to the core's
``(B, d)`` state and back inside (leaves in order, each row-major).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lyapax.errors import InputError

__all__ = ["StateSpec", "StepDynamics"]


@dataclass(frozen=True)
class StateSpec:
    """The structure of a (possibly tuple) state: nesting and per-row leaf shapes."""

    tree: Any  # None for a leaf, else a tuple of subtrees
    kind: type | None  # tuple or list for containers
    shapes: tuple[tuple[int, ...], ...]

    @property
    def sizes(self) -> list[int]:
        out = []
        for s in self.shapes:
            n = 1
            for v in s:
                n *= int(v)
            out.append(n)
        return out

    @property
    def dim(self) -> int:
        return int(sum(self.sizes))

    def describe(self) -> str:
        shapes = [f"(B, {', '.join(map(str, s))})" if s else "(B,)" for s in self.shapes]
        return shapes[0] if self.tree is None else f"{self.kind.__name__} of {', '.join(shapes)}"

    @staticmethod
    def of(state: Any, what: str = "h0") -> tuple[StateSpec, list[Any]]:
        """The spec of ``state`` and its leaves (tensors with the batch first)."""
        import torch

        leaves: list[Any] = []

        def walk(s: Any) -> Any:
            if isinstance(s, torch.Tensor):
                if s.ndim < 1:
                    raise InputError(f"{what}: every state tensor needs a leading batch axis, got a scalar.")
                leaves.append(s)
                return None
            if isinstance(s, (tuple, list)) and len(s) > 0:
                return (tuple, tuple(walk(v) for v in s))  # lists are passed on as tuples
            raise InputError(
                f"{what}: expected a torch tensor or a tuple of tensors (each (batch, ...)), got {type(s).__name__}."
            )

        tree = walk(state)
        kind = None if tree is None else tree[0]
        batch = {int(leaf.shape[0]) for leaf in leaves}
        if len(batch) != 1:
            raise InputError(f"{what}: all state tensors need the same batch size (first axis), got {sorted(batch)}.")
        return StateSpec(tree, kind, tuple(tuple(int(v) for v in leaf.shape[1:]) for leaf in leaves)), leaves

    def flatten(self, state: Any, what: str = "f(h, x)") -> Any:
        """``(B, d)`` from a state of this structure."""
        import torch

        spec, leaves = StateSpec.of(state, what)
        if spec.tree != self.tree or spec.shapes != self.shapes:
            raise InputError(
                f"model: {what} returned a state of structure {spec.describe()}, but the state it was given is "
                f"{self.describe()}; a step function must return the next state in the same format as h."
            )
        B = leaves[0].shape[0]
        flat = [leaf.reshape(B, -1) for leaf in leaves]
        return flat[0] if len(flat) == 1 else torch.cat(flat, dim=1)

    def unflatten(self, h: Any) -> Any:
        """A state of this structure from ``(B, d)``."""
        B = h.shape[0]
        parts = list(h.split(self.sizes, dim=1)) if len(self.shapes) > 1 else [h]
        leaves = iter(p.reshape((B,) + shape) for p, shape in zip(parts, self.shapes))

        def build(tree: Any) -> Any:
            if tree is None:
                return next(leaves)
            kind, children = tree
            return kind(build(c) for c in children)

        return build(self.tree)


class StepDynamics:
    """A :class:`lyapax.algorithm.Dynamics` for a step function ``f(h, x) -> h_next``.

    Args:
        call: ``call(state, x) -> next state`` in the user's state format
            (the function, or the module with cast parameters).
        spec: the state's structure.
        input_size: features per step, or ``None`` when unknown.
        arrays: the model's parameters by name (for the core's finiteness check).
    """

    def __init__(self, call: Callable[[Any, Any], Any], spec: StateSpec, input_size: int | None, arrays: dict | None = None):
        self._call = call
        self.spec = spec
        self.dim = spec.dim
        self.input_size = input_size
        self._arrays = dict(arrays or {})

    def arrays(self) -> dict[str, Any]:
        return self._arrays

    def _flat_step(self, h: Any, x: Any) -> Any:
        return self.spec.flatten(self._call(self.spec.unflatten(h), x))

    def step(self, xp: Any, h: Any, x: Any | None) -> Any:
        return self._flat_step(h, x)

    def step_tangent(self, xp: Any, h: Any, x: Any | None, Q: Any | None) -> tuple[Any, Any]:
        if Q is None:
            return self._flat_step(h, x), None
        from torch.func import jvp, vmap

        def column(q: Any) -> tuple[Any, Any]:
            return jvp(lambda s: self._flat_step(s, x), (h,), (q,))

        return vmap(column, in_dims=2, out_dims=(None, 2))(Q)

    def __repr__(self) -> str:
        return f"StepDynamics(dim={self.dim}, state={self.spec.describe()})"
