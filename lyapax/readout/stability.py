"""Which networks ended unstable, and whether a readout predicts it (numpy only).

The rule, in the target's own unit: a network *ended unstable* when it diverged, or when
its target (the final validation loss) lies more than ``margin`` above the least
validation loss the same network reached during training (the minimum of its
``val_loss``, the target included). It marks a late blow-up, not a network that merely
learnt slowly: on the paper's released grid (110 LSTM-512 networks, issue 23) the 4
networks whose final loss jumped above their own best after epoch 5 dominated every R².

Whether anything early predicts it: each readout's design (the same columns as the
regressions) is fitted to the 0/1 label by ridge regression under repeated, nested
cross-validation with each class dealt evenly over the folds (`lyapax.readout.stats.stratified_kfold`),
and its out-of-fold score is ranked by the ROC AUC (1: every unstable network scored above
every stable one), with a bootstrap interval and the AUC the same fit gets on shuffled labels
(its chance level, below 0.5 under cross-validation) and a permutation p-value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .stats import nested_cv_predict, percentile_interval, roc_auc, stratified_kfold

__all__ = ["MIN_CLASS", "SHUFFLES", "own_best", "ends_unstable", "definition", "instability_aucs"]

#: Relabellings that give each AUC's chance level and p-value (p >= 1/20).
SHUFFLES = 19
#: Fewer networks than this in either class: no AUC ("too few"); its bootstrap would often draw no unstable one.
MIN_CLASS = 5


def own_best(rec: dict[str, Any], value: float) -> float:
    """The least of a record's finite validation losses and ``value`` (its target)."""
    losses = [float(v) for v in rec.get("val_loss", []) if v is not None]
    return min([value] + [v for v in losses if math.isfinite(v)])


def ends_unstable(recs: list[dict[str, Any]], y: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """``(unstable, excess)``: the label of each network and how far its target lies above its own best."""
    excess = np.array([float(v) - own_best(r, float(v)) for r, v in zip(recs, y)])
    diverged = np.array([bool(r.get("diverged", False)) for r in recs])
    return diverged | (excess > margin), excess


def definition(target: str, margin: float) -> str:
    """The rule in words."""
    if math.isinf(margin):
        return "diverged (unstable_margin = inf: a late rise of the loss does not count)"
    return (f"diverged, or ended with its {target} more than {margin:g} above its own best validation loss during "
            "training (the least of its val_loss; in the target's units)")


def _cv_auc(X: np.ndarray, model: Any, unstable: np.ndarray, outer: list[list[np.ndarray]], *, inner_folds: int,
            seed: int) -> tuple[float, np.ndarray]:
    score = nested_cv_predict(X, unstable.astype(np.float64), outer, model, inner_folds=inner_folds, seed=seed)[0]
    score = score.mean(axis=0)
    return roc_auc(unstable, score), score


def instability_aucs(designs: dict[str, tuple[np.ndarray, Any]], unstable: np.ndarray, folds: int, repeats: int,
                     boot: np.ndarray, *, inner_folds: int, seed: int, shuffles: int = SHUFFLES
                     ) -> dict[str, dict[str, Any]]:
    """The out-of-fold ROC AUC of each design fitted to the 0/1 label, its 95 % bootstrap interval and its chance level.

    Chance is not 0.5 under cross-validation: holding a network out shifts what the rest
    teach the fit, against the held-out one (measured, 60 null sweeps of 40 networks with 6
    positives and two unrelated columns: mean AUC 0.29 with plain folds, 0.41 with the classes
    dealt evenly over the folds, as here). So each design is refitted on ``shuffles`` random
    relabellings (the same folds for each) and the AUC is reported beside their mean
    (``chance``) with the permutation p-value ``p`` = (1 + #{shuffled >= AUC}) / (1 + shuffles).
    """
    rng = np.random.default_rng(seed + 5)
    relabelled = [rng.permutation(unstable) for _ in range(shuffles)]
    out: dict[str, dict[str, Any]] = {}
    for name, (X, model) in designs.items():
        outer = stratified_kfold(unstable, folds, repeats, seed)
        auc, score = _cv_auc(X, model, unstable, outer, inner_folds=inner_folds, seed=seed)
        aucs = [roc_auc(unstable[b], score[b]) for b in boot]  # NaN where a resample lacks a class: dropped
        null = [_cv_auc(X, model, lab, stratified_kfold(lab, folds, repeats, seed), inner_folds=inner_folds,
                        seed=seed)[0] for lab in relabelled]
        out[name] = {"auc": auc, "ci": list(percentile_interval(aucs)),
                     "chance": float(np.mean(null)) if null else None,
                     "p": float((1 + np.sum(np.asarray(null) >= auc - 1e-12)) / (1 + shuffles)) if null else None}
    return out
