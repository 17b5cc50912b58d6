"""lyapax's JAX backend: Flax (nnx, linen), Equinox and plain JAX step functions.

Importing this package does not import JAX; the backend imports it when used.

- :class:`JaxBackend`: registered as ``jax`` in the ``lyapax.backends`` entry points
  (``lyapax.spectrum`` picks it for JAX models and arrays).
- :func:`exponents`: the pure, jit- and grad-able functional form, for gradients
  of the spectrum with respect to parameters.
"""

from __future__ import annotations

from .adapter import JaxBackend, exponents

__all__ = ["JaxBackend", "exponents"]
