"""`lyapax --version` and `lyapax.__version__` are the installed distribution's version."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import lyapax
from lyapax.cli import main


def test_version_attribute_is_the_distributions():
    assert lyapax.__version__ == metadata.version("lyapax-rnn")


def test_version_option_prints_the_distributions_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:  # argparse's version action exits 0
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"lyapax {metadata.version('lyapax-rnn')}"


def test_console_module_prints_it_too():
    run = subprocess.run([sys.executable, "-m", "lyapax", "--version"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"lyapax {metadata.version('lyapax-rnn')}"
