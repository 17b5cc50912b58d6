"""Files of a readout study, written atomically (`lyapax.files`) so an interrupt never leaves a corrupt file.

Text that came from records (ids, hyperparameter names and values, error messages) is
neutralised where it lands: in CSV cells, a leading ``=``, ``+``, ``-``, ``@``, tab or
carriage return would make a spreadsheet read the cell as a formula (OWASP's "CSV
injection"), so such a cell gets a leading apostrophe; in Markdown, `markdown_code`
puts it in a code span, inside which nothing is markup (no link, image, HTML or emphasis).
Numbers written by lyapax are not text and are left as they are (a negative number is not a formula).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import secrets
from collections.abc import Iterable
from typing import Any

from ..errors import InputError
from ..files import atomic_write_bytes, atomic_write_text

__all__ = ["atomic_write_text", "atomic_write_bytes", "write_json", "read_json", "write_csv", "csv_text",
           "markdown_code", "check_output_folder"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _clean(obj: Any) -> Any:
    """NaN/Inf -> None so the JSON is standard."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_json(path: str, obj: Any) -> None:
    atomic_write_text(path, json.dumps(_clean(obj), indent=1, sort_keys=False) + "\n")


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def csv_text(value: Any) -> str:
    """A text cell that a spreadsheet shows as text: a leading formula character gets an apostrophe."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, (bool, int)):
        return value
    return csv_text(value)


def write_csv(path: str, rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    """A CSV table of ``rows`` (dicts) with ``columns``; text cells and headers neutralised (`csv_text`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_text(c) for c in columns])
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    atomic_write_text(path, buf.getvalue())


def markdown_code(value: Any, limit: int = 200) -> str:
    """``value`` as an inert Markdown code span on one line (nothing inside a code span is markup).

    Control characters become spaces, text longer than ``limit`` is cut (with "..."), and
    the fence is one backtick longer than the longest run of backticks inside, so no
    content can close it early; ``|`` is escaped for table cells.
    """
    text = "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in str(value))
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _missing_parents(path: str) -> list[str]:
    """``path`` and its ancestors that do not exist yet, innermost first."""
    missing = []
    while path and not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def check_output_folder(path: str | os.PathLike[str], option: str = "out", *, files: tuple[str, ...] = (),
                        folders: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, an output folder the command could not write to.

    ``path`` must be a folder or creatable as one, and writable (tried: a probe file is
    created and removed; folders created for the probe are removed again); the ``files``
    it will hold must not be folders, its sub-``folders`` not files. ``option`` names the
    argument in the `InputError` (e.g. ``"--out"``).
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.lexists(path) and not os.path.isdir(path):
        raise InputError(f"{option}: {path!r} exists and is not a folder; give a folder for the outputs (it is "
                         "created if missing).")
    created = _missing_parents(path)
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".lyapax-probe-{secrets.token_hex(4)}")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{option}: cannot write to {path!r} ({exc.strerror or exc}); choose a folder you can "
                         "write to.") from None
    finally:
        for folder in created:  # innermost first
            try:
                os.rmdir(folder)
            except OSError:
                break
    for name in files:
        if os.path.isdir(os.path.join(path, name)):
            raise InputError(f"{option}: {os.path.join(path, name)!r} is a folder where the output file {name!r} "
                             "goes; remove or rename it, or choose another folder.")
    for name in folders:
        sub = os.path.join(path, name)
        if os.path.lexists(sub) and not os.path.isdir(sub):
            raise InputError(f"{option}: {sub!r} is a file where the output folder {name!r} goes; remove or rename "
                             "it, or choose another folder.")
