"""Covariant Lyapunov vectors (Ginelli's method) on the core's QR iteration: the entry point.

The forward pass is the same QR iteration as `lyapax.spectrum`, run by the backend's
runner, which also hands back each interval's ``R`` factor; it is an observer (`Factors`)
of the one driver loop, keeping each interval's ``R`` and the basis at the steps in ``at``
(with ``ortho_every="auto"`` the intervals vary and each ``R`` is kept with its length).
The backward iteration and the angles are `lyapax.ginelli`; storage beyond ``max_memory``
is `lyapax.spill`.

Time line (steps, ``p = ortho_every``)::

    0 ........ warmup | window (vectors at `at`) | transient ........ T
      Q converges       R's and Q(at) stored       R's stored, C converges backwards

Memory: the ``R`` factors of the window and the transient, ``(window +
transient) / p * B * k * k`` float64 numbers, plus ``len(at) * B * d * k`` for the
vectors; kept in memory up to ``max_memory`` bytes, else spilled to a file in
``spill`` (a folder), else refused with the numbers. Nothing else grows with ``T``.

Angles are in radians; exponents and growth rates in nats per step.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import array_api_compat.numpy as nxp
import numpy as np

from .algorithm import ZERO
from .errors import InputError, NumericalError
from .ginelli import angles_of, backward_iteration, backward_step, neighbour_angles, participation_ratio, subspace_angle
from .observers import Chunk, Observer
from .options import Options, parse
from .pipeline import compute
from .results import Spectrum
from .spill import storage
from .validation import check_int, number_of_exponents

# backward_step ... participation_ratio: re-exported from lyapax.ginelli, where they live
__all__ = [
    "CovariantVectors",
    "covariant_vectors",
    "backward_step",
    "neighbour_angles",
    "subspace_angle",
    "participation_ratio",
]


@dataclass(repr=False)
class CovariantVectors:
    """Covariant Lyapunov vectors of a model driven by a batch of input sequences.

    Attributes:
        vectors: ``(len(steps), B, d, k)`` unit covariant vectors at the counted ``steps``.
        growth_rates: ``(len(steps), B, k)`` their local growth rates there (nats/step,
            averaged over the QR interval that follows).
        angles: ``(len(steps), B, k - 1)`` angles between neighbouring vectors (radians).
        subspace_angles: ``(len(steps), B)`` smallest angle between the unstable subspace
            (vectors of positive exponents) and the stable one (radians); NaN when all
            ``k`` exponents have one sign.
        participation: ``(len(steps), B, k)`` participation ratio of each vector (1 to ``d``).
        exponents: ``(k,)`` time averages of the local growth rates over the window, mean
            over sequences (nats/step), in the vectors' order.
        per_sequence: ``(B, k)`` the same per sequence.
        steps: the counted steps (from the window's start) of the vectors.
        warmup, window, transient: the forward transient, the window, the backward transient (steps).
        convergence: largest ``1 - |cos|`` between two backward iterations from different
            random starts at the window's last step (small: converged).
        backend, dtype, state_dim, ortho_every, qr, intervals: as in `lyapax.Spectrum`.
    """

    vectors: np.ndarray
    growth_rates: np.ndarray
    angles: np.ndarray
    subspace_angles: np.ndarray
    participation: np.ndarray
    exponents: np.ndarray
    per_sequence: np.ndarray
    steps: np.ndarray
    warmup: int
    window: int
    transient: int
    convergence: float
    backend: str
    dtype: str
    state_dim: int
    ortho_every: int | str = 1
    qr: str = "householder"
    intervals: tuple[int, ...] = ()

    @property
    def k(self) -> int:
        return int(self.exponents.shape[0])

    def plot_angles(self, ax: Any = None, *, label: str | None = None) -> Any:
        """The distribution of the unstable-stable subspace angle (degrees; needs ``lyapax-rnn[plot]``)."""
        from .plotting import angles

        return angles(self, ax=ax, label=label)

    def __repr__(self) -> str:
        head = np.array2string(self.exponents[:6], precision=4, separator=", ")
        return (
            f"CovariantVectors(backend={self.backend!r}, k={self.k}, state_dim={self.state_dim}, "
            f"batch={self.per_sequence.shape[0]}, vectors at {len(self.steps)} steps, window={self.window})\n"
            f"  exponents (nats/step): {head}{' ...' if self.k > 6 else ''}\n"
            f"  convergence (1 - |cos| between two backward starts): {self.convergence:.2g}"
        )


def _counted_steps(at: Any, window: int, p: int) -> np.ndarray:
    if at is None:
        n = min(10, window // p)
        steps = np.unique(np.linspace(0, (window // p - 1) * p, max(n, 1)).astype(np.int64) // p * p)
        return steps
    try:
        steps = np.asarray(sorted({check_int("at", int(s) if isinstance(s, np.integer) else s, 0) for s in at}))
    except TypeError as exc:
        raise InputError(f"at: expected a sequence of counted steps (integers), got {at!r}.") from exc
    if steps.size == 0:
        raise InputError("at: pass at least one counted step.")
    if steps[-1] >= window:
        raise InputError(
            f"at: step {int(steps[-1])} is outside the window of {window} counted steps (0 .. {window - 1}); "
            "pass smaller steps, or longer inputs / a shorter warmup or transient."
        )
    if np.any(steps % p):
        raise InputError(f"at: steps must be multiples of ortho_every={p} (where the QR is taken), got {steps.tolist()}.")
    return steps


class Factors(Observer):
    """The forward pass of Ginelli's method as an observer of the driver loop: the ``R`` factor
    of every counted interval (with its first step and length) and the basis ``Q`` at the steps
    ``at``. One thread (with ``ortho_every="auto"`` each thread would choose its own intervals)."""

    factors = True
    single_thread = True

    def __init__(self, at: Any, warmup: int | None, transient: int | None, max_memory: int, spill: str | None):
        self.at, self.warmup, self.transient, self.max_memory, self.spill = at, warmup, transient, max_memory, spill

    def configure(self, problem: Any, opts: Options) -> Options:
        p = 1 if opts.ortho_every == "auto" else opts.ortho_every  # "auto": the driver cuts its chunks at `at`
        T, d, B = int(problem.steps), int(problem.dynamics.dim), int(problem.h0.shape[0])
        k = number_of_exponents(opts, d)
        warmup = T // 5 // p * p if self.warmup is None else self.warmup  # checked by lyapax.options
        transient = max(p, T // 5 // p * p) if self.transient is None else self.transient
        window = T - warmup - transient
        if window < p:
            raise InputError(
                f"warmup, transient: {warmup} + {transient} steps leave no window out of {T} steps; pass longer "
                "inputs (or steps) or shorter warmup/transient."
            )
        for name, value in (("warmup", warmup), ("transient", transient), ("window", window)):
            if value % p:
                raise InputError(
                    f"{name}: {value} steps is not a multiple of ortho_every={p}; QR steps must fall on its ends."
                )
        self.warmup, self.transient, self.window = warmup, transient, window
        self.at_steps = _counted_steps(self.at, window, p)
        n_all = (window + transient) // p  # intervals at most (with "auto": p = 1, the most there can be)
        self.R = storage((n_all, B, k, k), self.max_memory, self.spill, "R factors")
        self.Q = storage((len(self.at_steps), B, d, k), max(0, self.max_memory - self.R.nbytes), self.spill, "vectors")
        self.starts, self.lengths, self.count = np.zeros(n_all, np.int64), np.zeros(n_all, np.int64), 0
        self.saved = {warmup + int(s): i for i, s in enumerate(self.at_steps)}
        self.cuts = sorted({warmup, warmup + window, T, *self.saved})  # the window ends on a QR step
        self.to_numpy = problem.to_numpy
        return dataclasses.replace(opts, warmup=warmup)

    def limit(self, t: int, length: int, interval: int) -> int:
        # powers of two of QR intervals: compiled runners (JAX) compile one program per chunk length, and
        # the spans between the steps in `at` have arbitrary lengths (25 s of compilation for the ten
        # default vector steps of a 16-unit LSTM, measured); powers of two make log2(chunk / p) + 1 in all
        span = min(length, next(c for c in self.cuts if c > t) - t)
        n = span // interval
        return (1 << (n.bit_length() - 1)) * interval if n else span

    def before(self, t: int, carry: tuple, rows: slice) -> None:
        if t in self.saved:
            self.Q[self.saved[t]] = self.to_numpy(carry[1])

    def chunk(self, chunk: Chunk) -> None:
        flags = chunk.flags
        if np.any(flags[:, ZERO] >= 0):
            bad = np.nonzero(flags[:, ZERO] >= 0)[0]
            raise NumericalError(
                f"an exact zero on diag(R) in sequence(s) {bad.tolist()} at step(s) {flags[bad, ZERO].tolist()}: the "
                "tangent map is singular there, so covariant vectors (which need R^{-1}) are undefined; ask for "
                "fewer exponents (k) or avoid the singular states.",
                kind="zero", sequences=bad.tolist(), steps=flags[bad, ZERO].tolist(),
            )
        p, m, a = chunk.interval, int(chunk.factors.shape[0]), self.count
        lengths = np.minimum(p, chunk.length - p * np.arange(m))
        self.R[a : a + m] = chunk.factors
        self.lengths[a : a + m] = lengths
        self.starts[a : a + m] = chunk.start + np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.count += m

    def result(self, spectrum: Spectrum, opts: Options, tolerance: float) -> CovariantVectors:
        """The backward iteration (`lyapax.ginelli.backward_iteration`) over the stored factors."""
        starts, lengths = self.starts[: self.count], self.lengths[: self.count]
        n_window = int(np.sum(starts < self.warmup + self.window))
        wanted = {int(np.searchsorted(starts, t)): i for t, i in self.saved.items()}
        back = backward_iteration(self.R, self.count, lengths, n_window, wanted,
                                  None if opts.seed is None else opts.seed + 1)
        if not back.convergence <= tolerance:
            raise InputError(
                f"transient: the backward iteration did not converge in {self.transient} steps (two random "
                f"starts still differ by 1 - |cos| = {back.convergence:.2g} > tolerance {tolerance:g}); pass a "
                "longer transient (or longer inputs), or fewer exponents k (nearly equal exponents converge "
                "slowly)."
            )
        V = np.einsum("nbdi,nbij->nbdj", self.Q, back.C)
        per_sequence = back.growth_sum / self.window
        exponents = per_sequence.mean(axis=0)
        angles, sub = angles_of(back.C, exponents)
        return CovariantVectors(
            vectors=V,
            growth_rates=back.growth,
            angles=angles,
            subspace_angles=sub,
            participation=participation_ratio(nxp, V),
            exponents=exponents,
            per_sequence=per_sequence,
            steps=self.at_steps,
            warmup=self.warmup,
            window=self.window,
            transient=self.transient,
            convergence=back.convergence,
            backend=spectrum.backend,
            dtype=spectrum.dtype,
            state_dim=spectrum.state_dim,
            ortho_every=opts.ortho_every,
            qr=spectrum.qr,
            intervals=spectrum.intervals,
        )


def covariant_vectors(
    model: Any,
    inputs: Any = None,
    *,
    backend: str | None = None,
    k: int | None = None,
    warmup: int | None = None,
    ortho_every: int | str = 1,
    steps: int | None = None,
    h0: Any = None,
    dtype: Any = None,
    device: Any = None,
    seed: int | None = 0,
    basis: Any = None,
    progress: bool = False,
    time_major: bool | None = None,
    qr: str = "auto",
    qr_dtype: Any = "auto",
    at: Sequence[int] | None = None,
    transient: int | None = None,
    tolerance: float = 1e-6,
    max_memory: int = 2**31,
    spill: str | os.PathLike | None = None,
    **unknown: Any,
) -> CovariantVectors:
    """Covariant Lyapunov vectors, their local growth rates and angles (Ginelli's method).

    ``model``, ``inputs``, ``backend``, ``k``, ``ortho_every`` (``"auto"`` too), ``steps``, ``h0``,
    ``dtype``, ``device``, ``seed``, ``basis``, ``progress``, ``time_major``, ``qr`` and ``qr_dtype``
    are as in `lyapax.spectrum`; the engine and intervals used are in ``result.qr`` and
    ``result.intervals``. The forward pass runs on one thread.

    Args:
        warmup: forward transient, in steps, for the Gram-Schmidt vectors to converge
            (default: a fifth of the steps).
        at: counted steps (from the window's start, multiples of an integer ``ortho_every``) at
            which vectors are wanted; default: 10 steps spread over the window.
        transient: backward transient, in steps after the window, for the backward
            iteration to converge (default: a fifth of the steps).
        tolerance: largest accepted ``1 - |cos|`` between two backward iterations from
            different random starts, at the window's last step; beyond it the transient
            was too short and an error says so.
        max_memory: bytes the stored ``R`` factors and vectors may take in memory (with
            ``ortho_every="auto"`` room for one ``R`` per step is set aside).
        spill: a folder to keep them in a file when they need more than ``max_memory``
            (created if missing).

    Returns:
        A `CovariantVectors` (exponents and growth rates in nats/step, angles in radians).
    """
    opts, own = parse("lyapax.covariant_vectors", locals())
    forward = Factors(own["at"], opts.warmup, own["transient"], own["max_memory"], own["spill"])
    spectrum = compute(model, inputs, opts, [forward])
    return forward.result(spectrum, opts, own["tolerance"])
