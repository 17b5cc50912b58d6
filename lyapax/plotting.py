"""Figures: the matplotlib import, the shared style and every plot of lyapax, in one place.

`lyapax.Spectrum.plot`, `lyapax.Spectrum.plot_history`,
`lyapax.Monitor.plot_trajectories` and `lyapax.Monitor.plot_spectra` call the
functions here; the readout's figures and ``docs/make_figures.py`` use the same helpers.

A figure made here uses matplotlib's constrained layout, which makes room for the axis
labels, tick labels, legends and colourbars whenever the figure is drawn, so a plain
``fig.savefig("spectrum.png")`` keeps them all inside the image (with the default
layout the x label of a 5 x 3.5 inch figure falls off its bottom edge). Exponents are in
nats per step on every axis. matplotlib is imported only when a figure is made
(``pip install "lyapax-rnn[plot]"``).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .errors import InputError, LyapaxError
from .files import atomic_write_bytes
from .install import pip_install

__all__ = [
    "EXPONENT_LABEL", "INDEX_LABEL", "pyplot", "subplots", "zero_line", "legend", "index_colors", "lambda_label", "save",
    "spectrum", "spectrum_history", "monitor_trajectories", "monitor_spectra", "finite_time", "angles",
]

#: Axis labels shared by every figure (mathtext: the subscript is rendered).
EXPONENT_LABEL = r"Lyapunov exponent $\lambda_i$ (nats/step)"
INDEX_LABEL = "exponent index $i$"

#: Lines in one legend at most: with more lines, a colour bar of the exponent index replaces the legend.
MAX_LEGEND_ENTRIES = 10

_FIGSIZE = (5.5, 3.5)


def pyplot(*, files_only: bool = False) -> Any:
    """``matplotlib.pyplot``, or an ImportError that says how to install it.

    ``files_only``: the caller only writes figures to files; if pyplot is not imported yet,
    the non-interactive Agg backend is selected (no windows, works without a display).
    """
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(f"plotting needs matplotlib: {pip_install('plot')}") from exc
    if files_only and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def subplots(*args: Any, figsize: tuple[float, float] = _FIGSIZE, **kwargs: Any) -> tuple[Any, Any]:
    """``plt.subplots`` with constrained layout (labels, legends and colourbars kept inside)."""
    kwargs.setdefault("layout", "constrained")
    return pyplot().subplots(*args, figsize=figsize, **kwargs)


def _axes(ax: Any) -> Any:
    return ax if ax is not None else subplots()[1]


def zero_line(ax: Any) -> None:
    """A thin grey horizontal line at 0 nats/step (neutral stability)."""
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)


def legend(ax: Any, *, title: str | None = None, outside: bool = False, loc: str = "best") -> Any:
    """The shared legend style; ``outside``: to the right of the axes (for many entries); ``loc``: matplotlib's."""
    kwargs: dict[str, Any] = {"fontsize": 7, "title_fontsize": 7, "frameon": False, "title": title, "loc": loc}
    if outside:
        kwargs.update(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return ax.legend(**kwargs)


def index_colors(n: int, cmap: str = "viridis") -> list[Any]:
    """``n`` colours along ``cmap``, in order (first exponent dark, last light)."""
    colormap = pyplot().get_cmap(cmap)
    return [colormap(i / max(1, n - 1)) for i in range(n)]


def _whole_numbers(axis: Any) -> None:
    """Ticks at whole numbers only (exponent indices, steps, epochs)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def lambda_label(i: int) -> str:
    """``$\\lambda_{i}$``: the name of exponent ``i`` (1-based) in a legend."""
    return f"$\\lambda_{{{int(i)}}}$"


def _index_lines(ax: Any, x: Any, lines: np.ndarray, indices: Sequence[int], **kwargs: Any) -> list[Any]:
    """One line per exponent (columns of ``lines``), coloured by index; every one named in the legend,
    or, for more than `MAX_LEGEND_ENTRIES`, a colour bar of the index instead."""
    lo, hi = min(indices), max(indices)
    colormap = pyplot().get_cmap("viridis")
    colors = [colormap((i - lo) / max(1, hi - lo)) for i in indices]
    many = len(indices) > MAX_LEGEND_ENTRIES
    drawn = [ax.plot(x, lines[:, n], color=color, label=None if many else lambda_label(i), **kwargs)[0]
             for n, (i, color) in enumerate(zip(indices, colors))]
    if many:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        bar = ax.figure.colorbar(ScalarMappable(norm=Normalize(lo, hi), cmap=colormap), ax=ax)
        bar.set_label(r"exponent index $i$ of $\lambda_i$")
        _whole_numbers(bar.ax.yaxis)
    else:
        legend(ax, outside=True)
    return drawn


def save(fig: Any, path: str | os.PathLike[str], *, dpi: int = 110, close: bool = True) -> str:
    """Save ``fig`` atomically (temporary file + rename; format from the suffix); returns the path."""
    path = os.fspath(path)
    buf = io.BytesIO()
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    fig.savefig(buf, format=fmt, dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())
    if close:
        pyplot().close(fig)
    return path


# -- Spectrum ------------------------------------------------------------------------------


def spectrum(spec: Any, ax: Any = None, *, label: str | None = None) -> Any:
    """A `lyapax.Spectrum`: exponent against index, error bars = standard error."""
    new = ax is None
    ax = _axes(ax)
    idx = np.arange(1, spec.k + 1)
    err = None if spec.batch < 2 else spec.stderr
    ax.errorbar(idx, spec.exponents, yerr=err, marker=".", ms=4, lw=1, capsize=2, label=label)
    zero_line(ax)
    _whole_numbers(ax.xaxis)
    ax.set_xlabel(INDEX_LABEL)
    ax.set_ylabel(EXPONENT_LABEL)
    if new:
        ax.set_title(_title("Lyapunov spectrum", spec), fontsize=9)
    if label is not None:
        legend(ax)
    return ax


def spectrum_history(spec: Any, ax: Any = None, *, max_lines: int = 10) -> Any:
    """Running estimates of the leading ``max_lines`` exponents against counted steps."""
    if spec.history is None:
        raise ValueError("history: this Spectrum has no history; call spectrum(..., history=N).")
    new = ax is None
    ax = _axes(ax)
    lines = spec.history[:, :max_lines]
    _index_lines(ax, spec.history_steps, lines, range(1, lines.shape[1] + 1), lw=1)
    zero_line(ax)
    ax.set_xlabel("counted steps (after warm-up)")
    ax.set_ylabel(r"running estimate of $\lambda_i$ (nats/step)")
    if new:
        ax.set_title(_title("Convergence of the exponents", spec), fontsize=9)
    return ax


def _title(what: str, spec: Any) -> str:
    return f"{what}: {spec.batch} sequence{'s' * (spec.batch != 1)}, {spec.steps} counted steps"


# -- Monitor -------------------------------------------------------------------------------


def monitor_trajectories(
    monitor: Any, ax: Any = None, *, indices: Iterable[int] | None = None, errorbars: bool = False,
    step_name: str = "step",
) -> Any:
    """Exponents of a `lyapax.Monitor`'s records against the training step, one line each."""
    if not monitor.records:
        raise LyapaxError("plot_trajectories: the monitor has no records yet; call it during training first.")
    ex, se, steps = monitor.exponents, monitor.stderr, monitor.steps
    idx = list(indices) if indices is not None else list(range(1, ex.shape[1] + 1))
    for i in idx:
        if not 1 <= i <= ex.shape[1]:
            raise InputError(f"indices: exponent index {i} out of 1..{ex.shape[1]} (1-based).")
    new = ax is None
    ax = _axes(ax)
    drawn = _index_lines(ax, steps, ex[:, [i - 1 for i in idx]], idx, lw=1.2, marker="." if len(steps) < 30 else None)
    for i, line in zip(idx, drawn):
        if errorbars and np.all(np.isfinite(se[:, i - 1])):
            ax.fill_between(steps, ex[:, i - 1] - se[:, i - 1], ex[:, i - 1] + se[:, i - 1], color=line.get_color(),
                            alpha=0.2)
    zero_line(ax)
    _whole_numbers(ax.xaxis)
    ax.set_xlabel(f"training {step_name}")
    ax.set_ylabel(EXPONENT_LABEL)
    if new:
        ax.set_title(f"Lyapunov exponents during training ({len(monitor.records)} records)", fontsize=9)
    return ax


def monitor_spectra(
    monitor: Any, ax: Any = None, *, steps: Iterable[int] | None = None, errorbars: bool = True,
    step_name: str = "step",
) -> Any:
    """Spectra (index vs exponent) of a `lyapax.Monitor` at the chosen ``steps``."""
    if not monitor.records:
        raise LyapaxError("plot_spectra: the monitor has no records yet; call it during training first.")
    records: Sequence[Any] = monitor.records
    by_step = {r.step: r for r in records}
    if steps is None:
        n = len(records)
        chosen = [records[i] for i in sorted({int(round(v)) for v in np.linspace(0, n - 1, min(n, 6))})]
    else:
        chosen = []
        for s in steps:
            if int(s) not in by_step:
                raise InputError(f"steps: no record at step {s}; recorded steps are {sorted(by_step)}.")
            chosen.append(by_step[int(s)])
    new = ax is None
    ax = _axes(ax)
    for r, color in zip(chosen, index_colors(len(chosen))):
        idx = np.arange(1, r.exponents.size + 1)
        yerr = r.stderr if errorbars and np.all(np.isfinite(r.stderr)) else None
        ax.errorbar(idx, r.exponents, yerr=yerr, color=color, marker=".", ms=4, lw=1, capsize=2,
                    label=f"{step_name} {r.step}")
    zero_line(ax)
    _whole_numbers(ax.xaxis)
    ax.set_xlabel(INDEX_LABEL)
    ax.set_ylabel(EXPONENT_LABEL)
    legend(ax, outside=len(chosen) > 4)
    if new:
        ax.set_title(f"Lyapunov spectra during training, at {len(chosen)} {step_name}s", fontsize=9)
    return ax


# -- finite-time exponents and covariant vectors ----------------------------------------------


def finite_time(ft: Any, ax: Any = None, *, indices: Iterable[int] | None = None) -> Any:
    """`lyapax.FiniteTimeExponents`: per exponent, its mean over windows with the spread
    (one standard deviation, pooled over sequences) and the range (smallest to largest window);
    with every window kept, a violin of their distribution instead."""
    ax = _axes(ax)
    k = ft.mean.shape[1]
    idx = np.arange(1, k + 1) if indices is None else np.asarray(list(indices), dtype=int)
    if np.any((idx < 1) | (idx > k)):
        raise InputError(f"indices: exponent indices must lie in 1..{k} (1-based), got {idx.tolist()}.")
    pos = idx - 1
    if ft.windows is not None and ft.windows.shape[0] > 1:
        data = [ft.windows[:, :, i].ravel() for i in pos]
        ax.violinplot(data, positions=idx, showmeans=True, showextrema=True, widths=0.8)
    else:
        sd = np.sqrt(ft.pooled_variance[pos])
        ax.errorbar(idx, ft.pooled_mean[pos], yerr=sd, fmt=".", ms=4, capsize=2, label="mean ± std over windows")
        ax.vlines(idx, ft.minimum[:, pos].min(axis=0), ft.maximum[:, pos].max(axis=0), color="0.7", lw=3,
                  zorder=0, label="smallest to largest window")
        legend(ax)
    zero_line(ax)
    _whole_numbers(ax.xaxis)
    ax.set_xlabel(INDEX_LABEL)
    ax.set_ylabel("finite-time exponent (nats/step)")
    ax.set_title(f"windows of {ft.window} steps", fontsize=9)
    return ax


def angles(cv: Any, ax: Any = None, *, label: str | None = None, bins: int = 40) -> Any:
    """`lyapax.CovariantVectors`: the distribution of the angle between the unstable and the
    stable subspaces (or, without that split, between the first two covariant vectors), in degrees.

    Angles near 0 are near-tangencies, where the dynamics are not hyperbolic."""
    ax = _axes(ax)
    values = cv.subspace_angles.ravel()
    what = "unstable-stable subspace angle"
    if not np.any(np.isfinite(values)):
        values, what = cv.angles[..., 0].ravel(), "angle between covariant vectors 1 and 2"
    values = np.degrees(values[np.isfinite(values)])
    ax.hist(values, bins=bins, range=(0.0, 90.0), density=True, histtype="step", lw=1.2, label=label)
    ax.set_xlim(0.0, 90.0)
    ax.set_xlabel(f"{what} (degrees)")
    ax.set_ylabel("density (1/degree)")
    if label is not None:
        legend(ax)
    return ax
