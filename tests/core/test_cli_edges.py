"""`lyapax demo` with bad flags: exit code 2 and a message naming the flag, never a traceback, before any work.

Pure numpy (issue 23, reproducer 5): the checks run before a single spectrum is computed, so
every case here takes milliseconds.
"""

import subprocess
import sys

import pytest

from lyapax import demo
from lyapax.cli import main


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the demo starts computing."""
    monkeypatch.setattr(demo, "spectrum", lambda *a, **k: pytest.fail("the demo computed a spectrum"))


@pytest.mark.parametrize("argv, words", [
    (["--hidden", "-1"], "hidden (--hidden): expected an integer >= 1, got -1"),
    (["--hidden", "0"], "hidden (--hidden)"),
    (["--steps", "0"], "steps (--steps): expected an integer >= 1, got 0"),
    (["--batch", "0"], "batch (--batch): expected an integer >= 1, got 0"),
    (["--warmup", "-1"], "warmup (--warmup)"),
    (["--warmup", "2000", "--steps", "100"], "warmup (--warmup): 2000 warm-up steps leave none of the 100 steps"),
    (["--warmup", "100", "--steps", "100"], "warmup (--warmup)"),
    (["--gains", "nan"], "gains (--gains): expected positive finite numbers, got [nan]"),
    (["--gains", "1", "inf"], "gains (--gains)"),
    (["--gains", "-0.5"], "gains (--gains)"),
    (["--gains", "0"], "gains (--gains)"),
    (["--seed", "-1"], "seed (--seed): expected an integer >= 0"),
    (["--out", "/proc/lyapax-demo-x"], "out (--out): cannot write to"),
])
def test_bad_demo_flags_exit_2_naming_the_flag(argv, words, capsys, no_work):
    assert main(["demo", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lyapax demo: ") and words in err and "Traceback" not in err


def test_an_existing_file_as_the_demo_folder(tmp_path, capsys, no_work):
    a_file = tmp_path / "taken"
    a_file.write_text("mine")
    assert main(["demo", "--out", str(a_file)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err and a_file.read_text() == "mine"
    (tmp_path / "out" / "spectra.png").mkdir(parents=True)  # a folder where the figure goes
    assert main(["demo", "--out", str(tmp_path / "out")]) == 2
    assert "spectra.png" in capsys.readouterr().err
    assert main(["demo", "--out", str(a_file), "--no-plot", "--gains", "nan"]) == 2  # --no-plot: no folder, yet gains
    assert "gains" in capsys.readouterr().err


def test_argparse_errors_exit_2_with_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--hidden", "abc"])
    assert info.value.code == 2 and "invalid int value: 'abc'" in capsys.readouterr().err


def test_the_console_script_shows_no_traceback():
    out = subprocess.run([sys.executable, "-m", "lyapax", "demo", "--hidden", "-1"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "hidden (--hidden)" in out.stderr and "Traceback" not in out.stderr


def test_messages_show_control_characters_escaped(capsys):
    from lyapax.cli import fail

    assert fail("lyapax x", "bad \x1b[31mname\x07") == 2
    assert capsys.readouterr().err == "lyapax x: bad \\x1b[31mname\\x07\n"
