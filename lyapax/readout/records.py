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
import io
import json
import math
import os
import stat
import warnings
from typing import Any

from ..errors import InputError

__all__ = ["load_records", "records_from_csv", "check_record", "read_regular_file", "read_record", "is_finite_number",
           "MAX_RECORD_BYTES"]

_RESERVED_CSV = ("id", "final_val_loss", "diverged")
#: The largest epoch of a ``val_loss_E`` column (the CSV's losses become a list indexed by epoch).
MAX_EPOCH = 100_000


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_finite_number(v: Any) -> bool:
    """``v`` is an int or float (not a bool) with a finite float value (``10**400`` is not: it overflows)."""
    if not _is_number(v):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...)"


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
                         '{"arch": "lstm", "init_scale": 0.1}; got ' + _short(net) + ".")
    for key, value in net.items():
        if value is not None and not isinstance(value, (int, float, str, bool)):
            raise InputError(f"{source}: network[{_short(key)}] must be a number, string or boolean, got "
                             f"{_short(value)}.")
    losses = rec.get("val_loss", [])
    if not isinstance(losses, list) or not all(v is None or _is_number(v) for v in losses):
        raise InputError(f"{source}: 'val_loss' must be a list of numbers or null (the validation loss after "
                         f"epoch e, index e), got {_short(losses)}.")
    spectra = rec.get("spectra", [])
    if not isinstance(spectra, list):
        raise InputError(f"{source}: 'spectra' must be a list of {{\"epoch\": e, \"exponents\": [...]}}.")
    for s in spectra:
        if not isinstance(s, dict) or not isinstance(s.get("epoch"), int) or isinstance(s.get("epoch"), bool):
            raise InputError(f"{source}: each entry of 'spectra' needs an integer 'epoch', got {_short(s)}.")
        exps = s.get("exponents")
        if exps is not None and (not isinstance(exps, list) or not all(v is None or _is_number(v) for v in exps)):
            raise InputError(f"{source}: spectra at epoch {s['epoch']}: 'exponents' must be a list of numbers.")
    target = rec.get("final_val_loss")
    if target is not None and not _is_number(target):
        raise InputError(f"{source}: 'final_val_loss' must be a number or null, got {_short(target)}.")
    if "diverged" in rec and not isinstance(rec["diverged"], bool):
        raise InputError(f"{source}: 'diverged' must be true or false, got {_short(rec['diverged'])}.")
    if "id" in rec and (isinstance(rec["id"], bool) or not isinstance(rec["id"], (str, int))):
        raise InputError(f"{source}: 'id' must be a string (or an integer), got {_short(rec['id'])}; or leave it out "
                         "to use the file's name.")
    return rec


