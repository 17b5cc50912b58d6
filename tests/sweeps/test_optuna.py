"""The Optuna pruner: prunes a trial chaotic at the early epoch, keeps a stable one, says why; SQLite, two processes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

optuna = pytest.importorskip("optuna", reason="Optuna is not installed (the sweeps session installs lyapax-rnn[optuna])")

import lyapax  # noqa: E402
from lyapax.demo import random_tanh_network  # noqa: E402
from lyapax.integrations.optuna import (  # noqa: E402
    EXPONENT_ATTR,
    VERDICT_ATTR,
    SpectrumPruner,
    create_study,
    report_spectrum,
)
from lyapax.integrations.rule import InstabilityRule, leading_exponent  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
States = optuna.trial.TrialState
HERE = os.path.dirname(os.path.abspath(__file__))


def test_pruner_prunes_chaotic_lstm_and_keeps_stable(tmp_path):
    """Real readout networks: U(-4, 4) LSTMs are chaotic from the start, U(-0.1, 0.1) ones are not."""
    pytest.importorskip("torch", reason="the readout trains PyTorch networks (the sweeps session installs lyapax-rnn[torch])")
    from lyapax.readout.tasks import grammar_text, make_corpus
    from lyapax.readout.train import NetworkConfig, TrainConfig, train_network

    corpus = make_corpus(grammar_text(6000, seed=0), "g")
    cfg = TrainConfig(epochs=3, batches_per_epoch=2, batch=4, seq_len=20, val_windows=2, val_len=30,
                      probe_batch=2, probe_steps=40, warmup=10, k=2)
    study = create_study(storage=f"sqlite:///{tmp_path / 'search.db'}", study_name="lstm",
                         rule=InstabilityRule(threshold=0.0, epoch=1))
    study.enqueue_trial({"init_scale": 4.0})
    study.enqueue_trial({"init_scale": 0.1})

    def objective(trial):
        net = NetworkConfig("lstm", trial.suggest_float("init_scale", 0.05, 5.0, log=True), 0.01, 32, 0)

        def on_epoch(epoch, val_loss, spectrum):
            report_spectrum(trial, epoch, spectrum, value=val_loss, epochs=cfg.epochs)

        return train_network(net, cfg, corpus, on_epoch=on_epoch)["final_val_loss"]

    study.optimize(objective, n_trials=2)
    chaotic, stable = study.trials
    assert chaotic.state == States.PRUNED and stable.state == States.COMPLETE
    assert sorted(chaotic.intermediate_values) == [0, 1]  # stopped after the rule's epoch, not trained on
    assert sorted(stable.intermediate_values) == [0, 1, 2, 3]
    lam_c, lam_s = chaotic.user_attrs[f"{EXPONENT_ATTR}1"], stable.user_attrs[f"{EXPONENT_ATTR}1"]
    assert lam_c > 0.0 >= lam_s
    v = chaotic.user_attrs[VERDICT_ATTR]
    assert v["prune"] is True and v["epoch"] == 1 and v["max_exponent"] == lam_c and "chaotic" in v["reason"]
    assert stable.user_attrs[VERDICT_ATTR]["prune"] is False and "stable" in stable.user_attrs[VERDICT_ATTR]["reason"]
    assert study.best_trial.number == stable.number


def _tanh_spectrum(gain):
    x = 0.1 * np.random.default_rng(0).standard_normal((2, 150, 3))
    return lyapax.spectrum(random_tanh_network(16, 3, gain, seed=1), x, warmup=50, k=2)


def test_verdicts_of_constructed_spectra_and_wrapped_pruner():
    chaotic, stable = _tanh_spectrum(3.0), _tanh_spectrum(0.5)
    assert chaotic.max_exponent > 0 > stable.max_exponent
    rule = InstabilityRule(epoch=0)
    assert rule.decide({0: chaotic}).prune and not rule.decide({0: stable}).prune
    assert leading_exponent({"epoch": 2, "error": "NumericalError: ..."}) is None
    missing = rule.decide({0: {"epoch": 0, "error": "diverged"}})
    assert missing.prune and "no finite spectrum" in missing.reason
    assert not InstabilityRule(epoch=0, prune_missing=False).decide({0: float("nan")}).prune

    # the rule keeps the stable trial; the wrapped pruner then prunes it on its losses, and that is recorded too
    study = optuna.create_study(pruner=SpectrumPruner(rule, wrapped=optuna.pruners.ThresholdPruner(upper=1.0)))

    def objective(trial):
        spec = chaotic if trial.suggest_categorical("chaotic", [True, False]) else stable
        for epoch in range(3):
            report_spectrum(trial, epoch, spec, value=2.0 if epoch == 2 else 0.5)
        return 0.5

    study.enqueue_trial({"chaotic": True})
    study.enqueue_trial({"chaotic": False})
    study.optimize(objective, n_trials=2)
    by_rule, by_wrapped = study.trials
    assert by_rule.state == by_wrapped.state == States.PRUNED
    assert sorted(by_rule.intermediate_values) == [0] and "chaotic" in by_rule.user_attrs[VERDICT_ATTR]["reason"]
    assert sorted(by_wrapped.intermediate_values) == [0, 1, 2]
    assert by_wrapped.user_attrs[VERDICT_ATTR]["reason"] == "pruned at epoch 2 by ThresholdPruner"


def test_sqlite_shared_by_two_processes(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    create_study(study_name="shared", storage=url)  # create once, then start the processes (as the docs say)
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "optuna_worker.py"), url, "3", str(seed)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for seed in (0, 1)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    trials = optuna.load_study(study_name="shared", storage=url).trials
    assert len(trials) == 6
    assert len({t.user_attrs["pid"] for t in trials}) == 2  # both processes ran trials of the one study
    assert {t.state for t in trials} == {States.PRUNED, States.COMPLETE}
    for t in trials:
        lam = t.user_attrs[f"{EXPONENT_ATTR}1"]
        verdict = t.user_attrs[VERDICT_ATTR]
        assert verdict["max_exponent"] == lam and verdict["prune"] == (lam > 0.0)
        assert t.state == (States.PRUNED if lam > 0.0 else States.COMPLETE), (t.params, lam)
        assert max(t.intermediate_values) == (1 if lam > 0.0 else 3)
