"""JAX models as the core's `Plan`: one class per library, asked in turn.

Every library class has the same methods: ``matches(model)`` (is it one of the
library's models), ``plan(model)`` (its Plan, or ``None`` for the core's generic
handling) and ``with_params(model, params)`` (the model with ``params`` in place
of its own arrays, for `lyapax_jax.exponents`):

- `lyapax_jax.libraries.nnx`: flax.nnx cells and ``nnx.RNN`` (standard ones as canonical
  cells), modules holding a stack of ``nnx.RNN`` layers, any other module as ``module(h, x)``;
- `lyapax_jax.libraries.linen`: ``(module, variables)`` or a bound module, likewise (``nn.RNN`` too);
- `lyapax_jax.libraries.equinox`: ``GRUCell``/``LSTMCell`` as canonical cells, any module as ``module(h, x)``;
- `lyapax_jax.libraries.keras`: Keras 3 layers and cells on Keras's JAX backend (``KERAS_BACKEND=jax``);
- `Cells`: `lyapax.cells` cells with JAX weights; `Functions`: ``f(h, x)`` (both planned by the core).

A library's module is loaded (and so its library asked about a model) only once the
user has imported that library: nothing here imports flax, equinox or keras.
"""

from __future__ import annotations

import functools
import importlib
import sys
from typing import Any

import jax

from lyapax.backend import Plan
from lyapax.cells import Cell
from lyapax.errors import ModelTypeError
from lyapax.tangent import Step

from .tangent import call_partial

__all__ = ["Cells", "Functions", "libraries", "library", "recognises", "plan", "with_params"]

#: (module the user imports, our module for it), in the order they are asked
_LIBRARIES = (("flax.nnx", "nnx"), ("flax.linen", "linen"), ("equinox", "equinox"), ("keras", "keras"))


class Cells:
    """`lyapax.cells` cells whose weights are JAX arrays (planned by the core)."""

    by_type = True

    def matches(self, model: Any) -> bool:
        arrays = list(model.arrays().values()) if isinstance(model, Cell) else []
        return bool(arrays) and all(isinstance(a, jax.Array) for a in arrays)

    def plan(self, model: Any) -> None:
        return None

    def with_params(self, model: Any, params: Any) -> Cell:
        return model.split()[0].build(params)


class Functions:
    """Plain step functions ``f(h, x)`` (planned by the core: `lyapax.tangent.call_plain`).

    Not picked by type (any callable would match): by the inputs' or ``h0``'s arrays, or ``backend="jax"``.
    With ``params`` (functional API) the function is called as ``f(params, h, x)``.

    ``functools.partial(step, params)`` (the way to bind a training loop's current parameters)
    becomes ``step`` with the bound arrays as traced parameters: a new partial each epoch
    reuses the compiled chunk instead of compiling the step again.
    """

    by_type = False

    def matches(self, model: Any) -> bool:
        return callable(model) and not isinstance(model, type)

    def plan(self, model: Any) -> Plan | None:
        if not isinstance(model, functools.partial):
            return None
        bound = (model.args, dict(model.keywords))
        leaves = jax.tree_util.tree_leaves(bound)
        if not leaves or not all(hasattr(a, "shape") and hasattr(a, "dtype") for a in leaves):
            return None  # non-array arguments (e.g. sizes) stay constants of the function: the core's plain path
        name = getattr(model.func, "__name__", type(model.func).__name__)
        return Plan(f"functools.partial({name})", leaves, step=Step(call_partial, model.func, bound))

    def with_params(self, model: Any, params: Any) -> Any:
        return functools.partial(model, params)


_GENERIC = (Cells(), Functions())


def libraries() -> list:
    """The library classes to ask, in order: those of the libraries the user has imported, then
    `Cells` and `Functions` (an equinox module is callable too: Functions last)."""
    found = [importlib.import_module(f"{__package__}.libraries.{ours}").LIBRARY
             for theirs, ours in _LIBRARIES if theirs in sys.modules]
    return [*found, *_GENERIC]


def library(model: Any) -> Any:
    """The library class that takes ``model``, or ``None``."""
    return next((lib for lib in libraries() if lib.matches(model)), None)


def recognises(model: Any) -> bool:
    """Whether ``model`` is, by its type, a model of this backend."""
    lib = library(model)
    return lib is not None and lib.by_type


def plan(model: Any) -> Plan | None:
    """The `Plan` of a JAX library's model, ``None`` for the core's generic kinds."""
    lib = library(model)
    return None if lib is None else lib.plan(model)


def with_params(model: Any, params: Any) -> Any:
    """``model`` with ``params`` in place of its own arrays (see `lyapax_jax.exponents`)."""
    lib = library(model)
    if lib is None:
        raise ModelTypeError(f"model: the jax backend cannot put params into a {type(model).__name__}.")
    return lib.with_params(model, params)
