"""The report of an analysis: ``report.md`` in words and numbers, and its figures (matplotlib, Agg)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import plotting
from .analysis import ADDED_VALUE, analyze
from .storage import atomic_write_text, write_csv, write_json

__all__ = ["make_figures", "write_report", "write_outputs", "added_value_in_words"]

FIGURES = ("readout_predictions.png", "readout_added_value.png")


def _save(fig: Any, path: str) -> None:
    plotting.save(fig, path, dpi=110)


def make_figures(analysis: dict[str, Any], folder: str, *, units: str = "nats/char") -> list[str]:
    """Predicted vs measured per readout, and every readout's R² with the added value; returns file names.

    ``units``: the target's unit, for the axis labels.
    """
    os.makedirs(folder, exist_ok=True)
    names = list(analysis["readouts"])
    y = np.asarray(analysis["y"])
    target = analysis["target"].replace("_", " ")
    cols = 4
    rows = -(-len(names) // cols)
    fig, axes = plotting.subplots(rows, cols, figsize=(3.6 * cols, 3.3 * rows), squeeze=False, sharex=True, sharey=True)
    lo, hi = float(y.min()), float(y.max())
    for ax, name in zip(axes.ravel(), names):
        r = analysis["readouts"][name]
        ax.scatter(y, r["predictions"], s=14, alpha=0.8, label="network (out of fold)")
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, label="perfect prediction")
        ax.set_title(f"{name}\nR² = {r['r2']:.2f} [{r['r2_ci'][0]:.2f}, {r['r2_ci'][1]:.2f}]", fontsize=8)
        ax.set_xlabel(f"measured {target} ({units})", fontsize=8)
        ax.set_ylabel(f"predicted ({units})", fontsize=8)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    plotting.legend(axes[0, 0])
    fig.suptitle(f"Cross-validated predictions of the {target} (mean over repeated folds)", fontsize=10)
    _save(fig, os.path.join(folder, FIGURES[0]))

    fig, (ax, bx) = plotting.subplots(1, 2, figsize=(11, 0.45 * len(names) + 1.8), width_ratios=(2, 1))
    r2 = np.array([analysis["readouts"][n]["r2"] for n in names])
    ci = np.array([analysis["readouts"][n]["r2_ci"] for n in names], dtype=float)
    pos = np.arange(len(names))[::-1]
    ax.errorbar(r2, pos, xerr=[r2 - ci[:, 0], ci[:, 1] - r2], fmt="o", capsize=3, label="R², 95% bootstrap interval")
    ax.set_yticks(pos, names, fontsize=8)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set_xlabel("out-of-fold R²")
    ax.set_title("Every readout under the same folds", fontsize=9)
    plotting.legend(ax)
    inc = analysis["incremental"]
    keys = [k for k in ADDED_VALUE if k in inc]
    d = np.array([inc[k]["delta_r2"] for k in keys])
    dci = np.array([inc[k]["ci"] for k in keys], dtype=float)
    bpos = np.arange(len(keys))[::-1]
    bx.errorbar(d, bpos, xerr=[d - dci[:, 0], dci[:, 1] - d], fmt="s", color="C3", capsize=3,
                label="ΔR², 95% paired bootstrap")
    bx.set_yticks(bpos, [k.replace("spectrum_over_", "spectrum over\n") for k in keys], fontsize=8)
    bx.axvline(0, color="0.6", lw=0.8)
    bx.set_xlabel("ΔR² (with spectrum − without)")
    bx.set_title("Added value of the spectrum", fontsize=9)
    plotting.legend(bx)
    _save(fig, os.path.join(folder, FIGURES[1]))
    return list(FIGURES)


def _num(v: Any, fmt: str = "+.3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, fmt)


def _ci(ci: list[Any], fmt: str = "+.3f") -> str:
    return f"[{_num(ci[0], fmt)}, {_num(ci[1], fmt)}]"


def added_value_in_words(analysis: dict[str, Any]) -> str:
    """The spectrum's added value over the early loss, in one sentence that says what the numbers mean."""
    inc = analysis["incremental"].get("spectrum_over_early_val_loss")
    if inc is None:
        return "The added value of the spectrum was not computed."
    d, (lo, hi), p = inc["delta_r2"], inc["ci"], inc.get("p")
    pt = f", permutation p = {p:.3g} ({inc['n_permutations']} shuffles of the spectra)" if p is not None else ""
    numbers = f"ΔR² = {d:+.3f}, 95% interval [{lo:+.3f}, {hi:+.3f}]{pt}"
    if lo > 0 and (p is None or p <= 0.05):
        verdict = ("The early spectrum adds to the early validation loss: with the spectrum the out-of-fold "
                   "predictions of the target are better")
    elif lo > 0:
        verdict = ("Inconclusive: the bootstrap interval of the gain excludes 0 but the permutation test does not "
                   "confirm it (too few shuffles, or a gain a shuffled spectrum also gives)")
    elif hi < 0:
        verdict = ("Adding the early spectrum to the early validation loss makes the predictions worse (more "
                   "predictors than the networks support): the spectrum adds nothing beyond the early loss here")
    elif p is not None and p <= 0.05:
        verdict = ("At most a small gain from the early spectrum beyond the early validation loss: the bootstrap "
                   "interval of the gain includes 0, though the permutation test rejects shuffled spectra")
    else:
        verdict = ("The early spectrum adds nothing detectable beyond the early validation loss: the interval of "
                   "the gain includes 0")
    return f"{verdict} ({numbers})."


