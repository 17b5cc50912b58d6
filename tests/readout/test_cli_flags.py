"""`lyapax readout` refuses bad flags before any training, naming the flag (issue 23, reproducer 6).

A fixture makes training fail the test: every refusal here must come before the first network.
"""

import pytest

from lyapax.errors import InputError
from lyapax.readout import cli, study
from lyapax.readout.study import StudyConfig, run_study
from lyapax.readout.train import NetworkConfig, TrainConfig

TINY = ["--quick", "--archs", "gru", "--init-scales", "0.1,0.5", "--lrs", "0.01,0.03", "--hidden", "4",
        "--replicates", "2", "--epochs", "2", "--batches-per-epoch", "1", "--batch", "2", "--seq-len", "10",
        "--probe-batch", "2", "--probe-steps", "20", "--warmup", "5", "--k", "2", "--bootstrap", "10", "--folds", "2",
        "--no-progress", "--no-figures"]


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a network was trained before the bad flag was refused")

    monkeypatch.setattr(study, "train_network", refuse)


def _run(capsys, tmp_path, *extra, out=True):
    argv = [*TINY, *(["--out", str(tmp_path / "out")] if out else []), *extra]
    rc = cli.main(argv)
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("flag, value, words", [
    ("--batch", "0", "batch (--batch): expected an integer >= 1, got 0"),
    ("--replicates", "0", "replicates (--replicates): expected an integer >= 1"),
    ("--epochs", "0", "epochs (--epochs)"),
    ("--batches-per-epoch", "0", "batches_per_epoch (--batches-per-epoch)"),
    ("--seq-len", "0", "seq_len (--seq-len)"),
    ("--seq-len", "100000000", "seq_len (--seq-len): training windows of 100000000 characters"),
    ("--threads", "0", "threads (--threads)"),
    ("--probe-batch", "0", "probe_batch (--probe-batch)"),
    ("--probe-steps", "5", "warmup (--warmup): the probe's 5 steps"),
    ("--probe-steps", "10000000", "probe_steps (--probe-steps): validation windows"),
    ("--warmup", "-1", "warmup (--warmup)"),
    ("--k", "0", "k (--k): expected an integer >= 1"),
    ("--k", "9", "k (--k): 9 exponents, but the GRU of 4 units has a state of 4"),
    ("--dropout", "1", "dropout (--dropout)"),
    ("--dropout", "nan", "dropout (--dropout)"),
    ("--lr-decay", "0", "lr_decay (--lr-decay)"),
    ("--lr-decay", "inf", "lr_decay (--lr-decay)"),
    ("--lr-decay-after", "-1", "lr_decay_after (--lr-decay-after)"),
    ("--seed", "-1", "seed (--seed)"),
    ("--top", "0", "top (--top)"),
    ("--threshold", "nan", "threshold (--threshold)"),
    ("--bootstrap", "0", "bootstrap (--bootstrap)"),
    ("--folds", "1", "folds (--folds)"),
    ("--folds", "5", "the study has 8 networks, and its analysis with 5 folds (--folds) needs at least 10"),
    ("--early-epoch", "2", "early_epoch (--early-epoch): expected an epoch before the last"),
    ("--max-chars", "10", "max_chars (--max-chars): expected an integer >= 1000"),
    ("--backend", "nosuch", "backend (--backend): 'nosuch' is not an installed lyapax backend"),
    ("--lrs", "0.01,0.01", "the grid names a network twice"),
])
def test_bad_training_flags_are_refused_before_any_training(tmp_path, capsys, no_training, flag, value, words):
    rc, err = _run(capsys, tmp_path, flag, value)
    assert rc == 2 and words in err and "Traceback" not in err, err
    assert not (tmp_path / "out" / "networks").exists()


def test_unparsable_flags_are_argparse_errors(tmp_path, capsys, no_training):
    for flag, value in [("--hidden", "0"), ("--init-scales", "nan"), ("--lrs", "-1"), ("--archs", "rnn")]:
        with pytest.raises(SystemExit) as info:
            _run(capsys, tmp_path, flag, value)
        assert info.value.code == 2 and flag in capsys.readouterr().err


def test_bad_text_files_are_refused(tmp_path, capsys, no_training):
    short = tmp_path / "short.txt"
    short.write_text("too short")
    for path, words in [(tmp_path / "missing.txt", "cannot open"), (tmp_path, "not a regular file"),
                        (short, "holds only 9 characters")]:
        rc, err = _run(capsys, tmp_path, "--text", str(path))
        assert rc == 2 and "text (--text)" in err and words in err, err


def test_the_output_folder_is_checked_before_any_training(tmp_path, capsys, no_training):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    rc, err = _run(capsys, tmp_path, "--out", str(a_file), out=False)
    assert rc == 2 and "out (--out)" in err and "exists and is not a folder" in err
    rc, err = _run(capsys, tmp_path, "--out", "/proc/lyapax-readout-x", out=False)
    assert rc == 2 and "cannot write to" in err
    (tmp_path / "out" / "networks").mkdir(parents=True)
    (tmp_path / "out" / "networks" / "gru_h4_p0.1_lr0.01_s0.json").mkdir()  # a folder where a record goes
    rc, err = _run(capsys, tmp_path)
    assert rc == 2 and "gru_h4_p0.1_lr0.01_s0.json" in err and "not a regular file" in err
    assert a_file.read_text() == "x"


def test_the_api_refuses_the_same_settings():
    with pytest.raises(InputError, match=r"batch \(--batch\)"):
        TrainConfig(batch=0)
    with pytest.raises(InputError, match=r"replicates \(--replicates\)"):
        StudyConfig(replicates=0)
    with pytest.raises(InputError, match=r"init_scales \(--init-scales\)"):
        StudyConfig(init_scales=(0.1, float("nan")))
    with pytest.raises(InputError, match=r"arch \(--archs\)"):
        NetworkConfig("rnn", 0.1, 0.01, 8, 0)
    import numpy as np

    cfg = TrainConfig(epochs=np.int64(3), spectrum_epochs=[1, np.int64(0), 1])
    assert type(cfg.epochs) is int and cfg.spectrum_epochs == (0, 1)
    with pytest.raises(InputError, match="early_epoch"):
        StudyConfig(train=TrainConfig(spectrum_epochs=(0,)), early_epoch=1)
    with pytest.raises(InputError, match="needs at least 10"):
        run_study(StudyConfig(archs=("gru",), init_scales=(0.1,), lrs=(0.01,)), "unused", progress=False)
