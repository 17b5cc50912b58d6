"""Tangent maps of arbitrary JAX step functions ``f(h, x) -> h_next`` by forward-mode autodiff.

The state may be any pytree of arrays with a leading batch axis (e.g. flax
LSTM's carry ``(c, h)``); inside, it is flattened to the core's ``(B, d)``
array and back. ``J @ Q`` comes from ``jax.jvp`` of the (batched) step along
each of the ``k`` basis columns, vectorised with ``jax.vmap`` over the
columns: sequence ``b``'s tangent only moves row ``b``, so one batched JVP per
column gives every sequence's ``J_b @ q_b`` (the step must treat the rows of
a batch independently, as recurrent cells do). The primal step is computed
once, not ``k`` times.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from lyapax.errors import InputError

__all__ = ["Flattener", "AutodiffDynamics", "resolve_output"]


class Flattener:
    """Pytree state with a leading batch axis <-> ``(B, d)`` array.

    Args:
        treedef: the state's tree structure.
        shapes: per-leaf shapes without the batch axis.
    """

    def __init__(self, treedef: Any, shapes: tuple[tuple[int, ...], ...]):
        self.treedef = treedef
        self.shapes = tuple(tuple(int(s) for s in sh) for sh in shapes)
        self.sizes = tuple(math.prod(sh) for sh in self.shapes)
        self.dim = int(sum(self.sizes))

    @classmethod
    def of(cls, tree: Any) -> Flattener:
        import jax

        leaves, treedef = jax.tree_util.tree_flatten(tree)
        if not leaves:
            raise InputError("h0: the initial state has no arrays; pass an array (batch, d) or a pytree of arrays.")
        for leaf in leaves:
            if len(np.shape(leaf)) < 1:
                raise InputError("h0: every array of the state needs a leading batch axis (batch, ...).")
        batch = {int(np.shape(leaf)[0]) for leaf in leaves}
        if len(batch) != 1:
            raise InputError(f"h0: the arrays of the state disagree on the batch size (leading axes {sorted(batch)}).")
        return cls(treedef, tuple(tuple(np.shape(leaf)[1:]) for leaf in leaves))

    def key(self) -> tuple:
        return (self.treedef, self.shapes)

    def flatten(self, tree: Any) -> Any:
        import jax
        import jax.numpy as jnp

        leaves, treedef = jax.tree_util.tree_flatten(tree)
        if treedef != self.treedef or tuple(tuple(leaf.shape[1:]) for leaf in leaves) != self.shapes:
            raise InputError(
                f"model: the step function returned a state of structure {treedef} with shapes "
                f"{[tuple(leaf.shape) for leaf in leaves]}, but the state is {self.treedef} with per-sequence "
                f"shapes {list(self.shapes)}; f(h, x) must return the next state in the structure of h."
            )
        B = leaves[0].shape[0]
        flat = [jnp.reshape(leaf, (B, -1)) for leaf in leaves]
        return flat[0] if len(flat) == 1 else jnp.concatenate(flat, axis=1)

    def unflatten(self, h: Any) -> Any:
        import jax
        import jax.numpy as jnp

        B = h.shape[0]
        parts, start = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            parts.append(jnp.reshape(h[:, start : start + size], (B, *shape)))
            start += size
        return jax.tree_util.tree_unflatten(self.treedef, parts)

    def matches(self, tree: Any) -> bool:
        import jax

        try:
            leaves, treedef = jax.tree_util.tree_flatten(tree)
        except Exception:  # noqa: BLE001
            return False
        return treedef == self.treedef and tuple(tuple(np.shape(leaf)[1:]) for leaf in leaves) == self.shapes


def resolve_output(out: Any, flat: Flattener, mode: str) -> Any:
    """The next state from what the step returned.

    ``mode="carry_y"``: flax cells return ``(carry, y)``; take the carry.
    ``mode="auto"``: the output itself if it has the state's structure, else the
    first element of a 2-tuple ``(carry, y)`` if that has it.
    """
    if mode == "carry_y":
        return out[0]
    if flat.matches(out):
        return out
    if isinstance(out, (tuple, list)) and len(out) == 2 and flat.matches(out[0]):
        return out[0]
    return out  # Flattener.flatten raises the clear error


class AutodiffDynamics:
    """A :class:`lyapax.algorithm.Dynamics` from a step function via ``jax.jvp`` + ``jax.vmap``.

    Args:
        fn: ``fn(h_tree, x) -> next`` on batched pytrees (``x`` is ``(B, F)`` or ``None``).
        flat: the state's :class:`Flattener`.
        input_size: features per step, or ``None``.
        mode: how to read the step's output (see :func:`resolve_output`).
        arrays: named parameter arrays (for the driver's NaN/Inf check of weights).
    """

    def __init__(self, fn: Callable[[Any, Any], Any], flat: Flattener, input_size: int | None, mode: str = "auto", arrays: dict | None = None):
        self.fn = fn
        self.flat = flat
        self.dim = flat.dim
        self.input_size = input_size
        self.mode = mode
        self._arrays = arrays or {}

    def arrays(self) -> dict[str, Any]:
        return dict(self._arrays)

    def _step_flat(self, h: Any, x: Any) -> Any:
        out = self.fn(self.flat.unflatten(h), x)
        # a step computing in another dtype (e.g. a flax module built with dtype=float32) keeps the state's
        return self.flat.flatten(resolve_output(out, self.flat, self.mode)).astype(h.dtype)

    def step(self, xp: Any, h: Any, x: Any | None) -> Any:
        return self._step_flat(h, x)

    def step_tangent(self, xp: Any, h: Any, x: Any | None, Q: Any | None) -> tuple[Any, Any]:
        import jax

        if Q is None:
            return self._step_flat(h, x), None

        def along(q):
            return jax.jvp(lambda hh: self._step_flat(hh, x), (h,), (q,))

        h_next, JQ = jax.vmap(along, in_axes=2, out_axes=(None, 2))(Q)
        return h_next, JQ
