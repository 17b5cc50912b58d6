"""The time loop over chunks: warm-up, counted steps, checks, history, progress.

It runs on any :class:`~lyapax.backend.Problem`: the per-chunk work is the
core's :func:`~lyapax.algorithm.run_chunk` or a backend's compiled equivalent.
Between chunks the only host transfers are the ``(B, k)`` chunk sums, the
``(B, 3)`` trouble flags and a few finiteness checks, so memory does not grow
with the number of steps.

What the trouble flags lead to:

- a NaN/Inf tangent map or QR: :class:`~lyapax.errors.NumericalError` (undefined exponents);
- an exact zero on diag(R): the collapsed directions get ``-inf`` (that is the
  answer for a singular tangent map, e.g. relu units all inactive), with a
  :class:`~lyapax.errors.NumericalWarning` naming the sequences and steps;
- a NaN/Inf state while the tangent map stays finite (a linear map with an
  eigenvalue above 1): the exponents are well defined and returned, with a warning.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .algorithm import NONFINITE, STATE, ZERO, orthonormal_basis, run_chunk
from .backend import Problem
from .errors import InputError, NumericalError, NumericalWarning
from .results import Spectrum
from .validation import Options, check_h0_shape

__all__ = ["Options", "iterate", "initial_carry", "chunks", "DEFAULT_CHUNK"]

#: Default steps per chunk (rounded down to a multiple of ``ortho_every``).
DEFAULT_CHUNK = 256


def chunks(steps: int, warmup: int, ortho_every: int, length: int) -> Iterator[tuple[int, int, bool]]:
    """``(start, length, counted)`` for each chunk: warm-up chunks first, then counted ones.

    ``length`` is a multiple of ``ortho_every``; each phase's last chunk may be shorter.
    """
    for lo, hi, counted in ((0, warmup, False), (warmup, steps, True)):
        start = lo
        while start < hi:
            n = min(length, hi - start)
            yield start, n, counted
            start += n


def _chunk_length(opts: Options, preferred: int) -> int:
    if opts.history is not None:
        return opts.history
    base = opts.chunk or preferred
    return max(1, base // opts.ortho_every) * opts.ortho_every


def _all_finite(problem: Problem, a: Any) -> bool:
    xp = problem.xp
    return bool(problem.to_numpy(xp.all(xp.isfinite(a))))


def _check_inputs_chunk(problem: Problem, xs: Any, start: int) -> None:
    """NaN/Inf inputs, checked chunk by chunk (no temporary as large as all the inputs)."""
    if xs is not None and not _all_finite(problem, xs):
        t, b, f = np.argwhere(~np.isfinite(problem.to_numpy(xs)))[0]
        raise InputError(
            f"inputs: contains NaN or Inf (first at sequence {b}, step {start + t}, feature {f}); "
            "clean or mask the data before computing a spectrum."
        )


def _check_finite_state_and_weights(problem: Problem) -> None:
    if not _all_finite(problem, problem.h0):
        raise InputError("h0: contains NaN or Inf; pass a finite initial state.")
    for name, arr in problem.dynamics.arrays().items():
        if not _all_finite(problem, arr):
            raise InputError(f"model: weight {name} contains NaN or Inf; the spectrum of such a model is undefined.")


def _unexplained(problem: Problem, h: Any, logsum: Any, flags: np.ndarray) -> bool:
    """Whether a chunk's non-finite state or sums are not yet explained by its trouble flags."""
    ls = problem.to_numpy(logsum)
    state_bad = ~np.isfinite(problem.to_numpy(h)).all(axis=1)
    zero = np.isneginf(ls).any(axis=1) & (flags[:, ZERO] < 0)
    nonfinite = (np.isnan(ls) | np.isposinf(ls)).any(axis=1) & (flags[:, NONFINITE] < 0)
    return bool(np.any(zero | nonfinite | (state_bad & (flags[:, STATE] < 0))))


def _within(ortho_every: int) -> str:
    return "" if ortho_every == 1 else f" (seen at the QR step; it happened within the last {ortho_every} steps)"


