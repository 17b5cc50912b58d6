"""Covariant Lyapunov vectors (Ginelli's method) on the core's QR iteration.

The forward pass is the same QR iteration as `lyapax.spectrum`, run by
the backend's runner, which also hands back each interval's ``R`` factor:

    Q_{t+1} R_{t+1} = J_t Q_t                 (Gram-Schmidt vectors Q, R upper triangular)

The covariant vectors are ``V_t = Q_t C_t`` with ``C_t`` upper triangular, found
by iterating backwards from a random ``C``:

    C_t = R_{t+1}^{-1} C_{t+1} N_t            (N_t normalises the columns)

Each normalisation is the inverse of a covariant vector's growth in that step:
``gamma_t = -log ||R_{t+1}^{-1} c_{t+1}||`` is its local (finite-time covariant)
exponent, whose time average is the Lyapunov exponent. The backward iteration
converges only after a stretch of steps (``transient``), which is why the
forward pass runs past the window where vectors are wanted.

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
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .algorithm import ZERO, run_chunk
from .errors import InputError, NumericalError
from .linalg import QR, solve_triangular
from .registry import select_backend
from .validation import Options, check_int

__all__ = [
    "CovariantVectors",
    "covariant_vectors",
    "backward_step",
    "neighbour_angles",
    "subspace_angle",
    "participation_ratio",
]


def backward_step(xp: Any, R: Any, C: Any) -> tuple[Any, Any]:
    """One step of the backward iteration: ``C_t`` (unit columns) and ``gamma_t (B, k)`` from ``R_{t+1}``, ``C_{t+1}``."""
    C = solve_triangular(xp, R, C)
    norms = xp.sqrt(xp.sum(C * C, axis=-2))
    return C / norms[..., None, :], -xp.log(norms)


def neighbour_angles(xp: Any, C: Any) -> Any:
    """Angles (radians, in ``[0, pi/2]``) between neighbouring covariant vectors ``(B, k - 1)``.

    ``V = Q C`` with ``Q`` orthonormal, so the angles of ``V``'s columns are those of ``C``'s.
    """
    cos = xp.abs(xp.sum(C[..., :, :-1] * C[..., :, 1:], axis=-2))
    return xp.acos(xp.clip(cos, 0.0, 1.0))


def subspace_angle(xp: Any, C: Any, m: int) -> Any:
    """Smallest principal angle (radians) between the span of the first ``m`` covariant vectors
    (the unstable subspace) and that of the others (the stable one), ``(B,)``."""
    U, _ = xp.linalg.qr(C[..., :, :m])
    S, _ = xp.linalg.qr(C[..., :, m:])
    s = xp.linalg.svdvals(xp.matmul(xp.matrix_transpose(U), S))
    return xp.acos(xp.clip(xp.max(s, axis=-1), 0.0, 1.0))


def participation_ratio(xp: Any, V: Any) -> Any:
    """Participation ratio ``(sum v_i^2)^2 / sum v_i^4`` of each column of ``V (..., d, k)``: from 1
    (one unit carries the vector) to ``d`` (spread evenly), as in Engelken, Wolf and Abbott."""
    sq = V * V
    return xp.sum(sq, axis=-2) ** 2 / xp.sum(sq * sq, axis=-2)


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
        backend, dtype, state_dim, ortho_every: as in `lyapax.Spectrum`.
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
    ortho_every: int = 1
    extra: dict = field(default_factory=dict)

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


def _pieces(cuts: list[int], p: int) -> list[tuple[int, int]]:
    """The spans between ``cuts`` (steps, multiples of ``p`` apart) cut into pieces of a power of two
    QR intervals. Compiled runners (JAX) compile one program per chunk length: spans of arbitrary
    lengths, as the steps in ``at`` make, cost a compilation each (25 s for the ten default vector
    steps of a 16-unit LSTM), powers of two at most ``log2(chunk / p) + 1`` in all."""
    out = []
    for start, stop in zip(cuts[:-1], cuts[1:]):
        n = (stop - start) // p
        while n:
            m = 1 << (n.bit_length() - 1)
            out.append((start, start + m * p))
            start, n = start + m * p, n - m
    return out


def _size(nbytes: int) -> str:
    """Bytes in the unit that shows them best (``512 KiB``, ``6.3 GiB``)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes} bytes"


