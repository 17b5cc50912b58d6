"""Finite-time Lyapunov exponents: the growth rates over windows of ``W`` steps, and their spread.

The asymptotic exponents of `lyapax.spectrum` are the time averages of
these; their distribution over windows (and sequences) shows how much the
expansion rates fluctuate along a trajectory, which a single number hides.
The ``i``-th finite-time exponent of a window is the growth rate of the ``i``-th
Gram-Schmidt vector over that window, ``sum log R_ii / W``, in nats per step.

Memory does not grow with ``T``: running mean, variance, minimum and maximum
per sequence and exponent (Welford's update); every window is kept only with
``keep_windows=True``. The windows are an observer (`Windows`) of the driver loop that
`lyapax.spectrum` runs: the chunks end on window boundaries, so any ``ortho_every``
(``"auto"`` included) and any QR engine give the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError
from .observers import Chunk, Observer
from .options import Options, parse
from .pipeline import compute
from .results import Spectrum

__all__ = ["FiniteTimeExponents", "finite_time", "Windows"]


@dataclass(repr=False)
class FiniteTimeExponents:
    """Statistics of the finite-time exponents over windows of ``window`` steps (nats/step).

    Attributes:
        window: steps per window.
        count: whole windows per sequence.
        mean, variance, minimum, maximum: ``(B, k)`` over each sequence's windows.
        windows: ``(count, B, k)`` every window's exponents with ``keep_windows=True``, else ``None``.
        spectrum: the asymptotic estimate from the same run (`lyapax.Spectrum`).
    """

    window: int
    count: int
    mean: np.ndarray
    variance: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    windows: np.ndarray | None
    spectrum: Spectrum

    @property
    def pooled_mean(self) -> np.ndarray:
        """``(k,)`` mean over all windows of all sequences."""
        return self.mean.mean(axis=0)

    @property
    def pooled_variance(self) -> np.ndarray:
        """``(k,)`` variance over all windows of all sequences (within plus between sequences)."""
        n, B = self.count, self.mean.shape[0]
        if n * B < 2:
            return np.full(self.mean.shape[1], np.nan)
        within = self.variance * (n - 1) if n > 1 else np.zeros_like(self.mean)
        between = n * (self.mean - self.pooled_mean) ** 2
        return (within.sum(axis=0) + between.sum(axis=0)) / (n * B - 1)

    def plot(self, ax: Any = None, *, indices: Any = None) -> Any:
        """The distribution of each exponent over windows (needs ``lyapax-rnn[plot]``); returns the axes."""
        from .plotting import finite_time as plot_finite_time

        return plot_finite_time(self, ax=ax, indices=indices)

    def __repr__(self) -> str:
        k = self.mean.shape[1]
        m = np.array2string(self.pooled_mean[:6], precision=4, separator=", ")
        sd = np.array2string(np.sqrt(self.pooled_variance[:6]), precision=3, separator=", ")
        more = " ..." if k > 6 else ""
        return (
            f"FiniteTimeExponents(window={self.window}, windows={self.count} per sequence, "
            f"batch={self.mean.shape[0]}, k={k})\n  mean (nats/step): {m}{more}\n  std over windows: {sd}{more}"
        )


class Windows(Observer):
    """Welford's running statistics of each window's growth rates, per sequence (threads update
    disjoint rows, which `start` allocates before they run)."""

    def __init__(self, window: int, keep: bool):
        self.window, self.keep = window, keep

    def configure(self, problem: Any, opts: Options) -> Options:
        if problem.steps - opts.warmup < self.window:
            raise InputError(
                f"window: {self.window} steps is longer than the {problem.steps - opts.warmup} counted steps; pass a "
                "shorter window, longer inputs or a shorter warmup."
            )
        return opts

    def start(self, problem: Any, opts: Options, batch: int, k: int) -> None:
        self.warmup = opts.warmup
        self.n = np.zeros(batch, dtype=np.int64)
        self.mean, self.m2 = np.zeros((batch, k)), np.zeros((batch, k))
        self.lo, self.hi = np.full((batch, k), np.inf), np.full((batch, k), -np.inf)
        self.partial = np.zeros((batch, k))  # the sums of the window under way
        self.kept: dict[int, dict[int, np.ndarray]] = {}

    def limit(self, t: int, length: int, interval: int) -> int:
        if t < self.warmup:
            return length
        return min(length, self.window - (t - self.warmup) % self.window)

    def chunk(self, chunk: Chunk) -> None:
        rows = chunk.rows
        self.partial[rows] += chunk.logsum
        end = chunk.start + chunk.length - self.warmup
        if end % self.window:
            return
        x = self.partial[rows] / self.window
        self.partial[rows] = 0.0
        n = self.n[rows] = self.n[rows] + 1
        delta = x - self.mean[rows]
        self.mean[rows] += delta / n[:, None]
        self.m2[rows] += delta * (x - self.mean[rows])
        np.minimum(self.lo[rows], x, out=self.lo[rows])
        np.maximum(self.hi[rows], x, out=self.hi[rows])
        if self.keep:
            self.kept.setdefault(end, {})[rows.start] = x

    def result(self, spectrum: Spectrum) -> FiniteTimeExponents:
        n = int(self.n[0])
        windows = None
        if self.keep:
            windows = np.stack([np.concatenate([parts[r] for r in sorted(parts)]) for _, parts in sorted(self.kept.items())])
        return FiniteTimeExponents(
            window=self.window,
            count=n,
            mean=self.mean,
            variance=self.m2 / (n - 1) if n > 1 else np.full_like(self.mean, np.nan),
            minimum=self.lo,
            maximum=self.hi,
            windows=windows,
            spectrum=spectrum,
        )


def finite_time(
    model: Any,
    inputs: Any = None,
    *,
    window: int,
    backend: str | None = None,
    k: int | None = None,
    warmup: int = 0,
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
    threads: int | None = None,
    keep_windows: bool = False,
    **unknown: Any,
) -> FiniteTimeExponents:
    """Finite-time Lyapunov exponents over consecutive windows of ``window`` counted steps.

    ``model``, ``inputs``, ``backend``, ``k``, ``warmup``, ``ortho_every`` (``"auto"`` too), ``steps``,
    ``h0``, ``dtype``, ``device``, ``seed``, ``basis``, ``progress``, ``time_major``, ``qr``, ``qr_dtype``
    and ``threads`` are as in `lyapax.spectrum`; the engine used is in ``result.spectrum.qr``.

    Args:
        window: steps per window (a multiple of an integer ``ortho_every``; with ``"auto"`` every
            window ends on a QR step). Counted steps after the last whole window still count in
            ``spectrum`` but give no window.
        keep_windows: keep every window's exponents (memory grows with the steps).

    Returns:
        A `FiniteTimeExponents` (nats/step).
    """
    opts, own = parse("lyapax.finite_time", locals())
    windows = Windows(own["window"], own["keep_windows"])
    return windows.result(compute(model, inputs, opts, [windows]))
