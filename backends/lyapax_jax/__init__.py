"""lyapax's JAX backend: Flax (nnx, linen), Equinox and plain JAX step functions.

Importing this package does not import JAX; the backend imports it when used.

- `JaxBackend`: registered as ``jax`` in the ``lyapax.backends`` entry points
  (``lyapax.spectrum`` picks it for JAX models and arrays).
- `exponents`: the pure, jit- and grad-able functional form, for gradients
  of the spectrum with respect to parameters (`lyapax_jax.functional`).
"""

from __future__ import annotations

from typing import Any

from .adapter import JaxBackend

__all__ = ["JaxBackend", "exponents", "flossing_loss"]


def exponents(model: Any, params: Any = None, inputs: Any = None, **options: Any) -> Any:
    """Per-sequence Lyapunov exponents ``(B, k)`` as a pure JAX function (each row descending, nats/step).

    See `lyapax_jax.functional.exponents`.
    """
    from .functional import exponents as _exponents

    return _exponents(model, params, inputs, **options)


def flossing_loss(model: Any, params: Any, inputs: Any, **options: Any) -> Any:
    """Gradient-flossing loss, (nats/step)^2, as a pure JAX function of ``params``. See `lyapax_jax.flossing.flossing_loss`."""
    from .flossing import flossing_loss as _flossing_loss

    return _flossing_loss(model, params, inputs, **options)