def _storage(shape: tuple[int, ...], max_memory: int, spill: str | os.PathLike | None, what: str) -> np.ndarray:
    nbytes = int(np.prod(shape)) * 8
    if nbytes <= max_memory:
        return np.empty(shape)
    if spill is None:
        raise InputError(
            f"max_memory: the {what} need {_size(nbytes)}, more than max_memory = {_size(max_memory)}; "
            "pass spill='a/folder' to keep them in a file there, raise max_memory, or ask for fewer "
            "exponents (k), sequences, steps (window, transient) or vector steps (at)."
        )
    folder = os.fspath(spill)
    os.makedirs(folder, exist_ok=True)
    fh = tempfile.NamedTemporaryFile(dir=folder, prefix="lyapax-", suffix=".f64", delete=False)
    fh.close()
    arr = np.lib.format.open_memmap(fh.name, mode="w+", dtype=np.float64, shape=shape)
    os.unlink(fh.name)  # removed with the last reference to the map (POSIX)
    return arr


def covariant_vectors(
    model: Any,
    inputs: Any = None,
    *,
    k: int | None = None,
    steps: int | None = None,
    at: Sequence[int] | None = None,
    warmup: int | None = None,
    transient: int | None = None,
    ortho_every: int = 1,
    h0: Any = None,
    dtype: Any = None,
    device: Any = None,
    backend: str | None = None,
    seed: int | None = 0,
    time_major: bool | None = None,
    tolerance: float = 1e-6,
    max_memory: int = 2**31,
    spill: str | os.PathLike | None = None,
) -> CovariantVectors:
    """Covariant Lyapunov vectors, their local growth rates and angles (Ginelli's method).

    ``model``, ``inputs``, ``k``, ``steps``, ``h0``, ``dtype``, ``device``, ``backend``, ``seed``,
    ``time_major`` and ``ortho_every`` are as in `lyapax.spectrum`.

    Args:
        at: counted steps (from the window's start, multiples of ``ortho_every``) at which
            vectors are wanted; default: 10 steps spread over the window.
        warmup: forward transient, in steps, for the Gram-Schmidt vectors to converge
            (default: a fifth of the steps).
        transient: backward transient, in steps after the window, for the backward
            iteration to converge (default: a fifth of the steps).
        tolerance: largest accepted ``1 - |cos|`` between two backward iterations from
            different random starts, at the window's last step; beyond it the transient
            was too short and an error says so.
        max_memory: bytes the stored ``R`` factors and vectors may take in memory.
        spill: a folder to keep them in a file when they need more than ``max_memory``.

    Returns:
        A `CovariantVectors` (exponents and growth rates in nats/step, angles in radians).
    """
    opts = Options.from_arguments(
        k=k, ortho_every=ortho_every, steps=steps, h0=h0, dtype=dtype, device=device, seed=seed, time_major=time_major
    )
    max_memory = check_int("max_memory", max_memory, 0)
    if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
        raise InputError(f"tolerance: expected a number in (0, 1), got {tolerance!r}.")
    chosen = select_backend(model, inputs if inputs is not None else h0, backend)
    with chosen.session(model, inputs, opts) as problem:
        return _ginelli(problem, opts, chosen.name, at, warmup, transient, tolerance, max_memory, spill)


