"""The analysis of a sweep: does the early spectrum predict the target beyond the baselines? (numpy only)

`analyze` takes records in the documented format (`lyapax.readout.records`), keeps the
networks with everything the readouts need (the others are excluded and counted per
reason, or with ``strict=True`` an `InputError` names the file), and compares, under one
set of repeated K-fold splits with the regularisation chosen inside each training fold:

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
averaged over the repeated folds) and a permutation p-value (the spectra shuffled across
networks, the whole nested cross-validation rerun each time). Losses in the records' units
(nats/character for `lyapax readout`), exponents in nats/step.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from typing import Any

import numpy as np

from ..errors import InputError
from .features import FEATURES, interpolate_spectrum, spectrum_features
from .records import check_record
from .stats import (
    RidgeGrid,
    bootstrap_ci,
    bootstrap_indices,
    nested_cv_predict,
    one_blas_thread,
    percentile_interval,
    permutation_pvalue,
    r2_over_repeats,
    repeated_kfold,
    rmse,
    roc_auc,
    spearman,
    spearman_over_repeats,
)

__all__ = ["analyze", "READOUTS", "MLP_READOUT", "REPLICATE_KEYS", "ADDED_VALUE", "feature_table"]

READOUTS = (
    "hyperparameters", "early_val_loss", "early_val_loss+hyperparameters", "spectrum_features", "full_spectrum",
    "early_val_loss+full_spectrum", "early_val_loss+hyperparameters+full_spectrum",
)
MLP_READOUT = "mlp_full_spectrum"
#: Keys of ``network`` that name a replicate, not a hyperparameter: never used as predictors.
REPLICATE_KEYS = ("seed",)
#: The comparisons reported as the spectrum's added value: name -> (with spectrum, baseline).
ADDED_VALUE = {
    "spectrum_over_early_val_loss": ("early_val_loss+full_spectrum", "early_val_loss"),
    "spectrum_over_early_val_loss+hyperparameters": ("early_val_loss+hyperparameters+full_spectrum",
                                                     "early_val_loss+hyperparameters"),
}
_COMPONENTS = (1, 2, 3, 5, 8, 12, 20)


def _early_spectrum(rec: dict[str, Any], epoch: int) -> tuple[np.ndarray | None, str | None]:
    """The exponents at ``epoch``, or the reason there are none usable."""
    found = [s for s in rec.get("spectra", []) if s["epoch"] == epoch]
    if len(found) > 1:
        raise InputError(f"{rec['source']}: {len(found)} spectra at epoch {epoch}; keep one per epoch.")
    if not found or found[0].get("exponents") is None:
        why = f" ({found[0]['error']})" if found and found[0].get("error") else ""
        return None, f"no spectrum at the early epoch {epoch}{why}"
    lam = np.array([np.nan if v is None else v for v in found[0]["exponents"]], dtype=np.float64)
    if lam.size == 0 or not np.all(np.isfinite(lam)):
        return None, f"non-finite (NaN/Inf/null) exponents at the early epoch {epoch}"
    return lam, None


def _usable(records: list[dict[str, Any]], early_epoch: int, target: str, strict: bool
            ) -> tuple[list[tuple[dict[str, Any], np.ndarray]], list[dict[str, str]]]:
    kept, excluded = [], []
    for rec in records:
        losses = rec.get("val_loss", [])
        lam, why = _early_spectrum(rec, early_epoch)
        if rec.get(target) is None:
            why = f"no {target}"
        elif early_epoch >= len(losses) or losses[early_epoch] is None:
            why = f"no val_loss at the early epoch {early_epoch}"
        if why is None:
            kept.append((rec, lam))
            continue
        if strict:
            raise InputError(f"{rec['source']}: {why}. Fix: measure it in that record (val_loss[{early_epoch}], a "
                             f"spectrum with \"epoch\": {early_epoch}, a finite {target}), choose another early_epoch, "
                             "or analyse with strict=False (--keep-going) to exclude such networks, counted in the report.")
        excluded.append({"id": str(rec["id"]), "source": rec["source"], "reason": why})
    return kept, excluded


def _hyperparameters(nets: list[dict[str, Any]]) -> tuple[np.ndarray, list[str], dict[str, Any], dict[str, Any]]:
    """Design columns of the varying hyperparameters, their names, encodings and the constant ones."""
    keys = sorted({k for n in nets for k in n} - set(REPLICATE_KEYS))
    cols, names, used, constant = [], [], {}, {}
    for key in keys:
        values = [n.get(key) for n in nets]
        distinct = sorted({repr(v) for v in values})
        if len(distinct) == 1:
            constant[key] = values[0]
            continue
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            v = np.asarray(values, dtype=np.float64)
            log = bool(v.min() > 0 and v.max() / v.min() > 10.0)
            x = np.log10(v) if log else v
            cols.append(x)
            names.append(f"log10 {key}" if log else key)
            if len(distinct) > 2:  # a square: the target need not be monotone in a hyperparameter
                cols.append((x - x.mean()) ** 2)
                names.append(f"({names[-1]})^2")
            used[key] = {"encoding": "log10" if log else "linear", "values": sorted({float(u) for u in v})}
        else:
            labels = [str(v) for v in values]
            levels = sorted(set(labels))
            for level in levels[1:]:
                cols.append(np.array([lab == level for lab in labels], dtype=np.float64))
                names.append(f"{key}={level}")
            used[key] = {"encoding": "one-hot", "values": levels}
    X = np.column_stack(cols) if cols else np.zeros((len(nets), 0))
    return X, names, used, constant


def feature_table(spectra: list[np.ndarray], *, top: int, threshold: float) -> np.ndarray:
    """``(n, len(FEATURES))`` spectrum features, one row per spectrum."""
    return np.array([[spectrum_features(s, top=top, threshold=threshold)[f] for f in FEATURES] for s in spectra])


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
    """Every readout of the target from the records at the early epoch; returns the `analysis.json` dict.

    See `analyze_records` for the options. Runs numpy's OpenBLAS on one thread meanwhile
    (`lyapax.readout.stats.one_blas_thread`), restored after.
    """
    with one_blas_thread():
        return analyze_records(records, **options)


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
    unstable_margin: float = 0.5,
    mlp: bool | str = "auto",
    strict: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Every readout of ``target`` from the records at ``early_epoch``, as `analyze` (without the thread limit).

    ``records``: dicts in the documented format (`lyapax.readout.load_records` reads them
    from disk). Networks without the target, the early loss or a finite early spectrum are
    excluded and listed with the reason (``strict=True``: an `InputError` instead).
    ``folds`` x ``repeats`` outer splits, ``inner_folds`` inside each training part;
    ``n_boot`` bootstrap resamples of networks; ``n_permutations`` shuffles of the spectra
    for the added value's p-value. ``spectrum_length``: common length of the interpolated
    spectra (default: the shortest). Unstable: diverged, or a target above the sweep's best
    by more than ``unstable_margin`` (the target's units). ``mlp``: the MLP readout
    (``"auto"``: where PyTorch is installed). Records are not modified.
    """
    if not isinstance(records, (list, tuple)) or not records:
        raise InputError("records: expected a non-empty list of records (see lyapax.readout.load_records).")
    if early_epoch < 0:
        raise InputError(f"early_epoch: expected an epoch >= 0, got {early_epoch}.")
    if folds < 2 or repeats < 1 or inner_folds < 2:
        raise InputError(f"folds, inner_folds: expected >= 2, repeats >= 1; got {folds}, {inner_folds}, {repeats}.")
    records = [check_record(r, str(r.get("source", f"records[{i}]")) if isinstance(r, dict) else f"records[{i}]")
               for i, r in enumerate(records)]
    records = [{**r, "source": str(r.get("source", f"records[{i}]")), "id": str(r.get("id", f"records[{i}]"))}
               for i, r in enumerate(records)]
    kept, excluded = _usable(records, early_epoch, target, strict)
    n = len(kept)
    minimum = max(2 * folds, 8)
    if n < minimum:
        reasons = "; ".join(f"{c} x {why}" for why, c in Counter(e["reason"] for e in excluded).items()) or "none"
        raise InputError(f"records: {n} usable networks of {len(records)} (excluded: {reasons}); {folds}-fold "
                         f"cross-validation needs at least {minimum}. Add networks, lower folds, or pick an "
                         "early_epoch where every network has its loss and spectrum.")
    recs = [r for r, _ in kept]
    spectra = [lam for _, lam in kept]
    y = np.array([r[target] for r in recs], dtype=np.float64)
    early = np.array([r["val_loss"][early_epoch] for r in recs], dtype=np.float64)
    H, h_names, h_used, h_constant = _hyperparameters([r["network"] for r in recs])
    F = feature_table(spectra, top=top, threshold=threshold)
    sizes = sorted({s.size for s in spectra})
    length = int(spectrum_length or sizes[0])
    S = np.array([interpolate_spectrum(s, length) for s in spectra])
    E = np.column_stack([early, (early - early.mean()) ** 2])

    outer = repeated_kfold(n, folds, repeats, seed)
    n_train_min = n - int(np.ceil(n / folds))
    components = tuple(m for m in _COMPONENTS if m <= min(length, max(1, n_train_min - n_train_min // inner_folds - 2)))
    designs: dict[str, tuple[np.ndarray, Any]] = {
        "hyperparameters": (H, RidgeGrid(H.shape[1])),
        "early_val_loss": (E, RidgeGrid(2)),
        "early_val_loss+hyperparameters": (np.column_stack([E, H]), RidgeGrid(2 + H.shape[1])),
        "spectrum_features": (F, RidgeGrid(F.shape[1])),
        "full_spectrum": (S, RidgeGrid(0, components=components)),
        "early_val_loss+full_spectrum": (np.column_stack([E, S]), RidgeGrid(2, components=components)),
        "early_val_loss+hyperparameters+full_spectrum": (np.column_stack([E, H, S]),
                                                        RidgeGrid(2 + H.shape[1], components=components)),
    }
    if H.shape[1] == 0:  # nothing varies: the hyperparameter readouts are the early loss's
        del designs["hyperparameters"]
    mlp_model = _mlp_model(mlp, seed)
    if mlp_model is not None:
        designs[MLP_READOUT] = (S, mlp_model)

    boot = bootstrap_indices(n, n_boot, seed + 1)
    preds: dict[str, np.ndarray] = {}
    readouts: dict[str, Any] = {}
    for name, (X, model) in designs.items():
        preds[name], chosen = nested_cv_predict(X, y, outer, model, inner_folds=inner_folds, seed=seed)
        readouts[name] = _summary(y, preds[name], boot)
        readouts[name]["chosen_settings"] = Counter(str(model.settings[c]) for row in chosen for c in row).most_common()
        readouts[name]["n_columns"] = int(X.shape[1])

    incremental: dict[str, Any] = {}
    rng = np.random.default_rng(seed + 2)
    for key, (full, base) in ADDED_VALUE.items():
        if full not in preds or base not in preds:
            continue
        delta = r2_over_repeats(y, preds[full]) - r2_over_repeats(y, preds[base])
        deltas = [r2_over_repeats(y, preds[full], b) - r2_over_repeats(y, preds[base], b) for b in boot]
        entry: dict[str, Any] = {"delta_r2": delta, "ci": list(percentile_interval(deltas)),
                                 "with_spectrum": full, "baseline": base}
        if key == "spectrum_over_early_val_loss":
            X, model = designs[full]
            n_spec = S.shape[1]
            base_r2 = r2_over_repeats(y, preds[base])
            null = []
            for _ in range(n_permutations):
                Xp = X.copy()
                Xp[:, -n_spec:] = X[rng.permutation(n), -n_spec:]  # spectra shuffled across networks
                null.append(r2_over_repeats(y, nested_cv_predict(Xp, y, outer, model, inner_folds=inner_folds,
                                                                 seed=seed)[0]) - base_r2)
            entry["p"] = float((1 + np.sum(np.asarray(null) >= delta - 1e-12)) / (1 + n_permutations)) \
                if n_permutations else None
            entry["n_permutations"] = n_permutations
        incremental[key] = entry

    correlations: dict[str, Any] = {}
    for name, x in [(f, F[:, i]) for i, f in enumerate(FEATURES)] + [("early_val_loss", early)]:
        if np.ptp(x) == 0:
            correlations[name] = {"rho": None, "ci": [None, None], "p": None, "n": n}
            continue
        lo, hi = bootstrap_ci(x, y, n=n_boot, seed=seed + 3)
        correlations[name] = {"rho": spearman(x, y), "ci": [lo, hi],
                              "p": permutation_pvalue(x, y, n=n_boot, seed=seed + 4), "n": n}

    diverged = np.array([bool(r.get("diverged", False)) for r in recs])
    unstable = diverged | (y > y.min() + unstable_margin)
    stability: dict[str, Any] = {
        "definition": f"diverged, or {target} above the best of the analysed networks by more than "
                      f"{unstable_margin:g}",
        "margin": unstable_margin, "n_unstable": int(unstable.sum()), "n_stable": int((~unstable).sum()),
        "n_excluded_diverged": int(sum(bool(r.get("diverged", False)) for r in records) - diverged.sum()),
    }
    if unstable.sum() >= 5 and (~unstable).sum() >= 5:
        stability["auc"] = {}
        for name, p in preds.items():
            score = p.mean(axis=0)
            aucs = [roc_auc(unstable[b], score[b]) for b in boot]
            stability["auc"][name] = {"auc": roc_auc(unstable, score), "ci": list(percentile_interval(aucs))}
    else:
        stability["auc"] = None
        stability["note"] = (f"too few networks in a class for an AUC ({int(unstable.sum())} unstable, "
                             f"{int((~unstable).sum())} stable; at least 5 of each needed)")

    return {
        "n_networks": n,
        "n_records": len(records),
        "early_epoch": early_epoch,
        "target": target,
        "hyperparameters": sorted(h_used),
        "hyperparameter_encoding": h_used,
        "hyperparameter_columns": h_names,
        "constant_hyperparameters": h_constant,
        "replicate_keys": [k for k in REPLICATE_KEYS if any(k in r["network"] for r in recs)],
        "excluded": excluded,
        "spectrum": {"sizes": sizes, "interpolated_length": length, "units": "nats/step"},
        "correlations": correlations,
        "readouts": readouts,
        "incremental": incremental,
        "stability": stability,
        "settings": {"folds": folds, "repeats": repeats, "inner_folds": inner_folds, "bootstrap": n_boot,
                     "permutations": n_permutations, "top": top, "threshold": threshold, "seed": seed,
                     "components": list(components), "alphas": list(RidgeGrid(0).alphas)},
        "ids": [r["id"] for r in recs],
        "y": y.tolist(),
        "early_val_loss": early.tolist(),
        "features": {f: F[:, i].tolist() for i, f in enumerate(FEATURES)},
        "networks": [dict(r["network"]) for r in recs],
    }
