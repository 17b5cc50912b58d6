"""Tangent maps of any step function ``f(h, x) -> h_next`` on tf tensors, by forward-mode autodiff.

The state may be one ``(B, n)`` tensor or any nest (list, tuple, dict) of
``(B, n_i)`` tensors; inside the iteration it is flattened to one ``(B, d)``
tensor (leaves concatenated in ``tf.nest`` order) and unflattened around each
call of ``f``.

``J @ Q`` for all ``k`` columns at once: the batch is tiled ``k`` times, so
that one call of ``f`` inside a ``tf.autodiff.ForwardAccumulator`` carries the
``k * B`` tangents ``Q[b, :, j]`` (row ``j * B + b``). ``f`` must treat the
rows of its batch independently (as every recurrent cell does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from lyapax.errors import InputError

__all__ = ["StepDynamics"]


class StepDynamics:
    """A :class:`lyapax.algorithm.Dynamics` for a step function on (nests of) tf tensors.

    Args:
        fn: ``fn(h, x) -> h_next`` with ``h`` structured like ``structure``.
        structure: a nest with the layout of the state (its leaves are ignored).
        sizes: the width ``n_i`` of each leaf, in ``tf.nest.flatten`` order.
        input_size: features per input step, or ``None``.
        name: a short description for reports.
    """

    def __init__(
        self,
        fn: Callable[[Any, Any], Any],
        structure: Any,
        sizes: list[int],
        input_size: int | None = None,
        name: str = "",
    ) -> None:
        self.fn = fn
        self.structure = structure
        self.sizes = [int(s) for s in sizes]
        self.dim = sum(self.sizes)
        self.input_size = input_size
        self.name = name

    def arrays(self) -> dict[str, Any]:
        """No weight arrays of its own (a step function's variables are its own business)."""
        return {}

    def key(self) -> tuple:
        """What a compiled runner depends on beyond tensor shapes and dtypes."""
        return ("step", id(self.fn), self.fn, tuple(self.sizes), repr(tf.nest.map_structure(lambda _: 0, self.structure)))

    def unflatten(self, h: tf.Tensor) -> Any:
        parts = tf.split(h, self.sizes, axis=1) if len(self.sizes) > 1 else [h]
        return tf.nest.pack_sequence_as(self.structure, parts)

    def flatten(self, state: Any) -> tf.Tensor:
        try:
            tf.nest.assert_same_structure(state, self.structure, check_types=False)
        except (ValueError, TypeError) as exc:
            raise InputError(
                f"model: the step function returned a state of structure {tf.nest.map_structure(lambda _: '*', state)}, "
                f"but the state h0 has structure {tf.nest.map_structure(lambda _: '*', self.structure)}; "
                "f(h, x) must return the next state in the same structure as h."
            ) from exc
        leaves = [tf.convert_to_tensor(v) for v in tf.nest.flatten(state)]
        for leaf, n in zip(leaves, self.sizes):
            if leaf.shape.rank != 2 or (leaf.shape[1] is not None and int(leaf.shape[1]) != n):
                raise InputError(
                    f"model: the step function returned a state tensor of shape {tuple(leaf.shape)}, expected "
                    f"(batch, {n}) as in h0."
                )
        return leaves[0] if len(leaves) == 1 else tf.concat(leaves, axis=1)

    def _call(self, h: tf.Tensor, x: Any) -> tf.Tensor:
        out = self.flatten(self.fn(self.unflatten(h), x))
        if out.dtype != h.dtype:
            raise InputError(
                f"model: the step function returned {out.dtype.name} for a {h.dtype.name} state; compute in the "
                "state's dtype (pass dtype= matching the function's variables, or cast inside f)."
            )
        return out

    def step(self, xp: Any, h: tf.Tensor, x: Any) -> tf.Tensor:
        return self._call(h, x)

    def step_tangent(self, xp: Any, h: tf.Tensor, x: Any, Q: Any, dx: Any = None) -> tuple[Any, Any]:
        if Q is None:
            return self._call(h, x), None
        dynamic = tf.shape(Q)
        B, d, k = (dynamic[i] if Q.shape[i] is None else int(Q.shape[i]) for i in range(3))
        tangents = tf.reshape(tf.transpose(Q, [2, 0, 1]), [k * B, d])
        h_rep = tf.tile(h, [k, 1])
        x_rep = None if x is None else tf.tile(x, [k, 1])
        with tf.autodiff.ForwardAccumulator(h_rep, tangents) as acc:
            out = self._call(h_rep, x_rep)
        jvp = acc.jvp(out, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        JQ = tf.transpose(tf.reshape(jvp, [k, B, d]), [1, 2, 0])
        return out[:B], JQ