#: The largest record file read (a record of a 512-unit LSTM with 16 full spectra is about 0.4 MB).
MAX_RECORD_BYTES = 256 * 2**20


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular_file(path: str, what: str = "record") -> str:
    """The UTF-8 text of the regular file ``path``; never blocks on a FIFO or device, never reads a huge file.

    Raises `InputError` naming the file: not a regular file (checked on the opened file, so a
    FIFO swapped in after a listing cannot block), unreadable, larger than
    `MAX_RECORD_BYTES`, not UTF-8, or holding NUL bytes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise InputError(f"{path}: cannot open the {what} file ({exc.strerror or exc}).") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RECORD_BYTES:
        os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: {_file_kind(info.st_mode)}, not a {what} file; remove it or point at a folder "
                             "of regular files.")
        raise InputError(f"{path}: {info.st_size / 2**20:.0f} MiB; a {what} file of more than "
                         f"{MAX_RECORD_BYTES // 2**20} MiB is not a record of one network.")
    with os.fdopen(fd, "rb") as fh:
        try:
            data = fh.read(MAX_RECORD_BYTES + 1)
        except OSError as exc:
            raise InputError(f"{path}: cannot read the {what} file ({exc.strerror or exc}).") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc}); save the {what} file as UTF-8.") from None
    if "\x00" in text:
        raise InputError(f"{path}: holds NUL bytes, so it is not a text file; a {what} file is UTF-8 text.")
    return text


def read_record(path: str) -> Any:
    """The JSON value in the record file ``path`` (`read_regular_file`), or an `InputError` naming it."""
    text = read_regular_file(path)
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply to be a record (a record is an object of a few "
                         "levels); each file of the folder must hold one record.") from None
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); each file of the folder must hold one record.") from None


def _json_files(folder: str, skip: tuple[str, ...] = ()) -> tuple[list[str], list[dict[str, str]]]:
    """The regular ``*.json`` files of ``folder`` (sorted; hidden ones and ``skip`` left out) and the others, with why.

    Listed with `os.scandir`, not a glob: a path with glob characters (``run[1]``) is a path.
    """
    try:
        entries = sorted(e.name for e in os.scandir(folder))
    except OSError:
        return [], []
    files, skipped = [], []
    for name in entries:
        if name.startswith(".") or not name.endswith(".json") or name in skip:
            continue
        full = os.path.join(folder, name)
        try:
            mode = os.stat(full).st_mode  # follows symlinks: a loop or a dangling link fails here
        except OSError as exc:
            skipped.append({"source": full, "reason": f"cannot be read ({exc.strerror or exc})"})
            continue
        if stat.S_ISREG(mode):
            files.append(full)
        else:
            skipped.append({"source": full, "reason": _file_kind(mode)})
    return files, skipped


def _path(path: Any) -> str:
    try:
        return os.fsdecode(os.fspath(path))
    except TypeError:
        raise InputError(f"path: expected a file or folder path, got {type(path).__name__}.") from None


def load_records(path: str | os.PathLike[str], *, skipped: list[dict[str, str]] | None = None
                 ) -> list[dict[str, Any]]:
    """The records of a sweep: ``PATH/networks/*.json``, else ``PATH/*.json``, or a ``.csv`` file.

    Each record gains ``"source"`` (its file) and ``"id"`` (the file's stem where absent),
    sorted by file name. Entries named ``*.json`` that are not regular files (a folder, a
    FIFO, a broken or looping symlink) are skipped, never opened: appended to ``skipped``
    (``{"source", "reason"}``) when given, else warned about.
    """
    path = _path(path)
    if os.path.isfile(path) and path.lower().endswith(".csv"):
        return records_from_csv(path)
    if not os.path.isdir(path):
        raise InputError(f"path: {path!r} is neither a folder of records nor a .csv file; pass the output folder "
                         "of `lyapax readout` (it holds networks/*.json) or a folder of your own record files.")
    files, passed = _json_files(os.path.join(path, "networks"))
    if not files:
        files, passed = _json_files(path, skip=("analysis.json", "study.json"))
    if passed:
        if skipped is None:
            for s in passed:
                warnings.warn(f"{s['source']}: skipped, {s['reason']}", stacklevel=2)
        else:
            skipped.extend(passed)
    if not files:
        raise InputError(f"path: no record files in {path!r} (looked for networks/*.json and *.json"
                         + (f"; skipped {len(passed)} that are not regular files" if passed else "")
                         + "); see docs/readout.md for the record format.")
    records = []
    for f in files:
        rec = check_record(read_record(f), f)
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
    if not math.isfinite(value):  # kept: the analysis excludes the network and says why
        return value
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def records_from_csv(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Records from a CSV table, one row per network (a spreadsheet, a W&B export).

    Columns: ``val_loss_E`` (the validation loss after epoch E), ``exponents_E`` (the
    spectrum at epoch E, numbers separated by spaces or semicolons), ``final_val_loss``,
    ``id`` and ``diverged`` (optional); every other column is a hyperparameter. Empty
    cells (and ``nan``, ``null``, ``none``) are ``null``; ``inf`` is kept, and the analysis
    excludes its network with the reason.
    """
    path = _path(path)
    if not os.path.isfile(path):
        raise InputError(f"path: no such CSV file {path!r}.")
    try:
        rows = list(csv.DictReader(io.StringIO(read_regular_file(path, "CSV"), newline="")))
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable CSV table ({exc}).") from None
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
                if int(column[9:]) > MAX_EPOCH:
                    raise InputError(f"{path}: column {column!r}: an epoch beyond {MAX_EPOCH}; number the epochs "
                                     "0, 1, 2, ...")
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
