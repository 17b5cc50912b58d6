"""Bad input gets a clear error that names the option: Ray address, Optuna storage, the rule's epoch."""

from __future__ import annotations

import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (the sweeps session installs lyapax-rnn[ray])")
optuna = pytest.importorskip("optuna", reason="Optuna is not installed (the sweeps session installs lyapax-rnn[optuna])")

from lyapax.errors import InputError  # noqa: E402
from lyapax.integrations.optuna import SpectrumPruner, create_study, report_spectrum  # noqa: E402
from lyapax.integrations.rule import InstabilityRule  # noqa: E402
from lyapax.readout import cli  # noqa: E402
from lyapax.readout.ray_sweep import RayOptions, connect  # noqa: E402

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: refused at once (Ray itself would retry for minutes)


@pytest.fixture(autouse=True)
def _no_ray_running():
    assert not ray.is_initialized()
    yield
    if ray.is_initialized():  # pragma: no cover - only if a test failed to refuse
        ray.shutdown()


def test_unreachable_ray_address_python_api(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    t0 = time.monotonic()
    with pytest.raises(InputError, match=r"ray_address \(--ray-address\): no Ray cluster answers at '127.0.0.1:1'"):
        connect(RayOptions(address=UNREACHABLE))
    assert time.monotonic() - t0 < 30
    with pytest.raises(InputError, match=r"ray_address .*expected 'host:port'"):
        connect(RayOptions(address="no-port-here"))
    options = RayOptions(address=UNREACHABLE, num_cpus=2, init_kwargs={"log_to_driver": False})
    with pytest.raises(InputError, match=r"num_cpus \(--ray-cpus\): only for a local Ray instance"):
        connect(options)
    assert options.init_kwargs == {"log_to_driver": False}  # nothing the caller passed is changed


def test_ray_temp_folder_inside_the_virtualenv(monkeypatch, tmp_path):
    # Ray's workers refuse to start under the active virtualenv; the sweep would wait for them forever
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path))
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "tmp"))
    with pytest.raises(InputError, match=r"RAY_TMPDIR / TMPDIR: .*inside the virtualenv.*Set RAY_TMPDIR"):
        connect(RayOptions(num_cpus=1))
    assert not ray.is_initialized()
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path.parent / "elsewhere"))
    from lyapax.readout.ray_sweep import _check_temp_dir

    _check_temp_dir({})  # outside the virtualenv: accepted


def test_unreachable_ray_address_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    flags = ["--out", str(tmp_path / "x"), "--quick", "--archs", "gru", "--init-scales", "0.1,1", "--lrs", "0.01,0.03",
             "--replicates", "2", "--folds", "4", "--no-progress", "--no-figures"]  # 8 networks: enough to analyse
    assert cli.main([*flags, "--ray-address", UNREACHABLE]) == 2
    err = capsys.readouterr().err
    assert "--ray-address" in err and "ray start --head" in err and "Traceback" not in err
    monkeypatch.setenv("RAY_ADDRESS", UNREACHABLE)
    assert cli.main([*flags, "--ray"]) == 2
    assert "RAY_ADDRESS: no Ray cluster answers at '127.0.0.1:1'" in capsys.readouterr().err
    assert cli.main([*flags, "--ray-cpus", "2"]) == 2
    assert "--ray-cpus: only with --ray" in capsys.readouterr().err
    assert not (tmp_path / "x" / "networks").exists() or not list((tmp_path / "x" / "networks").iterdir())


@pytest.mark.parametrize("url", ["notadb://x", "not a url", "sqlite:////no/such/folder/search.db",
                                 "postgresql://alice:s3cret@127.0.0.1:1/db"])
def test_storage_optuna_refuses(url):
    with pytest.raises(InputError, match=r"^storage: Optuna refused") as info:
        create_study(storage=url)
    assert "s3cret" not in str(info.value)


def test_rule_epoch_that_never_comes():
    with pytest.raises(InputError, match=r"^epoch: expected the epoch"):
        InstabilityRule(epoch=-1)
    with pytest.raises(InputError, match=r"^threshold: expected a finite number"):
        InstabilityRule(threshold=float("nan"))
    rule = InstabilityRule(epoch=5)
    with pytest.raises(InputError, match=r"epoch: the rule decides on the spectrum at epoch 5, but the trial trains "
                                         r"only 3 epochs, so that epoch never comes"):
        rule.decide({0: -0.1}, epochs=3)
    with pytest.raises(InputError, match=r"epoch: .* went on without one there \(spectra at epochs \[4, 6\]\)"):
        rule.decide({4: -0.1, 6: -0.1})
    with pytest.raises(InputError, match=r"epoch: .* ended without one there"):
        rule.decide({0: -0.1, 1: -0.1}, finished=True)
    assert rule.decide({0: 0.5, 4: 0.5}) is None  # not yet


def test_optuna_rule_epoch_that_never_comes():
    study = optuna.create_study(pruner=SpectrumPruner(InstabilityRule(epoch=5)))

    def objective(trial):
        for epoch in range(4):
            report_spectrum(trial, epoch, -0.2, value=1.0, epochs=3)
        return 1.0

    with pytest.raises(InputError, match=r"^InstabilityRule\(epoch=...\): .* trains only 3 epochs, so that epoch never comes"):
        study.optimize(objective, n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    with pytest.raises(InputError, match=r"^epoch: expected an int >= 0"):
        report_spectrum(study.ask(), -1, 0.1)
