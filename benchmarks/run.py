"""Side-by-side benchmark: lyapax's backends and options, the paper's way, and lower bounds.

Usage::

    python benchmarks/run.py                               # torch, jax, tensorflow: hidden 128, batch 16, 200 steps
    python benchmarks/run.py --quick                       # a smaller subset, under 2 minutes
    python benchmarks/run.py --backends torch,jax --sizes 64x16x200,128x16x200 --models LSTM
    python benchmarks/run.py --gpu                         # torch and JAX on CUDA: hidden 128 and 512
    python benchmarks/run.py --device cuda --sizes 256x32x200   # any rows on another device
    python benchmarks/run.py --step-functions              # step functions (autodiff) vs the analytic cells

Every row but ``k=32`` computes a full spectrum (``k = d``; ``d = 2 x hidden`` for the LSTM, whose
state is ``(h, c)``) of one model (``RNN`` tanh, ``GRU``, ``LSTM``; input 32 features, every weight
``N(0, 1.5² / hidden)``) in float32, without warm-up steps. Columns:

- ``wall s``: for ``default`` and ``paper`` the fastest of ``--repeats`` calls, for the other
  rows one call; after an untimed call that compiles (JAX, TensorFlow: per row; PyTorch: one
  float32 call per model, and one per row for ``threads=2``). ``qr=cholesky`` (slow on a
  CPU) is timed on a quarter of the steps and its times multiplied by 4 (one chunk and no
  warm-up steps, so a step costs the same throughout). ``cpu s``: the process's CPU time
  during that call, all threads (below ``wall s``: the process waited for a CPU).
- ``/default``: wall time over the default row of the same backend.
- ``paper/``: the paper's way (the PyTorch row ``paper``) over this row: >1 is faster.
  The paper's way is written in ``cases_torch.py``: per step a dense Jacobian from the
  explicit formula, ``torch.linalg.qr`` of the ``(B, d, d)`` basis in float32, a Python
  loop. For the LSTM it uses the full ``(h, c)`` Jacobian so that it computes the same
  numbers; ``paper h-only`` is the published ``dh'/dh`` (``d = hidden``; another product).
- ``x bound1``: wall time over ``steps x (t_tangent + t_qr)``: the tangent map's matmul
  ``W_hh (G, H) @ Q (B, H, d)`` in float32 and the batched QR of ``(B, d, d)`` in float64
  (the default QR dtype), each timed alone in a compiled loop (no per-call dispatch), in
  every framework; the bound takes the fastest. Elementwise work, the state update and
  data movement are left out, so no implementation reaches 1x. One thread: the
  ``threads=2`` rows can go below it.
- ``x bound2``: wall time over ``steps x (tangent + QR flops) / GEMM rate``: everything at
  the rate of that matmul (QR: ``(8/3) d³`` flops per matrix, Householder with ``Q``).
  Both bounds are for the full spectrum: ``-`` on the ``k=32`` rows.
- ``max|dλ|``: the largest difference of any exponent of any sequence (nats/step) from a
  float64 reference with ``ortho_every=1`` and Householder QR, in the same backend, on
  the same steps and with the same ``k``;
  ``rel``: the largest ``|dλ_i| / max(1, |λ_i|)`` (the measure of the documented float32
  tolerance, 2e-3, in docs/performance.md).

Rows: ``default`` (float32 tangent maps, QR in float64, ``qr="auto"``: Householder on a CPU,
``ortho_every=1``, one thread), ``qr=cholesky``, ``qr_dtype=float32``, ``ortho_every=auto``,
``k=32`` (the leading 32 exponents) alone and with ``ortho_every="auto"``, ``threads=2`` (the batch split over two threads on two CPUs; not for JAX, which runs one
thread: two threads running its compiled loops deadlock in XLA's CPU runtime), the paper's way.

``--device cuda`` (``"gpu"`` and ``"cuda:1"`` work too) builds the models and inputs of torch and JAX
on that device and times the same rows there (TensorFlow is skipped: the venv's TensorFlow is
CPU-only); the primitives are timed there too, each call waiting for the device. On a GPU,
``qr="auto"`` (the ``default`` row) uses CholeskyQR in float64 once the first chunk has estimated
the conditioning, so the ``qr=householder`` row is the one to compare with. ``--gpu`` is
``--device cuda --backends torch,jax --sizes 128x16x200,512x16x50 --variants default,qr=householder,k=32
--repeats 1``: hidden 128 and 512, the full spectrum and ``k=32``, sized to finish in a few minutes
(estimated from the operation counts: not yet run on a GPU).

``--step-functions`` times something else: the tangent map of a step function ``f(h, x)`` (autodiff)
against lyapax's analytic cell of the same layer, on the cases of issue 27 (a GRU, batch 8, 200 steps,
float32, no warm-up: hidden 64 with ``k`` = 16 and 64, hidden 256 with ``k`` = 32; ``--step-cases``
changes them). The rows of each backend's ``cases_*.step_rows``: PyTorch's ``nn.GRU`` through
``lyapax_torch.step_function`` (its own ``forward``, ``torch.func`` JVPs) eagerly and compiled
(``torch.compile``), and the same GRU written as a small ``nn.Module`` of ``F.linear`` calls (what a
user's own cell looks like); JAX's flax cell called as ``f(h, x)`` (XLA's autodiff). After one untimed
call of each row (it compiles; its time is the ``first s`` column), ``--repeats`` rounds (default 5)
each time every row once, in turn, so that the machine's drift hits all rows alike: ``wall s`` is the
median over rounds, ``/analytic`` the median of the per-round ratios to the analytic row, and
``max|dλ|`` the largest difference of any exponent of any sequence from the analytic row's (float32).

One thread: each backend runs in its own process, pinned to one CPU (``taskset``, else
``os.sched_setaffinity``), with ``OMP_NUM_THREADS=MKL_NUM_THREADS=OPENBLAS_NUM_THREADS=1``,
``TF_NUM_INTRAOP_THREADS=TF_NUM_INTEROP_THREADS=1`` and
``XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"`` set before
any framework is imported; the ``threads=2`` rows run in another process pinned to two CPUs,
with the same caps (each thread one intra-op thread). On a shared machine multithreaded BLAS
makes small batched QRs erratic, and one thread per framework compares implementations.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
BACKENDS = ("torch", "jax", "tensorflow")
MODELS = ("RNN", "GRU", "LSTM")
#: gate blocks of the recurrent weight: W_hh is (GATES * hidden, hidden)
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
#: the variants timed in the one-thread process (spectrum options beside the defaults)
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "qr=cholesky": {"qr": "cholesky"},
    "qr=householder": {"qr": "householder"},
    "qr_dtype=float32": {"qr_dtype": "float32"},
    "ortho_every=auto": {"ortho_every": "auto"},
    "k=32": {"k": 32},
    "k=32+auto": {"k": 32, "ortho_every": "auto"},
}
QUICK_VARIANTS = ("default", "ortho_every=auto", "k=32+auto")
#: ``--step-functions``: HIDDENxBATCHxSTEPS:k, the cases of issue 27 (a GRU)
STEP_CASES = ("64x8x200:16", "64x8x200:64", "256x8x200:32")
#: the rows of ``--gpu`` (the CPU table's default rows leave out qr=householder, which is what qr="auto" runs there)
GPU_VARIANTS = ("default", "qr=householder", "k=32")
DEFAULT_VARIANTS = tuple(v for v in VARIANTS if v != "qr=householder")
#: variants timed on 1/n of the steps, their times multiplied by n (CholeskyQR is slow on a CPU; one
#: chunk, no warm-up steps: the cost per step is constant)
SHORTER = {"qr=cholesky": 4}
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "KERAS_BACKEND": "tensorflow",
}
RESULT = "RESULT "
#: primitives are timed in loops of this many dependent calls
LOOP = 8


# -- sizes and lower bounds --------------------------------------------------------------------


def parse_size(text: str) -> tuple[int, int, int]:
    """``"128x16x200"`` -> (hidden, batch, steps)."""
    hidden, batch, steps = (int(v) for v in text.lower().split("x"))
    return hidden, batch, steps


def state_dim(model: str, hidden: int) -> int:
    return 2 * hidden if model == "LSTM" else hidden


def flops_per_step(model: str, hidden: int, batch: int) -> tuple[float, float]:
    """(tangent map, QR) floating-point operations of one step of a full spectrum: the matmul
    ``W_hh (G, H) @ Q (B, H, d)`` (elementwise work left out), and Householder QR with ``Q`` of
    ``B`` matrices ``d x d`` (``4 d k² - 4 k³ / 3`` with ``k = d``)."""
    d = state_dim(model, hidden)
    return 2.0 * GATES[model] * hidden * hidden * d * batch, batch * (8.0 / 3.0) * d**3


def best_of(fn: Callable[[], Any], min_seconds: float = 0.3, blocks: int = 3) -> float:
    """Seconds per call of a fast primitive: the best of ``blocks`` timed loops of at least ``min_seconds``."""
    fn()
    n, best = 1, float("inf")
    for _ in range(blocks):
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            elapsed = time.perf_counter() - t0
            if elapsed >= min_seconds:
                break
            n *= 2
        best = min(best, elapsed / n)
    return best


# -- the worker: one backend in one process ----------------------------------------------------


def emit(**record: Any) -> None:
    print(RESULT + json.dumps(record), flush=True)


def timed(fn: Callable[[], Any], repeats: int, compile_first: bool) -> tuple[float, float, Any]:
    """(wall s, CPU s, result) of the fastest of ``repeats`` calls (after an untimed one if ``compile_first``)."""
    if compile_first:
        fn()
    best: tuple[float, float, Any] | None = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if best is None or wall < best[0]:
            best = (wall, cpu, out)
    assert best is not None
    return best


def versions(backend: str) -> str:
    names = {"torch": ["torch"], "jax": ["jax", "flax"], "tensorflow": ["tensorflow", "keras"]}[backend]
    out = []
    for name in names:
        try:
            out.append(f"{name} {importlib.import_module(name).__version__}")
        except ImportError:
            pass
    return ", ".join(out)


def worker(args: argparse.Namespace) -> int:
    """Run one backend's rows and print them as JSON records (read by :func:`run_worker`)."""
    sys.path.insert(0, str(HERE))
    if args.device != "cpu" and args.worker == "tensorflow":
        emit(kind="skip", backend=args.worker, why=f"--device {args.device}: the GPU rows are torch's and JAX's")
        return 0
    try:
        cases = importlib.import_module(f"cases_{args.worker}")
        if args.worker == "torch":
            import torch

            torch.set_num_threads(1)  # with threads=2, lyapax runs two threads of one intra-op thread each
    except ImportError as exc:
        emit(kind="skip", backend=args.worker, why=str(exc))
        return 0
    emit(kind="versions", backend=args.worker, text=versions(args.worker))
    for model in args.models.split(","):
        if args.step_functions:
            step_rows(cases, model, args)
        else:
            model_rows(cases, model, args)
    return 0


