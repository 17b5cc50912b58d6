"""The rule that marks a trial unstable from its early spectrum (numpy only, no framework).

`InstabilityRule` looks at the leading Lyapunov exponent λ1 (nats/step) of a
trial's network at one early epoch and calls the trial unstable when λ1 exceeds a
threshold, or when no finite spectrum could be computed there (the state blew up).
The Optuna pruner (`lyapax.integrations.optuna`) and the Ray Tune stopper
(`lyapax.integrations.ray_tune`) both ask this one object, and both keep the
`Verdict` it returns, which says why.

Why a fixed threshold and not a predictor fitted on the trials completed so far:
the early λ1 separates the untrainable, chaotic networks from the rest, but among
stable networks it barely orders the final loss (docs/readout.md: ρ = -0.12 among
the 16 quick-run networks with λ1 < 0, against -0.91 for the learning rate). In a
replay on 100 trials of a TPE search (``benchmarks/bench_pruning.py``), a k-nearest
neighbour predictor of the final loss from λ1, pruning trials predicted worse than
the median, cut 57 trials, 14 of them among their search's 5 best, and the best trial
in 3 of 5 searches; the threshold (0.05 nats/step at epoch 1) cut 12, none among the 5 best.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["InstabilityRule", "Verdict", "leading_exponent", "check_epoch"]


def _number(value: Any, what: str) -> float | None:
    """``value`` as a float (NaN/Inf: ``None``), or an `InputError` naming what it was."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, numbers.Real):
        raise InputError(f"spectrum: {what} must be a number (nats/step) or null, got {value!r:.60} "
                         f"({type(value).__name__}).")
    v = float(value)
    return v if math.isfinite(v) else None


def leading_exponent(spectrum: Any) -> float | None:
    """λ1 (nats/step) of a spectrum given in any of the forms lyapax produces, ``None`` if it is missing.

    Accepts a `lyapax.Spectrum` or `lyapax.MonitorRecord` (anything
    with ``max_exponent``), a record dict of the readout (``{"max_exponent": ...}``,
    ``{"exponents": [...]}``, or ``{"error": ...}`` for a spectrum that could not be
    computed), a number, or ``None``. NaN/Inf count as missing; so does a spectrum with a
    ``null`` or NaN exponent (the readout writes NaN as ``null``), whose largest exponent is
    unknown. An exponent of ``-inf`` (a collapsed direction) is a value. Anything else
    (a string, a boolean) is an `InputError`.
    """
    if spectrum is None:
        return None
    if isinstance(spectrum, Mapping):
        if "max_exponent" in spectrum:
            value = spectrum["max_exponent"]
            return None if value is None else _number(value, "'max_exponent'")
        elif spectrum.get("exponents") is not None:
            exps = spectrum["exponents"]
            if isinstance(exps, (str, bytes, Mapping)) or not isinstance(exps, Iterable):
                raise InputError(f"spectrum: 'exponents' must be a list of numbers (nats/step), got "
                                 f"{type(exps).__name__}.")
            exps = list(np.ravel(exps)) if isinstance(exps, np.ndarray) else list(exps)
            if not exps:
                raise InputError("spectrum: 'exponents' is empty; give at least one exponent, or 'error' for a "
                                 "spectrum that could not be computed.")
            values = []
            for v in exps:
                f = None if v is None else _number(v, "each exponent")
                if f is None and v is not None and float(v) == -math.inf:
                    f = -math.inf  # a collapsed direction: a value, not a missing one
                if f is None:  # null, NaN or +inf: λ1 unknown
                    return None
                values.append(f)
            value = max(values)
            return value if math.isfinite(value) else None
        elif "error" in spectrum:
            return None
        else:
            raise InputError(f"spectrum: a dict needs 'max_exponent' or 'exponents', got keys {sorted(map(str, spectrum))}.")
    else:
        value = getattr(spectrum, "max_exponent", spectrum)
    if value is None:
        return None
    try:
        return _number(value, "λ1")
    except InputError:
        raise InputError(
            f"spectrum: expected a lyapax Spectrum, MonitorRecord, record dict or a number (λ1, nats/step), "
            f"got {type(spectrum).__name__}."
        ) from None


def check_epoch(name: str, value: Any, what: str) -> int:
    """An epoch count or index: an int >= 0 (numpy integers accepted), else an `InputError` saying ``what`` it is."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
        raise InputError(f"{name}: expected {what}, got {value!r} ({type(value).__name__}).")
    return int(value)


@dataclass(frozen=True)
class Verdict:
    """What an `InstabilityRule` decided for one trial, and why.

    Attributes:
        prune: whether the trial is unstable and should be stopped.
        epoch: the epoch whose spectrum decided.
        max_exponent: λ1 at that epoch (nats/step), ``None`` if no finite spectrum.
        threshold: the rule's threshold (nats/step).
        reason: one sentence, for logs and trial attributes.
    """

    prune: bool
    epoch: int
    max_exponent: float | None
    threshold: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (for Optuna user attributes, Ray Tune results, logs)."""
        return {"prune": self.prune, "epoch": self.epoch, "max_exponent": self.max_exponent,
                "threshold": self.threshold, "reason": self.reason}


