"""The compiled chunk runner: the core's run_chunk logic in one ``tf.function``.

The body is the core's own pure functions, `lyapax.algorithm.tangent_interval`
(``ortho_every`` steps then one QR) and `lyapax.algorithm.track_trouble`,
traced with this package's namespace; the intervals of a chunk are a
``tf.while_loop`` and a last partial interval gets its own QR, exactly as
`lyapax.algorithm.run_chunk` does (the same operations in the same order;
only the partial interval's step count is a run-time value, so its steps are
the dynamics' ``step_tangent`` in a loop followed by a one-step
``tangent_interval``). Nothing leaves the device inside a chunk.

Retracing: the dynamics are split (``dynamics.split()``, canonical cells and the
core's autodiff dynamics alike) into a hashable definition, which keys the
cache, and parameter arrays, which are arguments of the compiled function and
not constants captured in it; the step counter and the number of steps are
int32 tensors (the time axis of the inputs is left unknown to the trace). So
one trace serves every chunk of a computation, and a second call with the same
shapes and dtypes (another model of the same architecture, the same model after
a training epoch, other sequence lengths) reuses it. Compiled functions are
cached by (definition, parameter structure, ``ortho_every``, argument shapes and
dtypes). A step function's own variables (a Keras cell's, a closure's
``tf.Variable``) are read by the function at run time, so training them does
not retrace either.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from lyapax import algorithm
from lyapax.linalg import HOUSEHOLDER, QR
from lyapax.tangent import tree_flatten, tree_unflatten

from . import namespace as xp

__all__ = ["make_runner", "trace_count"]

_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_CACHE_SIZE = 64


def _interval(dyn: Any, xs: Any, start: Any, t0: Any, n: int, state: tuple, qr: QR, factors: bool) -> tuple:
    """``n`` steps then one QR (the core's tangent_interval), trouble tracking, the running sum;
    with ``factors``, the interval's ``R`` written to the TensorArray that ends ``state``."""
    h, Q, flags, total, Rs = state
    seg = None if xs is None else xs[t0 : t0 + n]
    out = algorithm.tangent_interval(xp, dyn, h, Q, seg, n, qr=qr, factor=factors)
    flags = algorithm.track_trouble(xp, out.h, out.log_r, flags, start + t0 + (n - 1), out.ok)
    if factors:
        Rs = Rs.write(Rs.size(), out.R)
    return out.h, out.Q, flags, total + out.log_r, Rs


def _compile(build: Callable[[tuple], Any], ortho_every: int, signature: list, qr: QR, factors: bool) -> Any:
    """A chunk of any length: whole intervals of ``ortho_every`` steps in a ``tf.while_loop``, then
    (``tf.cond``) a last partial interval of ``rem`` steps with its own QR.

    The number of steps is a run-time value (the time axis of ``xs`` is unknown
    to the trace, or ``steps`` is a tensor), so every chunk reuses one trace.
    """

    @tf.function(autograph=False, input_signature=signature)
    def run(params, carry, xs_or_steps, start):
        dyn = build(params)
        xs = None if xs_or_steps.shape.rank == 0 else xs_or_steps
        steps = xs_or_steps if xs is None else tf.shape(xs)[0]
        n_full, rem = steps // ortho_every, steps % ortho_every
        h, Q, flags = carry
        log_dtype = Q.dtype if qr.dtype is None else tf.as_dtype(qr.dtype)
        Rs = tf.TensorArray(log_dtype, size=0, dynamic_size=True, element_shape=[None, Q.shape[2], Q.shape[2]])
        state = (h, Q, flags, tf.zeros(tf.shape(Q[:, 0, :]), log_dtype), Rs)

        def body(i, *state):
            return (i + 1, *_interval(dyn, xs, start, i * ortho_every, ortho_every, state, qr, factors))

        state = tf.while_loop(lambda i, *_: i < n_full, body, (tf.constant(0, tf.int32), *state))[1:]
        if ortho_every > 1:

            def tail():
                # rem - 1 tangent steps, then the last one with the QR: tangent_interval(rem) unrolled at run time
                h, Q, flags, total, Rs = state
                t0 = n_full * ortho_every

                def step(j, h, Q):
                    h, Q = dyn.step_tangent(xp, h, None if xs is None else xs[t0 + j], Q)
                    return j + 1, h, Q

                _, h, Q = tf.while_loop(lambda j, *_: j < rem - 1, step, (tf.constant(0, tf.int32), h, Q))
                return _interval(dyn, xs, start, t0 + rem - 1, 1, (h, Q, flags, total, Rs), qr, factors)

            state = tf.cond(rem > 0, tail, lambda: tuple(state))
        if factors:
            return tuple(state[:3]), state[3], state[4].stack()
        return tuple(state[:3]), state[3]

    return run


def _spec(t: Any) -> tf.TensorSpec:
    return tf.TensorSpec(t.shape, t.dtype)


def _cached(key: tuple, make: Callable[[], Any]) -> Any:
    fn = _CACHE.get(key)
    if fn is None:
        fn = _CACHE[key] = make()
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return fn


class _RetracingNoteFilter(logging.Filter):
    """Hides TensorFlow's "triggered tf.function retracing" note for this module's own functions.

    TensorFlow counts traces by the Python function's code, so our distinct
    compiled functions (one per definition, ``ortho_every`` and argument shapes)
    look to it like one function retraced.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


_FILTER = _RetracingNoteFilter()


def _call(fn: Any, *args: Any) -> Any:
    logger = tf.get_logger()
    logger.addFilter(_FILTER)
    try:
        return fn(*args)
    finally:
        logger.removeFilter(_FILTER)


def make_runner(dynamics: Any, differentiable: bool = False) -> Callable[..., Any]:
    """``Problem.run_chunk``: the signature and results of `lyapax.algorithm.run_chunk` less ``xp``
    and ``dynamics``, compiled. ``differentiable`` changes nothing: a ``GradientTape`` the caller
    holds records the compiled call as it is.

    ``dynamics`` is anything with ``split()`` (a core cell with tf weights, the
    core's autodiff dynamics of a step function): its parameters become arguments
    of the compiled function, its definition part of the cache key. Call it in the
    device scope of the computation (the backend's ``scope``).
    """
    definition, params = dynamics.split()
    leaves, treedef = ([], None) if params is None else tree_flatten(params)
    params = tuple(leaves)

    def build(args: tuple) -> Any:
        return definition.build(None if treedef is None else tree_unflatten(treedef, list(args)))

    def runner(carry, xs, start, length, ortho_every, *, qr=HOUSEHOLDER, factors=False):
        ortho_every, factors = int(ortho_every), bool(factors)
        carry = tuple(carry)
        signature = [tuple(_spec(p) for p in params), tuple(_spec(c) for c in carry)]
        if xs is None:
            signature.append(tf.TensorSpec([], tf.int32))
        else:
            signature.append(tf.TensorSpec([None, *xs.shape[1:]], xs.dtype))
        signature.append(tf.TensorSpec([], tf.int32))
        key = (definition, treedef, ortho_every, qr, factors, repr(signature))
        fn = _cached(key, lambda: _compile(build, ortho_every, signature, qr, factors))
        chunk = tf.constant(int(length), tf.int32) if xs is None else xs
        return _call(fn, params, carry, chunk, tf.constant(int(start), tf.int32))

    return runner


def trace_count() -> int:
    """How many times the cached chunk functions have been traced (compiled) in this process."""
    return sum(fn.experimental_get_tracing_count() for fn in _CACHE.values())
