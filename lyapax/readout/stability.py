"""Which networks ended unstable, and whether a readout predicts it (numpy only).

The rule, in the target's own unit: a network *ended unstable* when it diverged, or when
its target (the final validation loss) lies more than ``margin`` above the least
validation loss the same network reached during training (the minimum of its
``val_loss``, the target included). It marks a late blow-up, not a network that merely
learnt slowly: on the paper's released grid (110 LSTM-512 networks, issue 23) the 4
networks whose final loss jumped above their own best after epoch 5 dominated every R².

Whether anything early predicts it: each readout's design (the same columns as the
regressions) is fitted to the 0/1 label by ridge regression under the same repeated,
nested cross-validation, and its out-of-fold score is ranked by the ROC AUC (0.5:
chance, 1: every unstable network scored above every stable one), with a bootstrap interval.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .stats import nested_cv_predict, percentile_interval, roc_auc

__all__ = ["MIN_CLASS", "own_best", "ends_unstable", "definition", "instability_aucs"]

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


def instability_aucs(designs: dict[str, tuple[np.ndarray, Any]], unstable: np.ndarray, outer: list[list[np.ndarray]],
                     boot: np.ndarray, *, inner_folds: int, seed: int) -> dict[str, dict[str, Any]]:
    """The out-of-fold ROC AUC of each design, fitted to the 0/1 label, with its 95 % bootstrap interval."""
    label = unstable.astype(np.float64)
    out: dict[str, dict[str, Any]] = {}
    for name, (X, model) in designs.items():
        score = nested_cv_predict(X, label, outer, model, inner_folds=inner_folds, seed=seed)[0].mean(axis=0)
        aucs = [roc_auc(unstable[b], score[b]) for b in boot]  # NaN where a resample lacks a class: dropped
        out[name] = {"auc": roc_auc(unstable, score), "ci": list(percentile_interval(aucs))}
    return out
