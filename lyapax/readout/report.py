"""The report of an analysis: ``report.md`` in words and numbers, and its figures (matplotlib, Agg)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import plotting
from .analysis import ADDED_VALUE, OUTLIER_MADS, analyze
from .storage import atomic_write_text, check_output_folder, markdown_code, write_csv, write_json

__all__ = ["make_figures", "write_report", "write_outputs", "added_value_in_words", "power_in_words", "MEANINGS",
           "QUESTIONS"]

FIGURES = ("readout_predictions.png", "readout_added_value.png")


def _save(fig: Any, path: str) -> None:
    plotting.save(fig, path, dpi=110)


#: What each readout is, in words (the report's "what it means" column).
MEANINGS = {
    "hyperparameters": "the grid alone: a smooth function of the settings (nothing measured on the network)",
    "early_val_loss": "the validation loss at the early epoch alone: the baseline to beat",
    "early_val_loss+hyperparameters": "everything known without the spectrum: the early loss and the settings",
    "spectrum_features": "the early spectrum alone, by its scalar features (λ₁, counts, slopes, ...)",
    "full_spectrum": "the early spectrum alone, whole (its leading principal components)",
    "early_val_loss+full_spectrum": "the early loss and the whole spectrum",
    "early_val_loss+hyperparameters+full_spectrum": "everything: the early loss, the settings and the whole spectrum",
    "mlp_full_spectrum": "the paper's kind of readout: a small MLP on the spectrum alone",
}
#: What each added-value comparison asks.
QUESTIONS = {
    "spectrum_over_early_val_loss": "does the spectrum add to the early loss (one cheap number)?",
    "spectrum_over_early_val_loss+hyperparameters": "does the spectrum add anything beyond everything else known "
                                                    "(the early loss and the settings)?",
}
#: R² below this is written "< -1": the readout predicts far worse than the mean, and the exact figure says no more.
R2_FLOOR = -1.0


def _target_label(analysis: dict[str, Any], units: str) -> tuple[str, str]:
    """The target's name for a figure (mathtext-safe) and its unit."""
    target = str(analysis["target"]).replace("_", " ").replace("$", r"\$")
    if analysis.get("target_scale") == "rank":
        return f"rank of the {target}", "0 = best, 1 = worst"
    return target, units.replace("$", r"\$")


def _clipped_errorbars(ax: Any, values: np.ndarray, ci: np.ndarray, pos: np.ndarray, **kwargs: Any) -> None:
    """Points with intervals on an axis that starts at `R2_FLOOR`; what lies below is drawn at it and labelled."""
    lo_limit = R2_FLOOR - 0.05
    shown = np.maximum(values, R2_FLOOR)
    lo = np.maximum(np.nan_to_num(ci[:, 0], nan=R2_FLOOR), R2_FLOOR)
    hi = np.maximum(np.nan_to_num(ci[:, 1], nan=R2_FLOOR), R2_FLOOR)
    ax.errorbar(shown, pos, xerr=[np.maximum(shown - lo, 0), np.maximum(hi - shown, 0)], fmt="o", capsize=3, **kwargs)
    for v, c, p in zip(values, ci[:, 0], pos):
        if v < R2_FLOOR or (np.isfinite(c) and c < R2_FLOOR):
            ax.annotate(f"to {min(v, c):.2g}", (R2_FLOOR, p), xytext=(2, 4), textcoords="offset points", fontsize=6,
                        color="0.3")
    right = max(1.0, float(np.nanmax(hi)) + 0.05) if hi.size else 1.0
    ax.set_xlim(lo_limit, right)


