"""Figures (PNG, matplotlib with the Agg backend) and the markdown report of a readout study."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import plotting
from .features import FEATURE_LABELS, FEATURES
from .storage import atomic_write_text

__all__ = ["make_figures", "write_report"]


def _save(fig: Any, path: str) -> None:
    plotting.save(fig, path, dpi=110)


def _spectra(records: list[dict[str, Any]], epoch: int | None) -> list[np.ndarray | None]:
    out = []
    for rec in records:
        spectra = rec["spectra"]
        s = spectra[-1] if epoch is None else next((s for s in spectra if s["epoch"] == epoch), None)
        out.append(np.asarray(s["exponents"]) if s is not None and "exponents" in s else None)
    return out


def make_figures(records: list[dict[str, Any]], rows: list[dict[str, Any]], analysis: dict[str, Any],
                 folder: str, *, early_epoch: int) -> list[str]:
    """Write the study's figures into ``folder``; returns their file names."""
    plt = plotting.pyplot(files_only=True)
    from matplotlib import colors

    os.makedirs(folder, exist_ok=True)
    written = []
    loss = np.array([r["final_val_loss"] for r in rows], dtype=float)
    norm = colors.Normalize(vmin=float(np.nanmin(loss)), vmax=float(np.nanpercentile(loss, 95)))
    cmap = plt.get_cmap("viridis_r")
    archs = sorted({r["arch"] for r in rows})

    # 1. spectra coloured by final loss, early and final, one row per architecture
    fig, axes = plotting.subplots(len(archs), 2, figsize=(10, 3.4 * len(archs)), squeeze=False, sharey="row")
    for ai, arch in enumerate(archs):
        for ci, (epoch, title) in enumerate(((early_epoch, f"early (epoch {early_epoch})"), (None, "end of training"))):
            ax = axes[ai, ci]
            specs = _spectra(records, epoch)
            order = np.argsort(-loss)  # best (lowest loss) drawn last, on top
            for i in order:
                if rows[i]["arch"] != arch or specs[i] is None:
                    continue
                ax.plot(np.arange(1, specs[i].size + 1), specs[i], color=cmap(norm(loss[i])), lw=1.1, alpha=0.9)
            plotting.zero_line(ax)
            ax.set_title(f"{arch.upper()}: {title}", fontsize=10)
            ax.set_xlabel(plotting.INDEX_LABEL)
            if ci == 0:
                ax.set_ylabel("λ_i (nats/step)")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, label="final validation loss (nats/char)")
    _save(fig, os.path.join(folder, "spectra_by_loss.png"))
    written.append("spectra_by_loss.png")

    # 2. early features vs final loss; colour: the initialisation scale
    corr = analysis["correlations"]["all"]
    fig, axes = plotting.subplots(1, len(FEATURES), figsize=(4 * len(FEATURES), 3.6), squeeze=False)
    markers = {"lstm": "o", "gru": "s"}
    scale_norm = colors.LogNorm(vmin=min(r["init_scale"] for r in rows), vmax=max(r["init_scale"] for r in rows))
    for fi, f in enumerate(FEATURES):
        ax = axes[0, fi]
        for arch in archs:
            sel = [i for i, r in enumerate(rows) if r["arch"] == arch]
            x = np.array([rows[i][f"early_{f}"] for i in sel], dtype=float)
            ax.scatter(x, loss[sel], s=22, marker=markers.get(arch, "^"), alpha=0.8, label=arch.upper(),
                       c=[rows[i]["init_scale"] for i in sel], cmap="plasma", norm=scale_norm,
                       edgecolors="k", linewidths=0.3)
        c = corr[f"early_{f}"]
        title = "ρ = n/a" if c["spearman"] is None else f"ρ = {c['spearman']:.2f} [{c['ci95'][0]:.2f}, {c['ci95'][1]:.2f}]"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(f"early {FEATURE_LABELS[f]}", fontsize=8)
        if fi == 0:
            ax.set_ylabel("final validation loss (nats/char)")
            for handle in plotting.legend(ax, title="architecture").legend_handles:
                handle.set_facecolor("0.7")  # the marker is the architecture; the colour is p
    fig.colorbar(plt.cm.ScalarMappable(norm=scale_norm, cmap="plasma"), ax=axes, label="init scale p (U(-p, p))")
    fig.suptitle(f"Early (epoch {early_epoch}) spectrum features vs final loss", fontsize=10)
    _save(fig, os.path.join(folder, "early_features_vs_loss.png"))
    written.append("early_features_vs_loss.png")

    # 3. max exponent over training, coloured by final loss
    fig, axes = plotting.subplots(1, len(archs), figsize=(5 * len(archs), 3.4), squeeze=False, sharey=True)
    for ai, arch in enumerate(archs):
        ax = axes[0, ai]
        for i in np.argsort(-loss):
            if rows[i]["arch"] != arch:
                continue
            pts = [(s["epoch"], s["max_exponent"]) for s in records[i]["spectra"] if "exponents" in s]
            if pts:
                e, m = zip(*pts)
                ax.plot(e, m, color=cmap(norm(loss[i])), lw=1, marker=".", ms=3)
        plotting.zero_line(ax)
        ax.axvline(early_epoch, color="0.8", ls="--", lw=0.8)
        ax.set_title(f"{arch.upper()}: λ₁ during training", fontsize=10)
        ax.set_xlabel("epoch (0 = initialisation)")
        if ai == 0:
            ax.set_ylabel("max exponent λ₁ (nats/step)")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, label="final validation loss (nats/char)")
    _save(fig, os.path.join(folder, "max_exponent_during_training.png"))
    written.append("max_exponent_during_training.png")

    # 4. cross-validated predictions
    reg = analysis["regression"]
    if "hyperparameters" in reg:
        names = ["hyperparameters", "early_spectrum", "hyperparameters+early_spectrum"]
        fig, axes = plotting.subplots(1, 3, figsize=(12, 3.8), sharex=True, sharey=True)
        y = np.asarray(reg["y"])
        lo, hi = float(np.min(y)), float(np.max(y))
        for ax, name in zip(axes, names):
            pred = np.asarray(reg[name]["predictions"])
            ax.scatter(y, pred, s=16, alpha=0.8, label="network (out of fold)")
            ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, label="perfect prediction")
            ax.set_title(f"{name.replace('_', ' ')}\nout-of-fold R² = {reg[name]['r2_cv']:.2f}", fontsize=9)
            ax.set_xlabel("final validation loss (nats/char)")
        axes[0].set_ylabel("cross-validated prediction (nats/char)")
        plotting.legend(axes[0])
        _save(fig, os.path.join(folder, "regression_cv.png"))
        written.append("regression_cv.png")

    # 5. the loss landscape over the grid
    scales = sorted({r["init_scale"] for r in rows})
    lrs = sorted({r["lr"] for r in rows})
    fig, axes = plotting.subplots(1, len(archs), figsize=(4.5 * len(archs), 3.6), squeeze=False)
    for ai, arch in enumerate(archs):
        grid = np.full((len(lrs), len(scales)), np.nan)
        for r in rows:
            if r["arch"] == arch:
                j, i = scales.index(r["init_scale"]), lrs.index(r["lr"])
                grid[i, j] = np.nanmean([grid[i, j], r["final_val_loss"]]) if np.isfinite(grid[i, j]) else r["final_val_loss"]
        ax = axes[0, ai]
        im = ax.imshow(grid, origin="lower", cmap=cmap, norm=norm, aspect="auto")
        ax.set_xticks(range(len(scales)), [f"{s:g}" for s in scales], fontsize=7)
        ax.set_yticks(range(len(lrs)), [f"{s:g}" for s in lrs], fontsize=7)
        ax.set_xlabel("init scale p (U(-p, p))")
        ax.set_ylabel("learning rate")
        ax.set_title(f"{arch.upper()}: final validation loss", fontsize=10)
    fig.colorbar(im, ax=axes, label="final validation loss (nats/char)")
    _save(fig, os.path.join(folder, "loss_grid.png"))
    written.append("loss_grid.png")
    return written


