"""The record format of a sweep, read from disk (numpy and the standard library only).

One record per trained network, a JSON object (``networks/<id>.json`` as `lyapax readout`
writes them; docs/readout.md documents the format)::

    {"id": "lstm_p0.1_s0",                      # optional: the file name's stem otherwise
     "network": {"arch": "lstm", "init_scale": 0.1, "dropout": 0.1, "optimizer": "adam"},
     "val_loss": [3.6, 2.9, null, 2.1],          # after epoch e (0: at initialisation); null: not measured
     "spectra": [{"epoch": 1, "exponents": [-0.01, -0.3, ...]}],   # any k, any order, nats/step
     "final_val_loss": 2.05,                     # the target (any key can be, see analyze(target=...))
     "diverged": false}                          # optional

`load_records` reads a folder of such files (``PATH/networks/*.json`` or ``PATH/*.json``) or
a CSV table (`records_from_csv`), and checks each record's structure, naming the file and
the fix for anything malformed.
"""

from __future__ import annotations

import csv
import glob
import json
import math
import os
from typing import Any

from ..errors import InputError

__all__ = ["load_records", "records_from_csv", "check_record"]

_RESERVED_CSV = ("id", "final_val_loss", "diverged")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_record(rec: Any, source: str) -> dict[str, Any]:
    """``rec`` if it has the documented structure; else an `InputError` naming ``source`` and the fix.

    Missing values the analysis can exclude (a ``null`` loss, no spectrum at an epoch, NaN
    exponents) are not errors here: `lyapax.readout.analyze` counts them per reason.
    """
    if not isinstance(rec, dict):
        raise InputError(f"{source}: expected a JSON object (one network's record), got {type(rec).__name__}.")
    net = rec.get("network")
    if not isinstance(net, dict):
        raise InputError(f"{source}: 'network' must be an object of hyperparameters, e.g. "
                         '{"arch": "lstm", "init_scale": 0.1}; got ' + repr(net) + ".")
    for key, value in net.items():
        if value is not None and not isinstance(value, (int, float, str, bool)):
            raise InputError(f"{source}: network[{key!r}] must be a number, string or boolean, got {value!r}.")
    losses = rec.get("val_loss", [])
    if not isinstance(losses, list) or not all(v is None or _is_number(v) for v in losses):
        raise InputError(f"{source}: 'val_loss' must be a list of numbers or null (the validation loss after "
                         f"epoch e, index e), got {losses!r}.")
    spectra = rec.get("spectra", [])
    if not isinstance(spectra, list):
        raise InputError(f"{source}: 'spectra' must be a list of {{\"epoch\": e, \"exponents\": [...]}}.")
    for s in spectra:
        if not isinstance(s, dict) or not isinstance(s.get("epoch"), int) or isinstance(s.get("epoch"), bool):
            raise InputError(f"{source}: each entry of 'spectra' needs an integer 'epoch', got {s!r}.")
        exps = s.get("exponents")
        if exps is not None and (not isinstance(exps, list) or not all(v is None or _is_number(v) for v in exps)):
            raise InputError(f"{source}: spectra at epoch {s['epoch']}: 'exponents' must be a list of numbers.")
    target = rec.get("final_val_loss")
    if target is not None and not _is_number(target):
        raise InputError(f"{source}: 'final_val_loss' must be a number or null, got {target!r}.")
    if "diverged" in rec and not isinstance(rec["diverged"], bool):
        raise InputError(f"{source}: 'diverged' must be true or false, got {rec['diverged']!r}.")
    return rec


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); each file of the folder must hold one record.") from exc


def load_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a sweep: ``PATH/networks/*.json``, else ``PATH/*.json``, or a ``.csv`` file.

    Each record gains ``"source"`` (its file) and ``"id"`` (the file's stem where absent),
    sorted by file name.
    """
    path = os.fspath(path)
    if os.path.isfile(path) and path.lower().endswith(".csv"):
        return records_from_csv(path)
    if not os.path.isdir(path):
        raise InputError(f"path: {path!r} is neither a folder of records nor a .csv file; pass the output folder "
                         "of `lyapax readout` (it holds networks/*.json) or a folder of your own record files.")
    files = sorted(glob.glob(os.path.join(path, "networks", "*.json"))) or sorted(
        f for f in glob.glob(os.path.join(path, "*.json"))
        if os.path.basename(f) not in ("analysis.json", "study.json"))
    if not files:
        raise InputError(f"path: no record files in {path!r} (looked for networks/*.json and *.json); see "
                         "docs/readout.md for the record format.")
    records = []
    for f in files:
        rec = check_record(_read_json(f), f)
        records.append({**rec, "source": f, "id": rec.get("id", os.path.splitext(os.path.basename(f))[0])})
    return records


def _cell(text: str, source: str, column: str) -> Any:
    text = text.strip()
    if text == "" or text.lower() in ("null", "none", "nan"):
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        raise InputError(f"{source}: column {column!r} holds {text!r}; leave the cell empty where not measured.")
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def records_from_csv(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Records from a CSV table, one row per network (a spreadsheet, a W&B export).

    Columns: ``val_loss_E`` (the validation loss after epoch E), ``exponents_E`` (the
    spectrum at epoch E, numbers separated by spaces or semicolons), ``final_val_loss``,
    ``id`` and ``diverged`` (optional); every other column is a hyperparameter. Empty
    cells are ``null``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"path: no such CSV file {path!r}.")
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise InputError(f"{path}: no rows; the CSV needs a header and one row per network.")
    records = []
    for n, row in enumerate(rows, start=2):
        source = f"{path}:{n}"
        rec: dict[str, Any] = {"network": {}, "val_loss": [], "spectra": [], "source": source}
        losses: dict[int, Any] = {}
        for column, text in row.items():
            if column is None:
                raise InputError(f"{source}: more cells than header columns.")
            column = column.strip()
            if column.startswith("val_loss_") and column[9:].isdigit():
                losses[int(column[9:])] = _cell(text or "", source, column)
            elif column.startswith("exponents_") and column[10:].isdigit():
                if (text or "").strip():
                    try:
                        exps = [float(v) for v in text.replace(";", " ").split()]
                    except ValueError as exc:
                        raise InputError(f"{source}: column {column!r}: expected numbers separated by spaces or "
                                         f"semicolons ({exc}).") from exc
                    rec["spectra"].append({"epoch": int(column[10:]), "exponents": exps})
            elif column in _RESERVED_CSV:
                rec[column] = _cell(text or "", source, column)
            else:
                rec["network"][column] = _cell(text or "", source, column)
        if losses:
            rec["val_loss"] = [losses.get(e) for e in range(max(losses) + 1)]
        rec["id"] = str(rec["id"]) if rec.get("id") is not None else f"row{n}"
        if rec.get("diverged") is None:
            rec.pop("diverged", None)
        records.append(check_record(rec, source))
    return records
