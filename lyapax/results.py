"""The result of a spectrum computation: `Spectrum`."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["Spectrum", "check_step_duration", "kaplan_yorke_dimension", "sorted_descending", "standard_error"]

_UNITS = {"nats": 1.0, "bits": 1.0 / np.log(2.0)}


def check_step_duration(name: str, value: Any) -> float:
    """``value`` as a positive finite float (a step's duration or a time constant), else an `InputError`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InputError(f"{name}: expected a positive number (a duration), got {value!r} ({type(value).__name__}).")
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{name}: expected a positive finite duration, got {value!r}.")
    return float(value)


def _json_numbers(values: Any) -> Any:
    """A float or an array as plain Python, non-finite numbers as ``None`` (JSON ``null``)."""
    if np.ndim(values) == 0:
        v = float(values)
        return v if math.isfinite(v) else None
    return [_json_numbers(v) for v in values]


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
    map); ``dt`` is the duration of a step (a `lyapax.cells.RateNetwork`'s
    integration step; 1 for discrete-time models), `exponents_per_time` and
    `exponents_in` give rates per unit time and in bits.

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
        dt: the duration of one step in the model's time unit (1: per-step and per-time rates agree).
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
    dt: float = 1.0

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

    @property
    def exponents_per_time(self) -> np.ndarray:
        """Mean exponents in nats per unit time: ``exponents / dt`` (``exponents_in("nats")``)."""
        return self.exponents_in("nats")

    def exponents_in(self, unit: str = "bits", dt: float | None = None) -> np.ndarray:
        """Mean exponents in ``unit`` (``"nats"`` or ``"bits"``) per unit time: ``exponents / dt`` rescaled.

        ``dt`` is the duration of one step; ``None`` takes the spectrum's own `dt` (1 for
        discrete-time models, so per step); ``dt=1`` gives per-step rates for any model.
        """
        if not isinstance(unit, str) or unit not in _UNITS:
            raise InputError(f"unit: expected 'nats' or 'bits', got {unit!r}.")
        dt = self.dt if dt is None else check_step_duration("dt", dt)
        return self.exponents * _UNITS[unit] / dt

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python summary, exponents in nats/step; ``dt`` converts them to per unit time.

        Standard JSON (``json.dumps(..., allow_nan=False)`` accepts it): numbers that are not
        finite are written as ``None`` (``null``): the ``-inf`` exponent of a direction that
        collapsed, the NaN standard error of a single sequence, an infinite one. The arrays
        (`exponents`, `stderr`) keep them.
        """
        return {
            "backend": self.backend,
            "exponents": _json_numbers(self.exponents),
            "stderr": _json_numbers(self.stderr),
            "per_sequence": _json_numbers(self.per_sequence),
            "max_exponent": _json_numbers(self.max_exponent),
            "kaplan_yorke_dimension": _json_numbers(self.kaplan_yorke_dimension),
            "entropy": _json_numbers(self.entropy),
            "steps": self.steps,
            "warmup": self.warmup,
            "ortho_every": self.ortho_every,
            "intervals": list(self.intervals),
            "qr": self.qr,
            "threads": self.threads,
            "state_dim": self.state_dim,
            "dtype": self.dtype,
            "dt": self.dt,
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
            + ("" if self.dt == 1.0 else f"\n  per unit time (dt = {self.dt:g}): max exponent "
               f"{self.max_exponent / self.dt:.5g}, entropy {self.entropy / self.dt:.4g} nats/time unit")
        )

