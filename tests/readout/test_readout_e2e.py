"""A tiny end-to-end readout study with PyTorch: files written, deterministic, resumable, CLI."""

import csv
import json
import sys

import pytest
import torch

from lyapax.errors import InputError
from lyapax.readout import cli
from lyapax.readout.study import StudyConfig, networks_of, run_networks, run_study
from lyapax.readout.train import TrainConfig, build_model

TINY = StudyConfig(
    archs=("lstm", "gru"),
    init_scales=(0.1, 1.0, 3.0),
    lrs=(0.003, 0.03),
    hidden=8,
    grammar_chars=6000,
    train=TrainConfig(epochs=2, batches_per_epoch=3, batch=4, seq_len=20, val_windows=4, val_len=30,
                      probe_batch=3, probe_steps=30, warmup=5, k=4),
    bootstrap=50,
    folds=3,
    repeats=1,
    permutations=3,
)

TIMING_KEYS = {"seconds", "spectrum_seconds"}


def _strip_timing(obj):
    if isinstance(obj, dict):
        return {k: _strip_timing(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [_strip_timing(v) for v in obj]
    return obj


def _load(folder, name):
    return json.loads((folder / "networks" / f"{name}.json").read_text())


def test_tiny_study_writes_files_and_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    res_a = run_study(TINY, str(a), progress=False, log=lambda s: None)
    res_b = run_study(TINY, str(b), progress=False, log=lambda s: None)
    ids = [n.id for n in networks_of(TINY)]
    assert len(ids) == 12
    for name in ids:
        rec_a, rec_b = _load(a, name), _load(b, name)
        assert _strip_timing(rec_a) == _strip_timing(rec_b)
        assert [s["epoch"] for s in rec_a["spectra"]] == [0, 1, 2]
        assert len(rec_a["val_loss"]) == 3 and rec_a["final_val_loss"] == rec_a["val_loss"][-1]
        good = [s for s in rec_a["spectra"] if "exponents" in s]
        assert all(len(s["exponents"]) == 4 and s["backend"] == "torch" for s in good)
    with open(a / "networks.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["id"] for r in rows) == sorted(res_a["ids"]) and set(res_a["ids"]) <= set(ids)
    assert {"early_max_exponent", "early_slope_mid", "final_val_loss", "early_val_loss", "init_scale", "lr"} <= set(rows[0])
    for name in ("report.md", "analysis.json", "study.json"):
        assert (a / name).stat().st_size > 0
    for fig in ("readout_predictions.png", "readout_added_value.png"):
        assert (a / "figures" / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (a / "report.md").read_text()
    assert "Spearman" in report and "added value of the spectrum" in report and "Task: character-level" in report
    assert res_a["hyperparameters"] == ["arch", "init_scale", "lr"] and res_a["constant_hyperparameters"] == {"hidden": 8}
    assert res_a["correlations"] == res_b["correlations"] and res_a["readouts"] == res_b["readouts"]
    assert res_a["n_networks"] + len(res_a["excluded"]) == 12 and res_a["n_networks"] >= 10
    assert "mlp_full_spectrum" in res_a["readouts"]  # torch is installed here: the paper's MLP readout runs
    assert not list(a.rglob(".tmp-*"))


def test_resume_skips_done_networks(tmp_path):
    out = tmp_path / "r"
    small = StudyConfig(**{**TINY.__dict__, "archs": ("gru",), "init_scales": (0.5,), "lrs": (0.01, 0.02)})
    run_networks(small, str(out), progress=False, log=lambda s: None)
    first = (out / "networks" / f"{networks_of(small)[0].id}.json").stat().st_mtime_ns
    logs = []
    run_networks(small, str(out), progress=False, log=logs.append)
    assert any("resuming: 2 of 2" in m for m in logs)
    with pytest.raises(InputError, match="the study has 2 networks.*needs at least 8"):  # refused before training
        run_study(small, str(tmp_path / "never"), progress=False, figures=False, log=logs.append)
    assert not (tmp_path / "never").exists()
    assert (out / "networks" / f"{networks_of(small)[0].id}.json").stat().st_mtime_ns == first


def test_no_bias_dropout_and_lr_decay():
    from lyapax.readout.tasks import grammar_text, make_corpus
    from lyapax.readout.train import NetworkConfig, train_network

    model = build_model("gru", vocab_size=5, hidden=6, init_scale=0.2, seed=1, bias=False, dropout=0.5)
    assert [n for n, _ in model.rnn.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    model.eval()
    ids = torch.zeros(2, 7, dtype=torch.long)
    assert torch.equal(model(ids), model(ids))  # dropout only in training mode
    corpus = make_corpus(grammar_text(6000, seed=0), "g")
    cfg = TrainConfig(epochs=3, batches_per_epoch=2, batch=4, seq_len=20, val_windows=2, val_len=30, probe_batch=2,
                      probe_steps=30, warmup=5, k=None, bias=False, dropout=0.1, lr_decay=0.5, lr_decay_after=2,
                      spectrum_epochs=(1,))
    rec = train_network(NetworkConfig("lstm", 0.1, 0.01, 4, 0), cfg, corpus)
    assert [s["epoch"] for s in rec["spectra"]] == [1] and len(rec["spectra"][0]["exponents"]) == 8  # all: (h, c)
    assert rec["train"]["lr_decay"] == 0.5 and rec["train"]["bias"] is False


def test_paper_preset_spans_the_paper_range_and_beyond():
    from lyapax.readout.study import PAPER, PAPER_GPU

    for cfg in (PAPER, PAPER_GPU):
        assert min(cfg.init_scales) == 0.04 and 0.24 in cfg.init_scales and max(cfg.init_scales) >= 1.0
        assert cfg.lrs == (0.002,) and not cfg.train.bias and cfg.train.dropout == 0.1 and cfg.train.k is None
        assert len(cfg.sizes) >= 2 and cfg.train.lr_decay == 0.97
    assert PAPER_GPU.train.epochs == 15 and PAPER_GPU.train.lr_decay_after == 10 and max(PAPER_GPU.sizes) == 512
    assert len(networks_of(PAPER)) == 56


def test_uniform_init_and_model_shape():
    model = build_model("lstm", vocab_size=5, hidden=6, init_scale=0.2, seed=1)
    for p in model.rnn.parameters():
        top = float(p.detach().abs().max())
        assert 0.1 < top <= 0.2
    again = build_model("lstm", vocab_size=5, hidden=6, init_scale=0.2, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters()))
    assert model(torch.zeros(2, 7, dtype=torch.long)).shape == (2, 7, 5)


def test_cli_tiny_run(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = cli.main(["--out", str(out), "--quick", "--archs", "gru", "--init-scales", "0.1,0.5,1,2,3", "--lrs",
                   "0.01,0.05", "--hidden", "6", "--epochs", "2", "--batches-per-epoch", "2", "--batch", "4",
                   "--seq-len", "16", "--k", "3", "--probe-batch", "2", "--probe-steps", "25", "--warmup", "5",
                   "--bootstrap", "20", "--no-progress", "--no-figures"])
    assert rc == 0
    assert len(list((out / "networks").glob("*.json"))) == 10
    printed = capsys.readouterr().out
    assert "early_val_loss+full_spectrum" in printed and "ΔR²" in printed


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    assert cli.main(["--out", str(tmp_path), "--epochs", "2", "--early-epoch", "2", "--no-progress"]) == 2
    assert "--early-epoch" in capsys.readouterr().err
    assert cli.main(["--text", str(tmp_path / "missing.txt"), "--out", str(tmp_path)]) == 2


def test_missing_torch_gives_install_hint(monkeypatch, capsys):
    for name in ("torch", "lyapax.readout.train", "lyapax.readout.study"):
        monkeypatch.setitem(sys.modules, name, None)
    assert cli.main(["--quick"]) == 2
    assert 'pip install "lyapax-rnn[torch]"' in capsys.readouterr().err


def test_exploding_gradients_are_skipped_and_counted():
    from lyapax.readout.tasks import grammar_text, make_corpus
    from lyapax.readout.train import NetworkConfig, train_network

    corpus = make_corpus(grammar_text(6000, seed=0), "g")
    cfg = TrainConfig(epochs=1, batches_per_epoch=2, batch=4, seq_len=200, val_windows=2, val_len=30,
                      probe_batch=2, probe_steps=30, warmup=5, k=2)
    # U(-4, 4) with 32 units is strongly chaotic: over 200 steps the gradient norm overflows float32
    wild = train_network(NetworkConfig("lstm", 4.0, 0.01, 32, 0), cfg, corpus)
    assert wild["skipped_steps"] == 2 and not wild["diverged"]
    assert wild["val_loss"][1] == wild["val_loss"][0]  # no update was applied
    assert wild["spectra"][0]["max_exponent"] > 0
    tame = train_network(NetworkConfig("lstm", 0.1, 0.01, 32, 0), cfg, corpus)
    assert tame["skipped_steps"] == 0 and tame["val_loss"][1] < tame["val_loss"][0]


def test_cli_paper_preset_with_small_overrides(tmp_path, capsys):
    out = tmp_path / "paper"
    rc = cli.main(["--preset", "paper", "--out", str(out), "--archs", "gru", "--hidden", "4,6",
                   "--init-scales", "0.04,0.24,1,3", "--replicates", "2", "--epochs", "2", "--batches-per-epoch", "2",
                   "--batch", "4", "--seq-len", "16", "--probe-batch", "2", "--probe-steps", "25", "--warmup", "5",
                   "--bootstrap", "20", "--lr-decay-after", "1", "--no-progress", "--no-figures"])
    assert rc == 0, capsys.readouterr().err
    rec = json.loads(next((out / "networks").glob("gru_h6_*.json")).read_text())
    assert rec["train"]["bias"] is False and rec["train"]["dropout"] == 0.1 and rec["train"]["k"] is None
    assert [s["epoch"] for s in rec["spectra"]] == [0, 1] and len(rec["spectra"][1]["exponents"]) == 6
    a = json.loads((out / "analysis.json").read_text())
    assert a["hyperparameters"] == ["hidden", "init_scale"] and a["spectrum"]["sizes"] == [4, 6]
    assert "pooled" not in a and a["constant_hyperparameters"]["lr"] == 0.002
    assert cli.main(["--preset", "paper", "--quick"]) == 2
