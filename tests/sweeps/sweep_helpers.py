"""Helpers of the sweep tests: tiny readout studies, record comparison, cleaning up after a killed driver."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

TIMING_KEYS = {"seconds", "spectrum_seconds"}

#: CLI flags of a tiny study: 8 networks (2 archs x 2 init scales x 2 learning rates), about a second each.
TINY_FLAGS = [
    "--quick", "--archs", "lstm,gru", "--init-scales", "0.1,3", "--lrs", "0.003,0.03", "--hidden", "8",
    "--epochs", "2", "--batches-per-epoch", "12", "--batch", "4", "--seq-len", "20", "--k", "4",
    "--probe-batch", "3", "--probe-steps", "30", "--warmup", "5", "--bootstrap", "20", "--folds", "4",
    "--no-progress", "--no-figures",
]


def strip_timing(obj):
    """A record without its wall-time fields (which differ between any two runs)."""
    if isinstance(obj, dict):
        return {k: strip_timing(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [strip_timing(v) for v in obj]
    return obj


def record_paths(folder: Path) -> list[Path]:
    """The finished records of a study folder (not the ``.tmp-*`` file a killed writer left behind;
    pathlib's glob, unlike the shell's, matches names that start with a dot)."""
    return sorted(p for p in (folder / "networks").glob("*.json") if not p.name.startswith(".tmp-"))


def records(folder: Path) -> dict[str, dict]:
    """``networks/*.json`` of a study folder: id -> record."""
    out = {}
    for path in record_paths(folder):
        rec = json.loads(path.read_text())
        assert rec["id"] == path.stem
        out[path.stem] = rec
    return out


def kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid`` (a subprocess started with ``start_new_session=True``
    and what it spawned: a local Ray's GCS, raylet, agents and workers, which outlive a killed driver)."""
    for _ in range(3):
        left = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getsid(int(entry)) == sid:
                        left.append(int(entry))
                except OSError:
                    pass
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.5)
