"""The analysis of a sweep: which networks end unstable, and does the early spectrum predict how good the others get
beyond the baselines? (numpy only)

`analyze` takes records in the documented format (`lyapax.readout.records`), keeps the
networks with everything the readouts need (the others, and those with a non-finite
number, are excluded and counted per reason, or with ``strict=True`` an `InputError`
names the file), and answers two questions separately:

**Ends unstable** (`lyapax.readout.stability`): a network diverged, or its target ended more
than ``unstable_margin`` above its own best validation loss (a late blow-up). The AUC of
each readout for that label, with an interval, or "too few".

**How good** the networks that ended stable get: under one set of repeated K-fold splits
with the regularisation chosen inside each training fold, ridge regressions of the target
(or of its ranks, ``rank_target=True``) on

    hyperparameters                 every varying key of ``network`` (log10 where positive
                                    and spanning > a decade, strings one-hot, squares of
                                    numbers with > 2 values: the loss is not monotone in p)
    early_val_loss                  the validation loss at the early epoch (and its square)
    early_val_loss+hyperparameters
    spectrum_features               the scalar features of `lyapax.readout.features`
    full_spectrum                   the early spectrum interpolated to a common length,
                                    standardised, ridge on its leading principal components
    early_val_loss+full_spectrum
    early_val_loss+hyperparameters+full_spectrum
    mlp_full_spectrum               a small MLP on the interpolated spectrum (the paper's
                                    readout), where PyTorch is installed

The added value of the spectrum is ΔR² of ``early_val_loss+full_spectrum`` over
``early_val_loss``: a paired bootstrap interval (the same resampled networks for both, R²
averaged over the repeated folds), a permutation p-value (the spectra shuffled across
networks, the whole nested cross-validation rerun each time) and the smallest gain the
sweep could detect (`lyapax.readout.power`). Where some networks ended unstable, the same
ridge readouts on all networks are given beside (``all_networks``). Losses in the records'
units (nats/character for `lyapax readout`), exponents in nats/step.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from typing import Any

import numpy as np

from ..errors import InputError
from . import checks, power, stability
from .designs import REPLICATE_KEYS, Sweep, design_matrices, feature_table
from .features import FEATURES
from .records import check_record
from .selection import RECORD_KEYS, usable_records
from .stats import (
    RidgeGrid,
    bootstrap_ci,
    bootstrap_indices,
    nested_cv_predict,
    one_blas_thread,
    percentile_interval,
    permutation_pvalue,
    r2_over_repeats,
    rankdata,
    repeated_kfold,
    rmse,
    spearman,
    spearman_over_repeats,
)

__all__ = ["analyze", "analyze_records", "READOUTS", "MLP_READOUT", "REPLICATE_KEYS", "ADDED_VALUE", "RECORD_KEYS",
           "STRONG_CORRELATION", "feature_table"]

READOUTS = (
    "hyperparameters", "early_val_loss", "early_val_loss+hyperparameters", "spectrum_features", "full_spectrum",
    "early_val_loss+full_spectrum", "early_val_loss+hyperparameters+full_spectrum",
)
MLP_READOUT = "mlp_full_spectrum"
#: The comparisons reported as the spectrum's added value: name -> (with spectrum, baseline).
ADDED_VALUE = {
    "spectrum_over_early_val_loss": ("early_val_loss+full_spectrum", "early_val_loss"),
    "spectrum_over_early_val_loss+hyperparameters": ("early_val_loss+hyperparameters+full_spectrum",
                                                     "early_val_loss+hyperparameters"),
}
#: |Spearman ρ| from which two inputs of different kinds (early loss, spectrum feature, hyperparameter) are named.
STRONG_CORRELATION = 0.8
#: The most bootstrap resamples: their indices take n_boot x networks x 8 bytes.
MAX_BOOTSTRAP = 100_000
#: The most repeats of the outer folds and the most permutations: beyond, the analysis would run for days.
MAX_REPEATS = 1000
MAX_PERMUTATIONS = 100_000


def _check_options(o: dict[str, Any]) -> dict[str, Any]:
    """The options of `analyze_records`, checked; named as in the API, the command line's flag beside."""
    o["early_epoch"] = checks.count("early_epoch", o["early_epoch"], 0, "--early-epoch")
    target = o["target"]
    if not isinstance(target, str) or not target:
        raise InputError(f"target (--target): expected the name of a numeric record key, got {target!r}.")
    if target in RECORD_KEYS:
        raise InputError(f"target (--target): {target!r} is part of a record's structure, not a number to predict; "
                         "name a numeric key of the records such as 'final_val_loss'.")
    o["folds"] = checks.count("folds", o["folds"], 2, "--folds")
    o["repeats"] = checks.count("repeats", o["repeats"], 1, "--repeats")
    o["inner_folds"] = checks.count("inner_folds", o["inner_folds"], 2, "--inner-folds")
    o["n_boot"] = checks.count("n_boot", o["n_boot"], 1, "--bootstrap")
    if o["n_boot"] > MAX_BOOTSTRAP:
        raise InputError(f"n_boot (--bootstrap): at most {MAX_BOOTSTRAP} resamples, got {o['n_boot']} (2000 give "
                         "95 % intervals to about ±0.01).")
    if o["repeats"] > MAX_REPEATS:
        raise InputError(f"repeats (--repeats): at most {MAX_REPEATS} repeats of the folds, got {o['repeats']} (each "
                         "repeat refits every readout; 5 is the default).")
    o["n_permutations"] = checks.count("n_permutations", o["n_permutations"], 0, "--permutations")
    if o["n_permutations"] > MAX_PERMUTATIONS:
        raise InputError(f"n_permutations (--permutations): at most {MAX_PERMUTATIONS}, got {o['n_permutations']} "
                         "(each reruns the whole nested cross-validation; 200 resolve p down to 0.005).")
    o["top"] = checks.count("top", o["top"], 1, "--top")
    o["threshold"] = checks.real("threshold", o["threshold"], "--threshold")
    o["spectrum_length"] = checks.count("spectrum_length", o["spectrum_length"], 1, allow_none=True)
    o["unstable_margin"] = checks.real("unstable_margin", o["unstable_margin"], "--unstable-margin", low=0.0,
                                       low_open=True, allow_inf=True)
    if o["mlp"] not in (True, False, "auto"):
        raise InputError(f"mlp: expected True, False or 'auto', got {o['mlp']!r}.")
    o["strict"] = checks.boolean("strict", o["strict"], "--strict")
    o["rank_target"] = checks.boolean("rank_target", o["rank_target"], "--rank-target")
    o["seed"] = checks.count("seed", o["seed"], 0, "--seed")
    return o


