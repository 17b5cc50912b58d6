"""Which records a sweep's analysis can use, and why the others are excluded (numpy only).

A record is analysed when it has the target, the validation loss at the early epoch and a
finite spectrum there, and no non-finite number the analysis uses (the target, any
``val_loss``, a numeric hyperparameter); otherwise it is excluded with the first reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .records import is_finite_number

__all__ = ["RECORD_KEYS", "early_spectrum", "why_excluded", "usable_records"]

#: Keys of a record that hold its structure, never a target.
RECORD_KEYS = ("id", "source", "network", "val_loss", "train_loss", "spectra", "diverged", "train", "corpus", "units",
               "record_version", "skipped_steps")

def early_spectrum(rec: dict[str, Any], epoch: int) -> tuple[np.ndarray | None, str | None]:
    """The exponents at ``epoch``, or the reason there are none usable."""
    found = [s for s in rec.get("spectra", []) if s["epoch"] == epoch]
    if len(found) > 1:
        raise InputError(f"{rec['source']}: {len(found)} spectra at epoch {epoch}; keep one per epoch.")
    if not found or found[0].get("exponents") is None:
        why = f" ({found[0]['error']})" if found and found[0].get("error") else ""
        return None, f"no spectrum at the early epoch {epoch}{why}"
    exps = found[0]["exponents"]
    if not exps:
        return None, f"an empty spectrum at the early epoch {epoch}"
    if not all(is_finite_number(v) for v in exps):
        return None, f"non-finite (NaN/Inf/null) exponents at the early epoch {epoch}"
    return np.array(exps, dtype=np.float64), None


def why_excluded(rec: dict[str, Any], early_epoch: int, target: str) -> str | None:
    """The first reason a record cannot be analysed (or ``None``); a target of the wrong type is an error."""
    value = rec.get(target)
    if value is None:
        return f"no {target}"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InputError(f"{rec['source']}: {target!r} is {type(value).__name__} {value!r:.60}, not a number; the "
                         "target (--target) must be a numeric key of every record, e.g. 'final_val_loss'.")
    if not is_finite_number(value):
        return f"non-finite {target} ({value!r:.30})"
    losses = rec.get("val_loss", [])
    if early_epoch >= len(losses) or losses[early_epoch] is None:
        return f"no val_loss at the early epoch {early_epoch}"
    bad = [e for e, v in enumerate(losses) if v is not None and not is_finite_number(v)]
    if bad:
        return f"non-finite val_loss at epoch {', '.join(map(str, bad[:5]))} (null marks a loss not measured)"
    hyper = [k for k, v in rec["network"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
             and not is_finite_number(v)]
    if hyper:
        return f"non-finite hyperparameter {', '.join(sorted(hyper))}"
    return early_spectrum(rec, early_epoch)[1]


def usable_records(records: list[dict[str, Any]], early_epoch: int, target: str, strict: bool
            ) -> tuple[list[tuple[dict[str, Any], np.ndarray]], list[dict[str, str]]]:
    kept, excluded = [], []
    for rec in records:
        why = why_excluded(rec, early_epoch, target)
        if why is None:
            kept.append((rec, early_spectrum(rec, early_epoch)[0]))
            continue
        if strict:
            raise InputError(f"{rec['source']}: {why}. Fix: measure it in that record (val_loss[{early_epoch}], a "
                             f"spectrum with \"epoch\": {early_epoch}, a finite {target}), choose another early_epoch, "
                             "or analyse with strict=False (without --strict) to exclude such networks, counted in "
                             "the report.")
        excluded.append({"id": str(rec["id"]), "source": rec["source"], "reason": why})
    return kept, excluded
