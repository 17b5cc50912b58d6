"""The analysis's figures: labelled axes with units, intact PNG files."""

import matplotlib

from lyapax import plotting
from lyapax.readout import analyze, report


def test_figures_have_labelled_axes_and_are_written(tmp_path, monkeypatch, sweep):
    a = analyze(sweep(24, "spectrum"), repeats=1, n_boot=50, n_permutations=19, mlp=False)
    figures = {}
    monkeypatch.setattr(report, "_save", lambda fig, path: figures.setdefault(path, fig))
    assert report.make_figures(a, str(tmp_path)) == ["readout_predictions.png", "readout_added_value.png"]
    for path, fig in figures.items():
        axes = [ax for ax in fig.axes if ax.get_visible()]
        assert axes and all(ax.get_xlabel() for ax in axes), path
        assert all(ax.get_ylabel() or ax.get_yticklabels() for ax in axes), path
        saved = tmp_path / ("saved-" + path.rsplit("/", 1)[-1])
        plotting.save(fig, saved)
        assert matplotlib.image.imread(saved).shape[2] in (3, 4)
    predictions = [ax for ax in figures[str(tmp_path / "readout_predictions.png")].axes if ax.get_visible()]
    assert len(predictions) == len(a["readouts"]) and all("nats/char" in ax.get_xlabel() for ax in predictions)
    text = report.write_report(str(tmp_path / "report.md"), a, [])
    assert report.added_value_in_words(a) in text and "adds to the early validation loss" in text
    few = {**a, "incremental": {"spectrum_over_early_val_loss": {
        **a["incremental"]["spectrum_over_early_val_loss"], "p": 0.25, "n_permutations": 3}}}
    assert report.added_value_in_words(few).startswith("Inconclusive")
    small = {**a, "incremental": {"spectrum_over_early_val_loss": {
        **a["incremental"]["spectrum_over_early_val_loss"], "ci": [-0.01, 0.09], "p": 0.005}}}
    assert report.added_value_in_words(small).startswith("At most a small gain")
