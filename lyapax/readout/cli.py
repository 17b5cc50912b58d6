"""``lyapax readout``: the hyperparameter study from the command line; ``lyapax readout analyze PATH``: any sweep.

Entry point: `main` (``argv`` without the program and subcommand names; returns an exit code).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..cli import fail
from ..errors import InputError
from ..install import pip_install

__all__ = ["main", "build_parser", "build_analyze_parser", "analyze_main"]


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive finite comma-separated numbers, got {text!r}")
    return values


def _archs(text: str) -> tuple[str, ...]:
    values = tuple(v.strip().lower() for v in text.split(",") if v.strip())
    bad = [v for v in values if v not in ("lstm", "gru")]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of lstm,gru, got {text!r}")
    return values


def _sizes(text: str) -> int | tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive comma-separated integers, got {text!r}")
    return values[0] if len(values) == 1 else values


_UNSET = object()


def _k(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number of exponents or 'all', got {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lyapax readout",
        description=(
            "Train a family of character-level LSTM/GRU networks (PyTorch) across the init scale p of U(-p, p) and "
            "the learning rate; compute their Lyapunov spectra during training; report how well the early spectrum "
            "predicts the final validation loss, against the early loss and the hyperparameters. Resumable: re-run "
            "the same command. "
            "`lyapax readout analyze PATH` analyses any sweep's records (see lyapax readout analyze -h)."
        ),
    )
    task = p.add_argument_group("task and scale")
    task.add_argument("--quick", action="store_true", help="small study on the embedded task (a few minutes on 2 cores)")
    task.add_argument("--preset", choices=("paper",),
                      help="paper: the regime of Vogt et al. 2022 (one-layer LSTMs/GRUs without biases, p in "
                           "[0.04, 0.24] and beyond, dropout 0.1, Adam 0.002 with decay, sizes 32 and 64 pooled, all "
                           "exponents at epoch 1), sized for a 2-core CPU; see docs/readout.md for the GPU setting")
    task.add_argument("--text", metavar="PATH", help="character LM on this text file instead of the embedded grammar text")
    task.add_argument("--max-chars", type=int, metavar="N", help="read only the first N characters of --text")
    task.add_argument("--out", metavar="DIR", help="output folder (default: ./lyapax-readout[-quick|-text])")
    task.add_argument("--seed", type=int, default=0, help="seed of data, initialisation and batches (default 0)")
    grid = p.add_argument_group("sweep")
    grid.add_argument("--archs", type=_archs, help="comma-separated: lstm,gru")
    grid.add_argument("--init-scales", type=_floats, metavar="P,P,...", help="U(-p, p) init scales")
    grid.add_argument("--lrs", type=_floats, metavar="LR,LR,...", help="Adam learning rates")
    grid.add_argument("--hidden", type=_sizes, metavar="H[,H,...]",
                      help="hidden units, one size or several pooled (64; --text: 128; --preset paper: 32,64)")
    grid.add_argument("--replicates", type=int, help="seeds per grid point (quick 1, default 2, --text 1)")
    tr = p.add_argument_group("training")
    tr.add_argument("--epochs", type=int, help="training epochs (quick 5, default 8, --text 10)")
    tr.add_argument("--batches-per-epoch", type=int, help="batches per epoch (quick 60, default 100, --text 60)")
    tr.add_argument("--batch", type=int, help="sequences per batch (32)")
    tr.add_argument("--seq-len", type=int, help="characters per training window (50; --text: 100)")
    tr.add_argument("--threads", type=int, help="torch threads (default 1)")
    tr.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None,
                    help="biases in the recurrent layer (default yes; --preset paper: no)")
    tr.add_argument("--dropout", type=float, help="dropout on the recurrent layer's outputs (0; --preset paper: 0.1)")
    tr.add_argument("--lr-decay", type=float, help="learning-rate factor per epoch (1 = none; --preset paper: 0.97)")
    tr.add_argument("--lr-decay-after", type=int, metavar="EPOCH",
                    help="first epoch after which the learning rate decays (--preset paper: 7)")
    sp = p.add_argument_group("spectrum and analysis")
    sp.add_argument("--backend", help="spectrum backend (default: chosen from the model, i.e. torch)")
    sp.add_argument("--k", type=_k, default=_UNSET,
                    help="number of exponents, or 'all' (default 16; --preset paper: all)")
    sp.add_argument("--warmup", type=int, help="warm-up steps of the probe (default 50)")
    sp.add_argument("--probe-batch", type=int, help="probe sequences (default 8)")
    sp.add_argument("--probe-steps", type=int, help="probe length in characters (default 150)")
    sp.add_argument("--early-epoch", type=int, help="epoch of the early readout (default 1; 0 = at initialisation)")
    sp.add_argument("--top", type=int, help="how many top exponents the 'mean_top' feature averages (default 4)")
    sp.add_argument("--threshold", type=float, help="threshold of the 'n_above' feature, nats/step (default -0.1)")
    sp.add_argument("--bootstrap", type=int, help="bootstrap resamples (default 2000)")
    sp.add_argument("--folds", type=int,
                    help="outer cross-validation folds of the analysis (default 5; needs 2 networks per fold, and 8)")
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
        raise ImportError(f"--ray: {exc}") from exc
    return RayOptions(address=args.ray_address, num_cpus=args.ray_cpus)


def _out_of_memory(exc: BaseException) -> bool:
    """A MemoryError, or PyTorch's allocation failure (a RuntimeError)."""
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "allocate" in str(exc)
                                            and "memory" in str(exc))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lyapax readout [analyze]`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Bad input never shows a traceback: the message and exit code 2, checked before any training.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "analyze":
        return analyze_main(argv[1:])
    prog = "lyapax readout"
    args = build_parser().parse_args(argv)  # a bad flag: argparse's message and SystemExit(2)
    try:  # training needs PyTorch (lyapax.readout.train imports it); `analyze` does not
        from .study import DEFAULT, PAPER, QUICK, TEXT_DEFAULT, run_study, with_overrides
    except ImportError as exc:
        return fail(prog, f"training networks needs PyTorch, which is not installed ({exc}): {pip_install('torch')}")
    if args.preset == "paper" and args.quick:
        return fail(prog, "--quick and --preset paper exclude each other.")
    try:
        if args.preset == "paper":
            base = PAPER
        elif args.text and args.quick:
            base = with_overrides(TEXT_DEFAULT, init_scales=(0.04, 0.35, 1.4, 2.8), lrs=(0.001, 0.01), epochs=4,
                                  batches_per_epoch=50, hidden=64, max_chars=args.max_chars or 400_000)
        elif args.text:
            base = TEXT_DEFAULT
        else:
            base = QUICK if args.quick else DEFAULT
        overrides = {name: getattr(args, name) for name in (
            "text", "max_chars", "seed", "archs", "init_scales", "lrs", "hidden", "replicates", "epochs",
            "batches_per_epoch", "batch", "seq_len", "threads", "backend", "warmup", "probe_batch", "probe_steps",
            "early_epoch", "top", "threshold", "bootstrap", "folds", "bias", "dropout", "lr_decay", "lr_decay_after")}
        cfg = with_overrides(base, **overrides, **({} if args.k is _UNSET else {"k": args.k}))
        ray_options = _ray_options(args)
    except (TypeError, ValueError, ImportError) as exc:
        return fail(prog, exc)
    out = args.out or ("lyapax-readout" + ("-paper" if args.preset else "") + ("-text" if args.text else "")
                       + ("-quick" if args.quick else ""))
    t0 = time.perf_counter()
    try:
        analysis = run_study(cfg, out, progress=not args.no_progress, figures=not args.no_figures, ray=ray_options)
    except InputError as exc:  # the output folder, the corpus, the backend, e.g. an unreachable --ray-address
        return fail(prog, exc)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished networks are kept in {out}/networks; re-run the same command to resume.",
              file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError) as exc:
        if not _out_of_memory(exc):
            raise
        return fail(prog, f"out of memory ({str(exc).splitlines()[0]}); lower --hidden, --batch or --probe-batch. "
                     f"Finished networks are kept in {out}/networks.", 1)
    except OSError as exc:  # e.g. the disk filled up
        return fail(prog, f"cannot write the outputs ({exc}); finished networks are kept in {out}/networks.", 1)
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")
    _print_summary(analysis, out)
    return 0


def _print_summary(analysis: dict[str, Any], out: str) -> None:
    from .report import added_value_in_words

    stab = analysis["stability"]
    print(f"{analysis['n_networks']} networks analysed ({len(analysis['excluded'])} excluded); target "
          f"{analysis['target']}, early epoch {analysis['early_epoch']}.")
    print(f"Ended unstable: {stab['n_unstable']} ({stab['definition']}).")
    if stab["auc"]:
        best, v = max(stab["auc"].items(), key=lambda kv: kv[1]["auc"])
        print(f"  best early readout of it: {best}, AUC {v['auc']:.2f} [{v['ci'][0]:.2f}, {v['ci'][1]:.2f}]")
    elif stab["note"]:
        print(f"  no AUC: {stab['note']}")
    if analysis["readouts"]:
        print(f"How good the {analysis['n_stable']} stable networks get: out-of-fold R^2 [95% bootstrap interval]:")
        for name, r in analysis["readouts"].items():
            print(f"  {name:>45}: {r['r2']:+.3f} [{r['r2_ci'][0]:+.3f}, {r['r2_ci'][1]:+.3f}]")
    print(added_value_in_words(analysis))
    print(f"report: {os.path.join(out, 'report.md')}")


def build_analyze_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lyapax readout analyze",
        description=(
            "Analyse any sweep: does the early Lyapunov spectrum predict the final validation loss beyond the early "
            "loss and the hyperparameters? Reads PATH/networks/*.json (as `lyapax readout` writes), PATH/*.json or a "
            "CSV file (docs/readout.md: the record format); writes analysis.json, report.md, networks.csv, figures."
        ),
    )
    p.add_argument("path", metavar="PATH", help="folder of records, or a .csv file")
    p.add_argument("--out", metavar="DIR", help="output folder (default: PATH, or the CSV's folder)")
    p.add_argument("--early-epoch", type=int, default=1, help="epoch of the early readout (default 1)")
    p.add_argument("--target", default="final_val_loss", help="record key to predict (default final_val_loss)")
    p.add_argument("--folds", type=int, default=5, help="outer cross-validation folds (default 5)")
    p.add_argument("--repeats", type=int, default=5, help="repeats of the outer folds (default 5)")
    p.add_argument("--inner-folds", type=int, default=5, help="folds choosing the regularisation (default 5)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--permutations", type=int, default=200, help="spectrum shuffles for the p-value (default 200)")
    p.add_argument("--top", type=int, default=4, help="exponents the 'mean_top' feature averages (default 4)")
    p.add_argument("--threshold", type=float, default=-0.1, help="'n_above' threshold, nats/step (default -0.1)")
    p.add_argument("--unstable-margin", type=float, default=0.1,
                   help="ended unstable: diverged, or the target above the network's own best validation loss by "
                        "more than this, in the target's units (default 0.1; inf: only divergence)")
    p.add_argument("--rank-target", action="store_true",
                   help="predict the ranks of the target (0 = best, 1 = worst) instead of its values")
    p.add_argument("--no-mlp", action="store_true", help="skip the MLP readout (it needs PyTorch)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first record that lacks the early loss or spectrum, instead of excluding it")
    p.add_argument("--seed", type=int, default=0, help="seed of folds, bootstrap and permutations (default 0)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    return p


def analyze_main(argv: Sequence[str]) -> int:
    """``lyapax readout analyze PATH [options]``; returns the exit code (2, with the message, for bad input)."""
    from .records import load_records
    from .report import write_outputs

    prog = "lyapax readout analyze"
    args = build_analyze_parser().parse_args(list(argv))
    out = args.out or (os.path.dirname(os.path.abspath(args.path)) if os.path.isfile(args.path) else args.path)
    t0 = time.perf_counter()
    skipped: list[dict[str, str]] = []
    try:
        records = load_records(args.path, skipped=skipped)
        for s in skipped:
            fail(prog, f"skipped {s['source']}: {s['reason']}")
        analysis = write_outputs(
            records, out, figures=not args.no_figures, skipped=skipped, early_epoch=args.early_epoch,
            target=args.target, folds=args.folds, repeats=args.repeats, inner_folds=args.inner_folds,
            n_boot=args.bootstrap, n_permutations=args.permutations, top=args.top, threshold=args.threshold,
            unstable_margin=args.unstable_margin, rank_target=args.rank_target,
            mlp=False if args.no_mlp else "auto", strict=args.strict, seed=args.seed)
    except InputError as exc:
        return fail(prog, exc)
    except KeyboardInterrupt:
        return fail(prog, "interrupted; nothing written after the last complete file.", 130)
    except MemoryError as exc:
        return fail(prog, f"out of memory ({exc}); lower --bootstrap or analyse fewer networks.", 1)
    except OSError as exc:
        return fail(prog, f"cannot write the outputs ({exc}).", 1)
    print(f"analysis time {time.perf_counter() - t0:.0f} s")
    _print_summary(analysis, out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
