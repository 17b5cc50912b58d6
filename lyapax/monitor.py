"""Spectra during training: `Monitor`, framework-neutral.

A `Monitor` holds a fixed probe batch of input sequences and computes
the Lyapunov spectrum of a model every ``every`` steps (or epochs: a "step" is
whatever counter you pass) through the same pipeline as `lyapax.spectrum`, keeping
`lyapax.monitor_records.MonitorRecord` s exportable to numpy, pandas and JSON, and
plottable. It never imports a framework itself, and never changes the model
(parameters, training mode, RNG state all stay as they were).

Exponents are in nats per step of the recurrent map throughout.

Example::

    monitor = lyapax.Monitor(probe, every=1, k=16)      # probe: (batch, time, features)
    monitor(model.rnn, step=0)                          # at initialisation
    for epoch in range(1, epochs + 1):
        train_one_epoch(model)
        monitor(model.rnn, step=epoch)                  # after `epoch` epochs, when epoch % every == 0
    monitor.to_pandas()                                  # one row per computation
    monitor.plot_trajectories()
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from . import monitor_records
from .errors import InputError
from .files import atomic_write_text
from .monitor_records import MonitorRecord
from .observers import Observer
from .options import Options, parse
from .pipeline import compute
from .results import Spectrum
from .validation import check_int

__all__ = ["Monitor", "MonitorRecord"]


class _AtMost(Observer):
    """``k`` as an upper bound: at most ``bound`` exponents, all of a smaller state (no basis given)."""

    def __init__(self, bound: int | None):
        self.bound = bound

    def configure(self, problem: Any, opts: Options) -> Options:
        if self.bound is None or opts.basis is not None:
            return opts
        return dataclasses.replace(opts, k=min(self.bound, int(problem.dynamics.dim)))


class Monitor:
    """Track the Lyapunov spectrum of a model during training on a fixed probe batch.

    Args:
        probe: input sequences ``(batch, time, features)``, batch-first, as
            numpy arrays or the framework's tensors (passed to the backend unchanged).
            Keep it small: the overhead of one computation scales with ``batch * time * k``.
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

    ``ortho_every``, ``h0``, ``dtype``, ``device``, ``seed``, ``basis``, ``history`` (in the returned
    spectrum only), ``progress``, ``time_major``, ``qr``, ``qr_dtype`` and ``threads`` are as in
    `lyapax.spectrum`.

    Call ``monitor(model, step=s)`` or ``monitor.update(model, s)`` in the
    training loop; it returns the `lyapax.Spectrum` when it computed
    one, else ``None``. The convention every lyapax callback follows: step 0 is the
    model at initialisation (before the first batch), step ``e`` the model after ``e``
    epochs. Behind a trainable embedding, pass this step's embedded probe each time:
    ``monitor(model.rnn, step, inputs=model.embedding(tokens))``. Without ``step``, the
    monitor counts its own successful calls (0, 1, 2 ...). Records are kept in `records`.
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
        ortho_every: int | str = 1,
        h0: Any = None,
        dtype: Any = None,
        device: Any = None,
        seed: int | None = 0,
        basis: Any = None,
        history: int | None = None,
        progress: bool = False,
        time_major: bool | None = None,
        qr: str = "auto",
        qr_dtype: Any = "auto",
        threads: int | None = None,
        **unknown: Any,
    ) -> None:
        if probe is None:
            raise InputError("probe: pass a fixed batch of input sequences (batch, time, features).")
        shape = getattr(probe, "shape", None)
        if shape is None or len(shape) != 3:
            raise InputError(f"probe: expected a 3-D batch (batch, time, features), got shape {shape}.{_probe_hint(probe)}")
        options, own = parse("lyapax.Monitor", locals())
        if options.warmup is None:
            options = dataclasses.replace(options, warmup=int(shape[0 if options.time_major else 1]) // 5)
        self.probe = probe
        self.k, self.warmup, self.backend = options.k, options.warmup, options.backend
        self.every, self.select, self.on_record = own["every"], own["select"], own["on_record"]
        self.options = dataclasses.replace(options, k=None)  # k is an upper bound here: _AtMost applies it
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
        step = self._calls if step is None else check_int("step", step, 0)
        target = self.select(model) if self.select is not None else model
        t0 = time.perf_counter()
        spec = compute(target, self.probe if inputs is None else inputs, self.options, [_AtMost(self.k)])
        rec = MonitorRecord.from_spectrum(step, spec, time.perf_counter() - t0)
        self.records.append(rec)
        if self.on_record is not None:
            self.on_record(rec, spec)
        return spec

    def update(self, model: Any, step: int | None = None, *, force: bool = False, inputs: Any = None) -> Spectrum | None:
        """Compute the spectrum if ``step`` is due (or ``force``); returns it, else ``None``.

        A call that raises leaves the monitor as it was (no record, the call count unchanged).
        """
        s = self._calls if step is None else check_int("step", step, 0)
        out = self.compute(model, s, inputs=inputs) if force or self.due(s) else None
        self._calls += 1
        return out

    __call__ = update

    # -- the record ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.records)

    @property
    def steps(self) -> np.ndarray:
        """``(n,)`` steps of the records."""
        return monitor_records.to_numpy(self.records)["step"]

    @property
    def exponents(self) -> np.ndarray:
        """``(n, k)`` exponents of the records (NaN-padded if ``k`` differed), nats/step."""
        return monitor_records.stack([r.exponents for r in self.records])

    @property
    def stderr(self) -> np.ndarray:
        """``(n, k)`` standard errors of the records."""
        return monitor_records.stack([r.stderr for r in self.records])

    @property
    def overhead_seconds(self) -> float:
        """Total wall time spent computing spectra."""
        return float(sum(r.seconds for r in self.records))

    def to_numpy(self) -> dict[str, np.ndarray]:
        """The record as arrays: ``step (n,)``, ``exponents (n, k)``, ``stderr (n, k)``,
        ``max_exponent``, ``kaplan_yorke_dimension``, ``entropy``, ``seconds`` (each ``(n,)``)."""
        return monitor_records.to_numpy(self.records)

    def to_pandas(self, *, long: bool = False) -> Any:
        """The record as a pandas DataFrame (needs pandas); the columns are there with no records too.

        ``long=False``: one row per computation with columns ``step``,
        ``max_exponent``, ``kaplan_yorke_dimension``, ``entropy``, ``seconds``,
        ``backend``, ``lambda_1 ... lambda_k`` (nats/step).
        ``long=True``: tidy, one row per (step, exponent) with columns
        ``step``, ``index`` (1-based), ``exponent``, ``stderr``.
        """
        return monitor_records.to_pandas(self.records, long=long)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: settings and records (exponents in nats/step; non-finite numbers as ``null``)."""
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
        """The record as standard JSON text; with ``path``, also written there atomically (temp file + rename)."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @staticmethod
    def load_records(source: str | os.PathLike[str] | dict[str, Any]) -> list[MonitorRecord]:
        """Records from a JSON file written by `to_json` (or its parsed dict); a clear error otherwise."""
        return monitor_records.read_json(source)

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
