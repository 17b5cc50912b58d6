"""The time loop over chunks: warm-up, counted steps, checks, history, progress.

It runs on any :class:`~lyapax.backend.Problem`: the per-chunk work is the
core's :func:`~lyapax.algorithm.run_chunk` or a backend's compiled equivalent.
Between chunks the only host transfers are the ``(B, k)`` chunk sums and two
``(B,)`` flags, so memory does not grow with the number of steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .algorithm import orthonormal_basis, run_chunk
from .backend import Problem
from .errors import InputError, NumericalError
from .install import pip_install
from .results import Spectrum
from .validation import check_h0_shape

__all__ = ["Options", "iterate", "chunks", "DEFAULT_CHUNK"]

#: Default steps per chunk (rounded down to a multiple of ``ortho_every``).
DEFAULT_CHUNK = 256


@dataclass(frozen=True)
class Options:
    """Options of one computation (validated by :func:`lyapax.spectrum`)."""

    k: int | None = None
    warmup: int = 0
    ortho_every: int = 1
    seed: int | None = 0
    basis: Any = None
    history: int | None = None
    progress: bool = False
    differentiable: bool = False
    chunk: int | None = None


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


def _check_finite_data(problem: Problem) -> None:
    if problem.inputs is not None and not _all_finite(problem, problem.inputs):
        bad = np.argwhere(~np.isfinite(problem.to_numpy(problem.inputs)))[0]
        raise InputError(
            f"inputs: contains NaN or Inf (first at sequence {bad[1]}, step {bad[0]}, feature {bad[2]}); "
            "clean or mask the data before computing a spectrum."
        )
    if not _all_finite(problem, problem.h0):
        raise InputError("h0: contains NaN or Inf; pass a finite initial state.")
    arrays = getattr(problem.dynamics, "arrays", lambda: {})()
    for name, arr in arrays.items():
        if not _all_finite(problem, arr):
            raise InputError(f"model: weight {name} contains NaN or Inf; the spectrum of such a model is undefined.")


def _raise_trouble(first_zero: np.ndarray, first_nonfinite: np.ndarray, ortho_every: int) -> None:
    within = "" if ortho_every == 1 else f" (seen at the QR step; it happened within the last {ortho_every} steps)"
    bad = np.nonzero(first_nonfinite >= 0)[0]
    if bad.size:
        steps = first_nonfinite[bad].tolist()
        raise NumericalError(
            f"the state or tangent became NaN/Inf in sequence(s) {bad.tolist()} at step(s) {steps}{within}; "
            "steps count from 0 and include warm-up. The network diverges on these inputs (unbounded "
            "activations, e.g. relu or linear with large weights): scale the weights or inputs down.",
            kind="nonfinite",
            sequences=bad.tolist(),
            steps=steps,
        )
    bad = np.nonzero(first_zero >= 0)[0]
    if bad.size:
        steps = first_zero[bad].tolist()
        raise NumericalError(
            f"an exact zero on diag(R) in sequence(s) {bad.tolist()} at step(s) {steps}{within}: the tangent map "
            "is singular there (e.g. every relu unit inactive, or saturated units in low precision), so an "
            "exponent would be -inf. Ask for fewer exponents (k), use float64, or change h0/the inputs.",
            kind="zero",
            sequences=bad.tolist(),
            steps=steps,
        )


def _sorted_desc(per_sequence: np.ndarray) -> np.ndarray:
    """Each sequence's exponents in descending order."""
    return -np.sort(-per_sequence, axis=1)


def _progress_bar(enabled: bool, total: int) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise InputError(f"progress: the progress bar needs tqdm: {pip_install('progress')}") from exc
    return tqdm(total=total, unit="step", desc="lyapax")


def iterate(problem: Problem, opts: Options, backend: str) -> Spectrum:
    """Run the QR iteration on ``problem`` and summarise it as a :class:`Spectrum`."""
    xp, dyn = problem.xp, problem.dynamics
    d, T = int(dyn.dim), int(problem.steps)
    B = int(problem.h0.shape[0])
    check_h0_shape(tuple(problem.h0.shape), None, d)
    k = d if opts.k is None else opts.k
    if opts.basis is not None and opts.k is None:
        k = int(np.shape(opts.basis)[-1])
    if not 1 <= k <= d:
        raise InputError(f"k: expected 1 <= k <= state dimension {d}, got {k}.")
    if opts.warmup >= T:
        raise InputError(
            f"warmup: {opts.warmup} warm-up steps leave nothing to count out of {T} time steps; "
            "use fewer warm-up steps or longer sequences."
        )
    _check_finite_data(problem)

    q0 = orthonormal_basis(d, k, opts.seed, opts.basis)
    carry = (
        problem.h0,
        problem.asarray(np.broadcast_to(q0, (B, d, k)).copy()),
        problem.int_array(np.full(B, -1, dtype=np.int64)),
        problem.int_array(np.full(B, -1, dtype=np.int64)),
    )
    runner = problem.run_chunk
    if runner is None:

        def runner(carry, xs, start, length, ortho_every):
            return run_chunk(xp, dyn, carry, xs, start, length, ortho_every)

    total = np.zeros((B, k))
    total_xp = None
    counted = 0
    records: list[np.ndarray] = []
    record_steps: list[int] = []
    bar = _progress_bar(opts.progress, T)
    try:
        for start, length, is_counted in chunks(T, opts.warmup, opts.ortho_every, _chunk_length(opts, problem.chunk or DEFAULT_CHUNK)):
            xs = None if problem.inputs is None else problem.inputs[start : start + length]
            before = carry
            carry, logsum = runner(carry, xs, start, length, opts.ortho_every)
            flags = problem.to_numpy(carry[2]), problem.to_numpy(carry[3])
            if max(flags[0].max(), flags[1].max()) < 0 and not (
                _all_finite(problem, logsum) and _all_finite(problem, carry[0])
            ):  # an untracked runner met trouble: locate it with the reference loop
                located, _ = run_chunk(xp, dyn, before, xs, start, length, opts.ortho_every)
                flags = problem.to_numpy(located[2]), problem.to_numpy(located[3])
            _raise_trouble(*flags, opts.ortho_every)
            if is_counted:
                total += problem.to_numpy(logsum).astype(np.float64)
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

    per_sequence = _sorted_desc(total / counted)
    stderr = per_sequence.std(axis=0, ddof=1) / np.sqrt(B) if B > 1 else np.full(k, np.nan)
    raw = None
    if opts.differentiable:
        raw = xp.sort(total_xp / counted, axis=1, descending=True)
    return Spectrum(
        exponents=per_sequence.mean(axis=0),
        per_sequence=per_sequence,
        stderr=stderr,
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

