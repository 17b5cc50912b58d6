"""Kill a Ray sweep midway, run it again: every record exactly once, equal to the sequential run's.

The sweep runs as ``lyapax readout --ray`` in a subprocess whose PYTHONPATH puts stub
``jax``/``tensorflow`` packages first: importing one (in the driver or in any Ray
worker, which inherit the environment) leaves a marker file, so the test also checks
that no process of the sweep imports a framework the task does not need.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("ray", reason="Ray is not installed (the sweeps session installs lyapax-rnn[ray])")
pytest.importorskip("torch", reason="the readout trains PyTorch networks (the sweeps session installs lyapax-rnn[torch])")

from sweep_helpers import TINY_FLAGS, kill_session, record_paths, records, strip_timing  # noqa: E402

from lyapax.readout import cli  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the killed sweep's processes in /proc")

STUB = """import os
open(os.path.join({markers!r}, "imported-" + __name__ + "-" + str(os.getpid())), "w").close()
raise ImportError("stub for the test: " + __name__ + " must not be imported by a readout sweep")
"""


def _stub_frameworks(tmp_path):
    stubs, markers = tmp_path / "stubs", tmp_path / "markers"
    markers.mkdir()
    for name in ("jax", "tensorflow", "keras", "flax"):
        (stubs / name).mkdir(parents=True)
        (stubs / name / "__init__.py").write_text(STUB.format(markers=str(markers)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(stubs), *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.pop("RAY_ADDRESS", None)
    return env, markers


def _sweep(out, env):
    cmd = [sys.executable, "-m", "lyapax", "readout", "--ray", "--ray-cpus", "2", "--out", str(out), *TINY_FLAGS]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_kill_midway_then_resume(tmp_path, capsys):
    ref, out = tmp_path / "sequential", tmp_path / "ray"
    assert cli.main(["--out", str(ref), *TINY_FLAGS]) == 0
    expected = records(ref)
    assert len(expected) == 8
    env, markers = _stub_frameworks(tmp_path)
    # the stubs work: an import of jax in this environment is seen
    subprocess.run([sys.executable, "-c", "import jax"], env=env, capture_output=True)
    assert [p.name.split("-")[1] for p in markers.iterdir()] == ["jax"]
    for p in markers.iterdir():
        p.unlink()

    first = _sweep(out, env)
    try:
        deadline = time.monotonic() + 240
        while not record_paths(out) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        kill_session(first.pid)  # the local Ray it started outlives a SIGKILLed driver
    killed_output = first.stdout.read()
    done_at_kill = records(out)
    assert 0 < len(done_at_kill) < 8, f"not killed midway ({len(done_at_kill)} of 8 done):\n{killed_output}"

    second = _sweep(out, env)
    try:
        output, _ = second.communicate(timeout=300)
    finally:
        kill_session(second.pid)
    assert second.returncode == 0, output
    assert f"resuming: {len(done_at_kill)} of 8 networks already done" in output
    assert f"ray: {8 - len(done_at_kill)} networks submitted" in output

    names = sorted(p.name for p in (out / "networks").iterdir() if not p.name.startswith(".tmp-"))
    assert names == sorted(f"{name}.json" for name in expected)  # each network exactly once, nothing else
    got = records(out)
    for name, rec in expected.items():
        assert strip_timing(got[name]) == strip_timing(rec), name
    for name, rec in done_at_kill.items():  # records written before the kill were kept, not redone
        assert got[name]["seconds"] == rec["seconds"]
    assert not list(markers.iterdir()), f"a sweep process imported a framework: {sorted(p.name for p in markers.iterdir())}"
