"""What the driver loop shows its observers, and the observers every entry point shares.

An entry point that needs more than the sums of ``log|diag(R)|`` (finite-time windows,
the ``R`` factors of covariant vectors) adds an `Observer` to the one loop in
`lyapax.driver`; it never writes a loop of its own. Each observer is called, per group
of sequences (``rows``: all of them, or one thread's share), with every chunk:

    configure(problem, opts) -> opts    once the problem is prepared, before any warning about the options
                                        (checks, options that depend on it: covariant vectors' warm-up)
    start(problem, opts, B, k)          once, before any thread starts
    limit(t, length, p) -> length       may shorten the next chunk (to end it on a step it needs)
    before(t, carry, rows)              the carry ``(h, Q, flags)`` at the chunk's start
    chunk(Chunk)                        after each counted chunk (warm-up excluded)

Chunks end on a QR step, so the basis at a chunk boundary is orthonormal.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .errors import InputError
from .install import pip_install

__all__ = ["Chunk", "Observer", "progress_bar"]


class Chunk(NamedTuple):
    """One counted chunk of the iteration, as observers see it (numpy, in QR column order).

    Attributes:
        start: its first time step (from 0, warm-up included).
        length: its steps.
        interval: the QR interval ``p`` it ran with (a last partial interval gets its own QR).
        logsum: ``(B, k)`` the sums of ``log|diag(R)|`` over the chunk of the sequences ``rows``.
        factors: ``(ceil(length / p), B, k, k)`` the sign-fixed ``R`` of each interval, when an
            observer asked for them (`Observer.factors`), else ``None``.
        flags: ``(B, 4)`` the trouble flags after it (see `lyapax.algorithm.Carry`).
        rows: the sequences of the batch these are (a slice).
    """

    start: int
    length: int
    interval: int
    logsum: np.ndarray
    factors: np.ndarray | None
    flags: np.ndarray
    rows: slice


class Observer:
    """Base class of the driver's observers: every hook does nothing.

    Threads call the hooks for disjoint ``rows``: an observer allocates what they fill in
    `start` and writes only its own rows.
    """

    #: whether counted chunks must hand back their ``R`` factors (`Chunk.factors`).
    factors: bool = False
    #: whether it needs the whole batch on one thread (it keeps one sequence of intervals).
    single_thread: bool = False

    def configure(self, problem: Any, opts: Any) -> Any:
        """The options of the run, given the prepared `lyapax.backend.Problem` (default: unchanged)."""
        return opts

    def start(self, problem: Any, opts: Any, batch: int, k: int) -> None:
        """Called once with the `lyapax.backend.Problem`, the options, ``B`` and ``k``."""

    def limit(self, t: int, length: int, interval: int) -> int:
        """The length of the chunk starting at step ``t`` (at most ``length``; at least 1)."""
        return length

    def before(self, t: int, carry: tuple, rows: slice) -> None:
        """Sees the carry at the start of the chunk at step ``t``."""

    def chunk(self, chunk: Chunk) -> None:
        """Sees a counted chunk."""


def progress_bar(enabled: bool, total: int) -> Any:
    """A tqdm bar over ``total`` time steps, or ``None``."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise InputError(f"progress: the progress bar needs tqdm: {pip_install('progress')}") from exc
    return tqdm(total=total, unit="step", desc="lyapax")
