"""The time loop over chunks: warm-up, counted steps, checks, history, progress.

It runs on any `Problem`: the per-chunk work is the
core's `run_chunk` or a backend's compiled equivalent.
Between chunks the only host transfers are the ``(B, k)`` chunk sums, the
``(B, 3)`` trouble flags and a few finiteness checks, so memory does not grow
with the number of steps.

What the trouble flags lead to:

- a NaN/Inf tangent map or QR: `NumericalError` (undefined exponents);
- an exact zero on diag(R): the collapsed directions get ``-inf`` (that is the
  answer for a singular tangent map, e.g. relu units all inactive), with a
  `NumericalWarning` naming the sequences and steps;
- a NaN/Inf state while the tangent map stays finite (a linear map with an
  eigenvalue above 1): the exponents are well defined and returned, with a warning.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .algorithm import FLAGS, NONFINITE, QR_FAILED, STATE, ZERO, orthonormal_basis, run_chunk
from .backend import Problem
from .errors import InputError, NumericalError, NumericalWarning
from .install import pip_install
from .linalg import HOUSEHOLDER, QR
from .results import Spectrum
from .validation import Options, check_h0_shape

__all__ = ["Options", "iterate", "initial_carry", "DEFAULT_CHUNK", "MAX_AUTO_INTERVAL", "AUTO_PROBE"]

#: Default steps per chunk (rounded down to a multiple of ``ortho_every``).
DEFAULT_CHUNK = 256


def _all_finite(problem: Problem, a: Any) -> bool:
    xp = problem.xp
    return bool(problem.to_numpy(xp.all(xp.isfinite(a))))


def _check_inputs_chunk(problem: Problem, xs: Any, start: int, offset: int = 0) -> None:
    """NaN/Inf inputs, checked chunk by chunk (no temporary as large as all the inputs)."""
    if xs is not None and not _all_finite(problem, xs):
        t, b, f = np.argwhere(~np.isfinite(problem.to_numpy(xs)))[0]
        raise InputError(
            f"inputs: contains NaN or Inf (first at sequence {offset + b}, step {start + t}, feature {f}); "
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


def _within(ortho_every: Any) -> str:
    if ortho_every == 1:
        return ""
    return f" (seen at the QR step; it happened within the {'interval' if ortho_every == 'auto' else f'last {ortho_every} steps'} before)"


def _raise_nonfinite(flags: np.ndarray, ortho_every: Any, offset: int = 0) -> None:
    bad = np.nonzero(flags[:, NONFINITE] >= 0)[0]
    if bad.size:
        steps = flags[bad, NONFINITE].tolist()
        bad = bad + offset
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
    messages = {
        ("zero", ZERO): "an exact zero on diag(R) in sequence(s) {bad} at step(s) {steps}" + _within(ortho_every)
        + ": the tangent map is singular there (e.g. every relu unit inactive, or saturated units in low "
        "precision), so the collapsed directions have exponent -inf in those sequences (steps count from 0 "
        "and include warm-up). The finite exponents are returned as computed.",
        ("state", STATE): "the state overflowed to NaN/Inf in sequence(s) {bad} at step(s) {steps}, while the "
        "tangent map stayed finite: the exponents are still well defined (e.g. a linear map with an "
        "eigenvalue above 1) and are returned, but the trajectory itself is no longer meaningful.",
    }
    for (kind, column), text in messages.items():
        bad = np.nonzero(flags[:, column] >= 0)[0]
        if bad.size:
            steps = flags[bad, column].tolist()
            warnings.warn(
                NumericalWarning(text.format(bad=bad.tolist(), steps=steps), kind=kind, sequences=bad.tolist(),
                                 steps=steps),
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
        raise InputError(f"progress: the progress bar needs tqdm: {pip_install('progress')}") from exc
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
        problem.asarray(np.full((B, FLAGS), -1, dtype=np.int32), "int32"),
    )


# -- choosing the QR interval and engine, chunk by chunk --------------------------------------

#: log of the largest condition number a product of maps may reach before its QR, by the
#: tangent map's dtype: a column contracting exp(-p (λ1 - λk)) relative to the first keeps
#: about u * κ of relative accuracy (1e-8 in float64, 6e-5 in float32).
_LOG_KAPPA = {"float64": np.log(1e8), "float32": np.log(1e3)}
#: The largest automatic interval (powers of two up to it: few compiled variants).
MAX_AUTO_INTERVAL = 16
#: With ``ortho_every="auto"``, the first chunk's steps (QR every step): long enough to estimate
#: the spread, short enough that a computation of one default chunk (256 steps) still benefits.
AUTO_PROBE = 32
_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}


def _spread_rate(logsum: np.ndarray, length: int) -> float:
    """The largest per-step spread ``(λ1 - λk)`` of a chunk's finite-time exponents over sequences."""
    rates = logsum / length
    finite = np.isfinite(rates)
    hi = np.where(finite, rates, -np.inf).max(axis=1)
    lo = np.where(finite, rates, np.inf).min(axis=1)
    ok = finite.any(axis=1)
    return float((hi - lo)[ok].max()) if ok.any() else 0.0


