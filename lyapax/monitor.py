"""Spectra during training: `Monitor`, framework-neutral.

A `Monitor` holds a fixed probe batch of input sequences and computes
the Lyapunov spectrum of a model with `lyapax.spectrum` every ``every``
steps (or epochs: a "step" is whatever counter you pass), keeping a tidy
record exportable to numpy, pandas and JSON, and plottable. It never imports
a framework itself: the probe batch and the model are handed to
`lyapax.spectrum`, which picks the backend, and which never changes the
model (parameters, training mode, RNG state all stay as they were).

Exponents are in nats per step of the recurrent map throughout.

Example::

    monitor = lyapax.Monitor(probe, every=1, k=16)      # probe: (batch, time, features)
    for epoch in range(epochs):
        train_one_epoch(model)
        monitor(model.rnn, step=epoch)                  # computes when epoch % every == 0
    monitor.to_pandas()                                  # one row per computation
    monitor.plot_trajectories()
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError
from .files import atomic_write_text
from .results import Spectrum, kaplan_yorke_dimension
from .validation import Options, check_int

__all__ = ["Monitor", "MonitorRecord"]

_RESERVED = ("inputs", "model")


@dataclass(frozen=True)
class MonitorRecord:
    """One spectrum computation of a `Monitor` (exponents in nats/step).

    Attributes:
        step: the training step or epoch at which it was computed.
        exponents: ``(k,)`` mean exponents, descending.
        stderr: ``(k,)`` standard error over the probe sequences (NaN for one sequence).
        max_exponent: largest exponent.
        kaplan_yorke_dimension: Kaplan-Yorke dimension of ``exponents`` (a lower
            bound when ``k`` is less than the state dimension).
        entropy: sum of the positive exponents (nats/step).
        seconds: wall time of the computation.
        backend: backend that computed it.
    """

    step: int
    exponents: np.ndarray
    stderr: np.ndarray
    max_exponent: float
    kaplan_yorke_dimension: float
    entropy: float
    seconds: float
    backend: str

    @classmethod
    def from_spectrum(cls, step: int, spec: Spectrum, seconds: float) -> MonitorRecord:
        return cls(
            step=int(step),
            exponents=np.asarray(spec.exponents, dtype=np.float64).copy(),
            stderr=np.asarray(spec.stderr, dtype=np.float64).copy(),
            max_exponent=float(spec.max_exponent),
            kaplan_yorke_dimension=float(spec.kaplan_yorke_dimension),
            entropy=float(spec.entropy),
            seconds=float(seconds),
            backend=str(spec.backend),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN stderr written as ``null``)."""
        return {
            "step": self.step,
            "exponents": self.exponents.tolist(),
            "stderr": [None if not np.isfinite(v) else float(v) for v in self.stderr],
            "max_exponent": self.max_exponent,
            "kaplan_yorke_dimension": self.kaplan_yorke_dimension,
            "entropy": self.entropy,
            "seconds": self.seconds,
            "backend": self.backend,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MonitorRecord:
        exps = np.asarray(d["exponents"], dtype=np.float64)
        stderr = np.asarray([np.nan if v is None else v for v in d.get("stderr", [None] * exps.size)], dtype=np.float64)
        return cls(
            step=int(d["step"]),
            exponents=exps,
            stderr=stderr,
            max_exponent=float(d.get("max_exponent", exps[0])),
            kaplan_yorke_dimension=float(d.get("kaplan_yorke_dimension", kaplan_yorke_dimension(exps))),
            entropy=float(d.get("entropy", exps[exps > 0].sum())),
            seconds=float(d.get("seconds", float("nan"))),
            backend=str(d.get("backend", "")),
        )


class Monitor:
    """Track the Lyapunov spectrum of a model during training on a fixed probe batch.

    Args:
        probe: input sequences ``(batch, time, features)``, batch-first, as
            numpy arrays or the framework's tensors (they are passed to
            `lyapax.spectrum` unchanged). Keep it small: the
            overhead of one computation scales with ``batch * time * k``.
        every: compute when ``step % every == 0`` (steps or epochs, whatever
            counter you pass).
        k: number of exponents, at most the state dimension (default: the
            leading 16, or all of a smaller state); ``None``: all.
        warmup: transient steps of the probe not counted (see `lyapax.spectrum`);
            default: the first fifth of the probe's steps, so the state has forgotten
            its arbitrary start.
        backend: backend name, or ``None`` to pick it from the model's type.
        select: optional function ``model -> object`` giving what the
            spectrum is computed of, e.g. ``lambda m: m.rnn`` when you pass the
            whole network.
        on_record: optional callback ``f(record, spectrum)`` after each
            computation, e.g. `lyapax.integrations.tensorboard.TensorBoardLogger` or
            `lyapax.integrations.wandb.WandbLogger`.
        **spectrum_kwargs: any other keyword of `lyapax.spectrum`
            (``ortho_every``, ``dtype``, ``device``, ``seed``, ``h0`` ...).

    Call ``monitor(model, step=s)`` or ``monitor.update(model, s)`` in the
    training loop; it returns the `lyapax.Spectrum` when it computed
    one, else ``None``. Behind a trainable embedding, pass this step's embedded
    probe each time: ``monitor(model.rnn, step, inputs=model.embedding(tokens))``. Without ``step``, the monitor counts its own calls
    (0, 1, 2 ...). Records are kept in `records`.
    """

    def __init__(
        self,
        probe: Any,
        *,
        every: int = 1,
        k: int | None = 16,
        warmup: int | None = None,
        backend: str | None = None,
        select: Callable[[Any], Any] | None = None,
        on_record: Callable[[MonitorRecord, Spectrum], Any] | None = None,
        **spectrum_kwargs: Any,
    ) -> None:
        if probe is None:
            raise InputError("probe: pass a fixed batch of input sequences (batch, time, features).")
        shape = getattr(probe, "shape", None)
        if shape is None or len(shape) != 3:
            raise InputError(f"probe: expected a 3-D batch (batch, time, features), got shape {shape}.{_probe_hint(probe)}")
        for name in _RESERVED:
            if name in spectrum_kwargs:
                raise InputError(f"{name}: the Monitor passes it itself; give the probe batch as `probe`.")
        if "max_k" in spectrum_kwargs or "chunk" in spectrum_kwargs:
            raise InputError("spectrum_kwargs: max_k and chunk are not options of lyapax.spectrum.")
        self.every = check_int("every", every, 1)
        steps = int(shape[0 if spectrum_kwargs.get("time_major") else 1])
        if warmup is None:
            warmup = steps // 5
        # the same checks, and the same messages, as lyapax.spectrum; k is an upper bound here
        self.options = Options.from_arguments(max_k=check_int("k", k, 1, allow_none=True), warmup=warmup, **spectrum_kwargs)
        self.probe = probe
        self.k = self.options.max_k
        self.warmup = self.options.warmup
        self.backend = backend
        self.select = select
        self.on_record = on_record
        self.spectrum_kwargs = dict(spectrum_kwargs)
        self.records: list[MonitorRecord] = []
        self._calls = 0

    # -- computing -----------------------------------------------------------------

    def due(self, step: int) -> bool:
        """Whether a computation is due at ``step`` (``step % every == 0``)."""
        return int(step) % self.every == 0

    def compute(self, model: Any, step: int | None = None, *, inputs: Any = None) -> Spectrum:
        """Compute and record the spectrum now, whatever the step (``step`` defaults to the call count).

        ``inputs`` replaces the probe for this computation (e.g. the probe passed
        through the network's embedding, for the recurrent layer behind it).
        """
        from .pipeline import compute

        step = self._calls if step is None else int(step)
        target = self.select(model) if self.select is not None else model
        t0 = time.perf_counter()
        spec = compute(target, self.probe if inputs is None else inputs, self.options, self.backend)
        seconds = time.perf_counter() - t0
        rec = MonitorRecord.from_spectrum(step, spec, seconds)
        self.records.append(rec)
        if self.on_record is not None:
            self.on_record(rec, spec)
        return spec

    def update(self, model: Any, step: int | None = None, *, force: bool = False, inputs: Any = None) -> Spectrum | None:
        """Compute the spectrum if ``step`` is due (or ``force``); returns it, else ``None``."""
        s = self._calls if step is None else int(step)
        self._calls += 1
        if force or self.due(s):
            return self.compute(model, s, inputs=inputs)
        return None

    __call__ = update

    # -- the record ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.records)

    @property
    def steps(self) -> np.ndarray:
        """``(n,)`` steps of the records."""
        return np.asarray([r.step for r in self.records], dtype=np.int64)

    @property
    def exponents(self) -> np.ndarray:
        """``(n, k)`` exponents of the records (NaN-padded if ``k`` differed), nats/step."""
        return _stack([r.exponents for r in self.records])

    @property
    def stderr(self) -> np.ndarray:
        """``(n, k)`` standard errors of the records."""
        return _stack([r.stderr for r in self.records])

    @property
    def overhead_seconds(self) -> float:
        """Total wall time spent computing spectra."""
        return float(sum(r.seconds for r in self.records))

    def to_numpy(self) -> dict[str, np.ndarray]:
        """The record as arrays: ``step (n,)``, ``exponents (n, k)``, ``stderr (n, k)``,
        ``max_exponent``, ``kaplan_yorke_dimension``, ``entropy``, ``seconds`` (each ``(n,)``)."""
        return {
            "step": self.steps,
            "exponents": self.exponents,
            "stderr": self.stderr,
            "max_exponent": np.asarray([r.max_exponent for r in self.records], dtype=np.float64),
            "kaplan_yorke_dimension": np.asarray([r.kaplan_yorke_dimension for r in self.records], dtype=np.float64),
            "entropy": np.asarray([r.entropy for r in self.records], dtype=np.float64),
            "seconds": np.asarray([r.seconds for r in self.records], dtype=np.float64),
        }

    def to_pandas(self, *, long: bool = False) -> Any:
        """The record as a pandas DataFrame (needs pandas).

        ``long=False``: one row per computation with columns ``step``,
        ``max_exponent``, ``kaplan_yorke_dimension``, ``entropy``, ``seconds``,
        ``backend``, ``lambda_1 ... lambda_k`` (nats/step).
        ``long=True``: tidy, one row per (step, exponent) with columns
        ``step``, ``index`` (1-based), ``exponent``, ``stderr``.
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("Monitor.to_pandas needs pandas: pip install pandas") from exc
        if long:
            rows = [
                {"step": r.step, "index": i + 1, "exponent": float(e), "stderr": float(s)}
                for r in self.records
                for i, (e, s) in enumerate(zip(r.exponents, r.stderr))
            ]
            return pd.DataFrame(rows, columns=["step", "index", "exponent", "stderr"])
        rows = []
        for r in self.records:
            row = {
                "step": r.step,
                "max_exponent": r.max_exponent,
                "kaplan_yorke_dimension": r.kaplan_yorke_dimension,
                "entropy": r.entropy,
                "seconds": r.seconds,
                "backend": r.backend,
            }
            row.update({f"lambda_{i + 1}": float(e) for i, e in enumerate(r.exponents)})
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: settings and records (exponents in nats/step)."""
        return {
            "units": "nats/step",
            "every": self.every,
            "k": self.k,
            "warmup": self.warmup,
            "backend": self.backend,
            "probe_shape": [int(s) for s in self.probe.shape],
            "records": [r.to_dict() for r in self.records],
        }

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int | None = 1) -> str:
        """The record as JSON text; with ``path``, also written there atomically (temp file + rename)."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @staticmethod
    def load_records(source: str | os.PathLike[str] | dict[str, Any]) -> list[MonitorRecord]:
        """Records from a JSON file written by `to_json` (or its parsed dict)."""
        if not isinstance(source, dict):
            with open(os.fspath(source), encoding="utf-8") as fh:
                source = json.load(fh)
        return [MonitorRecord.from_dict(d) for d in source["records"]]

    # -- plots -----------------------------------------------------------------------

    def plot_trajectories(
        self, ax: Any = None, *, indices: Iterable[int] | None = None, errorbars: bool = False, step_name: str = "step"
    ) -> Any:
        """Exponents against training step (one line per exponent; ``indices`` 1-based, default all).

        ``step_name`` names the counter on the x axis (e.g. ``"epoch"``).

        Returns the matplotlib axes (needs ``lyapax-rnn[plot]``).
        """
        from . import plotting

        return plotting.monitor_trajectories(self, ax, indices=indices, errorbars=errorbars, step_name=step_name)

    def plot_spectra(
        self, ax: Any = None, *, steps: Iterable[int] | None = None, errorbars: bool = True, step_name: str = "step"
    ) -> Any:
        """Spectra (index vs exponent) at the chosen ``steps`` (default: up to 6 spread over training).

        ``step_name`` names the counter in the legend (e.g. ``"epoch"``).

        Returns the matplotlib axes (needs ``lyapax-rnn[plot]``).
        """
        from . import plotting

        return plotting.monitor_spectra(self, ax, steps=steps, errorbars=errorbars, step_name=step_name)

    def __repr__(self) -> str:
        last = ""
        if self.records:
            r = self.records[-1]
            last = f", last step {r.step}: max exponent {r.max_exponent:.4g} nats/step"
        return (f"Monitor(probe {tuple(int(s) for s in self.probe.shape)}, every={self.every}, k={self.k}, "
                f"{len(self.records)} records{last})")


def _probe_hint(probe: Any) -> str:
    """What to do with a probe that is not (batch, time, features): token ids, or one sequence."""
    shape = getattr(probe, "shape", None)
    if shape is None or len(shape) != 2:
        return ""
    if "int" in str(getattr(probe, "dtype", "")):
        return (" These look like token ids (integer dtype): the recurrent layer takes embedded features. For a "
                "frozen embedding, embed the probe once (probe = model.embedding(tokens)); for a trainable one, "
                "keep the token ids aside and pass monitor(model.rnn, step, inputs=model.embedding(tokens)) at "
                "each call (see 'Trainable embeddings' in the monitoring docs).")
    return " For one sequence, add a batch axis (probe[None])."


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    if not rows:
        return np.zeros((0, 0))
    width = max(r.size for r in rows)
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        out[i, : r.size] = r
    return out

