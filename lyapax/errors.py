"""Exceptions raised by lyapax.

Every error names the argument at fault, says what was wrong and what to do.
They derive from the built-in type a user would catch anyway (ValueError,
TypeError), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "LyapaxError",
    "InputError",
    "ModelTypeError",
    "BackendNotFoundError",
    "NumericalError",
]


class LyapaxError(Exception):
    """Base class of every exception lyapax raises on purpose."""


class InputError(LyapaxError, ValueError):
    """An argument has the wrong value, shape or dtype."""


class ModelTypeError(LyapaxError, TypeError):
    """The model (or an argument) is of a type no installed backend handles."""


class BackendNotFoundError(LyapaxError, ValueError):
    """The requested backend is unknown, or its framework is not installed."""


class NumericalError(LyapaxError, ValueError):
    """The iteration met NaN/Inf states or an exact zero on diag(R).

    Attributes:
        sequences: indices of the affected input sequences (batch rows).
        steps: for each affected sequence, the first time step (0-based,
            counting warm-up steps) at which the trouble was seen.
        kind: ``"nonfinite"`` (a state or tangent became NaN/Inf) or
            ``"zero"`` (an exact zero on diag(R): the tangent map is singular).
    """

    def __init__(self, message: str, *, kind: str, sequences: list[int], steps: list[int]):
        super().__init__(message)
        self.kind = kind
        self.sequences = sequences
        self.steps = steps