def _summary(y: np.ndarray, pred: np.ndarray, boot: np.ndarray) -> dict[str, Any]:
    r2 = [r2_over_repeats(y, pred, b) for b in boot]
    rho = [spearman_over_repeats(y, pred, b) for b in boot]
    mean_pred = pred.mean(axis=0)
    return {"r2": r2_over_repeats(y, pred), "r2_ci": list(percentile_interval(r2)),
            "spearman": spearman_over_repeats(y, pred), "spearman_ci": list(percentile_interval(rho)),
            "rmse": float(np.mean([rmse(y, p) for p in pred])), "predictions": mean_pred.tolist()}


def _torch_installed() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # e.g. sys.modules["torch"] = None: blocked
        return False


def _mlp_model(mlp: bool | str, seed: int) -> Any:
    if mlp is False or (mlp == "auto" and not _torch_installed()):
        return None
    from .mlp import MLPGrid  # imports PyTorch at its top: only reached where it is installed

    return MLPGrid(seed=seed)



def analyze(records: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    """Which networks end unstable, and every readout of how good the others get; returns the `analysis.json` dict.

    See `analyze_records` for the options. Runs numpy's OpenBLAS on one thread meanwhile
    (`lyapax.readout.stats.one_blas_thread`), restored after.
    """
    with one_blas_thread():
        return analyze_records(records, **options)


def _fit_readouts(designs: dict[str, tuple[np.ndarray, Any]], y: np.ndarray, outer: list[list[np.ndarray]],
                  boot: np.ndarray, *, inner_folds: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    preds: dict[str, np.ndarray] = {}
    readouts: dict[str, Any] = {}
    for name, (X, model) in designs.items():
        preds[name], chosen = nested_cv_predict(X, y, outer, model, inner_folds=inner_folds, seed=seed)
        readouts[name] = _summary(y, preds[name], boot)
        readouts[name]["chosen_settings"] = Counter(str(model.settings[c]) for row in chosen for c in row).most_common()
        readouts[name]["n_columns"] = int(X.shape[1])
    return preds, readouts


def _added_value(designs: dict[str, tuple[np.ndarray, Any]], preds: dict[str, np.ndarray], y: np.ndarray,
                 outer: list[list[np.ndarray]], boot: np.ndarray, *, n_spec: int, n_permutations: int,
                 inner_folds: int, seed: int) -> dict[str, Any]:
    incremental: dict[str, Any] = {}
    rng = np.random.default_rng(seed + 2)
    n = y.size
    for key, (full, base) in ADDED_VALUE.items():
        if full not in preds or base not in preds:
            continue
        base_r2 = r2_over_repeats(y, preds[base])
        delta = r2_over_repeats(y, preds[full]) - base_r2
        deltas = [r2_over_repeats(y, preds[full], b) - r2_over_repeats(y, preds[base], b) for b in boot]
        covariates = designs[base][0].shape[1]
        entry: dict[str, Any] = {
            "delta_r2": delta, "ci": list(percentile_interval(deltas)), "with_spectrum": full, "baseline": base,
            "baseline_r2": base_r2, "baseline_columns": int(covariates),
            "detectable_partial_r": power.detectable_partial_r(n, covariates),
            "detectable_delta_r2": power.detectable_delta_r2(n, covariates, base_r2)}
        if key == "spectrum_over_early_val_loss" and n_permutations:
            X, model = designs[full]
            null = []
            for _ in range(n_permutations):
                Xp = X.copy()
                Xp[:, -n_spec:] = X[rng.permutation(n), -n_spec:]  # spectra shuffled across networks
                null.append(r2_over_repeats(y, nested_cv_predict(Xp, y, outer, model, inner_folds=inner_folds,
                                                                 seed=seed)[0]) - base_r2)
            entry["p"] = float((1 + np.sum(np.asarray(null) >= delta - 1e-12)) / (1 + n_permutations))
            entry["n_permutations"] = n_permutations
        elif key == "spectrum_over_early_val_loss":
            entry["p"], entry["n_permutations"] = None, 0
        incremental[key] = entry
    return incremental


def _correlations(sw: Sweep, y: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, x in [(f, sw.F[:, i]) for i, f in enumerate(FEATURES)] + [("early_val_loss", sw.early)]:
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            out[name] = {"rho": None, "ci": [None, None], "p": None, "n": sw.n}
            continue
        lo, hi = bootstrap_ci(x, y, n=n_boot, seed=seed + 3)
        out[name] = {"rho": spearman(x, y), "ci": [lo, hi], "p": permutation_pvalue(x, y, n=n_boot, seed=seed + 4),
                     "n": sw.n}
    return out


def _input_correlations(sw: Sweep, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Pairs of inputs of different kinds with |Spearman ρ| >= `STRONG_CORRELATION`, strongest first."""
    columns = [("early loss", "early_val_loss", sw.early)]
    columns += [("spectrum", f, sw.F[:, i]) for i, f in enumerate(FEATURES)]
    columns += [("hyperparameter", name, meta["H"][:, i]) for i, name in enumerate(meta["names"])
                if not name.startswith("(")]  # not the squares
    pairs = []
    for i, (kind_a, a, xa) in enumerate(columns):
        for kind_b, b, xb in columns[i + 1:]:
            if kind_a == kind_b or np.ptp(xa) == 0 or np.ptp(xb) == 0:
                continue
            rho = spearman(xa, xb)
            if abs(rho) >= STRONG_CORRELATION:
                pairs.append({"a": a, "b": b, "rho": rho})
    return sorted(pairs, key=lambda p: -abs(p["rho"]))


#: A target further than this many scaled median absolute deviations from the median is named an outlier.
OUTLIER_MADS = 5.0


def _outliers(sw: Sweep) -> list[str]:
    """Ids of the networks whose target lies more than `OUTLIER_MADS` scaled MADs from the median."""
    if sw.n == 0:
        return []
    med = float(np.median(sw.y))
    mad = 1.4826 * float(np.median(np.abs(sw.y - med)))  # the standard deviation, for normal data
    if mad == 0:
        return []
    return [r["id"] for r, v in zip(sw.recs, sw.y) if abs(v - med) > OUTLIER_MADS * mad]


def _fit_target(y: np.ndarray, rank_target: bool) -> np.ndarray:
    """The values the readouts predict: ``y``, or its ranks scaled to [0, 1] (ties: average ranks)."""
    if not rank_target:
        return y
    return (rankdata(y) - 1.0) / max(y.size - 1, 1)


def analyze_records(
    records: list[dict[str, Any]],
    *,
    early_epoch: int = 1,
    target: str = "final_val_loss",
    folds: int = 5,
    repeats: int = 5,
    inner_folds: int = 5,
    n_boot: int = 2000,
    n_permutations: int = 200,
    top: int = 4,
    threshold: float = -0.1,
    spectrum_length: int | None = None,
    unstable_margin: float = 0.1,
    rank_target: bool = False,
    mlp: bool | str = "auto",
    strict: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Which networks end unstable, and every readout of how good the others get, as `analyze` (no thread limit).

    ``records``: dicts in the documented format (`lyapax.readout.load_records` reads them
    from disk). Networks without the target, the early loss or a finite early spectrum, or
    with a non-finite loss or hyperparameter, are excluded and listed with the reason
    (``strict=True``: an `InputError` instead). Unstable (`lyapax.readout.stability`):
    diverged, or the target more than ``unstable_margin`` (the target's units; ``inf``: only
    divergence counts) above the network's own best validation loss. The regressions
    (``readouts``, ``incremental``, ``correlations``) are of the networks that ended stable;
    ``rank_target``: of the target's ranks. ``folds`` x ``repeats`` outer splits,
    ``inner_folds`` inside each training part; ``n_boot`` bootstrap resamples of networks;
    ``n_permutations`` shuffles of the spectra for the added value's p-value (0: none).
    ``spectrum_length``: common length of the interpolated spectra (default: the
    shortest). ``mlp``: the MLP readout (``"auto"``: where PyTorch is installed). The records
    are analysed sorted by id (then source), so their order does not matter; they are not modified.
    """
    if not isinstance(records, (list, tuple)) or not records:
        raise InputError("records: expected a non-empty list of records (see lyapax.readout.load_records).")
    o = _check_options(dict(early_epoch=early_epoch, target=target, folds=folds, repeats=repeats,
                            inner_folds=inner_folds, n_boot=n_boot, n_permutations=n_permutations, top=top,
                            threshold=threshold, spectrum_length=spectrum_length, unstable_margin=unstable_margin,
                            rank_target=rank_target, mlp=mlp, strict=strict, seed=seed))
    early_epoch, folds, seed, n_boot = o["early_epoch"], o["folds"], o["seed"], o["n_boot"]
    inner_folds, margin = o["inner_folds"], o["unstable_margin"]
    records = [check_record(r, str(r.get("source", f"records[{i}]")) if isinstance(r, dict) else f"records[{i}]")
               for i, r in enumerate(records)]
    records = [{**r, "source": str(r.get("source", f"records[{i}]")), "id": str(r.get("id", f"records[{i}]"))}
               for i, r in enumerate(records)]
    # one order whatever the caller's (folds and resamples are drawn over positions): `lyapax readout`,
    # which lists networks by grid order, and `analyze` on its folder, which reads files by name, agree
    records.sort(key=lambda r: (r["id"], r["source"]))
    kept, excluded = usable_records(records, early_epoch, target, o["strict"])
    n = len(kept)
    minimum = max(2 * folds, 8)
    if n < minimum:
        reasons = "; ".join(f"{c} x {why}" for why, c in Counter(e["reason"] for e in excluded).items()) or "none"
        raise InputError(f"records: {n} usable networks of {len(records)} (excluded: {reasons}); {folds}-fold "
                         f"cross-validation needs at least {minimum}. Add networks, lower folds, or pick an "
                         "early_epoch where every network has its loss and spectrum.")
    recs = [r for r, _ in kept]
    spectra = [lam for _, lam in kept]
    y = np.array([float(r[target]) for r in recs])
    early = np.array([float(r["val_loss"][early_epoch]) for r in recs])
    sizes = sorted({s.size for s in spectra})
    length = int(o["spectrum_length"] or sizes[0])
    everyone = Sweep(recs, spectra, y, early, length, o["top"], o["threshold"])

    # -- ends unstable: the rule, and the AUC of each ridge readout for it (all analysed networks)
    unstable, excess = stability.ends_unstable(recs, y, margin)
    designs_all, meta_all = design_matrices(everyone, folds, inner_folds)
    outer_all = repeated_kfold(n, folds, o["repeats"], seed)
    boot_all = bootstrap_indices(n, n_boot, seed + 1)
    stab: dict[str, Any] = {
        "definition": stability.definition(target, margin), "margin": margin,
        "n_unstable": int(unstable.sum()), "n_stable": int((~unstable).sum()),
        "unstable_ids": [r["id"] for r, u in zip(recs, unstable) if u], "excess": excess.tolist(),
        "n_excluded_diverged": int(sum(bool(r.get("diverged", False)) for r in records)
                                   - sum(bool(r.get("diverged", False)) for r in recs)),
        "min_class": stability.MIN_CLASS, "auc": None, "note": None,
    }
    if min(unstable.sum(), (~unstable).sum()) >= stability.MIN_CLASS:
        stab["auc"] = stability.instability_aucs(designs_all, unstable, folds, o["repeats"], boot_all,
                                                 inner_folds=inner_folds, seed=seed)
    else:
        stab["note"] = (f"too few networks in a class for an AUC ({int(unstable.sum())} unstable, "
                        f"{int((~unstable).sum())} stable; at least {stability.MIN_CLASS} of each needed)")

    # -- how good: the regressions on the networks that ended stable
    stable_idx = np.flatnonzero(~unstable)
    good = everyone.take(stable_idx)
    how_good: dict[str, Any] = {"n": good.n, "note": None, "outliers": _outliers(good)}
    readouts: dict[str, Any] = {}
    incremental: dict[str, Any] = {}
    correlations: dict[str, Any] = {}
    pairs: list[dict[str, Any]] = []
    fit_target = _fit_target(good.y, o["rank_target"])
    meta = meta_all
    if good.n < minimum:
        how_good["note"] = (f"too few networks ended stable ({good.n}) for {folds}-fold cross-validation (at least "
                            f"{minimum}); no readout of how good they get")
    else:
        designs, meta = design_matrices(good, folds, inner_folds) if good.n < n else (designs_all, meta_all)
        mlp_model = _mlp_model(o["mlp"], seed)
        if mlp_model is not None:
            designs[MLP_READOUT] = (good.S, mlp_model)
        outer = repeated_kfold(good.n, folds, o["repeats"], seed)
        boot = bootstrap_indices(good.n, n_boot, seed + 1)
        preds, readouts = _fit_readouts(designs, fit_target, outer, boot, inner_folds=inner_folds, seed=seed)
        incremental = _added_value(designs, preds, fit_target, outer, boot, n_spec=good.S.shape[1],
                                   n_permutations=o["n_permutations"], inner_folds=inner_folds, seed=seed)
        correlations = _correlations(good, fit_target, n_boot, seed)
        pairs = _input_correlations(good, meta)
        designs.pop(MLP_READOUT, None)

    # -- the same ridge readouts on every analysed network, where some ended unstable
    all_networks = None
    if unstable.any():
        y_all = _fit_target(y, o["rank_target"])
        preds_all, r_all = _fit_readouts(designs_all, y_all, outer_all, boot_all, inner_folds=inner_folds, seed=seed)
        all_networks = {
            "n": n, "readouts": {k: {f: v[f] for f in ("r2", "r2_ci", "spearman", "spearman_ci", "rmse")}
                                 for k, v in r_all.items()},
            "incremental": _added_value(designs_all, preds_all, y_all, outer_all, boot_all, n_spec=everyone.S.shape[1],
                                        n_permutations=0, inner_folds=inner_folds, seed=seed)}

    return {
        "n_networks": n,
        "n_records": len(records),
        "n_stable": int(good.n),
        "early_epoch": early_epoch,
        "target": target,
        "target_scale": "rank" if o["rank_target"] else "value",
        "hyperparameters": sorted(meta["used"]),
        "hyperparameter_encoding": meta["used"],
        "hyperparameter_columns": meta["names"],
        "constant_hyperparameters": meta["constant"],
        "replicate_keys": [k for k in REPLICATE_KEYS if any(k in r["network"] for r in recs)],
        "excluded": excluded,
        "skipped_files": [],
        "spectrum": {"sizes": sizes, "interpolated_length": length, "units": "nats/step"},
        "stability": stab,
        "how_good": how_good,
        "correlations": correlations,
        "input_correlations": pairs,
        "readouts": readouts,
        "incremental": incremental,
        "all_networks": all_networks,
        "settings": {"folds": folds, "repeats": o["repeats"], "inner_folds": inner_folds, "bootstrap": n_boot,
                     "permutations": o["n_permutations"], "top": o["top"], "threshold": o["threshold"], "seed": seed,
                     "unstable_margin": margin, "rank_target": bool(o["rank_target"]),
                     "components": list(meta_all["components"]), "alphas": list(RidgeGrid(0).alphas),
                     "strong_correlation": STRONG_CORRELATION},
        "ids": [r["id"] for r in recs],
        "y": y.tolist(),
        "stable": (~unstable).tolist(),
        "fit_target": fit_target.tolist(),
        "early_val_loss": early.tolist(),
        "features": {f: everyone.F[:, i].tolist() for i, f in enumerate(FEATURES)},
        "networks": [dict(r["network"]) for r in recs],
    }
