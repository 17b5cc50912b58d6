"""JAX's autodiff primitives for the core's tangent maps of step functions (see `lyapax.tangent`).

The core flattens the state, calls the step and vectorises the JVP over the
basis columns; JAX supplies its pytrees (``jax.tree_util``: any carry, treedefs
hashable), forward-mode `jvp` and `vmap`. The ``apply_*`` functions
are the `lyapax.tangent.Step` ``apply`` of each library's modules: a pure
function of a static part (the key of compiled code) and the arrays (traced),
called on a new module built from them, so the user's module is never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

__all__ = [
    "tree_flatten",
    "tree_unflatten",
    "jvp",
    "vmap",
    "apply_nnx",
    "apply_nnx_stack",
    "apply_linen",
    "apply_eqx",
    "rnn_layers",
]

tree_flatten = jax.tree_util.tree_flatten
tree_unflatten = jax.tree_util.tree_unflatten


def jvp(fn: Callable[[Any], Any], primal: Any, tangent: Any) -> tuple[Any, Any]:
    """``(fn(primal), J tangent)`` by forward-mode autodiff (``jax.jvp``)."""
    return jax.jvp(fn, (primal,), (tangent,))


def vmap(fn: Callable[..., Any], in_axis: int, out_axes: Any) -> Callable[..., Any]:
    """``fn`` vectorised over axis ``in_axis`` of its argument (``jax.vmap``)."""
    return jax.vmap(fn, in_axes=in_axis, out_axes=out_axes)


def apply_nnx(graphdef: Any, state: Any, h: Any, x: Any) -> Any:
    """``module(h, x)`` for the nnx module ``nnx.merge(graphdef, state)`` (a new object)."""
    from flax import nnx

    return nnx.merge(graphdef, state)(h, x)


def rnn_layers(module: Any) -> list | None:
    """The ``nnx.RNN`` layers of a module that holds nothing but them, in attribute order, else ``None``."""
    from flax import nnx

    layers: list = []
    for key, value in vars(module).items():
        if key.startswith("_"):
            continue
        items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "List" else [value]
        for item in items:
            if isinstance(item, nnx.RNN):
                layers.append(item)
            elif isinstance(item, nnx.Module):
                return None
    return layers or None


def apply_nnx_stack(graphdef: Any, state: Any, h: list, x: Any) -> list:
    """One step of every ``nnx.RNN`` layer's cell in turn; ``h`` is the list of the layers' carries."""
    from flax import nnx

    new, inp = [], x
    for rnn, carry in zip(rnn_layers(nnx.merge(graphdef, state)), h):
        carry, inp = rnn.cell(carry, inp)
        new.append(carry)
    return new


def apply_partial(func: Any, bound: Any, h: Any, x: Any) -> Any:
    """``func(*args, h, x, **keywords)`` for ``functools.partial(func, *args, **keywords)``: the bound
    arrays are traced parameters, so a new partial of the same function reuses the compiled code."""
    args, keywords = bound
    return func(*args, h, x, **keywords)


def apply_linen(module: Any, variables: Any, h: Any, x: Any) -> Any:
    """``module.apply(variables, h, x)`` for an unbound linen module."""
    return module.apply(variables, h, x)


def apply_eqx(static: Any, arrays: Any, h: Any, x: Any) -> Any:
    """``model(h, x)`` for the equinox module ``eqx.combine(arrays, static)``."""
    import equinox as eqx

    return eqx.combine(arrays, static)(h, x)
