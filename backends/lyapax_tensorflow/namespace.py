"""The array namespace the core computes with on TensorFlow tensors.

array-api-compat has no TensorFlow namespace, so this module supplies the
subset of the array API the core computes with (`lyapax.namespace.FUNCTIONS`,
checked by the conformance suite), with array-API semantics, on top of TensorFlow
ops. Everything stays a ``tf.Tensor`` (nothing goes through numpy), so the
core's pure functions trace into ``tf.function`` graphs and run on the
TensorFlow device.

The namespace is this module itself (`namespace` returns it, as the other backends' ``namespace()``
returns theirs): ``from lyapax_tensorflow import namespace as xp``. Beyond the core's subset:
``asarray``, ``matmul`` broadcasting a 2-D matrix against a batch, ``where`` with Python scalars
in either branch. Dtypes: ``float32``, ``float64``, ``int32``, ``int64``, ``bool``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NamedTuple

import tensorflow as tf

__all__ = [
    "abs",
    "all",
    "any",
    "asarray",
    "astype",
    "bool",
    "concat",
    "eye",
    "exp",
    "flip",
    "float32",
    "float64",
    "int32",
    "int64",
    "isfinite",
    "isnan",
    "linalg",
    "log",
    "matmul",
    "matrix_transpose",
    "max",
    "ones_like",
    "permute_dims",
    "reshape",
    "sort",
    "stack",
    "sum",
    "tanh",
    "where",
    "zeros_like",
]

Array = tf.Tensor
Scalar = int | float | bool

float32 = tf.float32
float64 = tf.float64
int32 = tf.int32
int64 = tf.int64
bool = tf.bool  # noqa: A001 - the array-API name


def _as(x: Array | Scalar, like: Array | None) -> Array:
    """``x`` as a tensor; Python scalars take ``like``'s dtype (array-API scalar promotion)."""
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return x
    if like is not None and not hasattr(x, "shape"):
        return tf.constant(x, dtype=like.dtype)
    return tf.convert_to_tensor(x)


def asarray(obj: Any, /, *, dtype: tf.DType | None = None, device: Any = None) -> Array:
    """A tensor from ``obj`` (cast to ``dtype`` if given), placed on ``device`` if given."""
    if device is None:
        t = tf.convert_to_tensor(obj)
        return t if dtype is None else tf.cast(t, dtype)
    with tf.device(device):
        t = tf.identity(tf.convert_to_tensor(obj))
        return t if dtype is None else tf.cast(t, dtype)


def astype(x: Array, dtype: tf.DType, /, *, copy: bool = True) -> Array:
    """``x`` cast to ``dtype`` (differentiable between floating dtypes)."""
    return tf.cast(x, dtype)


def matmul(x1: Array, x2: Array, /) -> Array:
    """Matrix product with batch broadcasting (``(m, n) @ (B, n, k) -> (B, m, k)``)."""
    return tf.linalg.matmul(x1, x2)


def matrix_transpose(x: Array, /) -> Array:
    """Swap the last two axes."""
    return tf.linalg.matrix_transpose(x)


def log(x: Array, /) -> Array:
    return tf.math.log(x)


def abs(x: Array, /) -> Array:  # noqa: A001 - the array-API name
    return tf.math.abs(x)


def exp(x: Array, /) -> Array:
    return tf.math.exp(x)


def tanh(x: Array, /) -> Array:
    """Hyperbolic tangent; float32 is computed in float64 and rounded.

    TensorFlow's float32 ``tanh`` (Eigen's fast rational approximation) is off
    by up to ~5 ulp and returns exactly +-1 from ``|x| > 7.9``, where the true
    float32 value is still below 1. The slopes no longer depend on it (`lyapax.cells`
    computes them from the pre-activation), so the round trip only keeps the float32
    states as accurate as the other backends' (correctly rounded); it costs two casts
    of a ``(B, H)`` array per step, nothing next to the tangent map's matmuls.
    """
    if x.dtype == tf.float32:
        return tf.cast(tf.math.tanh(tf.cast(x, tf.float64)), tf.float32)
    return tf.math.tanh(x)


def isfinite(x: Array, /) -> Array:
    return tf.math.is_finite(x)


def isnan(x: Array, /) -> Array:
    return tf.math.is_nan(x)