def _ginelli(problem, opts, backend, at, warmup, transient, tolerance, max_memory, spill) -> CovariantVectors:
    from .driver import _number_of_exponents, _raise_nonfinite, initial_carry

    xp, dyn, p = problem.xp, problem.dynamics, opts.ortho_every
    T, d, B = int(problem.steps), int(dyn.dim), int(problem.h0.shape[0])
    k = _number_of_exponents(opts, d)
    warmup = check_int("warmup", T // 5 // p * p if warmup is None else warmup, 0)
    transient = check_int("transient", max(p, T // 5 // p * p) if transient is None else transient, 1)
    window = T - warmup - transient
    if window < p:
        raise InputError(
            f"warmup, transient: {warmup} + {transient} steps leave no window out of {T} steps; pass longer inputs "
            "(or steps) or shorter warmup/transient."
        )
    for name, value in (("warmup", warmup), ("transient", transient), ("window", window)):
        if value % p:
            raise InputError(f"{name}: {value} steps is not a multiple of ortho_every={p}; QR steps must fall on its ends.")
    at_steps = _counted_steps(at, window, p)
    n_window, n_all = window // p, (window + transient) // p
    R_store = _storage((n_all, B, k, k), max_memory, spill, "R factors")
    Q_store = _storage((len(at_steps), B, d, k), max(0, max_memory - R_store.nbytes), spill, "vectors")

    # forward: warm-up, then the window and the transient with R factors kept
    carry = initial_carry(problem, dataclasses.replace(opts, warmup=0))
    runner = problem.run_chunk
    qr = QR("householder", problem.qr_dtype)

    def run(carry: Any, xs: Any, start: int, n: int, factors: bool) -> tuple:
        if runner is not None and (not factors or getattr(runner, "factors", False)):
            return runner(carry, xs, start, n, p, qr=qr, factors=True) if factors else runner(carry, xs, start, n, p, qr=qr)
        with np.errstate(all="ignore"):
            return run_chunk(xp, dyn, carry, xs, start, n, p, qr=qr, factors=factors)

    chunk = p * (1 << (max(1, 256 // p).bit_length() - 1))
    cuts = {0, warmup, T, *(warmup + int(s) for s in at_steps)} | set(range(0, warmup, chunk)) | set(range(warmup, T, chunk))
    saved = {warmup + int(s): i for i, s in enumerate(at_steps)}
    for start, stop in _pieces(sorted(cuts), p):
        xs = None if problem.inputs is None else problem.inputs[start:stop, ...]
        if start in saved:
            Q_store[saved[start]] = problem.to_numpy(carry[1])
        if start < warmup:
            carry, _ = run(carry, xs, start, stop - start, False)
        else:
            carry, _, Rs = run(carry, xs, start, stop - start, True)
            a = (start - warmup) // p
            R_store[a : a + (stop - start) // p] = problem.to_numpy(Rs)
        flags = problem.to_numpy(carry[2]).astype(np.int64)
        _raise_nonfinite(flags, p)
        if np.any(flags[:, ZERO] >= 0):
            bad = np.nonzero(flags[:, ZERO] >= 0)[0]
            raise NumericalError(
                f"an exact zero on diag(R) in sequence(s) {bad.tolist()} at step(s) {flags[bad, ZERO].tolist()}: the "
                "tangent map is singular there, so covariant vectors (which need R^{-1}) are undefined; ask for "
                "fewer exponents (k) or avoid the singular states.",
                kind="zero", sequences=bad.tolist(), steps=flags[bad, ZERO].tolist(),
            )

    # backward: two random upper-triangular starts, iterated together (the second checks convergence)
    import array_api_compat.numpy as nxp

    rng = np.random.default_rng(None if opts.seed is None else opts.seed + 1)
    C = np.triu(rng.standard_normal((2 * B, k, k)))
    C /= np.linalg.norm(C, axis=-2, keepdims=True)
    growth_sum = np.zeros((B, k))
    out_C = np.empty((len(at_steps), B, k, k))
    out_g = np.empty((len(at_steps), B, k))
    where = {int(s) // p: i for i, s in enumerate(at_steps)}
    convergence = np.nan
    for j in range(n_all - 1, -1, -1):
        R = np.asarray(R_store[j], dtype=np.float64)
        with np.errstate(all="ignore"):
            C, g = backward_step(nxp, np.concatenate([R, R]), C)
        if j < n_window:
            growth_sum += g[:B]
            if j == n_window - 1:
                cos = np.abs(np.sum(C[:B] * C[B:], axis=-2))
                convergence = float(np.max(1.0 - cos))
                if not convergence <= tolerance:
                    raise InputError(
                        f"transient: the backward iteration did not converge in {transient} steps (two random starts "
                        f"still differ by 1 - |cos| = {convergence:.2g} > tolerance {tolerance:g}); pass a longer "
                        "transient (or longer inputs), or fewer exponents k (nearly equal exponents converge slowly)."
                    )
            if j in where:
                out_C[where[j]] = C[:B]
                out_g[where[j]] = g[:B] / p
    V = np.einsum("nbdi,nbij->nbdj", Q_store, out_C)
    per_sequence = growth_sum / window
    exponents = per_sequence.mean(axis=0)
    m = int(np.sum(exponents > 0))
    if 0 < m < k:
        sub = np.stack([subspace_angle(nxp, c, m) for c in out_C])
    else:
        sub = np.full((len(at_steps), B), np.nan)
    return CovariantVectors(
        vectors=V,
        growth_rates=out_g,
        angles=neighbour_angles(nxp, out_C),
        subspace_angles=sub,
        participation=participation_ratio(nxp, V),
        exponents=exponents,
        per_sequence=per_sequence,
        steps=at_steps,
        warmup=warmup,
        window=window,
        transient=transient,
        convergence=convergence,
        backend=backend,
        dtype=problem.dtype,
        state_dim=d,
        ortho_every=p,
    )
