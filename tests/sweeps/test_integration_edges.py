"""The rule, the Optuna pruner and the Ray Tune stopper at their edges (issue 23: reproducer 4 and "also seen").

Cheap: no training, no Tuner; the Optuna and Ray parts skip where those are not installed.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from lyapax.errors import InputError
from lyapax.integrations import InstabilityRule, leading_exponent


@pytest.mark.parametrize("spectrum, expected", [
    ({"exponents": [None, -0.1]}, None),  # the readout writes a NaN exponent as null: λ1 unknown
    ({"exponents": [float("nan"), -0.1]}, None),
    ({"exponents": [float("inf"), -0.1]}, None),
    ({"exponents": [float("-inf"), -0.1]}, -0.1),  # a collapsed direction is a value
    ({"exponents": [-0.3, 0.02, -0.1]}, 0.02),
    ({"exponents": np.array([0.1, -1.0])}, 0.1),
    ({"max_exponent": None, "exponents": [0.5]}, None),
    ({"max_exponent": np.float32(0.25)}, 0.25),
    ({"error": "NumericalError: diverged"}, None),
    (np.int64(1), 1.0),
    (None, None),
])
def test_leading_exponent_of_records_with_missing_values(spectrum, expected):
    assert leading_exponent(spectrum) == expected


@pytest.mark.parametrize("spectrum, words", [
    ({"exponents": ["abc"]}, "each exponent must be a number"),
    ({"exponents": [True, 0.1]}, "each exponent must be a number"),
    ({"exponents": "abc"}, "'exponents' must be a list of numbers"),
    ({"exponents": []}, "'exponents' is empty"),
    ({"max_exponent": "abc"}, "'max_exponent' must be a number"),
    ({"something": 1}, "needs 'max_exponent' or 'exponents'"),
    ("0.5", "expected a lyapax Spectrum"),
    (True, "expected a lyapax Spectrum"),
])
def test_leading_exponent_refuses_what_is_not_a_spectrum(spectrum, words):
    with pytest.raises(InputError, match=words):
        leading_exponent(spectrum)


def test_rule_takes_numpy_integers_and_checks_its_fields():
    rule = InstabilityRule(threshold=np.float64(0.1), epoch=np.int64(1))
    assert rule.epoch == 1 and type(rule.epoch) is int and type(rule.threshold) is float
    verdict = rule.decide({np.int64(1): {"exponents": [None, 0.5]}}, epochs=np.int64(3))
    assert verdict.prune and verdict.max_exponent is None  # a null exponent: no finite spectrum, pruned
    for kwargs, words in [({"epoch": 1.0}, "epoch"), ({"epoch": -1}, "epoch"), ({"prune_missing": "no"},
                          "prune_missing"), ({"threshold": "0.1"}, "threshold"), ({"threshold": np.nan}, "threshold")]:
        with pytest.raises(InputError, match=words):
            InstabilityRule(**kwargs)
    with pytest.raises(InputError, match="epochs"):
        rule.decide({1: 0.0}, epochs="3")
    with pytest.raises(InputError, match="spectra: expected a mapping epoch"):
        rule.decide({"1": 0.0})
    with pytest.raises(InputError, match="spectra: expected a mapping epoch"):
        rule.decide([0.1, 0.2])


@pytest.mark.parametrize("module, blocked, extra", [
    ("lyapax.integrations.ray_tune", ("ray", "ray.tune"), "ray"),
    ("lyapax.integrations.optuna", ("optuna", "optuna.pruners"), "optuna"),
    ("lyapax.readout.ray_sweep", ("ray",), "ray"),
])
def test_importing_an_integration_without_its_package_says_how_to_install_it(monkeypatch, module, blocked, extra):
    if module == "lyapax.readout.ray_sweep":
        pytest.importorskip("torch", reason="the sweeps session installs torch")  # the readout's training imports PyTorch before Ray
    for name in blocked:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(ImportError, match=rf'pip install "lyapax-rnn\[{extra}\]"'):
        importlib.import_module(module)
    monkeypatch.delitem(sys.modules, module, raising=False)  # not left half-imported for other tests


def test_ray_tune_metrics_and_stopper_epochs():
    pytest.importorskip("ray.tune", reason="Ray Tune is not installed (the sweeps session installs lyapax-rnn[ray])")
    from lyapax.integrations.ray_tune import SpectrumStopper, spectrum_metrics

    assert spectrum_metrics(np.int64(1), {"exponents": [None, 0.3]}, epochs=np.int64(4)) == {
        "epoch": 1, "max_exponent": pytest.approx(float("nan"), nan_ok=True), "epochs": 4}
    with pytest.raises(InputError, match="epoch"):
        spectrum_metrics("one", 0.1)
    stopper = SpectrumStopper(InstabilityRule(threshold=0.05, epoch=1))
    assert stopper("t1", {"epoch": 1.0, "max_exponent": 0.2}) is True  # Tune may report the epoch as a float
    with pytest.raises(InputError, match="epoch_key"):
        stopper("t2", {"epoch": "one", "max_exponent": 0.2})


def test_optuna_report_and_create_study_edges():
    optuna = pytest.importorskip("optuna", reason="Optuna is not installed (the sweeps session installs lyapax-rnn[optuna])")
    from lyapax.integrations.optuna import VERDICT_ATTR, create_study, report_spectrum

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = create_study(storage=None, rule=InstabilityRule(threshold=0.05, epoch=1))
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned, match="no finite spectrum"):
        report_spectrum(trial, np.int64(1), {"epoch": 1, "exponents": [None, -0.1]}, epochs=np.int64(2))
    assert trial.user_attrs[VERDICT_ATTR]["prune"] is True
    trial.set_user_attr("lyapax.max_exponent.latest", 0.3)  # a user's own attribute under the prefix: ignored
    assert study.pruner.verdict(trial).prune
    for kwargs, words in [({"direction": "up"}, "direction"), ({"storage": 5}, "storage")]:
        with pytest.raises(InputError, match=words):
            create_study(**kwargs)
