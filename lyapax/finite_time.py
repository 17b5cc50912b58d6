"""Finite-time Lyapunov exponents: the growth rates over windows of ``W`` steps, and their spread.

The asymptotic exponents of `lyapax.spectrum` are the time averages of
these; their distribution over windows (and sequences) shows how much the
expansion rates fluctuate along a trajectory, which a single number hides.
The ``i``-th finite-time exponent of a window is the growth rate of the ``i``-th
Gram-Schmidt vector over that window, ``sum log R_ii / W``, in nats per step.

Memory does not grow with ``T``: running mean, variance, minimum and maximum
per sequence and exponent (Welford's update); every window is kept only with
``keep_windows=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .driver import _number_of_exponents, iterate
from .errors import InputError
from .registry import select_backend
from .results import Spectrum
from .validation import Options, check_int

__all__ = ["FiniteTimeExponents", "finite_time"]


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


def finite_time(
    model: Any,
    inputs: Any = None,
    *,
    window: int,
    k: int | None = None,
    warmup: int = 0,
    ortho_every: int = 1,
    steps: int | None = None,
    h0: Any = None,
    dtype: Any = None,
    device: Any = None,
    backend: str | None = None,
    seed: int | None = 0,
    time_major: bool | None = None,
    keep_windows: bool = False,
) -> FiniteTimeExponents:
    """Finite-time Lyapunov exponents over consecutive windows of ``window`` counted steps.

    ``model``, ``inputs``, ``k``, ``warmup``, ``ortho_every``, ``steps``, ``h0``, ``dtype``,
    ``device``, ``backend``, ``seed`` and ``time_major`` are as in `lyapax.spectrum`.

    Args:
        window: steps per window (a multiple of ``ortho_every``). Counted steps after the
            last whole window still count in ``spectrum`` but give no window.
        keep_windows: keep every window's exponents (memory grows with the steps).

    Returns:
        A `FiniteTimeExponents` (nats/step).
    """
    window = check_int("window", window, 1)
    opts = Options.from_arguments(
        k=k, warmup=warmup, ortho_every=ortho_every, steps=steps, h0=h0, dtype=dtype, device=device, seed=seed,
        time_major=time_major, chunk=window,
    )
    if window % opts.ortho_every:
        raise InputError(f"window: {window} steps is not a multiple of ortho_every={opts.ortho_every}.")
    if not isinstance(keep_windows, bool):
        raise InputError(f"keep_windows: expected True or False, got {keep_windows!r}.")
    stats: dict[str, Any] = {}

    def observe(start: int, length: int, logsum: np.ndarray, rows: slice) -> None:
        """Welford's update for the sequences ``rows`` (threads update disjoint rows of ``stats``,
        which is therefore filled before the threads start, not by the first of them)."""
        if length != window:
            return
        x = logsum / window
        n = stats["n"][rows] = stats["n"][rows] + 1
        delta = x - stats["mean"][rows]
        stats["mean"][rows] += delta / n[:, None]
        stats["m2"][rows] += delta * (x - stats["mean"][rows])
        np.minimum(stats["lo"][rows], x, out=stats["lo"][rows])
        np.maximum(stats["hi"][rows], x, out=stats["hi"][rows])
        if keep_windows:
            stats["kept"].setdefault(start, {})[rows.start] = x

    chosen = select_backend(model, inputs if inputs is not None else h0, backend)
    with chosen.session(model, inputs, opts) as problem:
        if problem.steps - opts.warmup < window:
            raise InputError(
                f"window: {window} steps is longer than the {problem.steps - opts.warmup} counted steps; pass a "
                "shorter window, longer inputs or a shorter warmup."
            )
        B, k = int(problem.h0.shape[0]), _number_of_exponents(opts, int(problem.dynamics.dim))
        stats.update(n=np.zeros(B, dtype=np.int64), mean=np.zeros((B, k)), m2=np.zeros((B, k)),
                     lo=np.full((B, k), np.inf), hi=np.full((B, k), -np.inf), kept={})
        spec = iterate(problem, opts, chosen.name, observe)
    n = int(stats["n"][0])
    windows = None
    if keep_windows:
        windows = np.stack([np.concatenate([parts[r] for r in sorted(parts)]) for _, parts in sorted(stats["kept"].items())])
    return FiniteTimeExponents(
        window=window,
        count=n,
        mean=stats["mean"],
        variance=stats["m2"] / (n - 1) if n > 1 else np.full_like(stats["mean"], np.nan),
        minimum=stats["lo"],
        maximum=stats["hi"],
        windows=windows,
        spectrum=spec,
    )
