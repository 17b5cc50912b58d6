"""The state of JAX's standard cells in the core's ``(B, d)`` layout: `flatten_h0`.

A user's ``h0`` is either lyapax's own ``(batch, d)`` array or the library's carry:
an array ``h``, flax's pair ``(c, h)`` or equinox's pair ``(h, c)`` (one per layer,
in a list, for a stack of ``nnx.RNN`` layers). The core's layout of an LSTM layer is ``[h; c]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from lyapax.errors import InputError

__all__ = ["flatten_h0", "CARRIES"]

#: the carry formats of the standard cells
CARRIES = {"h": "an array h", "ch": "a pair (c, h)", "hc": "a pair (h, c)"}


def _layer_state(kind: str, carry: Any, convert: Callable[[Any], Any]) -> Any:
    if kind == "h":
        if not hasattr(carry, "shape"):
            raise InputError(f"h0: expected {CARRIES[kind]} (batch, hidden), got {type(carry).__name__}.")
        return convert(carry)
    if not isinstance(carry, (tuple, list)) or len(carry) != 2:
        raise InputError(f"h0: expected the cell's carry, {CARRIES[kind]}, got {type(carry).__name__}.")
    first, second = (convert(v) for v in carry)
    h, c = (second, first) if kind == "ch" else (first, second)
    return jnp.concatenate([h, c], axis=1)


def flatten_h0(layout: tuple[str, tuple[str, ...]], h0: Any, batch: int, convert: Callable[[Any], Any]) -> Any:
    """``Plan.state``: the library's carry (one per layer for a stack), or lyapax's flat ``(batch, d)``
    array, as the core's ``(batch, d)`` state through ``convert`` (dtype, device).

    ``layout`` is ``(name, kinds)``: the model's name (for errors) and each layer's carry format,
    a key of `CARRIES`.
    """
    name, kinds = layout
    if hasattr(h0, "shape"):  # lyapax's own layout (its shape is checked by the core)
        return convert(h0)
    try:
        if len(kinds) == 1:
            return _layer_state(kinds[0], h0, convert)
        if not isinstance(h0, (list, tuple)) or len(h0) != len(kinds):
            raise InputError(
                f"h0: a stack of {len(kinds)} RNN layers takes a list with one carry per layer "
                f"(each in the cell's own format, e.g. (c, h) for an LSTM cell), got {type(h0).__name__}."
            )
        return jnp.concatenate([_layer_state(k, c, convert) for k, c in zip(kinds, h0)], axis=1)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - mismatched shapes inside a carry
        raise InputError(
            f"h0: cannot read it as the carry of {name} ({exc}); pass the cell's own carry (e.g. (c, h) for "
            "a flax LSTM cell) or a (batch, d) array in lyapax's state layout."
        ) from exc
