"""The compiled chunk runner: the core's run_chunk logic in one ``tf.function``.

The body is the core's own pure functions, :func:`lyapax.algorithm.tangent_interval`
(``ortho_every`` steps then one QR) and :func:`lyapax.algorithm.track_trouble`,
traced with this package's namespace; the intervals of a chunk are a
``tf.while_loop`` and a last partial interval gets its own QR, exactly as
:func:`lyapax.algorithm.run_chunk` does. Nothing leaves the device inside a chunk.

Retracing: the weights of an analytic cell are arguments of the compiled
function, not constants captured in it, and the step counter is a tensor, so
a second call with the same shapes and dtypes (another model of the same
architecture, the same model after a training epoch) reuses the trace.
Compiled functions are cached by (cell structure, chunk length,
``ortho_every``); tf.function itself keys them by shapes and dtypes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import logging

import tensorflow as tf

from lyapax import algorithm
from lyapax.cells import Cell, Stack

from . import namespace as xp

__all__ = ["make_runner", "tracing_count", "clear_cache"]

_CACHE: "OrderedDict[tuple, Any]" = OrderedDict()
_CACHE_SIZE = 64


def _structure(cell: Cell) -> tuple:
    """A hashable description of a cell, its weight arrays left out (they are arguments)."""
    if isinstance(cell, Stack):
        return ("Stack", tuple(_structure(layer) for layer in cell.layers))
    fields = tuple(
        (name, "array" if hasattr(value, "shape") else value)
        for name, value in sorted(vars(cell).items())
        if not isinstance(value, (list, dict))
    )
    return (type(cell).__module__, type(cell).__qualname__, fields)


def _rebuild(template: Cell) -> Callable[[tuple], Cell]:
    def rebuild(weights: tuple) -> Cell:
        it = iter(weights)
        return template.map_arrays(lambda _: next(it))

    return rebuild


def _compile(rebuild: Callable[[tuple], Any], length: int, ortho_every: int) -> Any:
    n_full, rem = divmod(length, ortho_every)

    def interval(dyn, xs, start, t0, n, h, Q, first_zero, first_nonfinite, total):
        seg = None if xs is None else xs[t0 : t0 + n]
        h, Q, log_r = algorithm.tangent_interval(xp, dyn, h, Q, seg, n)
        first_zero, first_nonfinite = algorithm.track_trouble(
            xp, h, log_r, first_zero, first_nonfinite, start + t0 + (n - 1)
        )
        return h, Q, first_zero, first_nonfinite, total + log_r

    @tf.function(autograph=False)
    def run(weights, carry, xs, start):
        dyn = rebuild(weights)
        h, Q, first_zero, first_nonfinite = carry
        state = (h, Q, first_zero, first_nonfinite, tf.zeros_like(Q[:, 0, :]))
        if n_full == 1:
            state = interval(dyn, xs, start, 0, ortho_every, *state)
        elif n_full > 1:

            def body(i, *state):
                return (i + 1, *interval(dyn, xs, start, i * ortho_every, ortho_every, *state))

            out = tf.while_loop(lambda i, *_: i < n_full, body, (tf.constant(0, tf.int64), *state))
            state = tuple(out[1:])
        if rem:
            state = interval(dyn, xs, start, n_full * ortho_every, rem, *state)
        h, Q, first_zero, first_nonfinite, total = state
        return (h, Q, first_zero, first_nonfinite), total

    return run


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
    compiled functions (one per structure, chunk length and ``ortho_every``)
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


def make_runner(dynamics: Any, device: str | None) -> Callable[..., Any]:
    """A runner with the signature and results of :func:`lyapax.algorithm.run_chunk` less ``xp, dynamics``.

    ``dynamics`` is a core cell with tf weights (its weights become arguments
    of the compiled function) or a :class:`~lyapax_tensorflow.tangent.StepDynamics`
    (compiled with the step function inside). Runs under ``tf.device(device)``.
    """
    if isinstance(dynamics, Cell):
        structure = _structure(dynamics)
        weights = tuple(dynamics.arrays().values())
        rebuild = _rebuild(dynamics)
    else:
        structure = dynamics.key()
        weights = ()
        rebuild = lambda _weights: dynamics  # noqa: E731

    def runner(carry, xs, start, length, ortho_every):
        fn = _cached((structure, int(length), int(ortho_every)), lambda: _compile(rebuild, int(length), int(ortho_every)))
        step = tf.constant(int(start), dtype=tf.int64)
        if device is None:
            return _call(fn, weights, tuple(carry), xs, step)
        with tf.device(device):
            return _call(fn, weights, tuple(carry), xs, step)

    return runner


def tracing_count() -> int:
    """How many times the cached chunk functions have been traced (for tests and diagnostics)."""
    return sum(fn.experimental_get_tracing_count() for fn in _CACHE.values())


def clear_cache() -> None:
    """Drop every compiled chunk function."""
    _CACHE.clear()
