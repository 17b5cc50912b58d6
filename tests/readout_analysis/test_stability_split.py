"""'Ends unstable' apart from 'how good': a synthetic sweep with planted late blow-ups.

The final loss of the stable networks follows their early loss closely; a few networks blow
up late (their final loss jumps far above their own best, as on the paper's released grid),
and only their early spectrum says so (a raised λ1). Known answers: the split finds exactly
the planted networks, the spectrum (not the early loss) predicts them, the regressions on
the stable networks recover the early loss's R², and a regression over all networks is
dominated by the blow-ups.
"""

import numpy as np
import pytest

from lyapax.readout import analyze
from lyapax.readout.power import detectable_delta_r2, detectable_partial_r
from lyapax.readout.stats import rankdata

FAST = {"repeats": 2, "n_boot": 200, "n_permutations": 0, "mlp": False}


def planted_sweep(n=40, blowups=(3, 11, 17, 26, 33, 38), seed=0):
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        early = 2.0 + 0.3 * rng.normal()
        final = early - 0.5 + 0.03 * rng.normal()
        curve = [3.6, early, early - 0.3, final]
        lam1 = -0.05 + 0.01 * rng.normal()
        if i in blowups:  # learns like the others, then jumps late: far above its own best
            lam1 = 0.3 + 0.05 * rng.normal()
            final = curve[2] + 2.0 + 0.2 * rng.normal()
            curve[3] = final
        lam = np.concatenate([[lam1], np.sort(rng.normal(-0.6, 0.1, 15))[::-1]])
        records.append({"id": f"net{i}", "network": {"lr": [0.001, 0.003, 0.01, 0.03][i % 4], "seed": i},
                        "val_loss": curve, "spectra": [{"epoch": 1, "exponents": lam.tolist()}],
                        "final_val_loss": float(final)})
    return records


def test_the_split_finds_the_planted_blowups_and_the_spectrum_predicts_them():
    records = planted_sweep()
    a = analyze(records, **FAST)
    stab = a["stability"]
    assert sorted(stab["unstable_ids"], key=lambda s: int(s[3:])) == ["net3", "net11", "net17", "net26", "net33", "net38"]
    assert stab["n_unstable"] == 6 and stab["n_stable"] == 34 and a["n_stable"] == 34
    assert "more than 0.1 above its own best validation loss" in stab["definition"]
    excess = dict(zip(a["ids"], stab["excess"]))
    assert excess["net3"] > 1.0 and abs(excess["net0"]) < 1e-12  # a stable network ends at its own best
    auc = stab["auc"]
    assert auc["spectrum_features"]["auc"] > 0.95 and auc["spectrum_features"]["ci"][0] > 0.8
    assert auc["spectrum_features"]["p"] == pytest.approx(1 / 20)  # no relabelling comes close
    assert auc["early_val_loss"]["p"] > 0.2  # the early loss carries no sign of the blow-up
    assert all(v["chance"] < 0.55 for v in auc.values())  # chance under cross-validation: at or below 0.5
    # how good: on the 34 stable networks, the early loss predicts the final loss (the truth: R² near 1)
    r = a["readouts"]
    assert r["early_val_loss"]["r2"] > 0.9 and len(r["early_val_loss"]["predictions"]) == 34
    # over all 40, the six blow-ups dominate: the same readout explains little
    assert a["all_networks"]["readouts"]["early_val_loss"]["r2"] < 0.3
    assert a["all_networks"]["n"] == 40 and a["stable"].count(False) == 6


def test_without_blowups_nothing_is_unstable_and_the_regressions_use_every_network():
    a = analyze(planted_sweep(blowups=()), **FAST)
    assert a["stability"]["n_unstable"] == 0 and a["all_networks"] is None and a["n_stable"] == 40
    assert a["stability"]["auc"] is None and "too few" in a["stability"]["note"]
    assert a["readouts"]["early_val_loss"]["r2"] > 0.9


def test_the_margin_is_in_the_targets_units_and_inf_counts_only_divergence():
    records = planted_sweep()
    assert analyze(records, unstable_margin=3.0, **FAST)["stability"]["n_unstable"] == 0  # jumps of about 2
    records[5]["diverged"] = True
    a = analyze(records, unstable_margin=float("inf"), **FAST)
    assert a["stability"]["unstable_ids"] == ["net5"] and a["stability"]["definition"].startswith("diverged")


def test_rank_target_is_invariant_to_a_monotone_transform_of_the_target():
    records = planted_sweep(blowups=())
    warped = [dict(r, final_val_loss=float(np.exp(3 * r["final_val_loss"]))) for r in records]
    a = analyze(records, rank_target=True, unstable_margin=float("inf"), **FAST)
    b = analyze(warped, rank_target=True, unstable_margin=float("inf"), **FAST)
    assert a["target_scale"] == "rank"
    for name in a["readouts"]:
        assert a["readouts"][name]["r2"] == pytest.approx(b["readouts"][name]["r2"], abs=1e-12)
    y = np.array(a["y"])  # in the analysis's order (by id)
    np.testing.assert_allclose(a["fit_target"], (rankdata(y) - 1) / (y.size - 1))


def test_report_says_both_answers_in_words(tmp_path):
    from lyapax.readout.report import write_report

    a = analyze(planted_sweep(), **FAST)
    text = write_report(str(tmp_path / "report.md"), a, [])
    assert "## Which networks ended unstable" in text and "**6** of 40 networks ended unstable" in text
    assert "The best early predictor of ending unstable is" in text
    assert "## How good the stable networks get" in text and "**34** networks that ended stable" in text
    assert "all 40 networks, the unstable ones included" in text
    assert "everything known without the spectrum" in text  # what early loss + hyperparameters means
    assert "power only for a partial correlation" in text
    assert "Strongly correlated inputs" in text or "No two inputs" in text


def test_detectable_effect_follows_fishers_z():
    # n = 53, one covariate: dof 49, atanh(r) = 2.8016 / 7 -> r = tanh(0.40023) = 0.3801
    assert detectable_partial_r(53, 1) == pytest.approx(np.tanh((1.959964 + 0.841621) / 7), abs=1e-6)
    assert detectable_delta_r2(53, 1, 0.5) == pytest.approx(0.5 * detectable_partial_r(53, 1) ** 2)
    assert detectable_delta_r2(53, 1, -0.4) == pytest.approx(detectable_partial_r(53, 1) ** 2)  # as R² = 0
    assert detectable_partial_r(5, 2) is None
    assert detectable_partial_r(400, 2) < detectable_partial_r(40, 2)


def test_a_network_that_never_learnt_is_stable_but_named_an_outlier(tmp_path):
    from lyapax.readout.report import write_report

    records = planted_sweep(blowups=())
    records[7].update(val_loss=[3.6, 3.6, 3.6, 3.6], final_val_loss=3.6)  # never learnt: bad, not a late blow-up
    a = analyze(records, **FAST)
    assert a["stability"]["n_unstable"] == 0 and a["how_good"]["outliers"] == ["net7"]
    assert "`--rank-target` asks the same questions" in write_report(str(tmp_path / "r.md"), a, [])
    assert analyze(records, rank_target=True, **FAST)["how_good"]["outliers"] == ["net7"]
