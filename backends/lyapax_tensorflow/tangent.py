"""TensorFlow's autodiff primitive for the core's tangent maps of step functions (see `lyapax.tangent`).

The core flattens the state, calls the step and carries the ``k`` basis
columns; TensorFlow supplies forward-mode `jvp` through
``tf.autodiff.ForwardAccumulator``. There is no ``vmap``: the core tiles the
batch ``k`` times so that one accumulator carries every column (row
``j * B + b``), which is one call of the step per time step. A Keras cell
that is not a standard one is a step function through its own ``call``
(`call_module`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from .state import state_sizes

__all__ = ["jvp", "call_module"]


def jvp(fn: Callable[[Any], Any], primal: Any, tangent: Any) -> tuple[Any, Any]:
    """``(fn(primal), J tangent)`` by forward-mode autodiff; an output that does not depend on
    ``primal`` has a zero tangent (not ``None``)."""
    with tf.autodiff.ForwardAccumulator(primal, tangent) as acc:
        out = fn(primal)
    return out, acc.jvp(out, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def call_module(static: tuple, params: Any, h: list, x: Any) -> list:
    """``apply`` of a `lyapax.tangent.Step`: one step of the Keras cells ``static``'s own ``call``
    (``training=False``) over the flat list ``h`` of their state tensors (the cells read their own
    variables, hence no ``params``)."""
    out, pos, inp = [], 0, x
    for cell in static:
        n = len(state_sizes(cell))
        inp, new = cell(inp, list(h[pos : pos + n]), training=False)
        pos += n
        out.extend(new if isinstance(new, (list, tuple)) else [new])
    return out
