"""The readout experiment: does the Lyapunov spectrum measured early in training predict the final loss?

Run it with ``lyapax readout`` (needs ``pip install "lyapax-rnn[torch]"``; figures need
``lyapax-rnn[plot]``, the progress bar ``lyapax-rnn[progress]``). Modules:

- `tasks`: embedded grammar text and text files as character corpora (numpy);
- `train`: one network trained with PyTorch (imported lazily), spectra by a
  `lyapax.Monitor` after every epoch;
- `study`: the sweep over architecture, init scale and learning rate (resumable);
- `ray_sweep`: the same sweep with each network a Ray task (``--ray``, ``lyapax-rnn[ray]``);
- `features`: spectrum features; `stats`: Spearman,
  bootstrap, permutation test, ridge regression with k-fold CV (numpy only);
- `analysis`, `report`: numbers, figures, markdown;
- `cli`: the command line (``main(argv) -> exit code``).

Importing this package imports neither PyTorch, matplotlib nor Ray.
"""

from .features import FEATURES, spectrum_features
from .study import DEFAULT, QUICK, TEXT_DEFAULT, StudyConfig, run_study

__all__ = ["FEATURES", "spectrum_features", "StudyConfig", "QUICK", "DEFAULT", "TEXT_DEFAULT", "run_study"]