def step_rows(cases: Any, model: str, args: argparse.Namespace) -> None:
    """``--step-functions``: the analytic cell and the backend's step-function rows, interleaved."""
    import lyapax

    if not hasattr(cases, "step_rows"):
        emit(kind="skip", backend=args.worker, why="no step-function rows in its cases module")
        return
    size, k = args.size.split(":")
    (hidden, batch, steps), k = parse_size(size), int(k)
    on = {} if args.device == "cpu" else {"device": args.device}
    net = cases.build(model, hidden, args.features, args.seed, **on)
    x = cases.inputs(batch, steps, args.features, args.seed, **on)
    rows = {"analytic": lambda: lyapax.spectrum(net, x, k=k, dtype="float32", threads=1),
            **cases.step_rows(net, x, k)}
    first, results = {}, {}
    for name, fn in rows.items():  # untimed: compiles (its time is reported apart)
        t0 = time.perf_counter()
        results[name] = fn()
        first[name] = time.perf_counter() - t0
    walls: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.repeats):
        for name, fn in rows.items():
            t0 = time.perf_counter()
            fn()
            walls[name].append(time.perf_counter() - t0)
    ref = results["analytic"].per_sequence
    for name in rows:
        ratios = [w / a for w, a in zip(walls[name], walls["analytic"])]
        emit(kind="steprow", backend=args.worker, model=model, size=args.size, variant=name, first=first[name],
             wall=float(np.median(walls[name])), best=min(walls[name]), ratio=float(np.median(ratios)),
             err=float(np.abs(results[name].per_sequence - ref).max()))
    emit(kind="done", backend=args.worker, model=model, size=args.size)


