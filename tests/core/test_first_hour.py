"""What a new user meets first: `lyapax --version` (the installed distribution's version, as is
`lyapax.__version__`), and a demo whose options and columns explain themselves."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

import lyapax
from lyapax.cli import main
from lyapax.demo import run_demo


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


def test_demo_options_have_help(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "N(0, g^2/hidden)" in text and "chaotic" in text  # --gains says what a gain is
    assert "seed of the random weights and input sequences" in text


def test_demo_names_the_units_and_the_gain():
    lines: list[str] = []
    run_demo([0.5], hidden=8, batch=2, steps=60, warmup=10, out=None, print_fn=lines.append)
    text = "\n".join(lines)
    assert "entropy (nats/step)" in text and "gain g: recurrent weights drawn from N(0, g^2/8)" in text
