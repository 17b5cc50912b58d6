"""Does spectrum-guided pruning save compute in a hyperparameter search, and does it lose the best trials?

The same Optuna search on the readout's embedded task (character-level LSTM/GRU, PyTorch),
run twice per seed: without pruning (``NopPruner``) and with
:class:`lyapax.integrations.optuna.SpectrumPruner` (λ1 > ``--threshold`` nats/step at
epoch ``--rule-epoch``). Same sampler (TPE, seeded), same budget in trials, same objective
code; only the pruner differs. Search space: architecture {lstm, gru}, init scale p of
U(-p, p) in [0.03, 5] and Adam learning rate in [3e-4, 0.1] (both log-uniform); the
networks are those of ``lyapax readout --quick`` (64 units, 5 epochs of 60 batches).

Compute is counted as epochs trained and as seconds, CPU and wall, of the objective:
training plus the spectrum computations the pruner needs (the spectrum at its epoch).
The unpruned search also computes spectra at epochs 0 and 1, only for the replay below;
they are timed and subtracted, not counted as its compute. One thread per network: on a
machine shared with other jobs the CPU seconds are the steadier measure.

Also printed: a replay, on the unpruned search's completed trials, of other rules
(threshold, epoch) and of a predictor fitted on the trials completed so far (k-nearest
neighbours on λ1 at the rule's epoch, pruning when the predicted final loss is worse than
the median of those trials). A replay keeps the trials fixed: it shows what each rule
would have cut, not how the sampler would then have moved.

    python benchmarks/bench_pruning.py [--trials 20] [--seeds 0,1,2] [--out pruning.json]
    python benchmarks/bench_pruning.py --tables pruning.json more-seeds.json   # tables of saved runs, merged
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from dataclasses import replace
from typing import Any

import numpy as np
import optuna
import torch

from lyapax.integrations.optuna import EXPONENT_ATTR, InstabilityRule, create_study, report_spectrum
from lyapax.readout.study import QUICK, load_corpus
from lyapax.readout.train import NetworkConfig, train_network

optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_objective(corpus: Any, cfg: Any, hidden: int, seed: int, spectrum_epochs: set[int]) -> Any:
    def objective(trial: optuna.Trial) -> float:
        net = NetworkConfig(
            arch=trial.suggest_categorical("arch", ["lstm", "gru"]),
            init_scale=trial.suggest_float("init_scale", 0.03, 5.0, log=True),
            lr=trial.suggest_float("lr", 3e-4, 0.1, log=True),
            hidden=hidden,
            seed=seed * 1000 + trial.number,
        )
        t0, c0 = time.perf_counter(), time.process_time()
        spectrum_seconds = 0.0

        def on_epoch(epoch: int, val_loss: float, spectrum: dict[str, Any] | None) -> None:
            nonlocal spectrum_seconds
            spectrum_seconds += (spectrum or {}).get("seconds", 0.0)
            trial.set_user_attr("epochs_trained", epoch)
            trial.set_user_attr("seconds", time.perf_counter() - t0)
            trial.set_user_attr("cpu_seconds", time.process_time() - c0)
            trial.set_user_attr("spectrum_seconds", spectrum_seconds)
            if spectrum is not None:
                report_spectrum(trial, epoch, spectrum, value=val_loss, epochs=cfg.epochs)
            else:
                trial.report(val_loss, epoch)

        rec = train_network(net, cfg, corpus, on_epoch=on_epoch, spectrum_epochs=spectrum_epochs)
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        trial.set_user_attr("cpu_seconds", time.process_time() - c0)
        return float(rec["final_val_loss"])

    return objective


def run_search(pruned: bool, seed: int, args: argparse.Namespace, corpus: Any, rule: InstabilityRule) -> dict[str, Any]:
    cfg = replace(QUICK.train, epochs=args.epochs, batches_per_epoch=args.batches_per_epoch)
    sampler = optuna.samplers.TPESampler(seed=seed)
    if pruned:
        study = create_study(storage=None, rule=rule, sampler=sampler)
        spectrum_epochs = {rule.epoch}
    else:
        study = optuna.create_study(sampler=sampler, pruner=optuna.pruners.NopPruner())
        spectrum_epochs = {0, 1}
    t0 = time.perf_counter()
    study.optimize(make_objective(corpus, cfg, args.hidden, seed, spectrum_epochs), n_trials=args.trials)
    wall = time.perf_counter() - t0
    trials = []
    for t in study.trials:
        trials.append({
            "number": t.number, "state": t.state.name, "params": t.params, "value": t.value,
            "epochs_trained": t.user_attrs.get("epochs_trained", 0),
            "seconds": t.user_attrs.get("seconds", 0.0), "cpu_seconds": t.user_attrs.get("cpu_seconds", 0.0),
            "spectrum_seconds": t.user_attrs.get("spectrum_seconds", 0.0),
            "max_exponent": {int(k[len(EXPONENT_ATTR):]): v for k, v in t.user_attrs.items() if k.startswith(EXPONENT_ATTR)},
            "verdict": t.user_attrs.get("lyapax.verdict"),
        })
    done = [t for t in trials if t["state"] == "COMPLETE"]
    best = min(done, key=lambda t: t["value"]) if done else None
    spectrum_s = sum(t["spectrum_seconds"] for t in trials)
    # CPU seconds of the spectra are not measured apart; on one thread they are close to their wall seconds
    cpu = sum(t["cpu_seconds"] for t in trials)
    return {
        "pruned_search": pruned, "seed": seed, "wall_seconds": wall, "trials": trials,
        "n_pruned": sum(t["state"] == "PRUNED" for t in trials),
        "epochs": sum(t["epochs_trained"] for t in trials),
        "training_seconds": sum(t["seconds"] for t in trials) - spectrum_s,
        "spectrum_seconds": spectrum_s,
        "compute_seconds": sum(t["seconds"] for t in trials) - (0.0 if pruned else spectrum_s),
        "compute_cpu_seconds": cpu - (0.0 if pruned else spectrum_s),
        "best_value": None if best is None else best["value"],
        "best_params": None if best is None else best["params"],
        "best_max_exponent": None if best is None else best["max_exponent"].get(rule.epoch),
    }


def _knn_predict(x_train: np.ndarray, y_train: np.ndarray, x: float, k: int = 3) -> float:
    order = np.argsort(np.abs(x_train - x))[:k]
    return float(np.mean(y_train[order]))


def replay(search: dict[str, Any], epochs: int) -> list[dict[str, Any]]:
    """What other rules would have done to the unpruned search's trials (in the order they ran)."""
    trials = [dict(t, max_exponent={int(k): v for k, v in t["max_exponent"].items()})  # JSON keys are strings
              for t in search["trials"] if t["state"] == "COMPLETE"]
    best = min(t["value"] for t in trials)
    rows = []

    top5 = sorted(t["value"] for t in trials)[:5]

    def summarise(name: str, cut: list[bool], at: int) -> None:
        kept = [t["value"] for t, c in zip(trials, cut) if not c]
        saved = sum(epochs - at for c in cut if c)
        rows.append({"rule": name, "pruned": int(sum(cut)), "epochs_saved": saved,
                     "pruned_top5": sum(c and t["value"] <= top5[-1] for t, c in zip(trials, cut)),
                     "best_kept": min(kept) if kept else None, "lost_best": bool(kept and min(kept) > best) or not kept})

    for at in (0, 1):
        for thr in (-0.05, 0.0, 0.05, 0.1):
            lam = [t["max_exponent"].get(at) for t in trials]
            summarise(f"λ1 > {thr:g} at epoch {at}", [v is None or v > thr for v in lam], at)
    # a predictor fitted on the trials completed so far: kNN of the final loss on λ1 at epoch 1
    cut = []
    xs, ys = [], []
    for t in trials:
        lam = t["max_exponent"].get(1)
        prune = False
        if lam is not None and len(xs) >= 5:
            prune = _knn_predict(np.array(xs), np.array(ys), lam) > float(np.median(ys))
        cut.append(prune)
        if lam is not None and not prune:  # the replayed search would not know a pruned trial's final loss
            xs.append(lam)
            ys.append(t["value"])
    summarise("kNN(λ1 at epoch 1) worse than median", cut, 1)
    return rows


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def print_tables(searches: list[dict[str, Any]], epochs: int) -> None:
    """The measurement table (per seed and overall) and the replay table, in markdown."""
    searches = sorted(searches, key=lambda s: (s["seed"], s["pruned_search"]))
    best_of = {s["seed"]: s["best_params"] for s in searches if not s["pruned_search"]}
    print("| seed | search | trials pruned | epochs trained | compute: CPU s | compute: wall s | "
          "best final val loss (nats/char) | best trial's λ1 at rule epoch (nats/step) |")
    print("|---|---|---|---|---|---|---|---|")
    for s in searches:
        n = len(s["trials"])
        same = " (same trial)" if s["pruned_search"] and s["best_params"] == best_of.get(s["seed"]) else ""
        print(f"| {s['seed']} | {'spectrum pruner' if s['pruned_search'] else 'no pruner'} | {s['n_pruned']}/{n} "
              f"| {s['epochs']} | {s.get('compute_cpu_seconds', float('nan')):.0f} | {s['compute_seconds']:.0f} | "
              f"{_fmt(s['best_value'])}{same} | {_fmt(s['best_max_exponent'], '+.3f')} |")
    for pruned in (False, True):
        group = [s for s in searches if s["pruned_search"] == pruned]
        print(f"| all | {'spectrum pruner' if pruned else 'no pruner'} | {sum(s['n_pruned'] for s in group)}/"
              f"{sum(len(s['trials']) for s in group)} | {sum(s['epochs'] for s in group)} | "
              f"{sum(s.get('compute_cpu_seconds', float('nan')) for s in group):.0f} | "
              f"{sum(s['compute_seconds'] for s in group):.0f} | mean {np.mean([s['best_value'] for s in group]):.3f} | |")
    spectra = sum(s["spectrum_seconds"] for s in searches if not s["pruned_search"])
    print(f"\n(The unpruned searches also computed spectra at epochs 0 and 1 for the replay below, {spectra:.0f} s in "
          "all; they are not counted as their compute.)")

    print("\nReplay on the unpruned searches' trials (same trials, summed over seeds):")
    print("| rule | trials pruned | epochs saved | pruned trials among their search's 5 best | "
          "seeds where the best trial was pruned |")
    print("|---|---|---|---|---|")
    replays = [replay(s, epochs) for s in searches if not s["pruned_search"]]
    for i, row in enumerate(replays[0]):
        rows = [r[i] for r in replays]
        n = sum(len(s["trials"]) for s in searches if not s["pruned_search"])
        print(f"| {row['rule']} | {sum(r['pruned'] for r in rows)}/{n} | {sum(r['epochs_saved'] for r in rows)} | "
              f"{sum(r['pruned_top5'] for r in rows)} | {sum(r['lost_best'] for r in rows)} of {len(rows)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20, help="trials per search (default 20)")
    ap.add_argument("--seeds", default="0,1,2", help="sampler seeds (default 0,1,2)")
    ap.add_argument("--hidden", type=int, default=QUICK.hidden)
    ap.add_argument("--epochs", type=int, default=QUICK.train.epochs)
    ap.add_argument("--batches-per-epoch", type=int, default=QUICK.train.batches_per_epoch)
    ap.add_argument("--threshold", type=float, default=InstabilityRule.threshold,
                    help=f"the rule's λ1 threshold, nats/step (default {InstabilityRule.threshold})")
    ap.add_argument("--rule-epoch", type=int, default=1, help="the rule's epoch (default 1)")
    ap.add_argument("--out", help="write every trial and summary to this JSON file")
    ap.add_argument("--tables", nargs="+", metavar="JSON", help="only print the tables of runs saved with --out")
    args = ap.parse_args()
    if args.tables:
        saved = [json.load(open(path, encoding="utf-8")) for path in args.tables]
        print_tables([s for run in saved for s in run["searches"]], saved[0]["args"]["epochs"])
        return
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    rule = InstabilityRule(threshold=args.threshold, epoch=args.rule_epoch)
    corpus = load_corpus(QUICK)
    cfg = replace(QUICK.train, epochs=args.epochs, batches_per_epoch=args.batches_per_epoch)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"embedded task, {cfg.epochs} epochs x {cfg.batches_per_epoch} batches, {args.hidden} units; TPE, "
          f"{args.trials} trials x seeds {seeds}; rule: {rule.describe()}")
    print(f"optuna {optuna.__version__}, torch {torch.__version__}, {platform.machine()} x{os.cpu_count()}, "
          f"load average at start {load:.1f}")
    # one network first, untimed: the first one in a process pays PyTorch's one-time start-up costs
    train_network(NetworkConfig("lstm", 0.5, 0.01, args.hidden, 0), replace(cfg, epochs=1, batches_per_epoch=5), corpus)
    searches = []
    t_all = time.perf_counter()
    for seed in seeds:
        for pruned in ((False, True) if seed % 2 == 0 else (True, False)):  # alternate which runs first
            s = run_search(pruned, seed, args, corpus, rule)
            searches.append(s)
            print(f"  seed {seed} {'pruned' if pruned else 'unpruned'}: {s['n_pruned']} pruned, {s['epochs']} epochs, "
                  f"{s['compute_seconds']:.0f} s, best {_fmt(s['best_value'])}", flush=True)
    print(f"\ntotal wall time {time.perf_counter() - t_all:.0f} s; load average at end "
          f"{os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan'):.1f}\n")

    print_tables(searches, cfg.epochs)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump({"args": vars(args), "searches": searches}, fh, indent=1)
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
