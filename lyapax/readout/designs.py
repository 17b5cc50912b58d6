"""The design matrices of the readouts: hyperparameter columns, spectrum features, the interpolated spectrum
(numpy only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .features import FEATURES, interpolate_spectrum, spectrum_features
from .stats import RidgeGrid

__all__ = ["REPLICATE_KEYS", "COMPONENTS", "hyperparameter_columns", "feature_table", "Sweep", "design_matrices"]

#: Keys of ``network`` that name a replicate, not a hyperparameter: never used as predictors.
REPLICATE_KEYS = ("seed",)
#: The numbers of principal components of the spectrum the inner cross-validation chooses among.
COMPONENTS = (1, 2, 3, 5, 8, 12, 20)


def hyperparameter_columns(nets: list[dict[str, Any]]) -> tuple[np.ndarray, list[str], dict[str, Any], dict[str, Any]]:
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


class Sweep:
    """The analysed networks' arrays, for all of them or a subset (``take``)."""

    def __init__(self, recs: list[dict[str, Any]], spectra: list[np.ndarray], y: np.ndarray, early: np.ndarray,
                 length: int, top: int, threshold: float) -> None:
        self.recs, self.spectra, self.y, self.early = recs, spectra, y, early
        self.length, self.top, self.threshold = length, top, threshold
        self.F = feature_table(spectra, top=top, threshold=threshold)
        self.S = np.array([interpolate_spectrum(s, length) for s in spectra])

    def take(self, idx: np.ndarray) -> Sweep:
        return Sweep([self.recs[i] for i in idx], [self.spectra[i] for i in idx], self.y[idx], self.early[idx],
                      self.length, self.top, self.threshold)

    @property
    def n(self) -> int:
        return len(self.recs)


def design_matrices(sw: Sweep, folds: int, inner_folds: int) -> tuple[dict[str, tuple[np.ndarray, Any]], dict[str, Any]]:
    """The ridge readouts' designs and the hyperparameter encoding of ``sw``'s networks."""
    H, h_names, h_used, h_constant = hyperparameter_columns([r["network"] for r in sw.recs])
    E = np.column_stack([sw.early, (sw.early - sw.early.mean()) ** 2])
    n_train_min = sw.n - int(np.ceil(sw.n / folds))
    components = tuple(m for m in COMPONENTS
                       if m <= min(sw.length, max(1, n_train_min - n_train_min // inner_folds - 2)))
    designs: dict[str, tuple[np.ndarray, Any]] = {
        "hyperparameters": (H, RidgeGrid(H.shape[1])),
        "early_val_loss": (E, RidgeGrid(2)),
        "early_val_loss+hyperparameters": (np.column_stack([E, H]), RidgeGrid(2 + H.shape[1])),
        "spectrum_features": (sw.F, RidgeGrid(sw.F.shape[1])),
        "full_spectrum": (sw.S, RidgeGrid(0, components=components)),
        "early_val_loss+full_spectrum": (np.column_stack([E, sw.S]), RidgeGrid(2, components=components)),
        "early_val_loss+hyperparameters+full_spectrum": (np.column_stack([E, H, sw.S]),
                                                        RidgeGrid(2 + H.shape[1], components=components)),
    }
    if H.shape[1] == 0:  # nothing varies: the hyperparameter readouts are the early loss's
        del designs["hyperparameters"]
    meta = {"H": H, "names": h_names, "used": h_used, "constant": h_constant, "components": components}
    return designs, meta
