"""The array namespace the core computes with on JAX, and the scoped float64 switch.

``jax.numpy`` implements the array API the core needs (``linalg.qr``,
``linalg.diagonal``, ``matrix_transpose``, ``concat``, ...), so it is used as is.

float64 in JAX needs the ``jax_enable_x64`` flag. lyapax never flips it
globally: :func:`x64` turns it on in a thread-local scope (``jax.enable_x64``,
a context manager in JAX >= 0.7) around one computation only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["namespace", "x64", "x64_enabled"]


def namespace() -> Any:
    """``jax.numpy``: the core's ``xp`` on JAX."""
    import jax.numpy as jnp

    return jnp


def x64_enabled() -> bool:
    """Whether 64-bit types are currently enabled in this thread."""
    import jax

    return bool(jax.config.read("jax_enable_x64"))


@contextlib.contextmanager
def x64(enabled: bool = True) -> Iterator[None]:
    """Enable 64-bit types within the ``with`` block only (a no-op if ``enabled`` is false or it already is)."""
    if not enabled or x64_enabled():
        yield
        return
    import jax

    ctx = getattr(jax, "enable_x64", None)
    if ctx is None:  # older JAX
        from jax.experimental import enable_x64 as ctx  # type: ignore[no-redef]
    with ctx(True):
        yield
