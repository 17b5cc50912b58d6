"""Keras 3 models on Keras's JAX backend (``KERAS_BACKEND=jax``) as the core's `Plan`.

The conversion is `lyapax_tensorflow.keras_layers`'s, written once for every Keras
backend (it imports keras only): standard cells as canonical cells, any other cell
through its ``stateless_call`` with its variables' values as traced parameters, so the
compiled chunk is reused after training. For `lyapax_jax.exponents` (and so
`lyapax_jax.flossing_loss`), ``params`` are the values of the model's trainable
variables, ``[v.value for v in model.trainable_variables]``, in that order.
"""

from __future__ import annotations

from typing import Any

import keras
from lyapax_tensorflow import keras_layers
from lyapax_tensorflow.keras_layers import call_module, canonical_cell

from lyapax.backend import Plan

__all__ = ["Keras", "LIBRARY", "call_module", "canonical_cell"]


class Keras:
    """Keras layers, cells, ``Sequential`` stacks (and lists of recurrent layers) on Keras's JAX backend.

    Any Keras object matches, so that ``backend="jax"`` with Keras on another backend gets
    the error naming ``KERAS_BACKEND``; only Keras on JAX is this backend's by type.
    """

    @property
    def by_type(self) -> bool:
        return keras.backend.backend() == "jax"

    def matches(self, model: Any) -> bool:
        return keras_layers.is_keras(model, lists=True)

    def plan(self, model: Any) -> Plan:
        return keras_layers.plan(model, "jax")

    def with_params(self, model: Any, params: Any) -> Any:
        inner = model.model if isinstance(model, keras_layers.KerasModel) else model
        return keras_layers.KerasModel.of(inner, params)


LIBRARY = Keras()
