"""Side-by-side benchmark of the backends (and of the paper's approach), printed as ratios.

Usage::

    python benchmarks/run.py                      # every installed backend, hidden 128, batch 16, 200 steps
    python benchmarks/run.py --backends torch jax --repeats 5 --hidden 64

Each ``benchmarks/cases_<backend>.py`` exposes ``cases(hidden, batch, steps, seed)``
returning zero-argument callables keyed by model ("RNN", "GRU", "LSTM"; the torch
file also has the paper's approach as "paper-RNN", ...). Every callable computes a
full spectrum in float32 and is called once before timing (compilation, caches).
Times are the median of ``--repeats`` runs, measured in one process, one after the other.
``--threads`` (default 1) caps every framework's thread pools before any is imported: on a
shared or oversubscribed machine multithreaded BLAS makes small batched QRs erratic by 50-300x,
and one thread per framework compares the implementations, not the schedulers.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BACKENDS = ("torch", "jax", "tensorflow")


def limit_threads(n: int) -> None:
    """Cap BLAS/OpenMP, XLA and TensorFlow thread pools (before the frameworks are imported)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")
    if n == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up: compilation, caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["RNN", "GRU", "LSTM"])
    parser.add_argument("--threads", type=int, default=1, help="threads per framework (default 1)")
    parser.add_argument("--ortho-every", type=int, default=1,
                        help="lyapax's ortho_every (the paper's approach always re-orthonormalises every step)")
    args = parser.parse_args(argv)
    limit_threads(args.threads)
    sys.path.insert(0, str(HERE))

    results: dict[tuple[str, str], float] = {}
    for backend in args.backends:
        try:
            module = importlib.import_module(f"cases_{backend}")
        except ImportError as exc:
            print(f"# {backend}: skipped ({exc})")
            continue
        for name, fn in module.cases(args.hidden, args.batch, args.steps, ortho_every=args.ortho_every).items():
            model = name.split("-")[-1]
            if model not in args.models:
                continue
            label = backend if "-" not in name else name.split("-")[0]
            results[(label, model)] = median_time(fn, args.repeats)
            print(f"# {label:10s} {model:5s} {results[(label, model)]:8.3f} s", flush=True)

    labels = sorted({label for label, _ in results}, key=lambda s: (s != "torch", s))
    print(
        f"\nfull spectrum, float32, hidden {args.hidden}, batch {args.batch}, {args.steps} steps, "
        f"ortho_every={args.ortho_every} for lyapax; median of {args.repeats}; {args.threads} thread(s); {platform.processor() or platform.machine()}, "
        f"python {platform.python_version()}"
    )
    print("seconds (ratio to the torch backend; >1 is slower)")
    print(f"{'':10s}" + "".join(f"{m:>18s}" for m in args.models))
    for label in labels:
        row = f"{label:10s}"
        for m in args.models:
            t, ref = results.get((label, m)), results.get(("torch", m))
            row += f"{'-':>18s}" if t is None else f"{t:9.3f} ({t / ref:5.2f}x)" if ref else f"{t:18.3f}"
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
