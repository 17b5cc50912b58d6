"""Where a TensorFlow computation runs: `resolve_device`, and whether that is an accelerator: `is_accelerator`."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from lyapax.errors import InputError

__all__ = ["resolve_device", "is_accelerator", "device_of"]


def device_of(array: Any) -> str | None:
    """The device string of a tf tensor or variable, or of a Keras variable's value (``None`` if unplaced)."""
    device = getattr(array, "device", None)
    if device is None:  # a keras.Variable has no device of its own: its tf.Variable's
        device = getattr(getattr(array, "value", None), "device", None)
    return device or None


def _parse(requested: Any) -> str:
    """``"cpu"``, ``"gpu"``, ``"cuda:1"``, ``"GPU:0"``, a ``tf.DeviceSpec`` ... as ``/device:TYPE:N``."""
    if isinstance(requested, tf.DeviceSpec):
        requested = requested.to_string()
    if not isinstance(requested, str):
        raise InputError(
            f"device: expected a TensorFlow device name such as 'CPU:0' or 'GPU:0', got {requested!r}."
        )
    name = requested.strip()
    lowered = name.lower()
    if lowered in ("cpu", "gpu", "cuda"):
        name = ("CPU" if lowered == "cpu" else "GPU") + ":0"
    elif lowered.startswith("cuda:"):
        name = "GPU:" + name.split(":", 1)[1]
    try:
        spec = tf.DeviceSpec.from_string(name if name.startswith("/") or ":" not in name else "/device:" + name)
    except (ValueError, TypeError) as exc:
        raise InputError(f"device: {requested!r} is not a TensorFlow device name (e.g. 'CPU:0', 'GPU:0').") from exc
    available = [d.name for d in tf.config.list_logical_devices()]
    want = f"/device:{spec.device_type}:{spec.device_index or 0}" if spec.device_type else None
    if want is None or want not in available:
        raise InputError(f"device: {requested!r} is not available to TensorFlow; available: {', '.join(available)}.")
    return want


def is_accelerator(device: Any) -> bool:
    """Whether ``device`` (a device string, or ``None`` for TensorFlow's default placement, which is the
    first GPU when there is one) is a GPU, TPU or another accelerator."""
    if device is None:
        return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
    kind = tf.DeviceSpec.from_string(device).device_type
    return kind is not None and kind.upper() != "CPU"


def resolve_device(requested: Any, model_arrays: list, data_arrays: list) -> str | None:
    """The compute device.

    ``device=`` wins when given, and must be available to TensorFlow. Without it:
    the device of the inputs (or ``h0``) when they are tf tensors, else that of the
    model's weights, else ``None`` (TensorFlow's default placement).
    """
    if requested is not None:
        return _parse(requested)
    for array in [*data_arrays, *model_arrays]:
        found = device_of(array)
        if found:
            return found
    return None
