"""The one time loop over chunks: warm-up, counted steps, trouble checks, observers, progress.

It runs on any `Problem`: the per-chunk work is the core's `run_chunk` or a
backend's compiled equivalent. Between chunks there is one host transfer (`Readback`:
the ``(B, k)`` chunk sums, the ``(B, 4)`` trouble flags and per-sequence finiteness of
the state and the inputs, packed on the device into one array), plus the ``R`` factors
when an observer asks for them; more only when trouble has to be located. Memory does
not grow with the number of steps.

Every entry point runs this loop: `lyapax.spectrum` with no observer,
`lyapax.finite_time` with a window observer, `lyapax.covariant_vectors` with an
observer that keeps the ``R`` factors (see `lyapax.observers.Observer`). What the
trouble flags lead to is said in `lyapax.trouble`.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .algorithm import FLAGS, QR_FAILED, STATE, orthonormal_basis, run_chunk
from .backend import Problem
from .errors import InputError, user_stacklevel
from .linalg import AUTO_PROBE, QR, choose_engine, choose_interval, spread_rate
from .observers import Chunk, Observer, progress_bar
from .options import Options
from .results import Spectrum, sorted_descending, standard_error
from .trouble import (
    check_finite_start,
    raise_nonfinite,
    raise_nonfinite_inputs,
    raise_state_dependent,
    unexplained,
    warn_trouble,
)
from .validation import number_of_exponents

__all__ = ["iterate", "initial_carry", "Readback", "DEFAULT_CHUNK"]

#: Default steps per chunk (rounded down to a multiple of ``ortho_every``).
DEFAULT_CHUNK = 256


def initial_carry(problem: Problem, opts: Options) -> tuple[Any, Any, Any]:
    """The iteration's first carry ``(h0, Q0, flags)`` (checks ``k`` and ``warmup``; prepare checked h0).

    Pure array work, so a backend's traced functional form can start from it too.
    """
    d, T = int(problem.dynamics.dim), int(problem.steps)
    B = int(problem.h0.shape[0])
    k = number_of_exponents(opts, d)
    if opts.warmup >= T:
        raise InputError(
            f"warmup: {opts.warmup} warm-up steps leave nothing to count out of {T} time steps; "
            "use fewer warm-up steps or longer sequences."
        )
    q0 = orthonormal_basis(d, k, opts.seed, opts.basis)
    return (
        problem.h0,
        problem.asarray(np.broadcast_to(q0, (B, d, k)).copy()),
        problem.asarray(np.full((B, FLAGS), -1, dtype=np.int32), "int32"),
    )


def _parts(problem: Problem, opts: Options, B: int, k: int, observers: Sequence[Observer]) -> list[slice]:
    """Contiguous groups of sequences run by separate threads (the batch's rows are independent)."""
    backend = problem.backend
    n = opts.threads if opts.threads is not None else backend.threads(problem, k)
    if any(o.single_thread for o in observers):
        n = 1
    if backend.max_threads is not None and n > backend.max_threads:
        if opts.threads is not None:
            warnings.warn(
                f"threads={opts.threads}: the {backend.name} backend runs at most {backend.max_threads} thread(s) "
                f"at once ({backend.thread_limit_reason}); using {backend.max_threads}.",
                RuntimeWarning,
                stacklevel=user_stacklevel(),
            )
        n = backend.max_threads
    n = max(1, min(int(n), B))
    bounds = np.linspace(0, B, n + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


class Readback:
    """What the host learns from a chunk, in one device-to-host transfer.

    Packed on the device into one ``(B, k + 6)`` array in the sums' dtype: the chunk's sums of
    ``log|diag(R)|``, the trouble flags (integers; exact in float32 below 2**24 steps, beyond
    which the flags travel apart), whether each sequence's state and inputs are finite.
    """

    def __init__(self, problem: Problem, carry: tuple, logsum: Any, xs: Any):
        xp, (h, _, flags) = problem.xp, carry
        dtype = logsum.dtype
        h_ok = xp.astype(xp.all(xp.isfinite(h), axis=-1), dtype)[:, None]
        x_ok = xp.ones_like(h_ok) if xs is None else xp.astype(
            xp.all(xp.all(xp.isfinite(xs), axis=-1), axis=0), dtype)[:, None]
        apart = problem.steps >= 2**24 and (problem.qr_dtype or problem.dtype) != "float64"
        parts = [logsum, h_ok, x_ok] + ([] if apart else [xp.astype(flags, dtype)])
        host = problem.to_numpy(xp.concat(parts, axis=1)).astype(np.float64)
        k = int(logsum.shape[1])
        self.logsum = host[:, :k]
        self.state_finite, self.inputs_finite = host[:, k] > 0, host[:, k + 1] > 0
        self.flags = (problem.to_numpy(flags) if apart else host[:, k + 2 :]).astype(np.int64)


class _Part:
    """The time loop over one group of sequences (all of them, or one thread's share)."""

    def __init__(self, problem: Problem, opts: Options, carry: tuple, rows: slice, observers: Sequence[Observer], bar):
        self.problem, self.opts, self.carry, self.rows, self.observers, self.bar = (
            problem, opts, carry, rows, observers, bar
        )
        B, k = (int(n) for n in carry[1].shape[::2])
        self.total = np.zeros((B, k))
        self.total_xp = None
        self.counted = 0
        self.records: list[np.ndarray] = []  # per record: the sum over this part's sequences of their sorted estimates
        self.record_steps: list[int] = []
        self.flags = np.full((B, FLAGS), -1, dtype=np.int64)
        self.intervals: set[int] = set()
        self.engines: set[str] = set()
        self.fallbacks = 0
        self.factors = any(o.factors for o in observers)

    def _run(self, carry: tuple, xs: Any, t: int, length: int, p: int, qr: QR, factors: bool) -> tuple:
        """``(carry, logsum, R factors or None)`` of one chunk, by the backend's runner where it can."""
        runner, problem = self.problem.run_chunk, self.problem
        if runner is not None and (not factors or runner.factors):
            out = runner(carry, xs, t, length, p, qr=qr, factors=True) if factors else runner(carry, xs, t, length, p, qr=qr)
        else:
            with np.errstate(all="ignore"):
                out = run_chunk(problem.xp, problem.dynamics, carry, xs, t, length, p, qr=qr, factors=factors)
        return (out[0], out[1], out[2] if factors else None)

    def _length(self, t: int, p: int, counted: bool, spread: float | None) -> int:
        opts, T = self.opts, int(self.problem.steps)
        if opts.history is not None:
            length = opts.history
        else:
            length = max(1, (self.problem.chunk or DEFAULT_CHUNK) // p) * p
        length = min(length, (T if counted else opts.warmup) - t)
        if spread is None and opts.ortho_every == "auto" and opts.history is None:
            length = min(length, AUTO_PROBE)  # the first steps (QR every step) estimate the spread
        for observer in self.observers:
            length = observer.limit(t, length, p)
        return length

    def run(self) -> _Part:
        problem, opts = self.problem, self.opts
        T, carry, spread, fell_back, t, state_checked = int(problem.steps), self.carry, None, False, 0, 0
        while t < T:
            counted = t >= opts.warmup
            p = choose_interval(opts.ortho_every, spread, problem.dtype, opts.history)
            qr = choose_engine(opts.qr, accelerator=problem.accelerator, dtype=problem.dtype, qr_dtype=problem.qr_dtype,
                               p=p, spread=spread, fell_back=fell_back)
            length = self._length(t, p, counted, spread)
            xs = None if problem.inputs is None else problem.inputs[t : t + length, ...]
            for observer in self.observers:
                observer.before(t, carry, self.rows)
            before, factors = carry, counted and self.factors
            carry, logsum, Rs = self._run(carry, xs, t, length, p, qr, factors)
            seen = Readback(problem, carry, logsum, xs)
            if not seen.inputs_finite.all():
                raise_nonfinite_inputs(problem, xs, t, self.rows.start)
            if np.any(seen.flags[:, QR_FAILED] >= 0):  # the Cholesky QR failed its check: redo the chunk with Householder
                qr, fell_back = QR("householder", qr.dtype, qr.cast), True
                self.fallbacks += 1
                carry, logsum, Rs = self._run(before, xs, t, length, p, qr, factors)
                seen = Readback(problem, carry, logsum, xs)
            flags = seen.flags
            if unexplained(seen.logsum, seen.state_finite, flags):  # an untracked runner met trouble: locate it
                with np.errstate(all="ignore"):
                    again = run_chunk(problem.xp, problem.dynamics, before, xs, t, length, p, qr=qr)[0]
                flags = problem.to_numpy(again[2]).astype(np.int64)
                carry = (carry[0], carry[1], again[2])
            self.flags = flags
            raise_nonfinite(flags, p, self.rows.start)
            if np.count_nonzero(flags[:, STATE] >= 0) > state_checked:  # newly overflowed states
                raise_state_dependent(problem, carry[0], None if xs is None else xs[-1, ...], flags, self.rows.start)
                state_checked = int(np.count_nonzero(flags[:, STATE] >= 0))
            spread = spread_rate(seen.logsum, length)
            if counted:
                self.engines.add(qr.describe())
                self._count(Chunk(t, length, p, seen.logsum, None if Rs is None else problem.to_numpy(Rs), flags,
                                  self.rows), logsum)
            if self.bar is not None:
                self.bar.update(length)
            t += length
        return self

    def _count(self, chunk: Chunk, logsum: Any) -> None:
        self.intervals.add(chunk.interval)
        self.total += chunk.logsum
        self.counted += chunk.length
        for observer in self.observers:
            observer.chunk(chunk)
        if self.opts.differentiable:
            self.total_xp = logsum if self.total_xp is None else self.total_xp + logsum
        if self.opts.history is not None:
            self.records.append(sorted_descending(self.total / self.counted).sum(axis=0))
            self.record_steps.append(self.counted)


def iterate(problem: Problem, opts: Options, observers: Sequence[Observer] = ()) -> Spectrum:
    """Run the QR iteration on ``problem`` and summarise it as a `Spectrum`.

    Each observer sees every chunk (see `lyapax.observers.Observer`); with several threads,
    each thread calls them for its own rows of the batch.
    """
    xp, d = problem.xp, int(problem.dynamics.dim)
    carry = initial_carry(problem, opts)
    B, k = int(carry[1].shape[0]), int(carry[1].shape[2])
    check_finite_start(problem)
    for observer in observers:
        observer.start(problem, opts, B, k)
    rows = _parts(problem, opts, B, k, observers)
    bar = progress_bar(opts.progress, int(problem.steps))
    try:
        if len(rows) == 1:
            parts = [_Part(problem, opts, carry, rows[0], observers, bar).run()]
        else:

            def part(i: int, r: slice) -> _Part:
                sub = dataclasses.replace(
                    problem, h0=problem.h0[r, ...], inputs=None if problem.inputs is None else problem.inputs[:, r, ...]
                )
                with problem.backend.worker_scope(problem):
                    return _Part(sub, opts, tuple(c[r, ...] for c in carry), r, observers, bar if i == 0 else None).run()

            with problem.backend.thread_scope(len(rows)), ThreadPoolExecutor(len(rows)) as pool:
                parts = list(pool.map(part, range(len(rows)), rows))
    finally:
        if bar is not None:
            bar.close()
    warn_trouble(np.concatenate([p.flags for p in parts]), opts.ortho_every)
    counted = parts[0].counted
    per_sequence = sorted_descending(np.concatenate([p.total for p in parts]) / counted)
    raw = None
    if opts.differentiable:
        raw = xp.sort(xp.concat([p.total_xp for p in parts], axis=0) / counted, axis=1, descending=True)
    history = None
    if opts.history is not None:
        history = np.sum([np.asarray(p.records) for p in parts], axis=0) / B
    engines = sorted(set().union(*(p.engines for p in parts)))
    fallbacks = sum(p.fallbacks for p in parts)
    return Spectrum(
        exponents=per_sequence.mean(axis=0),
        per_sequence=per_sequence,
        stderr=standard_error(per_sequence),
        backend=problem.backend.name,
        steps=counted,
        warmup=opts.warmup,
        ortho_every=opts.ortho_every,
        state_dim=d,
        dtype=problem.dtype,
        history=history,
        history_steps=np.asarray(parts[0].record_steps, dtype=np.int64) if opts.history is not None else None,
        raw=raw,
        qr=" + ".join(engines) + (f"; Householder redid {fallbacks} chunk(s)" if fallbacks else ""),
        intervals=tuple(sorted(set().union(*(p.intervals for p in parts)))),
        threads=len(parts),
    )
