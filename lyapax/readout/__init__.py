"""The readout experiment: does the Lyapunov spectrum measured early in training predict the final loss?

Run it with ``lyapax readout`` (needs ``pip install "lyapax-rnn[torch]"``; figures need
``lyapax-rnn[plot]``, the progress bar ``lyapax-rnn[progress]``). Modules:

- :mod:`~lyapax.readout.tasks`: embedded grammar text and text files as character corpora (numpy);
- :mod:`~lyapax.readout.train`: one network trained with PyTorch (imported lazily), spectra by a
  :class:`lyapax.Monitor` after every epoch;
- :mod:`~lyapax.readout.study`: the sweep over architecture, init scale and learning rate (resumable);
- :mod:`~lyapax.readout.ray_sweep`: the same sweep with each network a Ray task (``--ray``, ``lyapax-rnn[ray]``);
- :mod:`~lyapax.readout.features`: spectrum features; :mod:`~lyapax.readout.stats`: Spearman,
  bootstrap, permutation test, ridge regression with k-fold CV (numpy only);
- :mod:`~lyapax.readout.analysis`, :mod:`~lyapax.readout.report`: numbers, figures, markdown;
- :mod:`~lyapax.readout.cli`: the command line (``main(argv) -> exit code``).

Importing this package imports neither PyTorch, matplotlib nor Ray.
"""

from .features import FEATURES, spectrum_features
from .study import DEFAULT, QUICK, TEXT_DEFAULT, StudyConfig, run_study

__all__ = ["FEATURES", "spectrum_features", "StudyConfig", "QUICK", "DEFAULT", "TEXT_DEFAULT", "run_study"]