def _raise_nonfinite(flags: np.ndarray, ortho_every: int) -> None:
    bad = np.nonzero(flags[:, NONFINITE] >= 0)[0]
    if bad.size:
        steps = flags[bad, NONFINITE].tolist()
        raise NumericalError(
            f"the tangent map became NaN/Inf in sequence(s) {bad.tolist()} at step(s) {steps}{_within(ortho_every)}; "
            "steps count from 0 and include warm-up. The network diverges on these inputs (unbounded "
            "activations, e.g. relu or linear with large weights): scale the weights or inputs down.",
            kind="nonfinite",
            sequences=bad.tolist(),
            steps=steps,
        )


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside lyapax (so a warning points at the user's call)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def _warn(flags: np.ndarray, ortho_every: int) -> None:
    """Warn once per computation about collapsed directions and overflowed states."""
    bad = np.nonzero(flags[:, ZERO] >= 0)[0]
    if bad.size:
        steps = flags[bad, ZERO].tolist()
        warnings.warn(
            NumericalWarning(
                f"an exact zero on diag(R) in sequence(s) {bad.tolist()} at step(s) {steps}{_within(ortho_every)}: "
                "the tangent map is singular there (e.g. every relu unit inactive, or saturated units in low "
                "precision), so the collapsed directions have exponent -inf in those sequences (steps count from 0 "
                "and include warm-up). The finite exponents are returned as computed.",
                kind="zero",
                sequences=bad.tolist(),
                steps=steps,
            ),
            stacklevel=_caller_level(),
        )
    bad = np.nonzero(flags[:, STATE] >= 0)[0]
    if bad.size:
        steps = flags[bad, STATE].tolist()
        warnings.warn(
            NumericalWarning(
                f"the state overflowed to NaN/Inf in sequence(s) {bad.tolist()} at step(s) {steps}, while the "
                "tangent map stayed finite: the exponents are still well defined (e.g. a linear map with an "
                "eigenvalue above 1) and are returned, but the trajectory itself is no longer meaningful.",
                kind="state",
                sequences=bad.tolist(),
                steps=steps,
            ),
            stacklevel=_caller_level(),
        )


def _sorted_desc(per_sequence: np.ndarray) -> np.ndarray:
    """Each sequence's exponents in descending order (``-inf`` last)."""
    return -np.sort(-per_sequence, axis=1)


def _stderr(per_sequence: np.ndarray) -> np.ndarray:
    """Standard error of the mean over sequences: NaN for one sequence; for an index where some
    sequences are ``-inf``: 0 if all are, else ``inf`` (the mean is ``-inf``, its error unbounded)."""
    B, k = per_sequence.shape
    if B < 2:
        return np.full(k, np.nan)
    finite = np.isfinite(per_sequence).all(axis=0)
    out = np.where(np.isneginf(per_sequence).all(axis=0), 0.0, np.inf)
    if finite.any():
        out[finite] = per_sequence[:, finite].std(axis=0, ddof=1) / np.sqrt(B)
    return out


def _progress_bar(enabled: bool, total: int) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise InputError('progress: the progress bar needs tqdm: pip install "lyapax[progress]"') from exc
    return tqdm(total=total, unit="step", desc="lyapax")


def _number_of_exponents(opts: Options, d: int) -> int:
    if opts.basis is not None and (opts.basis.shape[0] != d or (opts.k is not None and opts.basis.shape[1] != opts.k)):
        want = f"({d}, {opts.k if opts.k is not None else 'k'})"
        raise InputError(
            f"basis: expected shape (d, k) = {want}, got {opts.basis.shape}; pass one column per exponent, "
            f"d = {d} being the state dimension."
        )
    k = d if opts.k is None else opts.k
    if opts.basis is not None and opts.k is None:
        k = int(opts.basis.shape[-1])
    if opts.max_k is not None and opts.k is None and opts.basis is None:
        k = min(opts.max_k, d)
    if not 1 <= k <= d:
        raise InputError(f"k: expected 1 <= k <= state dimension {d}, got {k}.")
    return k


def initial_carry(problem: Problem, opts: Options) -> tuple[Any, Any, Any]:
    """The iteration's first carry ``(h0, Q0, flags)`` (checks h0's shape, ``k`` and ``warmup``).

    Pure array work, so a backend's traced functional form can start from it too.
    """
    d, T = int(problem.dynamics.dim), int(problem.steps)
    B = int(problem.h0.shape[0])
    check_h0_shape(tuple(problem.h0.shape), None, d)
    k = _number_of_exponents(opts, d)
    if opts.warmup >= T:
        raise InputError(
            f"warmup: {opts.warmup} warm-up steps leave nothing to count out of {T} time steps; "
            "use fewer warm-up steps or longer sequences."
        )
    q0 = orthonormal_basis(d, k, opts.seed, opts.basis)
    return (
        problem.h0,
        problem.asarray(np.broadcast_to(q0, (B, d, k)).copy()),
        problem.asarray(np.full((B, 3), -1, dtype=np.int32), "int32"),
    )


def iterate(
    problem: Problem, opts: Options, backend: str, observe: Callable[[int, int, np.ndarray], None] | None = None
) -> Spectrum:
    """Run the QR iteration on ``problem`` and summarise it as a :class:`Spectrum`.

    ``observe(start, length, logsum)`` is called after each counted chunk with the
    chunk's sums of ``log|diag(R)|`` ``(B, k)`` (numpy, in QR column order).
    """
    xp, dyn = problem.xp, problem.dynamics
    d, T = int(dyn.dim), int(problem.steps)
    carry = initial_carry(problem, opts)
    B, k = (int(n) for n in carry[1].shape[::2])
    _check_finite_state_and_weights(problem)

    runner = problem.run_chunk
    if runner is None:

        def runner(carry, xs, start, length, ortho_every):
            return run_chunk(xp, dyn, carry, xs, start, length, ortho_every)

    total = np.zeros((B, k))
    total_xp = None
    counted = 0
    records: list[np.ndarray] = []
    record_steps: list[int] = []
    located = np.full((B, 3), -1, dtype=np.int64)
    bar = _progress_bar(opts.progress, T)
    try:
        for start, length, is_counted in chunks(T, opts.warmup, opts.ortho_every, _chunk_length(opts, problem.chunk or DEFAULT_CHUNK)):
            xs = None if problem.inputs is None else problem.inputs[start : start + length, ...]
            _check_inputs_chunk(problem, xs, start)
            before = carry
            carry, logsum = runner(carry, xs, start, length, opts.ortho_every)
            flags = problem.to_numpy(carry[2]).astype(np.int64)
            if not (_all_finite(problem, logsum) and _all_finite(problem, carry[0])) and _unexplained(
                problem, carry[0], logsum, flags
            ):  # an untracked runner met trouble: locate it with the reference loop
                again, _ = run_chunk(xp, dyn, before, xs, start, length, opts.ortho_every)
                flags = problem.to_numpy(again[2]).astype(np.int64)
                carry = (carry[0], carry[1], again[2])
            located = flags
            _raise_nonfinite(flags, opts.ortho_every)
            if is_counted:
                chunk_sum = problem.to_numpy(logsum).astype(np.float64)
                total += chunk_sum
                if observe is not None:
                    observe(start, length, chunk_sum)
                counted += length
                if opts.differentiable:
                    total_xp = logsum if total_xp is None else total_xp + logsum
                if opts.history is not None:
                    records.append(_sorted_desc(total / counted).mean(axis=0))
                    record_steps.append(counted)
            if bar is not None:
                bar.update(length)
    finally:
        if bar is not None:
            bar.close()
    _warn(located, opts.ortho_every)

    per_sequence = _sorted_desc(total / counted)
    raw = None
    if opts.differentiable:
        raw = xp.sort(total_xp / counted, axis=1, descending=True)
    return Spectrum(
        exponents=per_sequence.mean(axis=0),
        per_sequence=per_sequence,
        stderr=_stderr(per_sequence),
        backend=backend,
        steps=counted,
        warmup=opts.warmup,
        ortho_every=opts.ortho_every,
        state_dim=d,
        dtype=problem.dtype,
        history=np.asarray(records) if opts.history is not None else None,
        history_steps=np.asarray(record_steps, dtype=np.int64) if opts.history is not None else None,
        raw=raw,
    )
