"""From trained networks to numbers: features per network, correlations, cross-validated regressions."""

from __future__ import annotations

from typing import Any

import numpy as np

from .features import FEATURES, spectrum_features
from .stats import bootstrap_ci, cross_val_predict, permutation_pvalue, r2_score, rmse, spearman

__all__ = ["network_rows", "analyse", "ROW_COLUMNS"]

ROW_COLUMNS = (
    ["id", "arch", "init_scale", "lr", "hidden", "seed", "final_val_loss", "best_val_loss", "diverged", "skipped_steps", "early_epoch"]
    + [f"early_{f}" for f in FEATURES]
    + [f"final_{f}" for f in FEATURES]
    + ["early_kaplan_yorke_dimension", "final_kaplan_yorke_dimension", "seconds", "spectrum_seconds"]
)


def _spectrum_at(rec: dict[str, Any], epoch: int) -> dict[str, Any] | None:
    for s in rec["spectra"]:
        if s.get("epoch") == epoch:
            return s if "exponents" in s else None
    return None


def network_rows(records: list[dict[str, Any]], *, early_epoch: int, top: int, threshold: float) -> list[dict[str, Any]]:
    """One flat row per network: hyperparameters, losses, early (``early_epoch``) and final spectrum features."""
    rows = []
    for rec in records:
        net = rec["network"]
        last_epoch = rec["spectra"][-1]["epoch"]
        row: dict[str, Any] = {
            "id": rec["id"],
            "arch": net["arch"],
            "init_scale": net["init_scale"],
            "lr": net["lr"],
            "hidden": net["hidden"],
            "seed": net["seed"],
            "final_val_loss": rec["final_val_loss"],
            "best_val_loss": min(v for v in rec["val_loss"] if v is not None),
            "diverged": bool(rec["diverged"]),
            "skipped_steps": rec.get("skipped_steps"),  # None in records written before the counter existed
            "early_epoch": early_epoch,
            "seconds": rec.get("seconds"),
            "spectrum_seconds": rec.get("spectrum_seconds"),
        }
        for tag, epoch in (("early", early_epoch), ("final", last_epoch)):
            spec = _spectrum_at(rec, epoch)
            exps = np.asarray(spec["exponents"], dtype=np.float64) if spec else np.array([np.nan])
            for name, value in spectrum_features(exps, top=top, threshold=threshold).items():
                row[f"{tag}_{name}"] = value
            row[f"{tag}_kaplan_yorke_dimension"] = spec["kaplan_yorke_dimension"] if spec else float("nan")
        rows.append(row)
    return rows


def _hyper_matrix(rows: list[dict[str, Any]], archs: list[str]) -> np.ndarray:
    """Baseline design: log p, log lr, their squares and product (the loss is not monotone in them), arch."""
    lp = np.log10([r["init_scale"] for r in rows])
    llr = np.log10([r["lr"] for r in rows])
    cols = [lp, llr, lp**2, llr**2, lp * llr]
    cols += [np.array([r["arch"] == a for r in rows], dtype=float) for a in archs[1:]]
    return np.column_stack(cols)


def _correlation(x: np.ndarray, y: np.ndarray, *, n_boot: int, seed: int) -> dict[str, Any]:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 4 or np.ptp(x) == 0:
        return {"n": int(x.size), "spearman": None, "ci95": [None, None], "p_permutation": None}
    lo, hi = bootstrap_ci(x, y, n=n_boot, seed=seed)
    return {
        "n": int(x.size),
        "spearman": spearman(x, y),
        "ci95": [lo, hi],
        "p_permutation": permutation_pvalue(x, y, n=n_boot, seed=seed + 1),
    }


def analyse(rows: list[dict[str, Any]], *, folds: int = 5, alpha: float = 1.0, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Spearman correlations (with bootstrap CIs and permutation p-values) of early and final features
    with the final validation loss, overall and per architecture; and out-of-fold R² of ridge regressions
    predicting the final loss from (a) the hyperparameters, (b) the early spectrum features, (c) both."""
    y_all = np.array([r["final_val_loss"] for r in rows], dtype=np.float64)
    archs = sorted({r["arch"] for r in rows})
    out: dict[str, Any] = {"n_networks": len(rows), "n_diverged": int(sum(r["diverged"] for r in rows)),
                           "n_with_skipped_steps": None if any(r["skipped_steps"] is None for r in rows)
                           else int(sum(r["skipped_steps"] > 0 for r in rows)),
                           "correlations": {}, "regression": {}}
    groups = {"all": list(range(len(rows)))} | {a: [i for i, r in enumerate(rows) if r["arch"] == a] for a in archs}
    for group, idx in groups.items():
        table = {}
        for tag in ("early", "final"):
            for f in FEATURES:
                x = np.array([rows[i][f"{tag}_{f}"] for i in idx], dtype=np.float64)
                table[f"{tag}_{f}"] = _correlation(x, y_all[idx], n_boot=n_boot, seed=seed)
        out["correlations"][group] = table

    early = np.column_stack([[r[f"early_{f}"] for r in rows] for f in FEATURES]).astype(np.float64)
    ok = np.all(np.isfinite(early), axis=1) & np.isfinite(y_all)
    out["regression"]["n"] = int(ok.sum())
    out["regression"]["excluded_missing_early_spectrum"] = int((~ok).sum())
    if ok.sum() >= max(folds, 6):
        hyper = _hyper_matrix([r for r, keep in zip(rows, ok) if keep], archs)
        arch_cols = hyper[:, 5:]
        designs = {
            "hyperparameters": hyper,
            "early_spectrum": np.column_stack([early[ok], arch_cols]) if arch_cols.size else early[ok],
            "hyperparameters+early_spectrum": np.column_stack([hyper, early[ok]]),
        }
        y = y_all[ok]
        for name, X in designs.items():
            pred = cross_val_predict(X, y, folds=folds, alpha=alpha, seed=seed)
            out["regression"][name] = {
                "r2_cv": r2_score(y, pred),
                "rmse_cv": rmse(y, pred),
                "spearman_cv": spearman(pred, y),
                "predictions": pred.tolist(),
            }
        out["regression"]["y"] = y.tolist()
        out["regression"]["ids"] = [r["id"] for r, keep in zip(rows, ok) if keep]
        out["regression"]["settings"] = {"folds": folds, "ridge_alpha": alpha, "seed": seed,
                                         "hyperparameter_design": "log10 p, log10 lr, squares, product, arch",
                                         "spectrum_design": "early features + arch"}
    return out