@dataclass(frozen=True)
class InstabilityRule:
    """A trial is unstable when its leading exponent λ1 at ``epoch`` exceeds ``threshold``.

    Args:
        threshold: λ1 above this (nats/step) marks the network chaotic. Default 0.05: zero
            (the edge of chaos) plus a margin, because the networks that train best sit
            just below zero, where the estimate's noise (standard error about 0.008
            nats/step with the readout's probe) would push some above it; on the quick
            study's grid the best networks had λ1 in [-0.07, 0.00] after epoch 1 and the
            untrainable ones +0.09 and more (see docs/readout.md for other values).
        epoch: the epoch whose spectrum decides (0: at initialisation, before any update;
            default 1, after one epoch, as in the readout study).
        prune_missing: also prune when the spectrum at ``epoch`` could not be computed
            (NaN/Inf states, a diverged loss), the most unstable case of all. Default True.

    Raises:
        InputError: ``epoch`` is negative or ``threshold`` is not a finite number.
    """

    threshold: float = 0.05
    epoch: int = 1
    prune_missing: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "epoch", check_epoch("epoch", self.epoch, "the epoch (an int >= 0, 0 = "
                                                      "initialisation) whose spectrum decides"))
        ok = isinstance(self.threshold, numbers.Real) and not isinstance(self.threshold, (bool, np.bool_))
        if not ok or not math.isfinite(float(self.threshold)):
            raise InputError(f"threshold: expected a finite number of nats/step (e.g. 0.0), got {self.threshold!r}.")
        object.__setattr__(self, "threshold", float(self.threshold))
        if not isinstance(self.prune_missing, (bool, np.bool_)):
            raise InputError(f"prune_missing: expected True or False, got {self.prune_missing!r}.")
        object.__setattr__(self, "prune_missing", bool(self.prune_missing))

    def describe(self) -> str:
        """The rule in words."""
        return f"prune when λ1 > {self.threshold:g} nats/step at epoch {self.epoch}"

    def check_epochs(self, epochs: int | None, *, option: str = "epoch") -> None:
        """Raise `InputError` when a trial of ``epochs`` epochs never reaches the rule's epoch."""
        if epochs is not None:
            epochs = check_epoch("epochs", epochs, "the trial's number of epochs (an int >= 0)")
        if epochs is not None and self.epoch > int(epochs):
            raise InputError(
                f"{option}: the rule decides on the spectrum at epoch {self.epoch}, but the trial trains only "
                f"{int(epochs)} epochs, so that epoch never comes; set InstabilityRule(epoch=...) between 0 and "
                f"{int(epochs)} (0 = at initialisation)."
            )

    def decide(
        self,
        spectra: Mapping[int, Any],
        *,
        epochs: int | None = None,
        finished: bool = False,
        option: str = "epoch",
    ) -> Verdict | None:
        """The verdict from the spectra a trial has reported so far, or ``None`` while its epoch has not come.

        Args:
            spectra: epoch -> spectrum (any form `leading_exponent` takes) of one trial.
            epochs: the trial's number of epochs, when known (checked against ``epoch``).
            finished: the trial has ended; a missing spectrum at ``epoch`` is then an error.
            option: how the caller names the rule's epoch in error messages.

        Raises:
            InputError: the rule's epoch never comes: beyond ``epochs``, skipped (spectra
                were reported at later epochs but not at it), or the trial finished without it.
        """
        if not isinstance(spectra, Mapping) or any(
                isinstance(e, (bool, np.bool_)) or not isinstance(e, numbers.Integral) for e in spectra):
            raise InputError(f"spectra: expected a mapping epoch (int) -> spectrum, got {spectra!r:.80}.")
        self.check_epochs(epochs, option=option)
        if self.epoch not in spectra:
            later = sorted(int(e) for e in spectra if int(e) > self.epoch)
            if later or finished:
                seen = sorted(int(e) for e in spectra)
                raise InputError(
                    f"{option}: the rule decides on the spectrum at epoch {self.epoch}, but the trial "
                    f"{'ended' if finished and not later else 'went on'} without one there (spectra at epochs "
                    f"{seen}); report the spectrum at epoch {self.epoch} (e.g. a Monitor with every=1) or set "
                    f"InstabilityRule(epoch=...) to an epoch you report."
                )
            return None
        lam = leading_exponent(spectra[self.epoch])
        if lam is None:
            return Verdict(self.prune_missing, self.epoch, None, float(self.threshold),
                           f"no finite spectrum at epoch {self.epoch} (the state or loss blew up)"
                           + ("" if self.prune_missing else "; kept because prune_missing=False"))
        if lam > self.threshold:
            return Verdict(True, self.epoch, lam, float(self.threshold),
                           f"λ1 = {lam:.4g} nats/step at epoch {self.epoch} > threshold {self.threshold:g}: "
                           "chaotic, expected to train badly")
        return Verdict(False, self.epoch, lam, float(self.threshold),
                       f"λ1 = {lam:.4g} nats/step at epoch {self.epoch} <= threshold {self.threshold:g}: stable")
