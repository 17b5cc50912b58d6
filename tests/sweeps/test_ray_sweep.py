"""The readout sweep on a local Ray gives the sequential run's records, file for file."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("ray", reason="Ray is not installed (the sweeps session installs lyapax-rnn[ray])")
pytest.importorskip("torch", reason="the readout trains PyTorch networks (the sweeps session installs lyapax-rnn[torch])")

from sweep_helpers import records, strip_timing  # noqa: E402

from lyapax.readout.ray_sweep import RayOptions  # noqa: E402
from lyapax.readout.study import StudyConfig, networks_of, run_networks  # noqa: E402
from lyapax.readout.train import TrainConfig  # noqa: E402

TINY = StudyConfig(
    archs=("lstm", "gru"), init_scales=(0.1, 3.0), lrs=(0.003, 0.03), hidden=8, grammar_chars=6000,
    train=TrainConfig(epochs=2, batches_per_epoch=3, batch=4, seq_len=20, val_windows=4, val_len=30,
                      probe_batch=3, probe_steps=30, warmup=5, k=4),
)


def test_ray_records_equal_sequential(local_ray, tmp_path):
    seq, par = tmp_path / "seq", tmp_path / "ray"
    logs: list[str] = []
    run_networks(TINY, str(seq), progress=False, log=lambda s: None)
    returned = run_networks(TINY, str(par), progress=False, log=logs.append, ray=RayOptions())
    assert local_ray.is_initialized()  # an instance the caller started is left running
    a, b = records(seq), records(par)
    assert sorted(a) == sorted(b) == sorted(n.id for n in networks_of(TINY))
    for name in a:
        assert strip_timing(a[name]) == strip_timing(b[name]), name
    assert [r["id"] for r in returned] == [n.id for n in networks_of(TINY)]  # grid order, whatever the finish order
    assert any(m.startswith("ray: 8 networks submitted, 1 CPU each") for m in logs)
    assert json.loads((seq / "study.json").read_text()) == json.loads((par / "study.json").read_text())
    # the chaotic corner really is in there: the comparison covers skipped updates and positive exponents
    assert any(r["skipped_steps"] > 0 or r["spectra"][0]["max_exponent"] > 0 for r in a.values())


def test_ray_resume_trains_only_the_missing(local_ray, tmp_path):
    out = tmp_path / "r"
    run_networks(TINY, str(out), progress=False, log=lambda s: None, ray=True)
    done = records(out)
    victim = sorted(done)[3]
    (out / "networks" / f"{victim}.json").unlink()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "networks").glob("*.json")}
    logs: list[str] = []
    run_networks(TINY, str(out), progress=False, log=logs.append, ray=True)
    assert any("resuming: 7 of 8" in m for m in logs) and any("1 networks submitted" in m for m in logs)
    after = records(out)
    assert strip_timing(after[victim]) == strip_timing(done[victim])
    assert {p.name: p.stat().st_mtime_ns for p in (out / "networks").glob("*.json") if p.name in before} == before
