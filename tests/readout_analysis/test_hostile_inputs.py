"""`lyapax readout analyze` and `analyze` on hostile folders, records and options (issue 23, reproducers 4-10).

Every case answers within seconds: a clear message naming the file or the flag and exit code
2, or a correct result with the odd entries skipped or excluded with their reason. Options
and the output folder are refused before any work (no output file appears).
"""

import csv
import json
import os
import sys

import pytest

from lyapax.errors import InputError
from lyapax.readout import analyze, load_records, records_from_csv
from lyapax.readout.cli import main
from lyapax.readout.report import write_outputs

FAST = ["--repeats", "1", "--bootstrap", "30", "--permutations", "0", "--no-mlp", "--no-figures", "--folds", "3"]
FAST_API = {"repeats": 1, "n_boot": 30, "n_permutations": 0, "mlp": False, "folds": 3}
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and symlinks as on POSIX")


def _record(i, **extra):
    """A valid record whose final loss follows its early loss (none ends above its own best)."""
    early = 2.0 + 0.05 * (i % 5)
    rec = {"network": {"init_scale": [0.1, 0.2, 0.4][i % 3], "seed": i}, "val_loss": [3.5, early, early - 0.2],
           "spectra": [{"epoch": 1, "exponents": [-0.05 * (1 + i % 4), -0.3, -0.6 - 0.01 * i]}],
           "final_val_loss": early - 0.3 + 0.01 * (i % 2)}
    rec.update(extra)
    return rec


def _folder(path, n=10, **extra):
    (path / "networks").mkdir(parents=True)
    for i in range(n):
        (path / "networks" / f"r{i:02d}.json").write_text(json.dumps(_record(i, **extra)))
    return path


