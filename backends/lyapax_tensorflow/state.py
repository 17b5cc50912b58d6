"""The state of Keras recurrent cells in the core's ``(B, d)`` layout: `flatten_h0`.

The core's state is the cells' state tensors in Keras order, concatenated, bottom
layer first (an LSTM cell's ``[h, c]`` is the core's ``[h; c]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from lyapax.errors import InputError, ModelTypeError
from lyapax.validation import check_h0_shape

__all__ = ["flatten_h0", "state_sizes"]


def state_sizes(cell: Any) -> list[int]:
    """Sizes of a Keras cell's state tensors, in its own order."""
    size = cell.state_size
    flat = size if isinstance(size, (list, tuple)) else [size]
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in flat):
        raise ModelTypeError(
            f"model: {type(cell).__name__} has a state of size {size!r}; lyapax takes cells whose states are "
            "vectors (integer state sizes)."
        )
    return [int(s) for s in flat]


def _leaves(h0: Any) -> list:
    return [leaf for item in h0 for leaf in _leaves(item)] if isinstance(h0, (list, tuple)) else [h0]


def flatten_h0(layout: list[int], h0: Any, batch: int, convert: Callable[[Any], Any]) -> Any:
    """``Plan.state``: the core's ``(B, d)`` state from the layer's own initial-state structure or a
    ``(B, d)`` array, each tensor through ``convert`` (dtype, device); ``layout``: the state sizes
    (`state_sizes` of the cells, bottom first).

    The structure is the list Keras' ``initial_state`` takes (``[h, c]`` for an LSTM),
    for a stack each layer's list, bottom first (nested or flat).
    """
    sizes, leaves = layout, _leaves(h0)
    layout_text = "[" + ", ".join(f"(batch, {s})" for s in sizes) + "]"
    if not isinstance(h0, (list, tuple)) or (len(leaves) == 1 and len(sizes) > 1):  # one (B, d) array
        state = convert(leaves[0])
        check_h0_shape(tuple(state.shape), batch, sum(sizes), what=f"(batch, d) or the layer's state list {layout_text}; (batch, d)")
        return state
    if len(leaves) != len(sizes):
        raise InputError(
            f"h0: expected the layer's initial-state structure, {len(sizes)} state tensor(s) {layout_text} "
            f"(Keras order, e.g. [h, c] for an LSTM; a stack lists its layers bottom first), got {len(leaves)}."
        )
    parts = []
    for i, (leaf, size) in enumerate(zip(leaves, sizes)):
        t = convert(leaf)
        shape = tuple(int(s) for s in t.shape)
        if shape != (batch, size):
            raise InputError(f"h0[{i}]: expected shape ({batch}, {size}) as in {layout_text}, got {shape}.")
        parts.append(t)
    return parts[0] if len(parts) == 1 else tf.concat(parts, axis=1)
