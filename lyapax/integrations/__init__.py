"""Integrations of the spectrum with tools people already use for hyperparameter searches.

- `lyapax.integrations.rule`: `InstabilityRule`, the one
  rule deciding from an early spectrum whether a trial is unstable (no dependency);
- `lyapax.integrations.optuna`: an Optuna pruner (``pip install "lyapax-rnn[optuna]"``);
- `lyapax.integrations.ray_tune`: a Ray Tune stopper (``pip install "lyapax-rnn[ray]"``).

Importing this package imports neither Optuna nor Ray; their modules import them.
"""

from .rule import InstabilityRule, Verdict, leading_exponent

__all__ = ["InstabilityRule", "Verdict", "leading_exponent"]