def _fmt(c: dict[str, Any]) -> str:
    if c["spearman"] is None:
        return "n/a"
    return f"{c['spearman']:+.2f} [{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]"


def _verdict(c: dict[str, Any]) -> str:
    if c["spearman"] is None:
        return "undefined"
    lo, hi = c["ci95"]
    strength = abs(c["spearman"])
    word = "strong" if strength >= 0.7 else "moderate" if strength >= 0.4 else "weak"
    excludes = lo > 0 or hi < 0
    return f"{word}, CI {'excludes' if excludes else 'includes'} 0"


def write_report(path: str, study: dict[str, Any], rows: list[dict[str, Any]], analysis: dict[str, Any],
                 figures: list[str], *, wall_seconds: float | None, corpus: dict[str, Any]) -> str:
    """Write the markdown report to ``path`` (atomically); returns its text."""
    s, t = study, study["train"]
    corr = analysis["correlations"]
    lines = [
        "# lyapax readout report",
        "",
        f"Task: character-level language model on **{corpus['name']}** ({corpus['train_chars']:,} training / "
        f"{corpus['val_chars']:,} validation characters, vocabulary {corpus['vocab_size']}).",
        f"Networks: {analysis['n_networks']} ({', '.join(a.upper() for a in s['archs'])}; hidden {s['hidden']}; "
        f"init U(-p, p) with p in {s['init_scales']}; Adam learning rate in {s['lrs']}; {s['replicates']} seed(s) each; "
        f"{t['epochs']} epochs of {t['batches_per_epoch']} batches of {t['batch']} x {t['seq_len']} characters). "
        f"Diverged (NaN loss): {analysis['n_diverged']}. Networks with skipped updates (gradient norm "
        f"overflowed to Inf, exploding gradients): {analysis.get('n_with_skipped_steps') if analysis.get('n_with_skipped_steps') is not None else 'not recorded'}.",
        f"Spectrum: top {t['k']} exponents of the recurrent layer (for the LSTM the state is (h, c)), driven by "
        f"{t['probe_batch']} validation sequences of {t['probe_steps']} characters, {t['warmup']} warm-up steps; "
        f"nats per step (per character). Early readout = epoch {s['early_epoch']} "
        "(epoch 0 is the initialisation). Seed: " + str(s["seed"]) + ".",
    ]
    if wall_seconds is not None:
        lines.append(f"Training and spectrum time, summed over networks: {wall_seconds:.0f} s.")
    lines += [
        "",
        "## Spearman correlation with the final validation loss",
        "",
        f"ρ with a 95% bootstrap interval ({s['bootstrap']} resamples of networks); p from a permutation test. "
        f"Features: λ₁; mean of the top {s['top']}; count above {s['threshold']} nats/step; least-squares slope of λ_i vs i.",
        "",
    ]
    groups = list(corr)
    lines.append("| feature | " + " | ".join(f"{g.upper() if g != 'all' else 'all networks'}" for g in groups) + " |")
    lines.append("|---|" + "---|" * len(groups))
    for tag in ("early", "final"):
        for f in FEATURES:
            key = f"{tag}_{f}"
            cells = []
            for g in groups:
                c = corr[g][key]
                p = "" if c["p_permutation"] is None else f", p={c['p_permutation']:.3g}"
                cells.append(_fmt(c) + p + f" (n={c['n']})")
            lines.append(f"| {tag} {f} | " + " | ".join(cells) + " |")
    lines += ["", "## Predicting the final loss (cross-validated ridge regression)", ""]
    reg = analysis["regression"]
    if "hyperparameters" in reg:
        st = reg["settings"]
        lines += [
            f"{st['folds']}-fold cross-validation over {reg['n']} networks (ridge α = {st['ridge_alpha']} on standardised "
            f"features; {reg['excluded_missing_early_spectrum']} networks without an early spectrum left out). "
            f"Baseline: {st['hyperparameter_design']}. Spectrum model: {st['spectrum_design']}.",
            "",
            "| predictors | out-of-fold R² | RMSE (nats/char) | Spearman(pred, loss) |",
            "|---|---|---|---|",
        ]
        for name in ("hyperparameters", "early_spectrum", "hyperparameters+early_spectrum"):
            m = reg[name]
            lines.append(f"| {name.replace('_', ' ')} | {m['r2_cv']:.3f} | {m['rmse_cv']:.3f} | {m['spearman_cv']:.2f} |")
    else:
        lines.append("Too few networks with an early spectrum for a cross-validated regression.")
    lines += ["", "## In words", ""]
    lines += _summary(corr, reg, s)
    lines += ["", "## Figures", ""]
    lines += [f"![{f}](figures/{f})" for f in figures]
    lines += ["", "Files: `networks/*.json` (every network: configs, losses per epoch, spectra per epoch), "
              "`networks.csv` (one row per network), `analysis.json` (all numbers above).", ""]
    text = "\n".join(lines)
    atomic_write_text(path, text)
    return text


