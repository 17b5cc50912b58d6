"""Spectrum-guided stopping for Ray Tune: stop trials whose network is chaotic early in training.

Needs ``pip install "lyapax-rnn[ray]"``. The trainable reports λ1 (nats/step) with its
other metrics, `spectrum_metrics` builds them; `SpectrumStopper`, passed
as ``RunConfig(stop=...)``, applies the same
`InstabilityRule` as the Optuna pruner and keeps
each trial's `Verdict` (with its reason) in
`SpectrumStopper.verdicts`.

Example::

    from ray import tune
    from lyapax.integrations.ray_tune import InstabilityRule, SpectrumStopper, spectrum_metrics

    def trainable(config):
        model, monitor = build(config), lyapax.Monitor(probe, k=16)
        for epoch in range(1, epochs + 1):
            loss = train_one_epoch(model)
            tune.report({"loss": loss, **spectrum_metrics(epoch, monitor.compute(model.rnn, step=epoch))})

    stopper = SpectrumStopper(InstabilityRule(threshold=0.05, epoch=1))
    results = tune.Tuner(trainable, param_space=space, run_config=tune.RunConfig(stop=stopper)).fit()
    stopper.verdicts        # trial id -> Verdict: which trials were stopped, and why
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import InputError
from ..install import pip_install
from .rule import InstabilityRule, Verdict, check_epoch, leading_exponent

try:
    from ray.tune import Stopper
except ImportError as exc:  # Ray, or its Tune part, is not installed
    raise ImportError(f"lyapax.integrations.ray_tune needs Ray Tune, which is not installed ({exc}): "
                      f"{pip_install('ray')}") from exc

__all__ = ["SpectrumStopper", "spectrum_metrics", "InstabilityRule", "Verdict"]

logger = logging.getLogger(__name__)

_OPTION = "InstabilityRule(epoch=...)"


def spectrum_metrics(epoch: int, spectrum: Any, *, epochs: int | None = None,
                     metric: str = "max_exponent", epoch_key: str = "epoch") -> dict[str, Any]:
    """The metrics a trainable reports for `SpectrumStopper`: the epoch and λ1 (nats/step, NaN if missing).

    ``spectrum`` is anything `leading_exponent` takes;
    ``epochs``, the trial's number of epochs, lets the stopper say at once when the
    rule's epoch never comes.
    """
    lam = leading_exponent(spectrum)
    out: dict[str, Any] = {epoch_key: check_epoch("epoch", epoch, "an int >= 0 (0 = at initialisation)"),
                           metric: float("nan") if lam is None else lam}
    if epochs is not None:
        out["epochs"] = check_epoch("epochs", epochs, "the trial's number of epochs (an int >= 0)")
    return out


class SpectrumStopper(Stopper):
    """Ray Tune stopper that stops a trial when its early spectrum says the network is unstable.

    Args:
        rule: the `InstabilityRule` (default: λ1 > 0.05
            nats/step at epoch 1).
        metric: result key holding λ1 (nats/step); a result without it reports no
            spectrum at its epoch, NaN one that could not be computed (unstable).
        epoch_key: result key holding the epoch (0 = at initialisation).

    Attributes:
        verdicts: trial id -> the rule's `Verdict`,
            for every trial that reached the rule's epoch (pruned or kept).

    A trial that ends without a spectrum at the rule's epoch, or reports
    ``epochs`` smaller than it, makes the stopper raise
    `InputError`, which ends the Tune run.
    """

    def __init__(self, rule: InstabilityRule | None = None, *, metric: str = "max_exponent",
                 epoch_key: str = "epoch") -> None:
        if rule is not None and not isinstance(rule, InstabilityRule):
            raise InputError(f"rule: expected an InstabilityRule, got {type(rule).__name__}.")
        self.rule = rule if rule is not None else InstabilityRule()
        self.metric = str(metric)
        self.epoch_key = str(epoch_key)
        self.verdicts: dict[str, Verdict] = {}
        self._spectra: dict[str, dict[int, Any]] = {}

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Whether to stop ``trial_id`` given its latest ``result``."""
        if trial_id in self.verdicts:
            return self.verdicts[trial_id].prune
        if self.epoch_key not in result:
            raise InputError(
                f"epoch_key: the trial's result has no {self.epoch_key!r} (keys: {sorted(result)[:12]}...); report "
                f"the epoch with the spectrum (spectrum_metrics does) or set SpectrumStopper(epoch_key=...)."
            )
        epoch = result[self.epoch_key]
        if isinstance(epoch, float) and epoch.is_integer():  # Tune results may turn ints into floats
            epoch = int(epoch)
        epoch = check_epoch(f"epoch_key: the result's {self.epoch_key!r}", epoch, "an int >= 0 (0 = at initialisation)")
        spectra = self._spectra.setdefault(trial_id, {})
        if self.metric in result:
            spectra[epoch] = result[self.metric]
        verdict = self.rule.decide(spectra, epochs=result.get("epochs"), finished=bool(result.get("done")),
                                   option=_OPTION)
        if verdict is None:
            return False
        self.verdicts[trial_id] = verdict
        self._spectra.pop(trial_id, None)
        logger.info("lyapax: trial %s %s: %s", trial_id, "stopped" if verdict.prune else "kept", verdict.reason)
        return verdict.prune

    def stop_all(self) -> bool:
        """Never stops the whole experiment."""
        return False
