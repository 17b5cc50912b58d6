"""Exceptions raised by lyapax.

Every error names the argument at fault, says what was wrong and what to do.
They derive from the built-in type a user would catch anyway (ValueError,
TypeError), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import sys

__all__ = [
    "LyapaxError",
    "InputError",
    "ModelTypeError",
    "BackendNotFoundError",
    "NumericalError",
    "NumericalWarning",
    "ChaoticGradientWarning",
    "user_stacklevel",
]


class LyapaxError(Exception):
    """Base class of every exception lyapax raises on purpose."""

    # tf.function's autograph re-raises an error from traced code as its own type only if that type's
    # __init__ is Exception's (tensorflow/python/autograph/pyct/error_utils.py), else as a StagingError;
    # ValueError's and TypeError's are other objects, so without this line an InputError would not survive.
    __init__ = Exception.__init__


class InputError(LyapaxError, ValueError):
    """An argument has the wrong value, shape or dtype."""


class ModelTypeError(LyapaxError, TypeError):
    """The model (or an argument) is of a type no installed backend handles."""


class BackendNotFoundError(LyapaxError, ValueError):
    """The requested backend is unknown, or its framework is not installed."""


class NumericalError(LyapaxError, ValueError):
    """The tangent map or its QR became NaN/Inf: the exponents are undefined.

    Attributes:
        sequences: indices of the affected input sequences (batch rows).
        steps: for each affected sequence, the first time step (0-based,
            counting warm-up steps) at which the trouble was seen.
        kind: ``"nonfinite"`` (the tangent map or its QR became NaN/Inf), ``"state"`` (the state became
            NaN/Inf and the tangent map depends on it) or ``"zero"`` (covariant vectors: an exact zero on diag(R)).
    """

    def __init__(self, message: str, *, kind: str, sequences: list[int], steps: list[int]):
        super().__init__(message)
        self.kind = kind
        self.sequences = sequences
        self.steps = steps


class NumericalWarning(UserWarning):
    """The iteration met something well defined but worth knowing (a warning, not an error).

    Attributes:
        kind: ``"zero"`` (an exact zero on diag(R): the tangent map collapsed a
            direction, whose exponent is ``-inf``) or ``"state"`` (the state
            overflowed to NaN/Inf while the tangent map stayed finite).
        sequences: indices of the affected input sequences (batch rows).
        steps: for each affected sequence, the first time step (0-based,
            counting warm-up steps) at which it was seen.
    """

    def __init__(self, message: str, *, kind: str, sequences: list[int], steps: list[int]):
        super().__init__(message)
        self.kind = kind
        self.sequences = sequences
        self.steps = steps


class ChaoticGradientWarning(NumericalWarning):
    """A flossing gradient dominated by the exp(λ1 H) growth of a chaotic trajectory (`lyapax.flossing_loss`).

    Issued when the forward pass's own estimate of the leading exponent (mean over the probe
    sequences) is positive and ``λ1 * H`` exceeds `lyapax.flossing.GROWTH_LIMIT` nats, with
    ``H = warmup + counted steps`` the steps the autodiff graph spans. Silence it with
    ``warnings.filterwarnings("ignore", category=lyapax.errors.ChaoticGradientWarning)``.

    Attributes:
        kind: ``"growth"``.
        exponent: that estimate of λ1, nats/step.
        horizon: ``H``, steps.
        sequences: the probe sequences whose own λ1 times ``H`` exceeds the limit.
        steps: ``H`` for each of them.
    """

    def __init__(self, message: str, *, exponent: float, horizon: int, sequences: list[int]):
        super().__init__(message, kind="growth", sequences=sequences, steps=[horizon] * len(sequences))
        self.exponent = exponent
        self.horizon = horizon


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the user's call: that of the first frame not in
    lyapax, a lyapax backend or plugin (modules named ``lyapax*``) or the contextlib wrapping its sessions."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_globals.get("__name__", "").split(".")[0].startswith("lyapax")
                                 or frame.f_globals.get("__name__") == "contextlib"):
        frame, level = frame.f_back, level + 1
    return level
