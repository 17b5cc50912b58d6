"""Records written by hand in the documented format, a CSV table, bad input, the command line and the report."""

import json
import subprocess
import sys

import numpy as np
import pytest

from lyapax.errors import InputError
from lyapax.readout import analyze, load_records, records_from_csv
from lyapax.readout.cli import main
from lyapax.readout.report import write_outputs

FAST = {"repeats": 1, "n_boot": 100, "n_permutations": 3, "mlp": False}


def _hand_written(n=20, seed=0):
    """A user's sweep: dropout, weight decay (four decades), a string optimiser, no loss at epoch 0."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        wd = [1e-5, 1e-4, 1e-3, 1e-1][i % 4]
        opt = ["adam", "sgd"][(i // 4) % 2]
        k = [8, 12][i % 2]
        lam = np.sort(rng.normal(-0.3, 0.2, size=k))
        out.append({
            "network": {"dropout": [0.0, 0.1, 0.3][i % 3], "weight_decay": wd, "optimizer": opt, "layers": 1,
                        "seed": i},
            "val_loss": [None, float(2.0 + 0.1 * rng.normal()), 1.8],
            "spectra": [{"epoch": 1, "exponents": rng.permutation(lam).tolist()},
                        {"epoch": 2, "exponents": lam.tolist()}],
            "final_val_loss": float(1.5 + 0.1 * np.log10(wd) + 0.2 * (opt == "sgd") + 0.05 * rng.normal()),
        })
    return out


def _write(folder, records):
    (folder / "networks").mkdir(parents=True)
    for i, rec in enumerate(records):
        (folder / "networks" / f"r{i:02d}.json").write_text(json.dumps(rec))


def test_hand_written_records_with_extra_hyperparameters(tmp_path):
    _write(tmp_path, _hand_written())
    records = load_records(tmp_path)
    assert [r["id"] for r in records][:2] == ["r00", "r01"]
    a = analyze(records, **FAST)
    assert a["n_networks"] == 20 and a["excluded"] == []
    assert a["hyperparameters"] == ["dropout", "optimizer", "weight_decay"]
    enc = a["hyperparameter_encoding"]
    assert enc["weight_decay"]["encoding"] == "log10" and enc["dropout"]["encoding"] == "linear"
    assert enc["optimizer"] == {"encoding": "one-hot", "values": ["adam", "sgd"]}
    assert "optimizer=sgd" in a["hyperparameter_columns"]
    assert a["constant_hyperparameters"] == {"layers": 1}
    assert a["spectrum"]["sizes"] == [8, 12] and a["spectrum"]["interpolated_length"] == 8
    assert a["readouts"]["hyperparameters"]["r2"] > 0.5  # the target is made of weight decay and optimiser
    for key in ("n_networks", "early_epoch", "target", "hyperparameters", "correlations", "readouts", "incremental"):
        assert key in a
    assert set(a["correlations"]["max_exponent"]) >= {"rho", "ci", "p"}
    assert set(a["readouts"]["full_spectrum"]) >= {"r2", "r2_ci", "spearman"}
    assert set(a["incremental"]["spectrum_over_early_val_loss"]) >= {"delta_r2", "ci", "p"}


def test_csv_importer_reads_the_same_sweep(tmp_path):
    records = _hand_written()
    lines = ["id,dropout,weight_decay,optimizer,layers,seed,val_loss_0,val_loss_1,exponents_1,final_val_loss"]
    for i, r in enumerate(records):
        n = r["network"]
        exps = ";".join(repr(v) for v in r["spectra"][0]["exponents"])
        lines.append(f"n{i},{n['dropout']},{n['weight_decay']},{n['optimizer']},1,{i},,{r['val_loss'][1]!r},"
                     f"{exps},{r['final_val_loss']!r}")
    path = tmp_path / "sweep.csv"
    path.write_text("\n".join(lines) + "\n")
    from_csv = records_from_csv(path)
    records = [dict(r, id=f"n{i}") for i, r in enumerate(records)]  # the same ids: the same order, the same folds
    assert from_csv[0]["val_loss"][0] is None and from_csv[0]["network"]["optimizer"] == "adam"
    assert from_csv[3]["network"]["weight_decay"] == pytest.approx(0.1)
    a, b = analyze(from_csv, **FAST), analyze(records, **FAST)
    assert a["readouts"]["hyperparameters"]["r2"] == pytest.approx(b["readouts"]["hyperparameters"]["r2"])
    assert a["readouts"]["full_spectrum"]["r2"] == pytest.approx(b["readouts"]["full_spectrum"]["r2"])


def test_missing_early_values_are_excluded_and_counted_or_raise_when_strict(tmp_path):
    records = _hand_written(24)
    del records[0]["spectra"][0]  # no spectrum at epoch 1
    records[1]["val_loss"][1] = None  # no early loss
    records[2]["spectra"][0]["exponents"][3] = None  # a NaN exponent (JSON null)
    records[3]["spectra"][0] = {"epoch": 1, "error": "NumericalError: diverged"}
    _write(tmp_path, records)
    a = analyze(load_records(tmp_path), **FAST)
    assert a["n_networks"] == 20 and a["n_records"] == 24
    reasons = {e["id"]: e["reason"] for e in a["excluded"]}
    assert reasons == {
        "r00": "no spectrum at the early epoch 1", "r01": "no val_loss at the early epoch 1",
        "r02": "non-finite (NaN/Inf/null) exponents at the early epoch 1",
        "r03": "no spectrum at the early epoch 1 (NumericalError: diverged)"}
    with pytest.raises(InputError, match=r"r00\.json: no spectrum at the early epoch 1.*strict=False"):
        analyze(load_records(tmp_path), strict=True, **FAST)


def test_bad_input_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(InputError, match="at least 10"):
        analyze(_hand_written(6), **FAST)
    with pytest.raises(InputError, match="no record files"):
        load_records(tmp_path)
    bad = _hand_written(1)[0]
    bad["network"] = ["lstm"]
    (tmp_path / "networks").mkdir()
    (tmp_path / "networks" / "mine.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match=r"mine\.json: 'network' must be an object"):
        load_records(tmp_path)
    (tmp_path / "networks" / "mine.json").write_text("{not json")
    with pytest.raises(InputError, match=r"mine\.json: not valid JSON"):
        load_records(tmp_path)
    with pytest.raises(InputError, match="early_epoch"):
        analyze(_hand_written(), early_epoch=-1)
    # an epoch no network has: every record is excluded, and the error counts why
    with pytest.raises(InputError, match=r"0 usable networks of 20 \(excluded: 20 x no val_loss at the early epoch 0"):
        analyze(_hand_written(), early_epoch=0, **FAST)


def test_cli_analyze_writes_the_contract_report_and_figures(tmp_path, capsys):
    _write(tmp_path, _hand_written())
    rc = main(["analyze", str(tmp_path), "--repeats", "1", "--bootstrap", "100", "--permutations", "3", "--no-mlp"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "early_val_loss+full_spectrum" in out and "ΔR²" in out
    a = json.loads((tmp_path / "analysis.json").read_text())
    assert a["n_networks"] == 20 and "spectrum_over_early_val_loss" in a["incremental"]
    report = (tmp_path / "report.md").read_text()
    assert "### The added value of the spectrum" in report and "`weight_decay`" in report
    assert "too few" in report  # no network is unstable by the default margin
    for name in ("readout_predictions.png", "readout_added_value.png"):
        assert (tmp_path / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "networks.csv").read_text().startswith("id,")
    assert main(["analyze", str(tmp_path / "missing")]) == 2
    assert "neither a folder" in capsys.readouterr().err


def test_stability_auc_with_enough_unstable_networks(tmp_path):
    records = _hand_written(30)
    for r in records[:6]:
        r["final_val_loss"] += 2.0  # six networks end far above the best
    records[6]["diverged"] = True
    a = write_outputs(records, str(tmp_path), figures=False, log=lambda s: None, unstable_margin=1.0, **FAST)
    stab = a["stability"]
    assert "more than 1 above its own best validation loss" in stab["definition"]
    assert stab["n_unstable"] == 7 and stab["auc"] is not None
    assert sorted(stab["unstable_ids"]) == [f"records[{i}]" for i in range(7)]
    assert a["n_stable"] == 23 and len(a["readouts"]["early_val_loss"]["predictions"]) == 23
    auc = stab["auc"]["hyperparameters"]
    assert 0.0 <= auc["ci"][0] <= auc["auc"] <= auc["ci"][1] <= 1.0


def test_importing_the_analysis_imports_no_framework():
    code = ("import sys, lyapax, lyapax.readout, lyapax.readout.analysis, lyapax.readout.report, lyapax.readout.cli; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'tensorflow', 'jax', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