def _summary(corr: dict[str, Any], reg: dict[str, Any], s: dict[str, Any]) -> list[str]:
    out = []
    for f in FEATURES:
        c = corr["all"][f"early_{f}"]
        if c["spearman"] is None:
            out.append(f"- early {f}: undefined (constant or too few networks).")
            continue
        per = "; ".join(f"{g.upper()} {_fmt(corr[g][f'early_{f}'])}" for g in corr if g != "all")
        out.append(f"- Early {f} vs final loss: ρ = {_fmt(c)} over all networks ({_verdict(c)}); {per}.")
    if "hyperparameters" in reg:
        h, e, b = (reg[n]["r2_cv"] for n in ("hyperparameters", "early_spectrum", "hyperparameters+early_spectrum"))
        if e > h + 0.02:
            cmp = "the early spectrum predicts the final loss better than the hyperparameters do"
        elif e < h - 0.02:
            cmp = "the hyperparameters alone predict the final loss better than the early spectrum does"
        else:
            cmp = "the early spectrum and the hyperparameters predict the final loss about equally well"
        gain = "adds" if b > h + 0.02 else "does not add much"
        out.append(f"- Out-of-fold R²: hyperparameters {h:.2f}, early spectrum {e:.2f}, both {b:.2f}: {cmp}; "
                   f"the spectrum {gain} to the hyperparameters.")
    out.append("- These are rank correlations over one sweep of one task: they say how well the spectrum orders "
               "these networks, not that it causes or guarantees a training outcome. Wide intervals mean few networks.")
    return out
