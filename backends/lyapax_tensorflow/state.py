"""The state of Keras recurrent cells in the core's ``(B, d)`` layout: `flatten_h0`.

Keras cells have the same state on every Keras backend, so `.keras_layers` holds it
(the cells' state tensors in Keras order, concatenated, bottom layer first; an LSTM
cell's ``[h, c]`` is the core's ``[h; c]``).
"""

from __future__ import annotations

from .keras_layers import flatten_h0, state_sizes

__all__ = ["flatten_h0", "state_sizes"]
