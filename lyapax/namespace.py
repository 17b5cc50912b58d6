"""The subset of the Python array API the core computes with: what a backend's namespace must provide.

A backend's `lyapax.backend.Backend.namespace` returns an object ``xp`` (array-api-compat's
namespace, or the backend's own, as TensorFlow's) on which the core calls these functions,
with array-API semantics, on the backend's arrays; nothing else. tests/core/test_namespace.py
reads the core's modules and fails when they call a function missing here, and every
backend's conformance suite checks its namespace with `missing`.

Beyond these functions the arrays need ``shape``, ``dtype``, the arithmetic and comparison
operators (``+ - * / **``, ``< == >``, ``~ & |`` on booleans) and basic indexing (integers,
slices, ``...``, ``None``). `lyapax.ginelli`'s functions (``acos``, ``clip``, ``sqrt``,
``linalg.svdvals``) run on numpy only: covariant vectors' backward pass works on host copies.
"""

from __future__ import annotations

import functools
from typing import Any

from .errors import LyapaxError

__all__ = ["FUNCTIONS", "DTYPES", "missing", "check_namespace"]

#: The namespace's functions the core calls (``linalg.*``: in the ``linalg`` extension).
FUNCTIONS = (
    "abs", "all", "any", "astype", "concat", "exp", "eye", "flip", "isfinite", "isnan", "log", "matmul",
    "matrix_transpose", "max", "ones_like", "permute_dims", "reshape", "sort", "stack", "sum", "tanh", "where",
    "zeros_like", "linalg.cholesky", "linalg.diagonal", "linalg.qr",
)
#: The dtypes the core names (``getattr(xp, name)``): a float32 tangent map with a float64 QR casts.
DTYPES = ("float32", "float64")


def missing(xp: Any) -> list[str]:
    """The names of `FUNCTIONS` and `DTYPES` that ``xp`` lacks."""
    def has(name: str) -> bool:
        obj = xp
        for part in name.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                return False
        return True

    return [n for n in (*FUNCTIONS, *DTYPES) if not has(n)]


@functools.lru_cache(maxsize=32)
def _checked(backend: str, xp: Any) -> None:
    lacks = missing(xp)
    if lacks:
        raise LyapaxError(
            f"the {backend} backend's array namespace lacks {', '.join(lacks)}, which the core computes with "
            "(lyapax.namespace.FUNCTIONS); add them to its namespace() (see docs/writing-a-backend.md)."
        )


def check_namespace(backend: str, xp: Any) -> None:
    """Raise a `LyapaxError` naming what ``xp`` lacks (checked once per backend and namespace)."""
    try:
        _checked(backend, xp)
    except TypeError:  # an unhashable namespace object: check it every time
        _checked.__wrapped__(backend, xp)