def _run(capsys, *argv):
    rc = main(["analyze", *map(str, argv)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@POSIX
@pytest.mark.timeout(60)
def test_a_fifo_a_symlink_loop_and_a_directory_named_json_are_skipped_not_opened(tmp_path, capsys):
    folder = _folder(tmp_path / "sweep")
    nets = folder / "networks"
    os.mkfifo(nets / "zz.json")  # opening it for reading would block forever
    os.symlink(nets / "loop_b.json", nets / "loop_a.json")
    os.symlink(nets / "loop_a.json", nets / "loop_b.json")
    os.symlink(nets / "nowhere", nets / "dangling.json")
    (nets / "d.json").mkdir()
    rc, out, err = _run(capsys, folder, *FAST)
    assert rc == 0, err
    assert "10 networks analysed" in out
    for name, why in [("zz.json", "FIFO"), ("loop_a.json", "cannot be read"), ("dangling.json", "cannot be read"),
                      ("d.json", "a directory")]:
        assert name in err and why in err.split(name, 1)[1].splitlines()[0]
    a = json.loads((folder / "analysis.json").read_text())
    assert sorted(os.path.basename(s["source"]) for s in a["skipped_files"]) == [
        "d.json", "dangling.json", "loop_a.json", "loop_b.json", "zz.json"]
    assert "Skipped, not regular files: 5" in (folder / "report.md").read_text()
    skipped = []
    assert len(load_records(folder, skipped=skipped)) == 10 and len(skipped) == 5
    with pytest.warns(UserWarning, match="zz.json: skipped, a FIFO"):
        load_records(folder)


@pytest.mark.timeout(60)
def test_deeply_nested_json_is_a_clear_error_naming_the_file(tmp_path, capsys):
    folder = _folder(tmp_path / "sweep")
    (folder / "networks" / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    rc, _, err = _run(capsys, folder, *FAST)
    assert rc == 2 and "deep.json: JSON nested too deeply" in err and "Traceback" not in err
    (folder / "networks" / "deep.json").write_text('{"network": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(InputError, match="nested too deeply"):
        load_records(folder)


def test_a_path_with_glob_characters_is_a_path(tmp_path, capsys):
    folder = _folder(tmp_path / "run[1]")
    assert len(load_records(folder)) == 10
    rc, out, err = _run(capsys, folder, *FAST)
    assert rc == 0 and "10 networks analysed" in out, err
    flat = tmp_path / "flat*?"
    flat.mkdir()
    for i in range(10):
        (flat / f"n{i}.json").write_text(json.dumps(_record(i)))
    (flat / ".tmp-0000-n0.json").write_text("{half a record")  # an atomic write's temporary file: hidden
    assert [r["id"] for r in load_records(flat)] == [f"n{i}" for i in range(10)]


def test_output_folder_is_checked_before_any_work(tmp_path, capsys):
    folder = _folder(tmp_path / "sweep")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for out, message in [(a_file, "exists and is not a folder"), (a_file / "sub", "cannot write to"),
                         ("/proc/lyapax-x", "cannot write to")]:
        rc, _, err = _run(capsys, folder, "--out", out, *FAST)
        assert rc == 2 and "--out" in err and message in err and "Traceback" not in err
    (folder / "report.md").mkdir()  # a folder where an output file goes
    rc, _, err = _run(capsys, folder, *FAST)
    assert rc == 2 and "report.md" in err and "is a folder" in err
    assert not (folder / "analysis.json").exists()  # refused before the analysis ran
    assert not (tmp_path / "proc").exists() and a_file.read_text() == "x"


@pytest.mark.parametrize("flag, value, words", [
    ("--bootstrap", "-1", "n_boot (--bootstrap): expected an integer >= 1"),
    ("--bootstrap", "0", "n_boot (--bootstrap)"),
    ("--bootstrap", "1000000000", "at most"),
    ("--top", "0", "top (--top): expected an integer >= 1"),
    ("--seed", "-1", "seed (--seed): expected an integer >= 0"),
    ("--target", "id", "target (--target): 'id' is part of a record's structure"),
    ("--target", "network", "target (--target): 'network'"),
    ("--target", "nonexistent", "0 usable networks"),
    ("--permutations", "-1", "n_permutations (--permutations): expected an integer >= 0"),
    ("--folds", "1", "folds (--folds): expected an integer >= 2"),
    ("--repeats", "0", "repeats (--repeats)"),
    ("--repeats", "1000000000", "repeats (--repeats): at most"),
    ("--permutations", "1000000000", "n_permutations (--permutations): at most"),
    ("--inner-folds", "1", "inner_folds (--inner-folds)"),
    ("--early-epoch", "-1", "early_epoch (--early-epoch)"),
    ("--threshold", "nan", "threshold (--threshold)"),
    ("--unstable-margin", "nan", "unstable_margin (--unstable-margin)"),
    ("--unstable-margin", "-0.1", "unstable_margin (--unstable-margin)"),
])
def test_analyze_options_are_checked_naming_the_flag(tmp_path, capsys, flag, value, words):
    folder = _folder(tmp_path / "sweep")
    drop = {"--folds": ("--folds", "3"), "--repeats": ("--repeats", "1"), "--permutations": ("--permutations", "0")}
    argv = [a for a in FAST if a not in drop.get(flag, ())]
    rc, _, err = _run(capsys, folder, *argv, flag, value)
    assert rc == 2 and words in err and "Traceback" not in err
    assert not (folder / "analysis.json").exists()


def test_a_target_that_is_not_a_number_names_the_file(tmp_path):
    records = [_record(i, score="high") for i in range(10)]
    with pytest.raises(InputError, match=r"records\[0\]: 'score' is str 'high', not a number"):
        analyze(records, target="score", **FAST_API)


def test_non_finite_numbers_are_excluded_with_the_reason(tmp_path):
    records = [_record(i) for i in range(14)]
    records[0]["final_val_loss"] = float("inf")  # 1e400 in JSON
    records[1]["final_val_loss"] = float("nan")
    records[2]["val_loss"] = [3.5, float("inf"), 2.0]
    records[3]["val_loss"] = [3.5, 2.1, float("nan")]  # a later epoch: the curve of the stability rule
    records[4]["network"]["init_scale"] = float("inf")  # 1e999 in JSON
    records[5]["final_val_loss"] = 10**400  # an integer too large for a float
    folder = tmp_path / "s"
    folder.mkdir()
    for i, r in enumerate(records):  # through JSON, as a user's files would hold them
        text = json.dumps(r).replace("Infinity", "1e400").replace("NaN", "NaN")
        (folder / f"r{i:02d}.json").write_text(text)
    a = analyze(load_records(folder), **FAST_API)
    reasons = {e["id"]: e["reason"] for e in a["excluded"]}
    assert reasons == {
        "r00": "non-finite final_val_loss (inf)", "r01": "non-finite final_val_loss (nan)",
        "r02": "non-finite val_loss at epoch 1 (null marks a loss not measured)",
        "r03": "non-finite val_loss at epoch 2 (null marks a loss not measured)",
        "r04": "non-finite hyperparameter init_scale", "r05": f"non-finite final_val_loss ({str(10**400)[:30]})"}
    assert a["n_networks"] == 8
    finite = [v for r in a["readouts"].values() for v in (r["r2"], *r["r2_ci"])]
    assert all(isinstance(v, float) and v == v for v in finite)  # no NaN R² left


def test_csv_and_markdown_outputs_neutralise_formulas_and_markup(tmp_path):
    records = [_record(i) for i in range(10)]
    hostile = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
    for i, text in enumerate(hostile):
        records[i]["id"] = text
        records[i]["network"]["optimizer"] = text
    records[6]["id"] = "<script>alert(1)</script>\n# heading `code` [link](http://x) | cell"
    records[7]["network"]["=evil"] = 1.0 + records[7]["network"]["seed"]  # a hyperparameter key
    records[8]["spectra"].append({"epoch": 2, "error": "![img](http://x)\n<b>"})
    bad = dict(records[9], spectra=[{"epoch": 1, "error": "`x` [y](z)\n\n# injected"}], id="bad")
    a = write_outputs(records[:9] + [bad] + [_record(i + 20) for i in range(2)], str(tmp_path), figures=False,
                      log=lambda s: None, **FAST_API)
    assert a["excluded"][0]["id"] == "bad"
    with open(tmp_path / "networks.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    def number(c):
        try:
            return float(c) == float(c)
        except ValueError:
            return False

    cells = [c for row in rows for c in row]
    assert not any(c[:1] in ("=", "+", "-", "@", "\t", "\r") for c in cells if not number(c))  # -0.3 is no formula
    assert "'=HYPERLINK(\"http://x\")" in cells and "'-2+3" in cells and "'=evil" in rows[0]
    report = (tmp_path / "report.md").read_text()
    assert "<script>" not in report.replace("`<script>", "")  # only inside a code span
    for line in report.splitlines():
        assert not line.startswith("# injected") and not line.startswith("# heading")
    assert "``no spectrum at the early epoch 1 (`x` [y](z)  # injected)``" in report  # one inert code span


def test_hostile_csv_tables_are_clear_errors(tmp_path, capsys):
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"id,final_val_loss\nx\x00,1\n")
    huge = tmp_path / "huge.csv"
    huge.write_text("id,exponents_1,final_val_loss\nx," + "1;" * 200_000 + ",1\n")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,final_val_loss\nnet\xe9,1\n".encode("latin-1"))
    for path, words in [(nul, "NUL bytes"), (huge, "not a readable CSV table"), (latin, "not UTF-8")]:
        with pytest.raises(InputError, match=words):
            records_from_csv(path)
        rc, _, err = _run(capsys, path, *FAST)
        assert rc == 2 and path.name in err and "Traceback" not in err
    inf = tmp_path / "inf.csv"
    rows = ["id,init_scale,val_loss_1,exponents_1,final_val_loss"]
    rows += [f"n{i},{0.1 * (1 + i % 3)},{2 + 0.1 * i},-0.1;-0.5,{1.5 + 0.1 * i}" for i in range(10)]
    rows[1] = rows[1].rsplit(",", 1)[0] + ",inf"
    inf.write_text("\n".join(rows) + "\n")
    a = analyze(records_from_csv(inf), **FAST_API)
    assert a["excluded"] == [{"id": "n0", "source": f"{inf}:2", "reason": "non-finite final_val_loss (inf)"}]


def test_malformed_record_fields_name_the_file(tmp_path):
    folder = _folder(tmp_path / "s")
    (folder / "networks" / "r00.json").write_text(json.dumps(_record(0, id=["a", "list"])))
    with pytest.raises(InputError, match=r"r00\.json: 'id' must be a string"):
        load_records(folder)
    (folder / "networks" / "r00.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(InputError, match=r"r00\.json: not UTF-8"):
        load_records(folder)
    big = _record(0)
    big["network"]["note"] = {"nested": "x" * 10_000}
    (folder / "networks" / "r00.json").write_text(json.dumps(big))
    with pytest.raises(InputError, match=r"network\['note'\] must be a number, string or boolean") as info:
        load_records(folder)
    assert len(str(info.value)) < 400  # the value is abbreviated, not dumped