def _interval(opts: Options, spread: float | None, dtype: str) -> int:
    if opts.ortho_every != "auto":
        return int(opts.ortho_every)
    if spread is None:
        return 1
    # a zero spread (one exponent, or an isometry) puts no limit on the product's conditioning
    p = MAX_AUTO_INTERVAL if spread <= 0 else int(min(MAX_AUTO_INTERVAL, max(1.0, _LOG_KAPPA[dtype] / (2.0 * spread))))
    p = 2 ** int(np.log2(p))
    while opts.history is not None and opts.history % p:
        p //= 2
    return p


def _engine(opts: Options, problem: Problem, p: int, spread: float | None, fell_back: bool) -> QR:
    """Householder on a CPU (measured faster there); the Cholesky variants on an accelerator, in float64,
    while the estimated conditioning of a p-step product allows them."""
    qr_dtype = problem.qr_dtype
    method = opts.qr
    if method == "auto":
        if not problem.accelerator or (qr_dtype or problem.dtype) != "float64" or fell_back or spread is None:
            return QR("householder", qr_dtype)
        method = "cholesky"
    if method == "householder":
        return QR("householder", qr_dtype)
    u = _ROUNDOFF[qr_dtype or problem.dtype]
    log_kappa = np.inf if spread is None else 2.0 * p * spread
    if log_kappa <= 0.5 * np.log(1 / u) - np.log(10):
        return QR("cholesky2", qr_dtype)
    if log_kappa <= np.log(1 / u) - np.log(100) or opts.qr == "cholesky":
        return QR("cholesky3", qr_dtype)
    return QR("householder", qr_dtype)


