"""The result of a spectrum computation: `Spectrum`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["Spectrum", "kaplan_yorke_dimension", "sorted_descending", "standard_error"]

_UNITS = {"nats": 1.0, "bits": 1.0 / np.log(2.0)}


def sorted_descending(per_sequence: np.ndarray) -> np.ndarray:
    """Each sequence's exponents in descending order (``-inf`` last)."""
    return -np.sort(-per_sequence, axis=1)


def standard_error(per_sequence: np.ndarray) -> np.ndarray:
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


def kaplan_yorke_dimension(exponents: np.ndarray) -> float:
    """Kaplan-Yorke (Lyapunov) dimension of a spectrum (any order; sorted here).

    ``j + S_j / |lambda_{j+1}|`` with ``j`` the largest count of leading
    exponents whose sum ``S_j`` is non-negative; 0 if the largest is negative,
    ``k`` if all partial sums are non-negative (a lower bound when ``k < d``).
    """
    lam = np.sort(np.asarray(exponents, dtype=np.float64))[::-1]
    sums = np.cumsum(lam)
    if lam.size == 0 or lam[0] < 0:
        return 0.0
    j = int(np.nonzero(sums >= 0)[0][-1]) + 1
    if j == lam.size:
        return float(j)
    return float(j + sums[j - 1] / abs(lam[j]))


@dataclass(repr=False)
class Spectrum:
    """Lyapunov spectrum of a model driven by a batch of input sequences.

    All exponents are in nats per step (natural log, per time step of the
    map); see `exponents_in` for bits and per-unit-time rates.

    Attributes:
        exponents: ``(k,)`` mean over sequences of the per-sequence spectra, descending, nats/step.
        per_sequence: ``(B, k)`` exponents of each input sequence, each row descending, nats/step.
        stderr: ``(k,)`` standard error of the mean over sequences (NaN when B = 1).
        history: ``(records, k)`` running estimate (mean over sequences) after
            each ``history`` counted steps, or ``None``.
        history_steps: ``(records,)`` counted steps behind each history row, or ``None``.
        backend: name of the backend that computed it.
        steps: counted time steps (warm-up excluded).
        warmup: warm-up steps (not counted).
        ortho_every: tangent maps applied between QR steps.
        state_dim: state dimension ``d`` of the model.
        dtype: compute dtype.
        raw: with ``differentiable=True``, the per-sequence exponents ``(B, k)``
            as the framework's tensor, still attached to the model's
            parameters (each row descending, as ``per_sequence``); else ``None``.
        qr: the re-orthonormalisation engine(s) used, e.g. ``"householder (float64)"``: the
            method and the dtype of the QR when it differs from ``dtype``.
        intervals: the QR intervals used (``ortho_every``; several with ``"auto"``).
        threads: the threads that shared the batch.
    """

    exponents: np.ndarray
    per_sequence: np.ndarray
    stderr: np.ndarray
    backend: str
    steps: int
    warmup: int
    ortho_every: int | str
    state_dim: int
    dtype: str = "float64"
    history: np.ndarray | None = None
    history_steps: np.ndarray | None = None
    raw: Any = field(default=None, compare=False)
    qr: str = "householder"
    intervals: tuple[int, ...] = ()
    threads: int = 1

    @property
    def k(self) -> int:
        """Number of exponents."""
        return int(self.exponents.shape[0])

    @property
    def batch(self) -> int:
        """Number of input sequences."""
        return int(self.per_sequence.shape[0])

    @property
    def max_exponent(self) -> float:
        """Largest exponent, nats/step."""
        return float(self.exponents[0])

    @property
    def kaplan_yorke_dimension(self) -> float:
        """Kaplan-Yorke dimension of the mean spectrum (a lower bound if ``k < state_dim``)."""
        return kaplan_yorke_dimension(self.exponents)

    @property
    def entropy(self) -> float:
        """Sum of the positive exponents (Pesin bound on the KS entropy), nats/step."""
        return float(np.sum(self.exponents[self.exponents > 0]))

    def exponents_in(self, unit: str = "bits", dt: float = 1.0) -> np.ndarray:
        """Mean exponents in ``unit`` (``"nats"`` or ``"bits"``) per ``dt`` time units per step.

        ``dt`` is the duration of one step; ``dt=1`` keeps per-step rates.
        """
        if unit not in _UNITS:
            raise InputError(f"unit: expected 'nats' or 'bits', got {unit!r}.")
        if not dt > 0:
            raise InputError(f"dt: expected a positive step duration, got {dt!r}.")
        return self.exponents * _UNITS[unit] / dt

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python summary (JSON-serialisable), exponents in nats/step."""
        return {
            "backend": self.backend,
            "exponents": self.exponents.tolist(),
            "stderr": self.stderr.tolist(),
            "per_sequence": self.per_sequence.tolist(),
            "max_exponent": self.max_exponent,
            "kaplan_yorke_dimension": self.kaplan_yorke_dimension,
            "entropy": self.entropy,
            "steps": self.steps,
            "warmup": self.warmup,
            "ortho_every": self.ortho_every,
            "intervals": list(self.intervals),
            "qr": self.qr,
            "threads": self.threads,
            "state_dim": self.state_dim,
            "dtype": self.dtype,
            "units": "nats/step",
        }

    def plot(self, ax: Any = None, *, label: str | None = None) -> Any:
        """Plot the spectrum (index vs exponent, error bars = stderr); returns the axes.

        With ``history``, use `plot_history` for the convergence. Needs
        matplotlib (``pip install "lyapax-rnn[plot]"``).
        """
        from . import plotting

        return plotting.spectrum(self, ax, label=label)

    def plot_history(self, ax: Any = None, *, max_lines: int = 10) -> Any:
        """Plot the running estimates of the leading ``max_lines`` exponents against counted steps."""
        from . import plotting

        return plotting.spectrum_history(self, ax, max_lines=max_lines)

    def __repr__(self) -> str:
        head = np.array2string(self.exponents[:6], precision=4, separator=", ")
        more = f" ... ({self.k} in all)" if self.k > 6 else ""
        err = "n/a (1 sequence)" if self.batch < 2 else f"{float(np.max(self.stderr)):.2g}"
        return (
            f"Spectrum(backend={self.backend!r}, k={self.k}, state_dim={self.state_dim}, batch={self.batch}, "
            f"steps={self.steps}, warmup={self.warmup}, dtype={self.dtype}, qr={self.qr!r})\n"
            f"  exponents (nats/step): {head}{more}\n"
            f"  max exponent: {self.max_exponent:.5g}  max stderr: {err}\n"
            f"  Kaplan-Yorke dimension: {self.kaplan_yorke_dimension:.4g}  entropy: {self.entropy:.4g} nats/step"
        )