def make_figures(analysis: dict[str, Any], folder: str, *, units: str = "nats/char") -> list[str]:
    """Predicted vs measured per readout, and every readout's R² with the added value; returns file names.

    ``units``: the target's unit, for the axis labels. The readouts are those of the networks
    that ended stable (``analysis["fit_target"]``); R² axes start at -1, lower values are
    drawn there and labelled.
    """
    names = list(analysis["readouts"])
    if not names:
        return []
    os.makedirs(folder, exist_ok=True)
    y = np.asarray(analysis["fit_target"])
    target, unit = _target_label(analysis, units)
    cols = 4
    rows = -(-len(names) // cols)
    fig, axes = plotting.subplots(rows, cols, figsize=(3.6 * cols, 3.3 * rows), squeeze=False, sharex=True, sharey=True)
    lo, hi = float(y.min()), float(y.max())
    for ax, name in zip(axes.ravel(), names):
        r = analysis["readouts"][name]
        ax.scatter(y, r["predictions"], s=14, alpha=0.8, label="network (out of fold)")
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, label="perfect prediction")
        ax.set_title(f"{name}\nR² = {_r2(r['r2'], '.2f')} {_ci(r['r2_ci'], '.2f', floor=True)}", fontsize=8)
        ax.set_xlabel(f"measured {target} ({unit})", fontsize=8)
        ax.set_ylabel(f"predicted ({unit})", fontsize=8)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    plotting.legend(axes[0, 0])
    fig.suptitle(f"Cross-validated predictions of the {target}, the {len(y)} networks that ended stable "
                 "(mean over repeated folds)", fontsize=10)
    _save(fig, os.path.join(folder, FIGURES[0]))

    fig, (ax, bx) = plotting.subplots(1, 2, figsize=(11, 0.45 * len(names) + 1.8), width_ratios=(2, 1))
    r2 = np.array([analysis["readouts"][n]["r2"] for n in names], dtype=float)
    ci = np.array([analysis["readouts"][n]["r2_ci"] for n in names], dtype=float)
    pos = np.arange(len(names))[::-1]
    _clipped_errorbars(ax, r2, ci, pos, label="R², 95% bootstrap interval")
    ax.set_yticks(pos, names, fontsize=8)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set_xlabel("out-of-fold R² (axis from -1: worse than the mean below 0)")
    ax.set_title("Every readout under the same folds (networks that ended stable)", fontsize=9)
    ax.set_ylim(-0.6, len(names) + 0.4)  # a free row above the top marker for the legend
    plotting.legend(ax, loc="upper center")
    inc = analysis["incremental"]
    keys = [k for k in ADDED_VALUE if k in inc]
    d = np.array([inc[k]["delta_r2"] for k in keys], dtype=float)
    dci = np.array([inc[k]["ci"] for k in keys], dtype=float).reshape(len(keys), 2)
    bpos = np.arange(len(keys))[::-1]
    bx.errorbar(d, bpos, xerr=[np.maximum(d - dci[:, 0], 0), np.maximum(dci[:, 1] - d, 0)], fmt="s", color="C3",
                capsize=3, label="ΔR², 95% paired bootstrap")
    bx.set_yticks(bpos, [k.replace("spectrum_over_", "spectrum over\n") for k in keys], fontsize=8)
    bx.axvline(0, color="0.6", lw=0.8)
    bx.set_xlabel("ΔR² (with spectrum − without)")
    bx.set_title("Added value of the spectrum", fontsize=9)
    bx.set_ylim(-0.6, len(keys) + 0.4)  # a free row above the top marker for the legend (issue 24: it covered it)
    plotting.legend(bx, loc="upper center")
    _save(fig, os.path.join(folder, FIGURES[1]))
    return list(FIGURES)