def _chunk_length(opts: Options, p: int, preferred: int) -> int:
    if opts.history is not None:
        return opts.history
    return max(1, (opts.chunk or preferred) // p) * p


def _parts(problem: Problem, opts: Options, B: int, k: int) -> list[slice]:
    """Contiguous groups of sequences run by separate threads (the batch's rows are independent)."""
    backend = problem.backend
    n = opts.threads if opts.threads is not None else backend.threads(problem, k)
    if backend.max_threads is not None and n > backend.max_threads:
        if opts.threads is not None:
            warnings.warn(
                f"threads={opts.threads}: the {backend.name} backend runs at most {backend.max_threads} thread(s) "
                f"at once ({backend.thread_limit_reason}); using {backend.max_threads}.",
                RuntimeWarning,
                stacklevel=_caller_level(),
            )
        n = backend.max_threads
    n = max(1, min(int(n), B))
    bounds = np.linspace(0, B, n + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


class _Part:
    """The time loop over one group of sequences (all of them, or one thread's share)."""

    def __init__(self, problem: Problem, opts: Options, carry: tuple, rows: slice, observe: Any, bar: Any):
        self.problem, self.opts, self.carry, self.rows, self.observe, self.bar = problem, opts, carry, rows, observe, bar
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

    def run(self) -> _Part:
        problem, opts = self.problem, self.opts
        xp, dyn = problem.xp, problem.dynamics
        runner = problem.run_chunk
        if runner is None:

            def runner(carry, xs, start, length, ortho_every, *, qr=HOUSEHOLDER):
                return run_chunk(xp, dyn, carry, xs, start, length, ortho_every, qr=qr)

        T, carry, spread, fell_back, t = int(problem.steps), self.carry, None, False, 0
        while t < T:
            counted = t >= opts.warmup
            p = _interval(opts, spread, problem.dtype)
            qr = _engine(opts, problem, p, spread, fell_back)
            length = min(_chunk_length(opts, p, problem.chunk or DEFAULT_CHUNK), (T if counted else opts.warmup) - t)
            if spread is None and opts.ortho_every == "auto" and opts.history is None:
                length = min(length, AUTO_PROBE)
            xs = None if problem.inputs is None else problem.inputs[t : t + length, ...]
            _check_inputs_chunk(problem, xs, t, self.rows.start)
            before = carry
            carry, logsum = runner(carry, xs, t, length, p, qr=qr)
            flags = problem.to_numpy(carry[2]).astype(np.int64)
            if np.any(flags[:, QR_FAILED] >= 0):  # the Cholesky QR failed its check: redo the chunk with Householder
                qr, fell_back = QR("householder", qr.dtype), True
                self.fallbacks += 1
                carry, logsum = runner(before, xs, t, length, p, qr=qr)
                flags = problem.to_numpy(carry[2]).astype(np.int64)
            if not (_all_finite(problem, logsum) and _all_finite(problem, carry[0])) and _unexplained(
                problem, carry[0], logsum, flags
            ):  # an untracked runner met trouble: locate it with the reference loop
                again, _ = run_chunk(xp, dyn, before, xs, t, length, p, qr=qr)
                flags = problem.to_numpy(again[2]).astype(np.int64)
                carry = (carry[0], carry[1], again[2])
            self.flags = flags
            _raise_nonfinite(flags, p, self.rows.start)
            chunk_sum = problem.to_numpy(logsum).astype(np.float64)
            spread = _spread_rate(chunk_sum, length)
            if counted:
                self.intervals.add(p)
                self.engines.add(qr.describe())
                self.total += chunk_sum
                self.counted += length
                if self.observe is not None:
                    self.observe(t, length, chunk_sum, self.rows)
                if opts.differentiable:
                    self.total_xp = logsum if self.total_xp is None else self.total_xp + logsum
                if opts.history is not None:
                    self.records.append(_sorted_desc(self.total / self.counted).sum(axis=0))
                    self.record_steps.append(self.counted)
            if self.bar is not None:
                self.bar.update(length)
            t += length
        return self


def iterate(
    problem: Problem, opts: Options, backend: str, observe: Callable[..., None] | None = None
) -> Spectrum:
    """Run the QR iteration on ``problem`` and summarise it as a `Spectrum`.

    ``observe(start, length, logsum, rows)`` is called after each counted chunk with the
    chunk's sums of ``log|diag(R)|`` (numpy, in QR column order) of the sequences ``rows``
    (a slice of the batch: with several threads, each calls it for its own rows).
    """
    xp, d = problem.xp, int(problem.dynamics.dim)
    carry = initial_carry(problem, opts)
    B, k = int(carry[1].shape[0]), int(carry[1].shape[2])
    _check_finite_state_and_weights(problem)
    rows = _parts(problem, opts, B, k)
    bar = _progress_bar(opts.progress, int(problem.steps))
    try:
        if len(rows) == 1:
            parts = [_Part(problem, opts, carry, rows[0], observe, bar).run()]
        else:
            from concurrent.futures import ThreadPoolExecutor

            def part(i: int, r: slice) -> _Part:
                sub = dataclasses.replace(
                    problem, h0=problem.h0[r, ...], inputs=None if problem.inputs is None else problem.inputs[:, r, ...]
                )
                with problem.backend.worker_scope(problem):
                    return _Part(sub, opts, tuple(c[r, ...] for c in carry), r, observe, bar if i == 0 else None).run()

            with problem.backend.thread_scope(len(rows)), ThreadPoolExecutor(len(rows)) as pool:
                parts = list(pool.map(part, range(len(rows)), rows))
    finally:
        if bar is not None:
            bar.close()
    flags = np.concatenate([p.flags for p in parts])
    _warn(flags, opts.ortho_every)
    counted = parts[0].counted
    per_sequence = _sorted_desc(np.concatenate([p.total for p in parts]) / counted)
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
        stderr=_stderr(per_sequence),
        backend=backend,
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
