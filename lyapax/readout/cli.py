"""``lyapax readout``: the hyperparameter study from the command line.

Entry point: `main` (``argv`` without the program and subcommand names; returns an exit code).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..errors import InputError
from ..install import pip_install

__all__ = ["main", "build_parser"]


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive comma-separated numbers, got {text!r}")
    return values


def _archs(text: str) -> tuple[str, ...]:
    values = tuple(v.strip().lower() for v in text.split(",") if v.strip())
    bad = [v for v in values if v not in ("lstm", "gru")]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of lstm,gru, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lyapax readout",
        description=(
            "Train a family of character-level LSTM/GRU networks (PyTorch) across the init scale p of U(-p, p) and "
            "the learning rate; compute their Lyapunov spectra early in training and at the end; report how well "
            "early spectrum features predict the final validation loss. Resumable: re-run the same command."
        ),
    )
    task = p.add_argument_group("task and scale")
    task.add_argument("--quick", action="store_true", help="small study on the embedded task (a few minutes on 2 cores)")
    task.add_argument("--text", metavar="PATH", help="character LM on this text file instead of the embedded grammar text")
    task.add_argument("--max-chars", type=int, metavar="N", help="read only the first N characters of --text")
    task.add_argument("--out", metavar="DIR", help="output folder (default: ./lyapax-readout[-quick|-text])")
    task.add_argument("--seed", type=int, default=0, help="seed of data, initialisation and batches (default 0)")
    grid = p.add_argument_group("sweep")
    grid.add_argument("--archs", type=_archs, help="comma-separated: lstm,gru")
    grid.add_argument("--init-scales", type=_floats, metavar="P,P,...", help="U(-p, p) init scales")
    grid.add_argument("--lrs", type=_floats, metavar="LR,LR,...", help="Adam learning rates")
    grid.add_argument("--hidden", type=int, help="hidden units (64; --text: 128)")
    grid.add_argument("--replicates", type=int, help="seeds per grid point (quick 1, default 2, --text 1)")
    tr = p.add_argument_group("training")
    tr.add_argument("--epochs", type=int, help="training epochs (quick 5, default 8, --text 10)")
    tr.add_argument("--batches-per-epoch", type=int, help="batches per epoch (quick 60, default 100, --text 60)")
    tr.add_argument("--batch", type=int, help="sequences per batch (32)")
    tr.add_argument("--seq-len", type=int, help="characters per training window (50; --text: 100)")
    tr.add_argument("--threads", type=int, help="torch threads (default 1)")
    sp = p.add_argument_group("spectrum and analysis")
    sp.add_argument("--backend", help="spectrum backend (default: chosen from the model, i.e. torch)")
    sp.add_argument("--k", type=int, help="number of exponents (default 16)")
    sp.add_argument("--warmup", type=int, help="warm-up steps of the probe (default 50)")
    sp.add_argument("--probe-batch", type=int, help="probe sequences (default 8)")
    sp.add_argument("--probe-steps", type=int, help="probe length in characters (default 150)")
    sp.add_argument("--early-epoch", type=int, help="epoch of the early readout (default 1; 0 = at initialisation)")
    sp.add_argument("--top", type=int, help="how many top exponents the 'mean_top' feature averages (default 4)")
    sp.add_argument("--threshold", type=float, help="threshold of the 'n_above' feature, nats/step (default -0.1)")
    sp.add_argument("--bootstrap", type=int, help="bootstrap resamples (default 2000)")
    ex = p.add_argument_group(f"execution (Ray: {pip_install('ray')})")
    ex.add_argument("--ray", action="store_true",
                    help="train each network as a Ray task: on a local Ray instance started for the run, or on the "
                         "cluster named by --ray-address / RAY_ADDRESS")
    ex.add_argument("--ray-address", metavar="HOST:PORT",
                    help="an existing Ray cluster (its head node's address, from `ray start --head`); implies --ray")
    ex.add_argument("--ray-cpus", type=int, metavar="N", help="CPUs of the local Ray instance (default: all)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    sp.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    return p


def _ray_options(args: argparse.Namespace) -> Any:
    """The Ray settings of the command line, or ``False`` to train in this process."""
    if not (args.ray or args.ray_address):
        if args.ray_cpus is not None:
            raise ValueError("--ray-cpus: only with --ray (the CPUs of the local Ray instance).")
        return False
    if args.ray_cpus is not None and args.ray_cpus < 1:
        raise ValueError(f"--ray-cpus: expected a number of CPUs >= 1, got {args.ray_cpus}.")
    try:
        from .ray_sweep import RayOptions
    except ImportError as exc:
        raise ImportError(f"--ray needs Ray, which is not installed ({exc}): {pip_install('ray')}") from exc
    return RayOptions(address=args.ray_address, num_cpus=args.ray_cpus)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lyapax readout`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from .study import DEFAULT, QUICK, TEXT_DEFAULT, run_study, with_overrides
    from .train import require_torch

    try:
        require_torch()
    except ImportError as exc:
        print(f"lyapax readout: {exc}", file=sys.stderr)
        return 2
    base = TEXT_DEFAULT if args.text else (QUICK if args.quick else DEFAULT)
    if args.text and args.quick:
        base = with_overrides(TEXT_DEFAULT, init_scales=(0.04, 0.35, 1.4, 2.8), lrs=(0.001, 0.01), epochs=4,
                              batches_per_epoch=50, hidden=64, max_chars=args.max_chars or 400_000)
    overrides = {name: getattr(args, name) for name in (
        "text", "max_chars", "seed", "archs", "init_scales", "lrs", "hidden", "replicates", "epochs",
        "batches_per_epoch", "batch", "seq_len", "threads", "backend", "k", "warmup", "probe_batch", "probe_steps",
        "early_epoch", "top", "threshold", "bootstrap")}
    try:
        cfg = with_overrides(base, **overrides)
        if not 0 <= cfg.early_epoch < cfg.train.epochs:
            raise ValueError(f"--early-epoch: expected 0 <= epoch < --epochs = {cfg.train.epochs}, got {cfg.early_epoch}.")
        if cfg.text is not None and not os.path.isfile(cfg.text):
            raise ValueError(f"--text: no such file {cfg.text!r}.")
        ray_options = _ray_options(args)
    except (TypeError, ValueError, ImportError) as exc:
        print(f"lyapax readout: {exc}", file=sys.stderr)
        return 2
    out = args.out or ("lyapax-readout" + ("-text" if args.text else "") + ("-quick" if args.quick else ""))
    t0 = time.perf_counter()
    try:
        analysis = run_study(cfg, out, progress=not args.no_progress, figures=not args.no_figures, ray=ray_options)
    except InputError as exc:  # e.g. an unreachable --ray-address
        print(f"lyapax readout: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished networks are kept in {out}/networks; re-run the same command to resume.",
              file=sys.stderr)
        return 130
    wall = time.perf_counter() - t0
    corr = analysis["correlations"]["all"]
    print(f"\n{analysis['n_networks']} networks ({analysis['n_diverged']} diverged); wall time {wall:.0f} s")
    print(f"Spearman rho of early (epoch {cfg.early_epoch}) features with the final validation loss [95% bootstrap CI]:")
    for key, c in corr.items():
        if key.startswith("early_") and c["spearman"] is not None:
            print(f"  {key[6:]:>13}: {c['spearman']:+.2f} [{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]  (n={c['n']})")
    reg = analysis["regression"]
    if "hyperparameters" in reg:
        print("Cross-validated R^2 of the final loss: " + ", ".join(
            f"{n.replace('_', ' ')} {reg[n]['r2_cv']:.2f}"
            for n in ("hyperparameters", "early_spectrum", "hyperparameters+early_spectrum")))
    print(f"report: {os.path.join(out, 'report.md')}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
