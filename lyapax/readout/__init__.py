"""The readout experiment: does the Lyapunov spectrum measured early in training predict the final loss?

Two halves. Analysing any sweep (numpy only): `analyze` on records in the documented format
(`load_records` reads ``networks/*.json`` or a CSV; docs/readout.md), or
``lyapax readout analyze PATH``. Training a sweep with PyTorch: ``lyapax readout`` (needs
``pip install "lyapax-rnn[torch]"``; figures need ``lyapax-rnn[plot]``), ending with the same
analysis. Modules:

- `records`: the record format, from JSON files or a CSV table;
- `features`: spectrum features and interpolation; `stats`: Spearman, bootstrap,
  permutation test, ridge (on principal components) with repeated nested k-fold CV, AUC;
- `selection`: which records are analysed, and why the others are excluded; `designs`: the
  readouts' design matrices;
- `analysis`: `analyze`: which networks end unstable (`stability`), and every readout of
  how good the others get against its baselines; `power`: the smallest effect a sweep can
  detect; `report`: report.md and figures; `storage`: atomic files, CSV and Markdown that
  neutralise text from records; `checks`: the settings' checks, naming the flags;
- `mlp`: the paper's MLP readout (imports PyTorch);
- `tasks`: embedded grammar text and text files as character corpora (numpy);
- `train`: one network trained with PyTorch (imports it), spectra by a `lyapax.Monitor`;
- `study`: the sweep (presets ``QUICK``, ``DEFAULT``, ``TEXT_DEFAULT``, ``PAPER``; resumable; imports PyTorch);
- `ray_sweep`: the same sweep with each network a Ray task (``--ray``, ``lyapax-rnn[ray]``);
- `cli`: the command line (``main(argv) -> exit code``).

Importing this package, `analysis` or `cli` imports neither PyTorch, matplotlib nor Ray.
"""

from .analysis import READOUTS, analyze
from .features import FEATURES, interpolate_spectrum, spectrum_features
from .records import load_records, records_from_csv

__all__ = ["analyze", "READOUTS", "load_records", "records_from_csv", "FEATURES", "spectrum_features",
           "interpolate_spectrum", "StudyConfig", "QUICK", "DEFAULT", "TEXT_DEFAULT", "PAPER", "PAPER_GPU", "run_study"]

#: Names of `lyapax.readout.study` (which imports PyTorch), imported on first access only.
_STUDY = ("StudyConfig", "QUICK", "DEFAULT", "TEXT_DEFAULT", "PAPER", "PAPER_GPU", "run_study")


def __getattr__(name: str) -> object:
    if name in _STUDY:
        from . import study

        return getattr(study, name)
    raise AttributeError(f"module 'lyapax.readout' has no attribute {name!r}")
