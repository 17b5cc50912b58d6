"""Sweeps where the answer is known: the analysis must find it."""

import numpy as np

from lyapax.readout import analyze

FAST = {"repeats": 2, "n_boot": 300, "n_permutations": 19, "mlp": False}


def test_target_from_the_spectrum_only(sweep):
    a = analyze(sweep(48, "spectrum"), **FAST)
    inc = a["incremental"]["spectrum_over_early_val_loss"]
    assert inc["delta_r2"] > 0.5 and inc["ci"][0] > 0.3
    assert inc["p"] == 1 / 20  # no shuffle of the spectra comes close
    assert a["readouts"]["full_spectrum"]["r2"] > 0.8 and a["readouts"]["spectrum_features"]["r2"] > 0.8
    assert a["readouts"]["early_val_loss"]["r2"] < 0.2 and a["readouts"]["hyperparameters"]["r2"] < 0.2
    # a steeper fall-off (a more negative slope over the normalised index): a higher loss, at both sizes
    assert a["correlations"]["slope_mid"]["rho"] < -0.8 and a["correlations"]["slope_mid"]["p"] < 0.01


def test_target_from_the_early_loss_only(sweep):
    a = analyze(sweep(48, "early", noise=0.15), **FAST)
    inc = a["incremental"]["spectrum_over_early_val_loss"]
    assert inc["ci"][0] <= 0.0 <= inc["ci"][1]
    assert inc["p"] > 0.05
    assert a["readouts"]["early_val_loss"]["r2"] > 0.5
    assert a["readouts"]["full_spectrum"]["r2"] < 0.2


def test_target_from_a_hyperparameter_only(sweep):
    a = analyze(sweep(48, "init_scale"), **FAST)
    assert a["hyperparameters"] == ["hidden", "init_scale"]
    assert a["hyperparameter_encoding"]["init_scale"]["encoding"] == "linear"  # 0.04-0.24: less than a decade
    assert a["constant_hyperparameters"] == {"arch": "lstm"} and a["replicate_keys"] == ["seed"]
    r = a["readouts"]
    assert r["hyperparameters"]["r2"] > 0.8 and r["early_val_loss+hyperparameters"]["r2"] > 0.8
    assert r["early_val_loss"]["r2"] < 0.2 and r["full_spectrum"]["r2"] < 0.2
    assert r["hyperparameters"]["r2_ci"][0] < r["hyperparameters"]["r2"] < r["hyperparameters"]["r2_ci"][1]


def test_the_same_folds_and_seed_give_the_same_analysis(sweep):
    records = sweep(32, "spectrum")
    snapshot = [dict(r) for r in records]
    fast = {**FAST, "n_permutations": 3, "n_boot": 50}
    a, b = analyze(records, **fast), analyze(records, **fast)
    assert a["readouts"] == b["readouts"] and a["incremental"] == b["incremental"]
    assert records == snapshot  # the user's records are not modified
    assert np.isclose(a["readouts"]["early_val_loss"]["r2"], b["readouts"]["early_val_loss"]["r2"])


def test_the_order_of_the_records_does_not_matter(sweep):
    records = sweep(24, "early")
    fast = {**FAST, "n_permutations": 3, "n_boot": 50}
    a, b = analyze(records, **fast), analyze(records[::-1], **fast)
    assert a["ids"] == b["ids"] == sorted(a["ids"])
    assert a["readouts"] == b["readouts"] and a["incremental"] == b["incremental"]
