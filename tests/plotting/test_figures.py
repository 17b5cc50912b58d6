"""Every figure of lyapax survives a plain ``fig.savefig``: labels (with units), legends and
colourbars present and inside the image (numpy and matplotlib only)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

import lyapax
from lyapax import plotting

matplotlib.use("Agg")


def _network(gain: float = 1.5, hidden: int = 16, seed: int = 0) -> lyapax.cells.Elman:
    rng = np.random.default_rng(seed)
    return lyapax.cells.Elman(rng.normal(0, 1, (hidden, 2)), rng.normal(0, gain / np.sqrt(hidden), (hidden, hidden)))


def _inputs(batch: int = 4, steps: int = 200) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(batch, steps, 2))


def _monitor(k: int = 16) -> lyapax.Monitor:
    monitor = lyapax.Monitor(_inputs(steps=80), k=k)
    for epoch in range(5):
        monitor(_network(gain=0.8 + 0.2 * epoch), step=epoch)
    return monitor


def _texts(fig):
    for ax in fig.axes:
        yield from (ax.xaxis.label, ax.yaxis.label, ax.title)
        if ax.get_legend() is not None:
            yield ax.get_legend()
    yield from fig.texts
    if getattr(fig, "_suptitle", None) is not None:
        yield fig._suptitle


def _inside(ext, box) -> bool:
    return ext.x0 >= box.x0 - 1 and ext.y0 >= box.y0 - 1 and ext.x1 <= box.x1 + 1 and ext.y1 <= box.y1 + 1


def saved_intact(fig, path) -> None:
    """Save ``fig`` with a plain savefig; assert every visible label and legend, and every axes with
    its drawn tick labels, lies inside the image."""
    fig.savefig(path)
    height, width = matplotlib.image.imread(path).shape[:2]
    assert (width, height) == tuple(np.round(fig.get_size_inches() * fig.dpi).astype(int))
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    for artist in _texts(fig):
        if not artist.get_visible() or (hasattr(artist, "get_text") and not artist.get_text()):
            continue
        ext = artist.get_window_extent(renderer)
        what = artist.get_text() if hasattr(artist, "get_text") else type(artist).__name__
        assert _inside(ext, box), f"{what!r} clipped: {ext.extents} outside the figure {box.extents}"
    for ax in fig.axes:
        ext = ax.get_tightbbox(renderer)
        assert _inside(ext, box), f"axes {ax.get_label() or ax.get_ylabel()!r} clipped: {ext.extents} vs {box.extents}"


def _data_axes(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def _assert_exponent_axes(ax) -> None:
    assert ax.get_xlabel(), "no x label"
    assert "nats/step" in ax.get_ylabel(), ax.get_ylabel()


def test_spectrum_plot(tmp_path):
    spec = lyapax.spectrum(_network(), _inputs(), warmup=50)
    ax = spec.plot()
    _assert_exponent_axes(ax)
    assert ax.get_xlabel() == plotting.INDEX_LABEL
    assert "$\\lambda_i$" in ax.get_ylabel() and "λ_" not in ax.get_ylabel()
    assert ax.get_title() == "Lyapunov spectrum: 4 sequences, 150 counted steps"
    saved_intact(ax.figure, tmp_path / "spectrum.png")


def test_spectrum_plot_with_labels_has_a_legend(tmp_path):
    ax = lyapax.spectrum(_network(0.8), _inputs(), warmup=50).plot(label="gain 0.8")
    lyapax.spectrum(_network(1.5), _inputs(), warmup=50).plot(ax, label="gain 1.5")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["gain 0.8", "gain 1.5"]
    saved_intact(ax.figure, tmp_path / "spectra.png")


def test_spectrum_history(tmp_path):
    spec = lyapax.spectrum(_network(), _inputs(), warmup=50, history=10)
    ax = spec.plot_history()
    _assert_exponent_axes(ax)
    assert "steps" in ax.get_xlabel()
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names == [f"$\\lambda_{{{i}}}$" for i in range(1, 11)]  # every line named, subscripts as mathtext
    assert "4 sequences, 150 counted steps" in ax.get_title()
    saved_intact(ax.figure, tmp_path / "history.png")


def test_more_lines_than_a_legend_holds_get_a_colour_bar(tmp_path):
    spec = lyapax.spectrum(_network(), _inputs(), warmup=50, history=10)
    ax = spec.plot_history(max_lines=16)
    assert ax.get_legend() is None and len(ax.get_lines()) > 16
    (bar,) = _colorbars(ax.figure)
    assert bar.get_ylim() == (1.0, 16.0) and "$\\lambda_i$" in bar.get_ylabel()
    saved_intact(ax.figure, tmp_path / "history16.png")


@pytest.mark.parametrize("indices", [None, [1, 2, 4, 8, 16]])
def test_monitor_trajectories(tmp_path, indices):
    ax = _monitor().plot_trajectories(indices=indices, step_name="epoch", errorbars=True)
    _assert_exponent_axes(ax)
    assert ax.get_xlabel() == "training epoch"
    if indices is None:  # 16 exponents: a colour bar of the index, not a legend naming some
        assert ax.get_legend() is None
        (bar,) = _colorbars(ax.figure)
        assert bar.get_ylim() == (1.0, 16.0)
    else:
        names = [t.get_text() for t in ax.get_legend().get_texts()]
        assert names == [f"$\\lambda_{{{i}}}$" for i in indices]
    assert "during training" in ax.get_title()
    saved_intact(ax.figure, tmp_path / "trajectories.png")


def test_monitor_spectra(tmp_path):
    ax = _monitor().plot_spectra(step_name="epoch")
    _assert_exponent_axes(ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()][0] == "epoch 0"
    saved_intact(ax.figure, tmp_path / "monitor_spectra.png")


def test_plots_draw_on_given_axes():
    fig, axes = plotting.subplots(1, 2, figsize=(8, 3))
    spec = lyapax.spectrum(_network(), _inputs(), warmup=50, history=10)
    assert spec.plot(axes[0]) is axes[0] and spec.plot_history(axes[1]) is axes[1]


def test_plot_errors_name_the_fix():
    with pytest.raises(ValueError, match="history=N"):
        lyapax.spectrum(_network(), _inputs(), warmup=50).plot_history()
    with pytest.raises(lyapax.LyapaxError, match="no records"):
        lyapax.Monitor(_inputs()).plot_trajectories()
    with pytest.raises(lyapax.InputError, match="indices"):
        _monitor().plot_trajectories(indices=[17])
    with pytest.raises(lyapax.InputError, match="recorded steps"):
        _monitor().plot_spectra(steps=[9])


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "lyapax-rnn\[plot\]"'):
        plotting.pyplot()


def test_save_is_atomic_and_closes(tmp_path):
    fig, ax = plotting.subplots()
    ax.plot([0, 1])
    path = plotting.save(fig, tmp_path / "sub" / "line.png")
    assert matplotlib.image.imread(path).shape[2] in (3, 4)
    assert not matplotlib.pyplot.fignum_exists(fig.number)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["line.png"]


@pytest.mark.parametrize("keep", [False, True])
def test_finite_time_plot(tmp_path, keep):
    ft = lyapax.finite_time(_network(2.0, hidden=6), _inputs(steps=300), window=20, warmup=40, keep_windows=keep)
    ax = ft.plot()
    _assert_exponent_axes(ax)
    assert "20 steps" in ax.get_title()
    if not keep:
        assert len(ax.get_legend().get_texts()) == 2
    saved_intact(ax.figure, tmp_path / "finite_time.png")


def test_covariant_angle_plot(tmp_path):
    cv = lyapax.covariant_vectors(_network(2.5, hidden=6), _inputs(steps=300), at=range(0, 180, 3))
    ax = cv.plot_angles(label="gain 2.5")
    assert "degrees" in ax.get_xlabel() and "density" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["gain 2.5"]
    saved_intact(ax.figure, tmp_path / "angles.png")
