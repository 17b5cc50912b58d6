"""How lyapax installs: the distribution's name, its extras, the install hints and the repository's files.

Checked on the installed metadata (the test sessions install the checkout with pip), so a
pin or a wrong name in pyproject.toml fails here, and on the text of the docs and sources.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import lyapax
from lyapax import install, registry
from lyapax.files import atomic_write_bytes, atomic_write_text

ROOT = Path(__file__).resolve().parents[2]
DIST = metadata.distribution(install.DISTRIBUTION)
FRAMEWORKS = {"torch", "jax", "jaxlib", "flax", "equinox", "keras", "lightning"}
TENSORFLOW_DISTRIBUTIONS = re.compile(r"^(tensorflow([-_].*)?|tf[-_]nightly.*|intel[-_]tensorflow)$", re.I)


def _requirements() -> list[Requirement]:
    return [Requirement(r) for r in DIST.requires or []]


def test_distribution_name_and_version():
    assert install.DISTRIBUTION == "lyapax-rnn" == DIST.metadata["Name"]
    assert DIST.version == lyapax.__version__


def test_import_name_script_and_entry_point_group_stay_lyapax():
    eps = DIST.entry_points
    assert {(e.name, e.value) for e in eps if e.group == "console_scripts"} == {("lyapax", "lyapax.cli:main")}
    plugins = {e.name: e.value for e in eps if e.group == "lyapax.backends"}
    assert plugins == {"numpy": "lyapax.numpy_backend:NumpyBackend", "torch": "lyapax_torch:TorchBackend",
                       "jax": "lyapax_jax:JaxBackend", "tensorflow": "lyapax_tensorflow:TensorFlowBackend"}


def test_extras_are_ranges_with_lower_bounds():
    for req in _requirements():
        ops = {s.operator for s in req.specifier}
        assert not ops & {"==", "===", "~="}, f"{req}: an extra pins a version; use a range (pins: tests/constraints.txt)"
        if req.name != install.DISTRIBUTION:
            assert ">=" in ops, f"{req}: give the lowest version the code needs (proven by nox -s oldest)"


def test_no_extra_installs_a_tensorflow_distribution():
    bad = [str(r) for r in _requirements() if TENSORFLOW_DISTRIBUTIONS.match(r.name)]
    assert not bad, f"{bad}: TensorFlow is the user's to choose (see lyapax/install.py)"


def _requires(extra: str, python: str = "3.12") -> dict[str, Requirement]:
    """What ``extra`` installs on ``python`` (self-references followed, whether or not the build flattened them)."""
    out = {}
    for req in _requirements():
        if req.marker is None or not req.marker.evaluate({"extra": extra, "python_version": python}):
            continue
        if req.name == install.DISTRIBUTION:
            for e in req.extras:
                out.update(_requires(e, python))
        else:
            out[req.name] = req
    return out


def _names(extra: str, python: str = "3.12") -> set[str]:
    return set(_requires(extra, python))


def test_extras_cover_the_docs_and_all():
    extras = set(DIST.metadata.get_all("Provides-Extra"))
    assert {"torch", "jax", "tensorflow", "plot", "pandas", "progress", "lightning", "all", "examples", "test"} <= extras
    for extra in ("torch", "jax", "tensorflow", "plot", "pandas", "progress"):
        assert _names(extra) <= _names("all"), extra
    assert {"pandas", "matplotlib", "optax", "lightning", "torch", "jax", "keras"} <= _names("examples")
    assert "pandas" in _names("test")  # Monitor.to_pandas is tested


def test_all_leaves_jax_out_on_python_310_only():
    """jax >= 0.8 and flax >= 0.12 need Python 3.11; [all] spells [jax] out with a marker (see pyproject.toml)."""
    jax = _requires("jax")
    assert {n: str(r.specifier) for n, r in _requires("all").items() if n in jax} == \
        {n: str(r.specifier) for n, r in jax.items()}
    assert not _names("all", "3.10") & {"jax", "flax", "equinox"}
    assert {"torch", "keras", "matplotlib", "pandas"} <= _names("all", "3.10")


def test_install_hints_name_existing_extras():
    extras = set(DIST.metadata.get_all("Provides-Extra"))
    for name in registry._entry_points():
        extra = registry._load(name).extra
        if extra:
            assert extra in extras, (name, extra)
            assert f'"{install.DISTRIBUTION}[{extra}]"' in install.pip_install(extra)
    assert install.pip_install("tensorflow").startswith('pip install tensorflow "lyapax-rnn[tensorflow]"')


_OLD_NAME = re.compile(r"""lyapax\[|pip install\s+["']?lyapax(?![-\w])""")
_WARNINGS = ("Do not `pip install lyapax`", "Not `pip install lyapax`")  # the docs' warnings about it


def test_no_install_line_uses_the_old_name():
    files = [ROOT / "README.md", ROOT / "pyproject.toml", *(ROOT / "docs").rglob("*.md"),
             *(ROOT / "lyapax").rglob("*.py"), *(ROOT / "backends").rglob("*.py"), *(ROOT / "docs").rglob("*.py")]
    hits = []
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _OLD_NAME.search(line) and not any(w in line for w in _WARNINGS):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "install lines must use the distribution name lyapax-rnn:\n" + "\n".join(hits)


def test_docs_warn_about_the_unrelated_lyapax_distribution():
    for page in (ROOT / "README.md", ROOT / "docs" / "index.md"):
        text = " ".join(page.read_text(encoding="utf-8").split())
        assert "unrelated" in text and "module of the same name" in text, page


def test_constraints_pin_torch_for_the_test_machines_only():
    text = (ROOT / "tests" / "constraints.txt").read_text(encoding="utf-8")
    assert "torch==2.13.0" in text.splitlines()
    assert "torch==" not in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_readout_output_folders_are_ignored():
    text = (ROOT / ".gitignore").read_text(encoding="utf-8")
    assert "lyapax-readout*/" in text.splitlines()


# -- files written atomically with ordinary permissions --------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_atomic_write_respects_the_umask_and_keeps_an_existing_mode(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "new.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640
    target = tmp_path / "kept.txt"
    target.write_text("old")
    target.chmod(0o604)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o604
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt", "new.json"]  # no temporary file left


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_monitor_and_readout_files_are_not_private(tmp_path):
    import numpy as np

    from lyapax.readout.storage import write_json

    old = os.umask(0o022)
    try:
        monitor = lyapax.Monitor(np.zeros((1, 5, 1)), k=1)
        monitor.to_json(tmp_path / "monitor.json")
        write_json(str(tmp_path / "study.json"), {"a": 1})
    finally:
        os.umask(old)
    for name in ("monitor.json", "study.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    target.write_text("old")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


# -- the test kit without its test tools -------------------------------------------------------


@pytest.mark.parametrize("blocked, module", [("pytest", "lyapax.testing.conformance"),
                                             ("hypothesis", "lyapax.testing.conformance"),
                                             ("hypothesis", "lyapax.testing.strategies")])
def test_testing_kit_without_pytest_names_what_to_install(blocked, module):
    code = (f"import sys; sys.modules[{blocked!r}] = None\n"
            f"try:\n    import {module}\n"
            "except ImportError as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ImportError ") and not out.startswith("ModuleNotFoundError"), out
    assert f"{blocked} is not installed" in out and 'pip install "lyapax-rnn[test]"' in out, out


# -- the test runner itself ---------------------------------------------------------------------


def _noxfile():
    import ast

    return ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))


def test_nox_runs_on_the_python_that_runs_it():
    """No session is tied to one interpreter, and a missing one is not an error (the README's
    command must work with whichever Python 3.10-3.13 is installed)."""
    import ast

    for node in ast.walk(_noxfile()):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "nox.session":
            assert not [k.arg for k in node.keywords if k.arg in ("python", "py")], ast.unparse(node)
        if isinstance(node, ast.Assign):
            targets = [ast.unparse(t) for t in node.targets]
            assert "nox.options.error_on_missing_interpreters" not in targets


def test_nox_runs_every_check_by_default_and_ci_runs_nox():
    import ast

    sessions = next(
        ast.literal_eval(node.value) for node in ast.walk(_noxfile())
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["nox.options.sessions"]
    )
    assert {"lint", "tests-numpy", "tests-torch", "tests-jax", "tests-tensorflow", "agreement", "oldest",
            "docs-examples", "install-check", "docs"} <= set(sessions)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^python -m nox\s*$", ci, re.M), "CI runs the README's test command, nox"
