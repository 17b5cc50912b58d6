"""Where a JAX computation runs: `resolve_device`, and whether that is an accelerator: `is_accelerator`."""

from __future__ import annotations

from typing import Any

import jax

from lyapax.errors import InputError

__all__ = ["resolve_device", "is_accelerator", "placed"]


def placed(a: Any) -> bool:
    """Whether ``a`` is a concrete JAX array on one device (not a tracer, not sharded)."""
    return isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer) and len(a.devices()) == 1


def is_accelerator(device: Any) -> bool:
    """Whether ``device`` (a ``jax.Device``) is a GPU, TPU or another accelerator (its platform is not ``"cpu"``)."""
    return getattr(device, "platform", "cpu") != "cpu"


def resolve_device(requested: Any, model_arrays: list, data_arrays: list) -> Any:
    """The compute device (a ``jax.Device``).

    Args:
        requested: the ``device=`` argument: ``None``, a ``jax.Device`` or a name
            such as ``"cpu"``, ``"gpu"``, ``"gpu:1"`` (``"cuda"``/``"rocm"`` mean ``"gpu"``).
        model_arrays: the model's parameter arrays.
        data_arrays: the JAX arrays among ``inputs`` and ``h0``.

    Without ``device=``: where the model's parameters live, else the data, else
    JAX's default device (arrays sharded over several devices and tracers say nothing).
    """
    if requested is None:
        for a in list(model_arrays) + list(data_arrays):
            if placed(a):
                return next(iter(a.devices()))
        return jax.devices()[0]
    if isinstance(requested, jax.Device):
        return requested
    if isinstance(requested, str):
        platform, _, index = requested.partition(":")
        platform = {"cuda": "gpu", "rocm": "gpu"}.get(platform, platform)
        try:
            return jax.devices(platform)[int(index) if index else 0]
        except (RuntimeError, IndexError, ValueError) as exc:
            raise InputError(
                f"device: JAX has no device {requested!r} here (available: {[str(d) for d in jax.devices()]}); "
                "pass a jax.Device or a name such as 'cpu' or 'gpu:0'."
            ) from exc
    raise InputError(f"device: expected a jax.Device or a name such as 'cpu' or 'gpu:0', got {requested!r}.")
