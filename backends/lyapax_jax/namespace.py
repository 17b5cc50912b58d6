"""The array namespace the core computes with on JAX, and the scoped float64 switch.

``jax.numpy`` implements the array API the core needs (``linalg.qr``,
``linalg.diagonal``, ``matrix_transpose``, ``concat``, ...), so it is used as is.

float64 in JAX needs the ``jax_enable_x64`` flag. lyapax never flips it
globally: `x64` turns it on in a thread-local scope (``jax.enable_x64``)
around one computation only (the backend's ``scope`` hook).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["namespace", "x64", "x64_enabled"]


def namespace() -> Any:
    """``jax.numpy``: the core's ``xp`` on JAX."""
    return jnp


def x64_enabled() -> bool:
    """Whether 64-bit types are enabled in this thread."""
    return bool(jax.config.read("jax_enable_x64"))


@contextlib.contextmanager
def x64(enabled: bool = True) -> Iterator[None]:
    """Enable 64-bit types within the ``with`` block only (a no-op if ``enabled`` is false or it already is)."""
    if not enabled or x64_enabled():
        yield
        return
    scope = getattr(jax, "enable_x64", None)
    if scope is None:  # JAX < 0.7
        from jax.experimental import enable_x64 as scope  # type: ignore[no-redef]
    with scope(True):
        yield