def where(condition: Array, x1: Array | Scalar, x2: Array | Scalar, /) -> Array:
    """Elementwise choice with broadcasting.

    A Python scalar takes the other branch's dtype; two tensors of the same
    kind (integer or floating) but different widths promote to the wider one.
    """
    tensors = [v for v in (x1, x2) if isinstance(v, (tf.Tensor, tf.Variable))]
    like = tensors[0] if tensors else None
    a, b = _as(x1, like), _as(x2, like)
    if a.dtype != b.dtype and a.dtype.is_integer == b.dtype.is_integer:
        wide = a.dtype if a.dtype.size >= b.dtype.size else b.dtype
        a, b = tf.cast(a, wide), tf.cast(b, wide)
    return tf.where(condition, a, b)


def ones_like(x: Array, /, *, dtype: tf.DType | None = None) -> Array:
    return tf.ones_like(x, dtype=dtype)


def zeros_like(x: Array, /, *, dtype: tf.DType | None = None) -> Array:
    return tf.zeros_like(x, dtype=dtype)


def concat(arrays: Sequence[Array], /, *, axis: int = 0) -> Array:
    return tf.concat(list(arrays), axis=axis)


def stack(arrays: Sequence[Array], /, *, axis: int = 0) -> Array:
    return tf.stack(list(arrays), axis=axis)


def all(x: Array, /, *, axis: int | None = None, keepdims: bool = False) -> Array:  # noqa: A001
    return tf.math.reduce_all(tf.cast(x, tf.bool), axis=axis, keepdims=keepdims)


def any(x: Array, /, *, axis: int | None = None, keepdims: bool = False) -> Array:  # noqa: A001
    return tf.math.reduce_any(tf.cast(x, tf.bool), axis=axis, keepdims=keepdims)


def max(x: Array, /, *, axis: int | None = None, keepdims: bool = False) -> Array:  # noqa: A001
    return tf.math.reduce_max(x, axis=axis, keepdims=keepdims)


def sum(x: Array, /, *, axis: int | None = None, keepdims: bool = False) -> Array:  # noqa: A001
    return tf.math.reduce_sum(x, axis=axis, keepdims=keepdims)


def reshape(x: Array, /, shape: Sequence[int]) -> Array:
    return tf.reshape(x, shape)


def permute_dims(x: Array, /, axes: Sequence[int]) -> Array:
    """The axes of ``x`` in the order ``axes``."""
    return tf.transpose(x, list(axes))


def flip(x: Array, /, *, axis: int | Sequence[int] | None = None) -> Array:
    """``x`` with the order of elements reversed along ``axis`` (every axis when ``None``)."""
    if axis is None:
        axis = list(range(x.shape.rank))
    return tf.reverse(x, [axis] if isinstance(axis, int) else list(axis))


def eye(n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype: tf.DType | None = None, device: Any = None) -> Array:
    """Identity-like matrix (only ``k=0``); ``dtype`` defaults to float64 (the core's reference dtype)."""
    if k != 0:
        raise NotImplementedError("eye: only k=0 is supported by the lyapax TensorFlow namespace.")
    dtype = tf.float64 if dtype is None else dtype
    if device is None:
        return tf.eye(n_rows, n_cols, dtype=dtype)
    with tf.device(device):
        return tf.eye(n_rows, n_cols, dtype=dtype)


def sort(x: Array, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Array:
    """Sorted along ``axis`` (differentiable: the gradient flows to the elements it moved)."""
    return tf.sort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING")


class QRResult(NamedTuple):
    Q: Array
    R: Array


class _Linalg:
    """The ``linalg`` extension subset: ``qr`` (reduced), ``cholesky`` and ``diagonal``."""

    @staticmethod
    def qr(x: Array, /, *, mode: str = "reduced") -> QRResult:
        """Reduced QR of a (batch of) matrices ``(..., m, n)``: ``Q (..., m, min)``, ``R (..., min, n)``."""
        if mode != "reduced":
            raise NotImplementedError("linalg.qr: only mode='reduced' is supported by the lyapax TensorFlow namespace.")
        q, r = tf.linalg.qr(x, full_matrices=False)
        return QRResult(q, r)

    @staticmethod
    def cholesky(x: Array, /, *, upper: bool = False) -> Array:
        """Lower Cholesky factor of (a batch of) symmetric positive-definite matrices."""
        L = tf.linalg.cholesky(x)
        return tf.linalg.matrix_transpose(L) if upper else L

    @staticmethod
    def diagonal(x: Array, /, *, offset: int = 0) -> Array:
        """The main diagonal of the last two axes."""
        if offset != 0:
            raise NotImplementedError("linalg.diagonal: only offset=0 is supported by the lyapax TensorFlow namespace.")
        return tf.linalg.diag_part(x)


linalg = _Linalg()


def namespace() -> ModuleType:
    """This module: the core's ``xp`` on TensorFlow."""
    return sys.modules[__name__]
