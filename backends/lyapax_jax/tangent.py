"""JAX's autodiff primitives for the core's tangent maps of step functions (see `lyapax.tangent`).

The core flattens the state, calls the step and vectorises the JVP over the
basis columns; JAX supplies its pytrees (``jax.tree_util``: any carry, treedefs
hashable), forward-mode `jvp` and `vmap`. The ``call_*`` functions are
`lyapax.tangent.Step` ``apply`` functions: pure functions of a static part (the
key of compiled code) and the arrays (traced). Each model library's own
``call_module`` is in `lyapax_jax.libraries` (they import their library).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

__all__ = ["tree_flatten", "tree_unflatten", "jvp", "vmap", "call_partial"]

tree_flatten = jax.tree_util.tree_flatten
tree_unflatten = jax.tree_util.tree_unflatten


def jvp(fn: Callable[[Any], Any], primal: Any, tangent: Any) -> tuple[Any, Any]:
    """``(fn(primal), J tangent)`` by forward-mode autodiff (``jax.jvp``)."""
    return jax.jvp(fn, (primal,), (tangent,))


def vmap(fn: Callable[..., Any], in_axis: int, out_axes: Any) -> Callable[..., Any]:
    """``fn`` vectorised over axis ``in_axis`` of its argument (``jax.vmap``)."""
    return jax.vmap(fn, in_axes=in_axis, out_axes=out_axes)


def call_partial(static: Any, params: Any, h: Any, x: Any) -> Any:
    """``static(*args, h, x, **keywords)`` for ``functools.partial(static, *args, **keywords)`` with
    ``params = (args, keywords)``: the bound arrays are traced parameters, so a new partial of the same
    function reuses the compiled code."""
    args, keywords = params
    return static(*args, h, x, **keywords)
