"""TensorFlow's autodiff primitive for the core's tangent maps of step functions (see `lyapax.tangent`).

The core flattens the state, calls the step and carries the ``k`` basis
columns; TensorFlow supplies forward-mode `jvp` through
``tf.autodiff.ForwardAccumulator``. There is no ``vmap``: the core tiles the
batch ``k`` times so that one accumulator carries every column (row
``j * B + b``), which is one call of the step per time step. A Keras cell
that is not a standard one is a step function through its own ``stateless_call``
(`call_module`, `.keras_layers`'s: the same on every Keras backend).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from .keras_layers import call_module

__all__ = ["jvp", "call_module"]


def jvp(fn: Callable[[Any], Any], primal: Any, tangent: Any) -> tuple[Any, Any]:
    """``(fn(primal), J tangent)`` by forward-mode autodiff; an output that does not depend on
    ``primal`` has a zero tangent (not ``None``)."""
    with tf.autodiff.ForwardAccumulator(primal, tangent) as acc:
        out = fn(primal)
    return out, acc.jvp(out, unconnected_gradients=tf.UnconnectedGradients.ZERO)