def write_report(path: str, analysis: dict[str, Any], figures: list[str], *, title: str = "lyapax readout analysis",
                 context: list[str] | None = None) -> str:
    """Write the markdown report of ``analysis`` to ``path`` (atomically); returns its text."""
    a, st = analysis, analysis["settings"]
    excluded = a["excluded"]
    lines = [f"# {title}", ""] + (context or []) + [
        f"Networks analysed: **{a['n_networks']}** of {a['n_records']} records; target `{a['target']}`; early epoch "
        f"{a['early_epoch']} (0 = initialisation). Spectra: sizes {a['spectrum']['sizes']} exponents, interpolated "
        f"to {a['spectrum']['interpolated_length']} points, nats/step.",
        "",
        "Hyperparameters used (varying): " + (", ".join(
            f"`{k}` ({v['encoding']})" for k, v in a["hyperparameter_encoding"].items()) or "none") + ". Constant, "
        "dropped: " + (", ".join(f"`{k}` = {v!r}" for k, v in a["constant_hyperparameters"].items()) or "none")
        + ". Replicate keys, not predictors: " + (", ".join(f"`{k}`" for k in a["replicate_keys"]) or "none") + ".",
        "",
    ]
    if excluded:
        lines += [f"Excluded: {len(excluded)} record(s):", ""]
        lines += [f"- `{e['source']}`: {e['reason']}" for e in excluded] + [""]
    else:
        lines += ["Excluded: none.", ""]
    lines += [
        "## The added value of the spectrum", "", added_value_in_words(a), "",
        "| comparison | ΔR² | 95% paired bootstrap | permutation p |", "|---|---|---|---|",
    ]
    for inc in a["incremental"].values():
        lines.append(f"| {inc['with_spectrum']} over {inc['baseline']} | {inc['delta_r2']:+.3f} | {_ci(inc['ci'])} | "
                     f"{_num(inc.get('p'), '.3g')} |")
    lines += [
        "", "## Readouts", "",
        f"Ridge regressions (the spectrum's readouts on its leading principal components) under {st['repeats']} "
        f"repeats of {st['folds']}-fold cross-validation, the same folds for every readout; the regularisation "
        f"(and the number of components) chosen by an inner {st['inner_folds']}-fold split of each training part. "
        f"R² and Spearman ρ of the out-of-fold predictions (mean over repeats), 95% intervals from "
        f"{st['bootstrap']} bootstrap resamples of networks.", "",
        "| readout | R² | 95% interval | Spearman ρ | 95% interval | RMSE |", "|---|---|---|---|---|---|",
    ]
    for name, r in a["readouts"].items():
        lines.append(f"| {name} | {r['r2']:.3f} | {_ci(r['r2_ci'], '.3f')} | {r['spearman']:+.2f} | "
                     f"{_ci(r['spearman_ci'], '+.2f')} | {r['rmse']:.3f} |")
    stab = a["stability"]
    lines += ["", "## Stability", "", f"Unstable: {stab['definition']}: {stab['n_unstable']} unstable, "
              f"{stab['n_stable']} stable."]
    if stab["auc"] is None:
        lines.append(f"No AUC: {stab['note']}.")
    else:
        lines += ["", "| readout | AUC for unstable | 95% interval |", "|---|---|---|"]
        lines += [f"| {n} | {v['auc']:.3f} | {_ci(v['ci'], '.3f')} |" for n, v in stab["auc"].items()]
    lines += ["", "## Correlations with the target", "",
              f"Spearman ρ of each early feature with `{a['target']}`, 95% bootstrap interval, two-sided permutation "
              "p-value.", "", "| feature | ρ | 95% interval | p |", "|---|---|---|---|"]
    for name, c in a["correlations"].items():
        lines.append(f"| {name} | {_num(c['rho'], '+.2f')} | {_ci(c['ci'], '+.2f')} | {_num(c['p'], '.3g')} |")
    lines += ["", "These numbers describe one sweep: how well each readout orders and predicts these networks "
              "out of sample, not that the spectrum causes a training outcome.", ""]
    if figures:
        lines += ["## Figures", ""] + [f"![{f}](figures/{f})" for f in figures] + [""]
    text = "\n".join(lines)
    atomic_write_text(path, text)
    return text


def write_outputs(records: list[dict[str, Any]], out: str, *, figures: bool = True, context: list[str] | None = None,
                  log: Any = print, **options: Any) -> dict[str, Any]:
    """`analyze` ``records`` and write ``out/analysis.json``, ``out/networks.csv``, ``out/report.md``, ``out/figures``.

    ``options`` go to `lyapax.readout.analyze`. Returns the analysis.
    """
    os.makedirs(out, exist_ok=True)
    analysis = analyze(records, **options)
    write_json(os.path.join(out, "analysis.json"), analysis)
    keys = sorted({k for n in analysis["networks"] for k in n})
    rows = []
    for i, ident in enumerate(analysis["ids"]):
        row = {"id": ident, **{k: analysis["networks"][i].get(k) for k in keys},
               "early_val_loss": analysis["early_val_loss"][i], analysis["target"]: analysis["y"][i]}
        row.update({f"early_{f}": v[i] for f, v in analysis["features"].items()})
        rows.append(row)
    write_csv(os.path.join(out, "networks.csv"), rows, list(rows[0]))
    written: list[str] = []
    if figures:
        # the records' own loss unit where they all state the same one (`lyapax readout`: nats/character)
        units = {(r.get("units") or {}).get("loss") for r in records}
        unit = units.pop() if len(units) == 1 else None
        label = {"nats/character": "nats/char"}.get(unit, unit) if isinstance(unit, str) else "target units"
        try:
            written = make_figures(analysis, os.path.join(out, "figures"), units=label)
        except ImportError as exc:
            log(f"no figures: {exc}")
    write_report(os.path.join(out, "report.md"), analysis, written, context=context)
    return analysis
