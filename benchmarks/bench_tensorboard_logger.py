"""What `TensorBoardLogger`'s first record costs a training script: import time, memory, modules loaded.

Each measurement is a fresh Python process that imports lyapax, then times importing
``lyapax.integrations.tensorboard``, creating a logger and writing one record (one
``MonitorRecord``, no figure), and reports the time, the growth of its resident memory
(``VmRSS``) over those steps and whether ``tensorflow`` got imported. With ``--baseline
PATH`` (a checkout of another lyapax, e.g. main before the change) the two are measured
alternately, ``--repeats`` times each, so that a noisy machine affects both alike.

    python benchmarks/bench_tensorboard_logger.py [--baseline /path/to/other/checkout] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CHILD = r"""
import json, sys, tempfile, time
import numpy as np
import lyapax
from lyapax.monitor import MonitorRecord

def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024

record = MonitorRecord(step=0, exponents=np.array([0.1, -0.2, -0.5]), stderr=np.array([0.01, 0.02, 0.03]),
                       max_exponent=0.1, kaplan_yorke_dimension=1.5, entropy=0.1, seconds=0.1, backend="numpy")
before, t0 = rss_mb(), time.perf_counter()
from lyapax.integrations.tensorboard import TensorBoardLogger
t1 = time.perf_counter()
with tempfile.TemporaryDirectory() as d:
    logger = TensorBoardLogger(d)
    logger(record)
    logger.close()
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_record_s": t2 - t0, "rss_mb": rss_mb() - before,
                  "tensorflow": "tensorflow" in sys.modules, "lyapax": lyapax.__file__}))
"""


def measure(checkout: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([checkout, os.path.join(checkout, "backends")]))
    with tempfile.TemporaryDirectory() as cwd:  # not the checkout: its lyapax/ must come from PYTHONPATH
        done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, cwd=cwd,
                              check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", help="another lyapax checkout to measure alternately (e.g. main)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {"this checkout": []}
    if args.baseline:
        runs["baseline"] = []
    for _ in range(args.repeats):
        runs["this checkout"].append(measure(ROOT))
        if args.baseline:
            runs["baseline"].append(measure(os.path.abspath(args.baseline)))
    for name, rows in runs.items():
        med = {key: statistics.median(r[key] for r in rows) for key in ("import_s", "first_record_s", "rss_mb")}
        print(f"{name} ({rows[0]['lyapax']}), median of {len(rows)}: import {med['import_s']:.2f} s, "
              f"import + first record {med['first_record_s']:.2f} s, memory +{med['rss_mb']:.0f} MB, "
              f"tensorflow imported: {sorted({r['tensorflow'] for r in rows})}")


if __name__ == "__main__":
    main()
