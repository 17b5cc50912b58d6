"""Keras 3 recurrent layers and cells on Keras's TensorFlow backend as a `lyapax.backend.Plan`.

The conversion is `.keras_layers`'s, written once for every Keras backend (the JAX
and torch backends plan Keras models through it too when ``KERAS_BACKEND`` is theirs):
standard cells become the core's canonical cells with weights read from the layers'
variables (inside any ``tf.GradientTape`` the caller has open, so gradients reach the
variables); other cells a step function through their own ``stateless_call``.
"""

from __future__ import annotations

from typing import Any

from lyapax.backend import Plan

from . import keras_layers
from .keras_layers import canonical_cell, recurrent_cells

__all__ = ["plan", "recurrent_cells", "canonical_cell"]


def plan(model: Any) -> Plan:
    """The plan of a Keras layer, cell, ``Sequential`` or list of recurrent layers (checked; nothing is changed)."""
    return keras_layers.plan(model, "tensorflow")
