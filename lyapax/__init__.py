"""lyapax: Lyapunov spectra of recurrent neural networks, from any major framework.

Exponents are in nats per step throughout.
"""

from __future__ import annotations

from . import cells, errors
from .api import spectrum
from .cells import Map
from .covariant import CovariantVectors, covariant_vectors
from .errors import BackendNotFoundError, InputError, LyapaxError, ModelTypeError, NumericalError, NumericalWarning
from .finite_time import FiniteTimeExponents, finite_time
from .flossing import flossing_loss
from .monitor import Monitor, MonitorRecord
from .registry import backends
from .results import Spectrum

__all__ = [
    "spectrum",
    "Spectrum",
    "covariant_vectors",
    "CovariantVectors",
    "finite_time",
    "flossing_loss",
    "FiniteTimeExponents",
    "Map",
    "Monitor",
    "MonitorRecord",
    "cells",
    "backends",
    "errors",
    "LyapaxError",
    "InputError",
    "ModelTypeError",
    "BackendNotFoundError",
    "NumericalError",
    "NumericalWarning",
]

__version__ = "0.1.0"
