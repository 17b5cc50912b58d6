"""Random rate networks against D. G. Clark's published N = 4096 spectra, and what a CPU does at large N.

Usage::

    python benchmarks/rate_networks.py                          # all three parts, one thread (85 min here, loaded)
    python benchmarks/rate_networks.py --part map --sizes 64,128 --networks 4,4
    python benchmarks/rate_networks.py --part large-n --backends numpy,torch
    python benchmarks/rate_networks.py --quick                  # small sizes, a minute: checks the script runs
    python benchmarks/rate_networks.py --json out.json          # every network's numbers; rerun to resume

Parts:

- ``map``: Clark's map ``x <- (1 - δ) x + δ J tanh(x)`` at ``δ = 1`` (``RateNetwork(J, dt=1,
  method="euler")``), ``J_ij ~ N(0, g²/N)``, ``g = 3``, full spectrum, ``N`` = 64 ... 1024, several
  networks (``J`` and ``x0`` from ``numpy.random.default_rng(seed)``) per ``N``.
- ``flow``: ``dx/dt = -x + J tanh(x)`` (``τ = 1``) integrated with RK4 at ``dt = 0.1``
  (``method="rk4"``), ``g = 2``, the top ``N/4`` exponents (Clark: the top 1024 of 4096), QR every 5
  steps (every 0.5 τ, as Clark), exponents per unit time.
- ``large-n``: seconds per step of the full spectrum of ``N`` = 1024 and 2048 and of the top 256 of
  ``N = 4096`` (the δ = 1 map), per backend (the time of ``1 + steps`` steps less that of 1 step, over
  ``steps``: one-off costs left out), against the two operations every step must do: a bare
  ``J @ Q`` of ``(N, N) @ (N, k)`` and a bare QR of ``(N, k)``, timed in turn with it (``--repeats``
  rounds, 3 by default, the fastest of each) in the same framework.

The protocol follows Clark's ``scripts/run_network.py`` settings (his ``docs/NUMERICS.md``): the state alone
is burned in (``--burn`` time units), then the basis with it (``--warmup``, lyapax's warm-up), then
the exponents are averaged over ``--observe`` time units. Per network: ``λ1`` (nats per unit time),
``D_KY / N`` (Kaplan-Yorke dimension per neuron), ``h_KS / N`` (sum of the positive exponents per
neuron, nats per unit time), the mean exponent (full spectra) and the unstable fraction (positive
exponents over ``N``), as Clark's ``observables.spectrum_summary`` defines them.

The finite-size argument: these are self-averaging densities of the spectrum (per neuron), whose
finite-``N`` corrections are of order ``1/N``; so the per-``N`` means (over networks, with their
standard errors) from ``--fit-min`` (128) up are fitted by weighted least squares with ``a + b / N``
(the ``1/N²`` terms weigh most at the smallest sizes), and the fit's value at
``N = 4096`` (with its standard error, from the networks' spread) is compared with Clark's
single-network N = 4096 numbers. ``chi2/dof`` near 1 says the ``1/N`` form describes the sizes run.

One thread: the script re-executes itself with ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
``MKL_NUM_THREADS`` set to ``--threads`` (default 1) before numpy is imported, and sets torch's
intra-op threads to the same.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: Clark's N = 4096 networks (davidclark1/rnn-lyapunov, data/network/*.json "summaries", seed 0; seed 1 of
#: the map in the comment), in nats per unit time (δ = 1: per step).
CLARK = {
    # map_g3_delta1_N4096_seed0 (seed 1: 0.30948, 0.28743, 0.025135, -2.27317, 0.15259)
    "map": {"lambda1": 0.30958, "dky": 0.28717, "hks": 0.025106, "mean": -2.27390, "unstable": 0.15259},
    # flow_g2_rk4dt0.1_N4096_k1024_seed0 (top 1024 exponents)
    "flow": {"lambda1": 0.10996, "dky": 0.035507, "hks": 0.00088986, "mean": None, "unstable": 0.017090},
}
QUANTITIES = (("lambda1", "λ1"), ("dky", "D_KY/N"), ("hks", "h_KS/N"), ("mean", "mean λ"), ("unstable", "unstable"))


@dataclass(frozen=True)
class Setting:
    """One comparison: the model, the exponents asked for and Clark's protocol in time units."""

    part: str
    g: float
    dt: float
    method: str
    k_fraction: float  # k = N * k_fraction
    ortho_every: int
    burn: float  # state alone, time units
    warmup: float  # state and basis, time units
    observe: float  # counted, time units

    def steps(self, time_units: float) -> int:
        return int(round(time_units / self.dt))


