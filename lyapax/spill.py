"""Arrays too large for memory, kept in a memory-mapped file instead (covariant vectors' ``R`` factors)."""

from __future__ import annotations

import os
import tempfile
import weakref

import numpy as np

from .errors import InputError

__all__ = ["storage", "size_text"]


def size_text(nbytes: int) -> str:
    """Bytes in the unit that shows them best (``512 KiB``, ``6.3 GiB``)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes} bytes"


def storage(shape: tuple[int, ...], max_memory: int, spill: str | None, what: str) -> np.ndarray:
    """An empty float64 array of ``shape``: in memory up to ``max_memory`` bytes, else in a new file in the
    folder ``spill`` (removed with the last reference to it, on POSIX), else an `InputError` with the sizes."""
    nbytes = int(np.prod(shape)) * 8
    if nbytes <= max_memory:
        return np.empty(shape)
    if spill is None:
        raise InputError(
            f"max_memory: the {what} need {size_text(nbytes)}, more than max_memory = {size_text(max_memory)}; "
            "pass spill='a/folder' to keep them in a file there, raise max_memory, or ask for fewer "
            "exponents (k), sequences, steps (window, transient) or vector steps (at)."
        )
    try:
        os.makedirs(spill, exist_ok=True)
        fh = tempfile.NamedTemporaryFile(dir=spill, prefix="lyapax-", suffix=".f64", delete=False)
    except OSError as exc:
        raise InputError(f"spill: cannot create a file in {spill!r} ({exc.strerror or exc}); pass a writable folder.") from exc
    fh.close()
    try:
        arr = np.lib.format.open_memmap(fh.name, mode="w+", dtype=np.float64, shape=shape)
    except OSError as exc:
        os.unlink(fh.name)
        raise InputError(f"spill: cannot map {size_text(nbytes)} in {spill!r} ({exc.strerror or exc}); free disk "
                         "space there or pass another folder.") from exc
    try:
        os.unlink(fh.name)  # POSIX: the file goes with the last reference to the map
    except OSError:  # Windows keeps a mapped file: remove it once the map is gone
        weakref.finalize(arr, _remove, fh.name)
    return arr


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
