"""Integrations of the spectrum with tools people already use for hyperparameter searches.

- `lyapax.integrations.rule`: `InstabilityRule`, the one
  rule deciding from an early spectrum whether a trial is unstable (no dependency);
- `lyapax.integrations.optuna`: an Optuna pruner (``pip install "lyapax-rnn[optuna]"``);
- `lyapax.integrations.ray_tune`: a Ray Tune stopper (``pip install "lyapax-rnn[ray]"``);
- `lyapax.integrations.tensorboard`, `lyapax.integrations.wandb`: loggers of `lyapax.Monitor`
  records (``on_record=``), for any framework's loop (``"lyapax-rnn[tensorboard]"``, ``"lyapax-rnn[wandb]"``).

Importing this package imports none of Optuna, Ray, TensorBoard or W&B; their modules import them.
"""

from .rule import InstabilityRule, Verdict, leading_exponent

__all__ = ["InstabilityRule", "Verdict", "leading_exponent"]