def step_table(records: list[dict], args: argparse.Namespace) -> None:
    rows = [r for r in records if r["kind"] == "steprow"]
    print(f"\nstep functions vs the analytic cell: float32, input {args.features}, no warm-up; wall s the median of "
          f"{args.repeats} interleaved rounds, /analytic the median of the per-round ratios")
    head = (f"{'model':5s} {'backend':10s} {'case':14s} {'row':22s} {'first s':>8s} {'wall s':>8s} {'best s':>8s} "
            f"{'/analytic':>9s} {'max|dλ|':>8s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        hidden, batch, steps = parse_size(r["size"].split(":")[0])
        case = f"H{hidden} k={r['size'].split(':')[1]}"
        print(f"{r['model']:5s} {r['backend']:10s} {case:14s} {r['variant']:22s} {r['first']:8.3f} {r['wall']:8.3f} "
              f"{r['best']:8.3f} {r['ratio']:8.2f}x {r['err']:8.1e}")


def model_rows(cases: Any, model: str, args: argparse.Namespace) -> None:
    """The primitives, the float64 reference(s) and the timed rows of one model."""
    import lyapax
    from lyapax.algorithm import orthonormal_basis

    backend, (hidden, batch, steps) = args.worker, parse_size(args.size)
    d, common = state_dim(model, hidden), {"backend": args.worker, "model": model, "size": args.size}
    on = {} if args.device == "cpu" else {"device": args.device}  # torch's and JAX's cases take device=
    if args.threads == 1:  # per product / per QR, from compiled loops of LOOP of them (no per-call dispatch)
        seconds = 0.1 if args.quick else 0.3
        matmul = cases.matmul_op(GATES[model] * hidden, hidden, batch, d, "float32", n=LOOP, **on)
        t_tangent = best_of(matmul, seconds) / LOOP
        t_qr = best_of(cases.qr_op(batch, d, d, "float64", n=LOOP, **on), seconds) / LOOP
        emit(kind="primitives", **common, t_tangent=t_tangent, t_qr=t_qr)
    net = cases.build(model, hidden, args.features, args.seed, **on)
    x = cases.inputs(batch, steps, args.features, args.seed, **on)
    variants = {"threads=2": {"threads": 2}} if args.threads == 2 else {v: VARIANTS[v] for v in args.variants.split(",")}
    if args.threads == 1:  # float64 references on the steps and with the k each variant uses
        for f, k in sorted({(SHORTER.get(name, 1), options.get("k", d)) for name, options in variants.items()}):
            ref = lyapax.spectrum(net, x[:, : steps // f], k=k, dtype="float64", qr="householder", threads=1)
            emit(kind="reference", **common, steps=steps // f, k=k, per_sequence=ref.per_sequence.tolist(),
                 exponents=ref.exponents.tolist())
    compiles = backend != "torch"
    if not compiles:  # PyTorch compiles nothing: one untimed float32 call for its caches, then every call counts
        lyapax.spectrum(net, x, dtype="float32", threads=1)
    for name, options in variants.items():
        f = SHORTER.get(name, 1)
        xs = x[:, : steps // f]
        wall, cpu, s = timed(
            lambda options=options, xs=xs: lyapax.spectrum(net, xs, dtype="float32", **{"threads": 1, **options}),
            args.repeats if name == "default" else 1,
            compile_first=compiles or name == "threads=2",  # new threads: first-touch memory, allocator arenas
        )
        note = f"{s.qr}; p={','.join(map(str, s.intervals))}; {s.threads} thr"
        emit(kind="row", **common, variant=name, wall=wall * f, cpu=cpu * f, steps=steps // f, k=s.k,
             per_sequence=s.per_sequence.tolist(), note=note + (f"; timed on {steps // f} steps, x{f}" if f > 1 else ""))
    if backend == "torch" and args.threads == 1 and args.paper:
        import torch

        q0 = torch.as_tensor(np.broadcast_to(orthonormal_basis(d, d, 0), (batch, d, d)).copy(), dtype=torch.float32,
                             device=x.device)
        wall, cpu, out = timed(lambda: cases.paper_spectrum(net, x, q0), args.repeats, False)
        emit(kind="row", **common, variant="paper", wall=wall, cpu=cpu, steps=steps, k=d,
             per_sequence=(-np.sort(-out.numpy().astype(np.float64), axis=1)).tolist(),
             note="dense J, float32 QR every step (same initial basis)")
        if model == "LSTM":
            wall, cpu, _ = timed(lambda: cases.paper_spectrum(net, x, h_only=True), 1, False)
            emit(kind="row", **common, variant="paper h-only", wall=wall, cpu=cpu, steps=steps, k=hidden, per_sequence=None,
                 note=f"dh'/dh only: d={hidden}, another product")
    emit(kind="done", **common)


# -- the parent: one process per backend (and per thread count), then the table -----------------


def pin(cpus: list[int]) -> tuple[list[str], Callable[[], None] | None]:
    """A command prefix (``taskset``) or a ``preexec_fn`` that pins a child process to ``cpus``."""
    if shutil.which("taskset"):
        return ["taskset", "-c", ",".join(map(str, cpus))], None
    if hasattr(os, "sched_setaffinity"):
        return [], lambda: os.sched_setaffinity(0, cpus)
    return [], None


def run_worker(backend: str, size: str, threads: int, cpus: list[int], args: argparse.Namespace) -> list[dict]:
    prefix, preexec = pin(cpus)
    command = [
        *prefix, sys.executable, str(Path(__file__).resolve()), "--worker", backend, "--size", size,
        "--threads", str(threads), "--models", ",".join(args.models), "--variants", ",".join(args.variants),
        "--features", str(args.features), "--repeats", str(args.repeats), "--seed", str(args.seed),
        "--device", args.device,
        *(["--quick"] if args.quick else []),
        *(["--step-functions"] if args.step_functions else []),
    ]
    if not args.paper:
        command.append("--no-paper")
    env = {**os.environ, **SINGLE_THREAD_ENV}
    records: list[dict] = []
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          preexec_fn=preexec) as proc:
        assert proc.stdout is not None
        fired: list[bool] = []

        def stop() -> None:
            fired.append(True)
            proc.kill()

        watchdog = threading.Timer(args.timeout, stop)  # a hung framework must not stall the run
        watchdog.start()
        for line in proc.stdout:
            watchdog.cancel()
            watchdog = threading.Timer(args.timeout, stop)
            watchdog.start()
            if line.startswith(RESULT):
                record = json.loads(line[len(RESULT):])
                records.append(record)
                if record["kind"] in ("row", "steprow"):
                    print(f"#   {backend:10s} {record['model']:5s} {record['variant']:18s} {record['wall']:8.3f} s",
                          flush=True)
            elif args.verbose:
                print("#   | " + line.rstrip(), flush=True)
    watchdog.cancel()
    if proc.returncode:
        done = {r["model"] for r in records if r["kind"] == "done"}
        missing = [m for m in args.models if m not in done]
        why = f"nothing for {args.timeout:.0f} s: stopped" if fired else f"exited with status {proc.returncode}"
        print(f"# {backend} (threads={threads}): {why}; rerun with --verbose")
        records.append({"kind": "timeout", "backend": backend, "size": size, "why": why,
                        "variant": "threads=2" if threads == 2 else "(rest)", "missing": missing})
    return records


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def order(row: dict) -> int:
    """Rows in the order of :data:`VARIANTS`, then threads=2, then the paper's way."""
    names = [*VARIANTS, "threads=2", "paper", "paper h-only"]
    return names.index(row["variant"]) if row["variant"] in names else len(names)


def table(size: str, records: list[dict], args: argparse.Namespace) -> None:
    hidden, batch, steps = parse_size(size)
    rows = [r for r in records if r["kind"] == "row" and r["size"] == size]
    refs = {(r["backend"], r["model"], r["steps"], r["k"]): r for r in records
            if r["kind"] == "reference" and r["size"] == size}
    prims = {(r["backend"], r["model"]): r for r in records if r["kind"] == "primitives" and r["size"] == size}
    hung = [r for r in records if r["kind"] == "timeout" and r["size"] == size]
    on = "" if args.device == "cpu" else f", torch and JAX on {args.device}"
    print(f"\nfloat32, full spectrum unless k=32, hidden {hidden}, input {args.features}, batch {batch}, {steps} steps, "
          f"no warm-up{on}")
    head = (f"{'model':5s} {'backend':10s} {'variant':18s} {'wall s':>8s} {'cpu s':>8s} {'/default':>8s} "
            f"{'paper/':>7s} {'x bound1':>8s} {'x bound2':>8s} {'max|dλ|':>8s} {'rel':>8s}  note")
    print(head)
    print("-" * len(head))
    for model in args.models:
        paper = next((r["wall"] for r in rows if r["model"] == model and r["variant"] == "paper"), None)
        tangent_flops, qr_flops = flops_per_step(model, hidden, batch)
        fast = [p for (b, m), p in prims.items() if m == model]
        t_tangent = min((p["t_tangent"] for p in fast), default=None)
        t_qr = min((p["t_qr"] for p in fast), default=None)
        for backend in args.backends:
            mine = sorted((r for r in rows if r["model"] == model and r["backend"] == backend), key=order)
            default = next((r["wall"] for r in mine if r["variant"] == "default"), None)
            for r in mine:
                wall = r["wall"]
                cells = [f"{wall:8.3f}", f"{r['cpu']:8.3f}", f"{wall / default:7.2f}x" if default else f"{'-':>8s}",
                         f"{paper / wall:6.2f}x" if paper else f"{'-':>7s}"]
                if t_tangent is not None and t_qr is not None and r["k"] == state_dim(model, hidden):
                    bound1 = steps * (t_tangent + t_qr)
                    bound2 = steps * t_tangent * (tangent_flops + qr_flops) / tangent_flops
                    cells += [f"{wall / bound1:7.1f}x", f"{wall / bound2:7.1f}x"]
                else:
                    cells += [f"{'-':>8s}"] * 2
                err = rel = "-"
                ref = refs.get((backend, model, r["steps"], r["k"]))
                if ref is not None and r["per_sequence"] is not None:
                    lam = np.asarray(ref["per_sequence"])
                    diff = np.abs(np.asarray(r["per_sequence"]) - lam)
                    err, rel = f"{diff.max():.1e}", f"{(diff / np.maximum(1.0, np.abs(lam))).max():.1e}"
                print(f"{model:5s} {backend:10s} {r['variant']:18s} " + " ".join(cells) + f" {err:>8s} {rel:>8s}  {r['note']}")
            for h in hung:
                if h["backend"] == backend and model in h["missing"]:
                    print(f"{model:5s} {backend:10s} {h['variant']:18s} no result ({h['why']})")
    print("\nfloat64 reference (ortho_every=1, Householder): λ1 and λd of the mean spectrum, nats/step")
    for (backend, model, n, k), r in sorted(refs.items()):
        if n == steps and k == state_dim(model, hidden):
            print(f"  {backend:10s} {model:5s} λ1 = {r['exponents'][0]:+.4f}   λd = {r['exponents'][-1]:+.3f}")
    print("\nprimitives, one thread, per call (each from a compiled loop of "
          f"{LOOP}); the bounds use the fastest framework's:")
    for (backend, model), p in sorted(prims.items()):
        tangent_flops, qr_flops = flops_per_step(model, hidden, batch)
        d = state_dim(model, hidden)
        print(f"  {backend:10s} {model:5s} W_hh @ Q f32 {p['t_tangent'] * 1e3:7.3f} ms "
              f"({tangent_flops / p['t_tangent'] / 1e9:5.1f} GFLOP/s)   QR ({batch}, {d}, {d}) f64 "
              f"{p['t_qr'] * 1e3:7.3f} ms ({qr_flops / p['t_qr'] / 1e9:5.1f} GFLOP/s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated (default: %(default)s)")
    parser.add_argument("--sizes", default=None, help="comma-separated HIDDENxBATCHxSTEPS (default: 128x16x200)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated (default: %(default)s)")
    parser.add_argument("--variants", default=None, help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--features", type=int, default=32, help="input features (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per row, the fastest kept (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="where torch and JAX compute, e.g. cuda (default: %(default)s)")
    parser.add_argument("--gpu", action="store_true",
                        help="torch and JAX on cuda: hidden 128 and 512, full spectrum and k=32, a few minutes")
    parser.add_argument("--quick", action="store_true", help="hidden 64, batch 8, 100 steps; fewer variants, no threads=2 rows; one call each")
    parser.add_argument("--no-threads", dest="two_threads", action="store_false", help="skip the threads=2 rows")
    parser.add_argument("--no-paper", dest="paper", action="store_false", help="skip the paper's way")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="stop a backend's process after this many seconds without a result (default %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="show the workers' own output")
    parser.add_argument("--step-functions", action="store_true",
                        help="step functions (autodiff) against the analytic cells, on --step-cases (default: a GRU)")
    parser.add_argument("--step-cases", default=",".join(STEP_CASES),
                        help="comma-separated HIDDENxBATCHxSTEPS:k for --step-functions (default: %(default)s)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.gpu:
        args.device = "cuda" if args.device == "cpu" else args.device
        args.backends = "torch,jax" if args.backends == ",".join(BACKENDS) else args.backends
        args.sizes = args.sizes or "128x16x200,512x16x50"
        args.variants = args.variants or ",".join(GPU_VARIANTS)
        args.repeats = args.repeats or 1
    if args.step_functions:
        args.models = "GRU" if args.models == ",".join(MODELS) else args.models
        args.backends = "torch,jax" if args.backends == ",".join(BACKENDS) else args.backends
        args.sizes, args.two_threads, args.paper = args.step_cases, False, False
    args.repeats = args.repeats or (1 if args.quick else 5 if args.step_functions else 2)
    if args.worker:
        return worker(args)

    args.backends = [b for b in args.backends.split(",") if b]
    args.models = [m for m in args.models.split(",") if m]
    args.variants = (args.variants or ",".join(QUICK_VARIANTS if args.quick else DEFAULT_VARIANTS)).split(",")
    sizes = (args.sizes or ("64x8x100" if args.quick else "128x16x200")).split(",")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    two = args.two_threads and not args.quick and len(cpus) >= 2 and args.device == "cpu"
    prefix, preexec = pin(cpus[:1])
    how = "taskset" if prefix else "sched_setaffinity" if preexec else "not pinned"
    where = "no GPU used" if args.device == "cpu" else f"torch and JAX on --device {args.device}"
    print(f"# {cpu_name()}, {len(cpus)} CPU(s) available, {where}; python {platform.python_version()}; "
          f"numpy {np.__version__}")
    print(f"# one thread per process ({how}; BLAS/OpenMP, TF intra/inter-op 1; XLA_FLAGS={SINGLE_THREAD_ENV['XLA_FLAGS']!r})"
          + ("; threads=2 rows on two CPUs" if two else "; threads=2 rows skipped (one CPU)" if args.two_threads else ""))
    if not args.step_functions:
        print(f"# wall/cpu: default and paper rows the fastest of {args.repeats} call(s), other rows one; after an "
              "untimed call that compiles (JAX, TensorFlow: per row; PyTorch: one per model and per threads=2 row)")
    start = time.perf_counter()
    records: list[dict] = []
    for size in sizes:
        for backend in args.backends:
            got = run_worker(backend, size, 1, cpus[:1], args)
            records += got
            if any(r["kind"] == "skip" for r in got):
                print(f"# {backend}: skipped ({next(r['why'] for r in got if r['kind'] == 'skip')})")
                continue
            for r in got:
                if r["kind"] == "versions":
                    print(f"# {backend}: {r['text']}")
            if two and backend != "jax":
                records += run_worker(backend, size, 2, cpus[:2], args)
            elif two:
                print("# jax: threads=2 skipped: the JAX backend runs one thread (two threads each running a compiled "
                      "loop with a batched QR deadlock in XLA's CPU runtime, jax 0.10.2)")
    if args.step_functions:
        step_table(records, args)
    else:
        for size in sizes:
            table(size, records, args)
    print(f"\n# total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
