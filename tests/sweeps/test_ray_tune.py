"""The Ray Tune stopper inside a real Tuner run on a local Ray: stops the chaotic trial, keeps the stable one."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ray", reason="Ray is not installed (the sweeps session installs lyapax-rnn[ray])")
tune = pytest.importorskip("ray.tune", reason="Ray Tune is not installed (the sweeps session installs lyapax-rnn[ray])")

import lyapax  # noqa: E402
from lyapax.demo import random_tanh_network  # noqa: E402
from lyapax.integrations.ray_tune import InstabilityRule, SpectrumStopper, spectrum_metrics  # noqa: E402

EPOCHS = 4


def _make_trainable():
    # defined in a function so that Ray pickles it by value (workers cannot import this test module)
    def trainable(config):
        """A stand-in for training: a random tanh network of the trial's gain, its spectrum each epoch."""
        x = 0.1 * np.random.default_rng(0).standard_normal((2, 150, 3))
        net = random_tanh_network(16, 3, config["gain"], seed=1)
        for epoch in range(EPOCHS + 1):
            spec = lyapax.spectrum(net, x, warmup=50, k=2)
            tune.report({"loss": 1.0 / (1 + epoch), **spectrum_metrics(epoch, spec, epochs=config.get("epochs"))})

    return trainable


def _fit(tmp_path, stopper, **space):
    tuner = tune.Tuner(_make_trainable(), param_space={"gain": tune.grid_search([0.5, 3.0]), **space},
                       run_config=tune.RunConfig(stop=stopper, storage_path=str(tmp_path), verbose=0))
    return tuner.fit()


def test_stopper_stops_chaotic_trial_in_tuner(local_ray, tmp_path):
    stopper = SpectrumStopper(InstabilityRule(threshold=0.0, epoch=1))
    results = _fit(tmp_path, stopper)
    assert results.num_errors == 0
    by_gain = {r.config["gain"]: r for r in results}
    chaotic, stable = by_gain[3.0].metrics, by_gain[0.5].metrics
    assert chaotic["epoch"] == 1 and chaotic["max_exponent"] > 0  # stopped right after the rule's epoch
    assert stable["epoch"] == EPOCHS and stable["max_exponent"] < 0  # trained to the end
    v_chaotic, v_stable = stopper.verdicts[chaotic["trial_id"]], stopper.verdicts[stable["trial_id"]]
    assert v_chaotic.prune and "chaotic" in v_chaotic.reason and v_chaotic.max_exponent == chaotic["max_exponent"]
    assert not v_stable.prune and "stable" in v_stable.reason
    assert len(by_gain[0.5].metrics_dataframe) == EPOCHS + 1 and len(by_gain[3.0].metrics_dataframe) == 2


def test_stopper_rule_epoch_that_never_comes(local_ray, tmp_path):
    from ray.tune import TuneError

    with pytest.raises(TuneError, match=r"InstabilityRule\(epoch=...\): the rule decides on the spectrum at epoch 9, "
                                        r"but the trial trains only 4 epochs, so that epoch never comes"):
        _fit(tmp_path, SpectrumStopper(InstabilityRule(epoch=9)), epochs=EPOCHS)
    with pytest.raises(TuneError, match=r"InstabilityRule\(epoch=...\): .* ended without one there"):
        _fit(tmp_path, SpectrumStopper(InstabilityRule(epoch=9)))