MAP = Setting("map", g=3.0, dt=1.0, method="euler", k_fraction=1.0, ortho_every=1, burn=300, warmup=200, observe=2000)
FLOW = Setting("flow", g=2.0, dt=0.1, method="rk4", k_fraction=0.25, ortho_every=5, burn=300, warmup=100, observe=500)


@dataclass
class NetworkResult:
    part: str
    N: int
    k: int
    seed: int
    backend: str
    steps: int
    seconds: float
    lambda1: float
    dky: float
    hks: float
    mean: float | None
    unstable: float
    exponents_head: list = field(default_factory=list)


def _parse_ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def random_network(N: int, g: float, seed: int) -> tuple[Any, Any]:
    """``J (N, N)`` with entries ``N(0, g²/N)`` and ``x0 (1, N)`` with entries ``N(0, 1)``, from one seeded generator."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.normal(0.0, g / np.sqrt(N), (N, N)), rng.normal(size=(1, N))


def on_backend(backend: str, cell: Any, h: Any) -> tuple[Any, Any]:
    """The cell and state as the backend's arrays (numpy: as they are)."""
    if backend == "numpy":
        return cell, h
    import torch

    return cell.map_arrays(torch.from_numpy), torch.from_numpy(h)


def run_network(setting: Setting, N: int, seed: int, backend: str) -> NetworkResult:
    """Burn in the state, then one spectrum (warm-up + counted steps); the summaries, per unit time."""
    import array_api_compat.numpy as xnp
    import numpy as np

    import lyapax
    from lyapax.cells import RateNetwork

    J, h = random_network(N, setting.g, seed)
    cell = RateNetwork(J, dt=setting.dt, method=setting.method)
    for _ in range(setting.steps(setting.burn)):
        h = cell.step(xnp, h, None)
    k = int(round(N * setting.k_fraction))
    warmup, counted = setting.steps(setting.warmup), setting.steps(setting.observe)
    model, h0 = on_backend(backend, cell, h)
    start = time.perf_counter()
    s = lyapax.spectrum(model, steps=warmup + counted, warmup=warmup, h0=h0, k=k, ortho_every=setting.ortho_every,
                        seed=seed, dtype="float64")
    seconds = time.perf_counter() - start
    lam = s.exponents_per_time
    return NetworkResult(
        part=setting.part, N=N, k=k, seed=seed, backend=backend, steps=warmup + counted, seconds=seconds,
        lambda1=float(lam[0]), dky=s.kaplan_yorke_dimension / N, hks=float(lam[lam > 0].sum()) / N,
        mean=float(lam.mean()) if k == N else None, unstable=float(np.count_nonzero(lam > 0)) / N,
        exponents_head=[float(v) for v in lam[:8]],
    )


def inverse_n_fit(sizes: Any, means: Any, errors: Any) -> dict[str, float]:
    """Weighted least squares ``y = a + b / N`` through per-size means with standard errors ``errors``.

    Returns ``a`` (N -> infinity), ``b``, the value and its standard error at N = 4096, and chi2/dof.
    """
    import numpy as np

    N, y, e = (np.asarray(v, dtype=float) for v in (sizes, means, errors))
    X = np.stack([np.ones_like(N), 1.0 / N], axis=1)
    w = 1.0 / e**2
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    coef = cov @ X.T @ (w * y)
    x4096 = np.array([1.0, 1.0 / 4096])
    dof = max(len(N) - 2, 1)
    return {
        "a": float(coef[0]), "a_se": float(np.sqrt(cov[0, 0])), "b": float(coef[1]),
        "at_4096": float(x4096 @ coef), "at_4096_se": float(np.sqrt(x4096 @ cov @ x4096)),
        "chi2_dof": float(np.sum(w * (y - X @ coef) ** 2) / dof),
    }


