"""The records a `lyapax.Monitor` keeps: `MonitorRecord`, and the record as arrays, a table and JSON.

Exponents are in nats per step. In JSON, a number that is not finite is written ``null``
(standard JSON has no infinities): an exponent or ``max_exponent`` of ``null`` reads back as
``-inf`` (a direction the tangent map collapsed: the only non-finite exponent lyapax returns),
a ``stderr`` of ``null`` as NaN (one probe sequence, or an infinite exponent).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError
from .install import pip_install
from .results import Spectrum, kaplan_yorke_dimension

__all__ = ["MonitorRecord", "COLUMNS", "stack", "to_numpy", "to_pandas", "read_json"]

#: The columns of `to_pandas` (wide form), before ``lambda_1 ... lambda_k``.
COLUMNS = ("step", "max_exponent", "kaplan_yorke_dimension", "entropy", "seconds", "backend")
#: The columns of `to_pandas(long=True)`.
LONG_COLUMNS = ("step", "index", "exponent", "stderr")


def _number(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _numbers(values: Any, missing: float, name: str) -> np.ndarray:
    """A JSON list of numbers (``null``: ``missing``) as float64, or an `InputError` naming the field."""
    try:
        return np.asarray([missing if v is None else float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"records: {name} must be a list of numbers (null for -inf/NaN), got {values!r}.") from exc


@dataclass(frozen=True)
class MonitorRecord:
    """One spectrum computation of a `Monitor` (exponents in nats/step).

    Attributes:
        step: the training step or epoch at which it was computed (0: at initialisation).
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
        """JSON-ready dict: standard JSON, non-finite numbers as ``null`` (see the module's docstring)."""
        return {
            "step": self.step,
            "exponents": [_number(v) for v in self.exponents],
            "stderr": [_number(v) for v in self.stderr],
            "max_exponent": _number(self.max_exponent),
            "kaplan_yorke_dimension": _number(self.kaplan_yorke_dimension),
            "entropy": _number(self.entropy),
            "seconds": _number(self.seconds),
            "backend": self.backend,
        }

    @classmethod
    def from_dict(cls, d: Any) -> MonitorRecord:
        """The record `to_dict` wrote (missing summaries are recomputed from the exponents)."""
        if not isinstance(d, dict) or "exponents" not in d or "step" not in d:
            raise InputError(
                f"records: each record needs 'step' and 'exponents' (as Monitor.to_json writes them), got "
                f"{sorted(d) if isinstance(d, dict) else type(d).__name__}."
            )
        step = d["step"]
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step != int(step):
            raise InputError(f"records: 'step' must be an integer, got {step!r}.")
        exps = _numbers(d["exponents"], -np.inf, "exponents")
        stderr = _numbers(d.get("stderr", [None] * exps.size), np.nan, "stderr")

        def summary(name: str, default: float, missing: float) -> float:
            value = d.get(name, default)
            return missing if value is None else float(_numbers([value], missing, name)[0])

        return cls(
            step=int(step),
            exponents=exps,
            stderr=stderr,
            max_exponent=summary("max_exponent", exps[0] if exps.size else np.nan, -np.inf),
            kaplan_yorke_dimension=summary("kaplan_yorke_dimension", kaplan_yorke_dimension(exps), np.nan),
            entropy=summary("entropy", exps[exps > 0].sum(), np.nan),
            seconds=summary("seconds", np.nan, np.nan),
            backend=str(d.get("backend", "")),
        )


def stack(rows: Sequence[np.ndarray]) -> np.ndarray:
    """``(n, k)`` rows of different lengths, NaN-padded to the longest."""
    if not rows:
        return np.zeros((0, 0))
    width = max(r.size for r in rows)
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        out[i, : r.size] = r
    return out


def to_numpy(records: Sequence[MonitorRecord]) -> dict[str, np.ndarray]:
    """The records as arrays: ``step (n,)``, ``exponents (n, k)``, ``stderr (n, k)``,
    ``max_exponent``, ``kaplan_yorke_dimension``, ``entropy``, ``seconds`` (each ``(n,)``)."""
    out: dict[str, np.ndarray] = {
        "step": np.asarray([r.step for r in records], dtype=np.int64),
        "exponents": stack([r.exponents for r in records]),
        "stderr": stack([r.stderr for r in records]),
    }
    for name in ("max_exponent", "kaplan_yorke_dimension", "entropy", "seconds"):
        out[name] = np.asarray([getattr(r, name) for r in records], dtype=np.float64)
    return out


def to_pandas(records: Sequence[MonitorRecord], *, long: bool = False) -> Any:
    """The records as a pandas DataFrame (see `lyapax.Monitor.to_pandas`); the columns are there with no records too."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(f"Monitor.to_pandas needs pandas: {pip_install('pandas')}") from exc
    if long:
        rows = [
            {"step": r.step, "index": i + 1, "exponent": float(e), "stderr": float(s)}
            for r in records
            for i, (e, s) in enumerate(zip(r.exponents, r.stderr))
        ]
        return pd.DataFrame(rows, columns=list(LONG_COLUMNS))
    width = max((r.exponents.size for r in records), default=0)
    rows = []
    for r in records:
        row = {name: getattr(r, name) for name in COLUMNS}
        row.update({f"lambda_{i + 1}": float(e) for i, e in enumerate(r.exponents)})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*COLUMNS, *(f"lambda_{i + 1}" for i in range(width))])


def read_json(source: str | os.PathLike[str] | dict[str, Any]) -> list[MonitorRecord]:
    """Records from a JSON file written by `lyapax.Monitor.to_json` (or its parsed dict)."""
    if not isinstance(source, dict):
        path = os.fspath(source)
        if not os.path.isfile(path):  # a folder, a FIFO (which would block) or nothing at all
            raise InputError(f"source: {path!r} is not a file; pass a file written by Monitor.to_json.")
        try:
            with open(path, encoding="utf-8") as fh:
                source = json.load(fh)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise InputError(f"source: cannot read monitor records from {path!r} ({type(exc).__name__}: {exc}); "
                             "pass a file written by Monitor.to_json.") from exc
    if not isinstance(source, dict) or not isinstance(source.get("records"), list):
        raise InputError("source: expected what Monitor.to_json writes: an object with a 'records' list.")
    return [MonitorRecord.from_dict(d) for d in source["records"]]