def _num(v: Any, fmt: str = "+.3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, fmt)


def _r2(v: Any, fmt: str = ".3f") -> str:
    """An R², with values below `R2_FLOOR` written as "< -1"."""
    if v is not None and isinstance(v, (int, float)) and np.isfinite(v) and v < R2_FLOOR:
        return f"< {R2_FLOOR:g}"
    return _num(v, fmt)


def _ci(ci: list[Any], fmt: str = "+.3f", *, floor: bool = False) -> str:
    show = _r2 if floor else _num
    return f"[{show(ci[0], fmt)}, {show(ci[1], fmt)}]"


def added_value_in_words(analysis: dict[str, Any]) -> str:
    """The spectrum's added value over the early loss, in one sentence that says what the numbers mean."""
    inc = analysis["incremental"].get("spectrum_over_early_val_loss")
    if inc is None:
        note = (analysis.get("how_good") or {}).get("note")
        return f"The added value of the spectrum was not computed{f': {note}' if note else ''}."
    d, (lo, hi), p = inc["delta_r2"], inc["ci"], inc.get("p")
    pt = f", permutation p = {p:.3g} ({inc['n_permutations']} shuffles of the spectra)" if p is not None else ""
    numbers = f"ΔR² = {d:+.3f}, 95% interval {_ci([lo, hi])}{pt}"
    lo = lo if lo is not None and np.isfinite(lo) else -np.inf
    hi = hi if hi is not None and np.isfinite(hi) else np.inf
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


def power_in_words(analysis: dict[str, Any], key: str = "spectrum_over_early_val_loss") -> str | None:
    """What the sweep is too small to detect (`lyapax.readout.power`), or ``None`` where not computed."""
    inc = analysis["incremental"].get(key)
    if inc is None:
        return None
    n = analysis["how_good"]["n"]
    if inc.get("detectable_delta_r2") is None:
        return (f"With {n} networks and {inc['baseline_columns']} baseline columns no test of an added predictor is "
                "possible: the sweep is far too small to detect any gain.")
    lo = inc["ci"][0]
    missed = lo is None or not np.isfinite(lo) or lo <= 0
    text = (f"{'Warning: ' if missed else ''}with {n} networks, even one added predictor tested at α = 0.05 has 80 % "
            f"power only for a partial correlation |r| ≥ {inc['detectable_partial_r']:.2f} with the target given "
            f"{inc['baseline']} ({inc['baseline_columns']} columns), i.e. a gain of ΔR² ≥ "
            f"{inc['detectable_delta_r2']:.3f} over its R² of {_r2(inc['baseline_r2'])}")
    if missed:
        text += (f"; a smaller true gain would likely go undetected: this sweep is too small to tell a gain below "
                 f"{inc['detectable_delta_r2']:.3f} from none")
    return text + " (Fisher z; a lower bound for the cross-validated test, docs/readout.md)."


def _negative_baseline(inc: dict[str, Any]) -> str | None:
    if inc.get("baseline_r2") is None or not np.isfinite(inc["baseline_r2"]) or inc["baseline_r2"] >= 0:
        return None
    return (f"The baseline `{inc['baseline']}` predicts worse than the mean of the networks (R² = "
            f"{_r2(inc['baseline_r2'])}): a positive ΔR² against it means *less bad*, not good; read the R² of "
            f"`{inc['with_spectrum']}` itself against 0.")


def _stability_lines(a: dict[str, Any]) -> list[str]:
    stab = a["stability"]
    lines = ["## Which networks ended unstable", "",
             f"Rule: a network ended unstable if it {stab['definition']} (`--unstable-margin`). "
             f"**{stab['n_unstable']}** of {a['n_networks']} networks ended unstable, {stab['n_stable']} stable."]
    if stab["unstable_ids"]:
        shown = ", ".join(markdown_code(i) for i in stab["unstable_ids"][:12])
        more = f" and {len(stab['unstable_ids']) - 12} more" if len(stab["unstable_ids"]) > 12 else ""
        lines[-1] += f" Unstable: {shown}{more}."
    if stab["auc"] is None:
        lines += ["", f"Whether anything early predicts it: not measured, {stab['note']}."]
        return lines + [""]
    lines += ["", "Whether anything early predicts it: each readout's inputs fitted to the label \"ended unstable\" "
              "under cross-validation with the classes dealt evenly over the folds; the ROC AUC of the out-of-fold "
              "scores (1: every unstable network scored above every stable one), its 95% bootstrap interval, and "
              "its chance level: the mean AUC of the same fit on shuffled labels, below 0.5 under "
              "cross-validation, with the permutation p-value.", "",
              "| readout | what it is | AUC for ended unstable | 95% interval | chance level | p |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {n} | {MEANINGS.get(n, '')} | {_num(v['auc'], '.3f')} | {_ci(v['ci'], '.3f')} | "
              f"{_num(v.get('chance'), '.3f')} | {_num(v.get('p'), '.3g')} |" for n, v in stab["auc"].items()]
    found = [(n, v) for n, v in stab["auc"].items() if v.get("p") is not None and v["p"] <= 0.05]
    if found:
        best = max(found, key=lambda kv: kv[1]["auc"])
        lines += ["", f"The best early predictor of ending unstable is `{best[0]}` (AUC {best[1]['auc']:.2f}, "
                  f"interval {_ci(best[1]['ci'], '.2f')}, chance level {best[1]['chance']:.2f}, p = "
                  f"{best[1]['p']:.3g})."]
    else:
        lines += ["", "Nothing early predicts it detectably: no readout's AUC beats its shuffled labels at p <= 0.05."]
    return lines + [""]


def _how_good_lines(a: dict[str, Any]) -> list[str]:
    st = a["settings"]
    scale = "the ranks of the target (0 = best, 1 = worst; `--rank-target`)" if a["target_scale"] == "rank" else \
        markdown_code(a['target'])
    lines = ["## How good the stable networks get", ""]
    if not a["readouts"]:
        return lines + [f"Not measured: {a['how_good']['note']}.", ""]
    lines += [
        f"Readouts of {scale} over the **{a['how_good']['n']}** networks that ended stable: ridge regressions (the "
        f"spectrum's on its leading principal components) under {st['repeats']} repeats of {st['folds']}-fold "
        f"cross-validation, the same folds for every readout; the regularisation (and the number of components) "
        f"chosen by an inner {st['inner_folds']}-fold split of each training part. R² and Spearman ρ of the "
        f"out-of-fold predictions (mean over repeats), 95% intervals from {st['bootstrap']} bootstrap resamples of "
        "networks. R² = 0 is the mean of the networks; below 0 a readout predicts worse than that mean (below -1 "
        "written < -1).", "",
        "| readout | what it is | R² | 95% interval | Spearman ρ | 95% interval | RMSE |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in a["readouts"].items():
        lines.append(f"| {name} | {MEANINGS.get(name, '')} | {_r2(r['r2'])} | {_ci(r['r2_ci'], '.3f', floor=True)} | "
                     f"{_num(r['spearman'], '+.2f')} | {_ci(r['spearman_ci'], '+.2f')} | {_num(r['rmse'], '.3f')} |")
    outliers = a["how_good"].get("outliers") or []
    if outliers and a["target_scale"] == "value":
        shown = ", ".join(markdown_code(i) for i in outliers[:8]) + (" ..." if len(outliers) > 8 else "")
        lines += ["", f"{len(outliers)} of these networks have a target far from the others (more than "
                  f"{OUTLIER_MADS:g} scaled median absolute deviations from the median: {shown}); they weigh "
                  "heavily on every R² above. `--rank-target` asks the same questions of the networks' order, "
                  "where each counts as one rank."]
    lines += ["", "### The added value of the spectrum", "", added_value_in_words(a), "",
              "| comparison | the question | ΔR² | 95% paired bootstrap | permutation p |", "|---|---|---|---|---|"]
    for key, inc in a["incremental"].items():
        lines.append(f"| {inc['with_spectrum']} over {inc['baseline']} | {QUESTIONS.get(key, '')} | "
                     f"{inc['delta_r2']:+.3f} | {_ci(inc['ci'])} | {_num(inc.get('p'), '.3g')} |")
    lines.append("")
    for key in a["incremental"]:
        extra = [t for t in (power_in_words(a, key), _negative_baseline(a["incremental"][key])) if t]
        lines += [f"- {t}" for t in extra]
    everyone = a.get("all_networks")
    if everyone:
        lines += ["", f"The same ridge readouts on all {everyone['n']} networks, the unstable ones included (what a "
                  "single regression over the sweep would report; a few blow-ups can dominate it):", "",
                  "| readout | R², stable networks | R², all networks | 95% interval, all |", "|---|---|---|---|"]
        for name, r in everyone["readouts"].items():
            stable_r2 = a["readouts"].get(name, {}).get("r2")
            lines.append(f"| {name} | {_r2(stable_r2)} | {_r2(r['r2'])} | {_ci(r['r2_ci'], '.3f', floor=True)} |")
        inc = everyone["incremental"].get("spectrum_over_early_val_loss")
        if inc:
            note = _negative_baseline(inc)
            lines += ["", f"ΔR² of the spectrum over the early loss on all networks: {inc['delta_r2']:+.3f} "
                      f"{_ci(inc['ci'])}." + (f" {note}" if note else "")]
    return lines + [""]


def _correlation_lines(a: dict[str, Any]) -> list[str]:
    lines = ["## Correlations", "",
             "Spearman ρ of each early feature with the target over the networks that ended stable, 95% bootstrap "
             "interval, two-sided permutation p-value.", "", "| feature | ρ | 95% interval | p |", "|---|---|---|---|"]
    for name, c in a["correlations"].items():
        lines.append(f"| {name} | {_num(c['rho'], '+.2f')} | {_ci(c['ci'], '+.2f')} | {_num(c['p'], '.3g')} |")
    pairs = a.get("input_correlations") or []
    lines.append("")
    if pairs:
        shown = "; ".join(f"{markdown_code(p['a'])} and {markdown_code(p['b'])} (ρ = {p['rho']:+.2f})"
                          for p in pairs[:10])
        lines += [f"Strongly correlated inputs of different kinds (|ρ| ≥ {a['settings']['strong_correlation']:g}): "
                  f"{shown}{f'; and {len(pairs) - 10} more pairs' if len(pairs) > 10 else ''}. Where two inputs carry "
                  "the same information, a readout that adds one to the other can add little, and their separate "
                  "R² cannot tell which one matters.", ""]
    else:
        lines += [f"No two inputs of different kinds (early loss, spectrum features, hyperparameters) have |ρ| ≥ "
                  f"{a['settings']['strong_correlation']:g}.", ""]
    return lines


def write_report(path: str, analysis: dict[str, Any], figures: list[str], *, title: str = "lyapax readout analysis",
                 context: list[str] | None = None) -> str:
    """Write the markdown report of ``analysis`` to ``path`` (atomically); returns its text.

    Text that came from the records (ids, files, hyperparameters, reasons) is escaped (`markdown_code`).
    """
    a = analysis
    excluded, skipped = a["excluded"], a.get("skipped_files") or []
    lines = [f"# {title}", ""] + (context or []) + [
        f"Networks analysed: **{a['n_networks']}** of {a['n_records']} records; target "
        f"{markdown_code(a['target'])}; early epoch {a['early_epoch']} (0 = initialisation). Spectra: sizes "
        f"{a['spectrum']['sizes']} exponents, interpolated to {a['spectrum']['interpolated_length']} points, nats/step.",
        "",
        "Hyperparameters used (varying): " + (", ".join(
            f"{markdown_code(k)} ({v['encoding']})" for k, v in a["hyperparameter_encoding"].items()) or "none")
        + ". Constant, dropped: " + (", ".join(f"{markdown_code(k)} = {markdown_code(repr(v))}"
                                               for k, v in a["constant_hyperparameters"].items()) or "none")
        + ". Replicate keys, not predictors: " + (", ".join(markdown_code(k) for k in a["replicate_keys"]) or "none")
        + ".",
        "",
    ]
    if excluded:
        lines += [f"Excluded: {len(excluded)} record(s):", ""]
        lines += [f"- {markdown_code(e['source'])}: {markdown_code(e['reason'])}" for e in excluded[:100]]
        lines += [f"- and {len(excluded) - 100} more (analysis.json lists them all)"] if len(excluded) > 100 else []
        lines.append("")
    else:
        lines += ["Excluded: none.", ""]
    if skipped:
        lines += [f"Skipped, not regular files: {len(skipped)}:", ""]
        lines += [f"- {markdown_code(s['source'])}: {markdown_code(s['reason'])}" for s in skipped[:100]] + [""]
    lines += _stability_lines(a) + _how_good_lines(a) + _correlation_lines(a)
    lines += ["These numbers describe one sweep: how well each readout orders and predicts these networks "
              "out of sample, not that the spectrum causes a training outcome.", ""]
    if figures:
        lines += ["## Figures", ""] + [f"![{f}](figures/{f})" for f in figures] + [""]
    text = "\n".join(lines)
    atomic_write_text(path, text)
    return text


#: What `write_outputs` writes into its folder.
OUTPUT_FILES = ("analysis.json", "report.md", "networks.csv")
OUTPUT_FOLDERS = ("figures",)


def _loss_unit(records: list[dict[str, Any]]) -> str:
    """The records' own loss unit where they all state the same one (`lyapax readout`: nats/character)."""
    units = {(r.get("units") or {}).get("loss") if isinstance(r.get("units"), dict) else None for r in records}
    unit = units.pop() if len(units) == 1 else None
    return {"nats/character": "nats/char"}.get(unit, unit) if isinstance(unit, str) and unit else "target units"


def _table_rows(analysis: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """networks.csv: one row per analysed network; a hyperparameter named like a column gets ``network.``."""
    fixed = ["id", "ended_unstable", "above_own_best", "early_val_loss", analysis["target"]]
    fixed += [f"early_{f}" for f in analysis["features"]]
    keys = sorted({k for n in analysis["networks"] for k in n})
    names = {k: (f"network.{k}" if k in fixed or k.startswith("network.") else k) for k in keys}
    rows = []
    for i, ident in enumerate(analysis["ids"]):
        row = {"id": ident, **{names[k]: analysis["networks"][i].get(k) for k in keys},
               "ended_unstable": not analysis["stable"][i], "above_own_best": analysis["stability"]["excess"][i],
               "early_val_loss": analysis["early_val_loss"][i], analysis["target"]: analysis["y"][i]}
        row.update({f"early_{f}": v[i] for f, v in analysis["features"].items()})
        rows.append(row)
    return rows, ["id"] + [names[k] for k in keys] + fixed[1:]


def write_outputs(records: list[dict[str, Any]], out: str, *, figures: bool = True, context: list[str] | None = None,
                  log: Any = print, skipped: list[dict[str, str]] | None = None, **options: Any) -> dict[str, Any]:
    """`analyze` ``records`` and write ``out/analysis.json``, ``out/networks.csv``, ``out/report.md``, ``out/figures``.

    ``out`` is checked first (`check_output_folder`); ``skipped``: files `load_records`
    passed over, listed in the report and in ``analysis["skipped_files"]``. ``options`` go
    to `lyapax.readout.analyze`. Returns the analysis.
    """
    check_output_folder(out, "out (--out)", files=OUTPUT_FILES, folders=OUTPUT_FOLDERS)
    analysis = analyze(records, **options)
    analysis["skipped_files"] = list(skipped or [])
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "analysis.json"), analysis)
    rows, columns = _table_rows(analysis)
    write_csv(os.path.join(out, "networks.csv"), rows, columns)
    written: list[str] = []
    if figures:
        try:
            written = make_figures(analysis, os.path.join(out, "figures"), units=_loss_unit(records))
        except ImportError as exc:
            log(f"no figures: {exc}")
    write_report(os.path.join(out, "report.md"), analysis, written, context=context)
    return analysis