def compare(setting: Setting, results: list[NetworkResult], fit_min: int = 0) -> dict[str, Any]:
    """Per-size means and standard errors, the 1/N fit over the sizes ``>= fit_min`` and Clark's N = 4096."""
    import numpy as np

    sizes = sorted({r.N for r in results})
    out: dict[str, Any] = {"sizes": sizes, "networks": [sum(r.N == n for r in results) for n in sizes],
                           "fit_min": fit_min, "by_quantity": {}}
    for key, _ in QUANTITIES:
        if CLARK[setting.part][key] is None:
            continue
        rows = []
        for n in sizes:
            v = np.array([getattr(r, key) for r in results if r.N == n])
            rows.append((n, float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan"), v.size))
        # the unstable fraction moves in steps of 1/N: no network's value is known better than that
        floor = {n: 1.0 / n if key == "unstable" else 0.0 for n in sizes}
        usable = [(n, m, max(sd, floor[n]) / np.sqrt(c)) for n, m, sd, c in rows
                  if n >= fit_min and c > 1 and max(sd, floor[n]) > 0]
        fit = inverse_n_fit(*zip(*usable)) if len(usable) >= 2 else None
        out["by_quantity"][key] = {"per_size": rows, "fit": fit, "clark": CLARK[setting.part][key]}
    return out


def print_comparison(setting: Setting, summary: dict[str, Any]) -> None:
    unit = "per step" if setting.dt == 1.0 else "per unit time"
    print(f"\n{setting.part}: g = {setting.g}, {setting.method} dt = {setting.dt}, k = {setting.k_fraction:g} N, "
          f"QR every {setting.ortho_every}; burn {setting.burn:g}, warm-up {setting.warmup:g}, observe "
          f"{setting.observe:g} time units; rates {unit}; the fit over N >= {summary['fit_min']}")
    head = "  ".join(f"{'N=' + str(n) + ' (' + str(c) + ')':>18}" for n, c in zip(summary["sizes"], summary["networks"]))
    print(f"{'quantity':<10}{head}  {'fit a+b/N at 4096':>20}  {'N->inf':>16}  {'chi2/dof':>8}  {'Clark 4096':>10}  "
          f"{'(fit-Clark)/se':>14}")
    for key, label in QUANTITIES:
        q = summary["by_quantity"].get(key)
        if q is None:
            continue
        cells = "  ".join(f"{m:>10.5f} ±{sd / max(c, 1) ** 0.5:<7.5f}" for _, m, sd, c in q["per_size"])
        fit = q["fit"]
        if fit is None:
            print(f"{label:<10}{cells}  (too few networks to fit)")
            continue
        z = (fit["at_4096"] - q["clark"]) / fit["at_4096_se"]
        chi2 = f"{fit['chi2_dof']:>8.2f}" if sum(n >= summary["fit_min"] for n in summary["sizes"]) > 2 else f"{'-':>8}"
        print(f"{label:<10}{cells}  {fit['at_4096']:>10.5f} ±{fit['at_4096_se']:<8.5f}  {fit['a']:>8.5f} ±{fit['a_se']:<6.4f}"
              f"  {chi2}  {q['clark']:>10.5f}  {z:>14.2f}")


def _seconds(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_large_n(N: int, k: int, backend: str, steps: int, repeats: int = 3) -> dict[str, Any]:
    """Seconds per step of lyapax on the δ = 1 map, and of a bare ``J @ Q`` and a bare QR of the same shapes.

    Each of the ``repeats`` rounds times, in turn, lyapax over 1 and over ``1 + steps`` steps (their
    difference leaves out one-off costs: the initial basis' QR of ``(N, N)``), the matmul and the QR;
    each figure is the fastest round's (the machine is shared: interleaving keeps the load alike).
    """
    import numpy as np

    import lyapax
    from lyapax.cells import RateNetwork

    J, h = random_network(N, 3.0, 0)
    model, h0 = on_backend(backend, RateNetwork(J, dt=1.0, method="euler"), h)
    Q = np.linalg.qr(np.random.default_rng(1).normal(size=(N, k)))[0]
    if backend == "numpy":
        A = J @ Q
        matmul, qr = (lambda: J @ Q), (lambda: np.linalg.qr(A))
    else:
        import torch

        Jt, Qt = torch.from_numpy(J), torch.from_numpy(Q)
        At = Jt @ Qt
        matmul, qr = (lambda: Jt @ Qt), (lambda: torch.linalg.qr(At))
    rounds = []
    with warnings.catch_warnings():  # a few steps are enough to time one, not to make a spectrum
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(repeats):
            one = _seconds(lambda: lyapax.spectrum(model, steps=1, h0=h0, k=k))
            more = _seconds(lambda: lyapax.spectrum(model, steps=1 + steps, h0=h0, k=k))
            rounds.append(((more - one) / steps, _seconds(matmul), _seconds(qr)))
    per_step, t_mm, t_qr = (min(r[i] for r in rounds) for i in range(3))
    return {"N": N, "k": k, "backend": backend, "steps": steps, "repeats": repeats, "per_step": per_step,
            "matmul": t_mm, "qr": t_qr, "matmul_gflops": 2.0 * N * N * k / t_mm / 1e9}


def print_large_n(rows: list[dict[str, Any]]) -> None:
    print("\nlarge N on the CPU: the δ = 1 map, float64, one sequence, QR every step; seconds per step")
    print(f"{'N':>5} {'k':>5} {'backend':<8} {'lyapax s/step':>13} {'J@Q s':>9} {'GFLOP/s':>8} {'QR s':>9} "
          f"{'bound s':>9} {'x bound':>8} {'1000 steps':>10}")
    for r in rows:
        bound = r["matmul"] + r["qr"]
        print(f"{r['N']:>5} {r['k']:>5} {r['backend']:<8} {r['per_step']:>13.4f} {r['matmul']:>9.4f} "
              f"{r['matmul_gflops']:>8.1f} {r['qr']:>9.4f} {bound:>9.4f} {r['per_step'] / bound:>7.2f}x "
              f"{r['per_step'] * 1000 / 60:>8.1f} min")


def _capped_threads(threads: int) -> None:
    """Re-execute with BLAS/OpenMP thread caps when they are not set yet (numpy reads them at import)."""
    want = str(threads)
    if all(os.environ.get(v) == want for v in THREAD_VARIABLES):
        return
    env = dict(os.environ, **{v: want for v in THREAD_VARIABLES})
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def _environment(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    info = {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "threads": args.threads, "load_average": os.getloadavg()}
    if "torch" in args.backends:
        import torch

        torch.set_num_threads(args.threads)
        info["torch"] = torch.__version__
    return info


def _load(path: str | None) -> dict[str, Any]:
    """An earlier ``--json`` file (its networks are reused), or an empty report."""
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    return {}


def _save(path: str | None, report: dict[str, Any]) -> None:
    if path:
        with open(path + ".tmp", "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
        os.replace(path + ".tmp", path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--part", choices=("all", "map", "flow", "large-n"), default="all")
    parser.add_argument("--sizes", help="map: N values (default 64,128,256,512,1024); flow: (default 256,512,1024)")
    parser.add_argument("--networks", help="networks per size, one per --sizes entry (default 16,8,6,4,2 and 4,3,2)")
    parser.add_argument("--backend", default="numpy", choices=("numpy", "torch"), help="backend of the map and flow parts")
    parser.add_argument("--backends", default="numpy,torch", help="backends timed by the large-n part")
    parser.add_argument("--fit-min", type=int, default=128,
                        help="smallest N in the a + b/N fit (default 128: the 1/N² terms weigh most at the smallest N)")
    parser.add_argument("--repeats", type=int, default=3, help="large-n: rounds timed, the fastest of each figure kept")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs: checks that the script runs")
    parser.add_argument("--json", help="results file, rewritten after every network; networks already in it "
                                       "(same part, protocol, N and seed) are reused, so a stopped run resumes")
    args = parser.parse_args(argv)
    args.backends = [b for b in args.backends.split(",") if b]
    _capped_threads(args.threads)
    env = _environment(args)
    print(f"# {env}")
    started = time.perf_counter()
    report = _load(args.json)
    report.setdefault("environment_runs", []).append(env)
    done = report.setdefault("networks", [])
    plans = {"map": (MAP, [64, 128, 256, 512, 1024], [16, 8, 6, 4, 2]), "flow": (FLOW, [256, 512, 1024], [4, 3, 2])}
    for part in ("map", "flow"):
        if args.part not in ("all", part):
            continue
        setting, sizes, networks = plans[part]
        if args.quick:
            setting = Setting(**{**asdict(setting), "burn": 50, "warmup": 20, "observe": 100})
            sizes, networks = [32, 64], [3, 3]
        if args.sizes and args.part == part:
            sizes = _parse_ints(args.sizes)
            networks = _parse_ints(args.networks) if args.networks else [3] * len(sizes)
        results = []
        for n, count in zip(sizes, networks):
            for seed in range(count):
                key = {"part": part, "N": n, "seed": seed, "setting": asdict(setting)}
                old = next((d for d in done if {k: d.get(k) for k in key} == key), None)
                if old is not None:
                    r = NetworkResult(**{k: v for k, v in old.items() if k != "setting"})
                else:
                    r = run_network(setting, n, seed, args.backend)
                    done.append({**asdict(r), "setting": asdict(setting)})
                    _save(args.json, report)
                results.append(r)
                print(f"  {part} N={n} seed={seed}: λ1={r.lambda1:.5f} D_KY/N={r.dky:.5f} h_KS/N={r.hks:.6f} "
                      f"unstable={r.unstable:.4f} ({r.seconds:.1f} s, {r.steps} steps{', reused' if old else ''})",
                      flush=True)
        summary = compare(setting, results, 0 if args.quick else args.fit_min)
        print_comparison(setting, summary)
        report[part] = {"setting": asdict(setting), "summary": summary}
        _save(args.json, report)
    if args.part in ("all", "large-n"):
        shapes = [(256, 256, 10), (512, 512, 4)] if args.quick else [(1024, 1024, 6), (2048, 2048, 3), (4096, 256, 6)]
        rows = [time_large_n(n, k, b, steps, args.repeats) for n, k, steps in shapes for b in args.backends]
        print_large_n(rows)
        report["large_n"] = {"rows": rows, "load_average": [env["load_average"], os.getloadavg()]}
    env["load_average_end"] = os.getloadavg()
    print(f"\n# load average at the end {os.getloadavg()}; this run {time.perf_counter() - started:.0f} s")
    _save(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
