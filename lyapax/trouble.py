"""Finding and reporting trouble in the iteration: NaN/Inf inputs, states, tangent maps, exact zeros.

What the driver's trouble flags (see `lyapax.algorithm.Carry`) lead to:

- a NaN/Inf tangent map or QR: `NumericalError` (undefined exponents);
- a NaN/Inf state where the tangent map depends on the state (a relu network whose
  state overflowed): `NumericalError`, since the tangent map is then evaluated at a
  meaningless state (in the relu case every slope reads 0 there, which would pass for
  collapsed directions, exponents ``-inf``);
- a NaN/Inf state where the tangent map does not depend on it (a linear map with an
  eigenvalue above 1): the exponents are well defined and returned, with a warning;
- an exact zero on diag(R): the collapsed directions get ``-inf`` (that is the answer
  for a singular tangent map, e.g. relu units all inactive), with a `NumericalWarning`
  naming the sequences and steps.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .algorithm import NONFINITE, STATE, ZERO, orthonormal_basis
from .backend import Problem
from .errors import InputError, NumericalError, NumericalWarning, user_stacklevel

__all__ = [
    "all_finite",
    "raise_nonfinite_inputs",
    "check_finite_start",
    "unexplained",
    "raise_nonfinite",
    "raise_state_dependent",
    "warn_trouble",
]

def all_finite(problem: Problem, a: Any) -> bool:
    """Whether an ``xp`` array holds no NaN/Inf (one host transfer of a bool)."""
    xp = problem.xp
    return bool(problem.to_numpy(xp.all(xp.isfinite(a))))


def raise_nonfinite_inputs(problem: Problem, xs: Any, start: int, offset: int = 0) -> None:
    """The `InputError` for NaN/Inf inputs in the chunk ``xs`` that starts at step ``start``, located."""
    t, b, f = np.argwhere(~np.isfinite(problem.to_numpy(xs)))[0]
    raise InputError(
        f"inputs: contains NaN or Inf (first at sequence {offset + b}, step {start + t}, feature {f}); "
        "clean or mask the data before computing a spectrum."
    )


def check_finite_start(problem: Problem) -> None:
    """The initial state and the weights hold no NaN/Inf."""
    if not all_finite(problem, problem.h0):
        raise InputError("h0: contains NaN or Inf; pass a finite initial state.")
    for name, arr in problem.dynamics.arrays().items():
        if not all_finite(problem, arr):
            raise InputError(f"model: weight {name} contains NaN or Inf; the spectrum of such a model is undefined.")


def unexplained(logsum: np.ndarray, state_finite: np.ndarray, flags: np.ndarray) -> bool:
    """Whether a chunk's non-finite sums ``(B, k)`` or states (``state_finite``, ``(B,)``) are not yet explained
    by its trouble flags (host arrays of one `lyapax.driver.Readback`)."""
    zero = np.isneginf(logsum).any(axis=1) & (flags[:, ZERO] < 0)
    nonfinite = (np.isnan(logsum) | np.isposinf(logsum)).any(axis=1) & (flags[:, NONFINITE] < 0)
    return bool(np.any(zero | nonfinite | (~state_finite & (flags[:, STATE] < 0))))


def _within(ortho_every: Any) -> str:
    if ortho_every == 1:
        return ""
    what = "interval" if ortho_every == "auto" else f"last {ortho_every} steps"
    return f" (seen at the QR step; it happened within the {what} before)"


def raise_nonfinite(flags: np.ndarray, ortho_every: Any, offset: int = 0) -> None:
    """`NumericalError` if a tangent map or QR became NaN/Inf."""
    bad = np.nonzero(flags[:, NONFINITE] >= 0)[0]
    if bad.size:
        steps = flags[bad, NONFINITE].tolist()
        bad = bad + offset
        raise NumericalError(
            f"the tangent map became NaN/Inf in sequence(s) {bad.tolist()} at step(s) {steps}{_within(ortho_every)}; "
            "steps count from 0 and include warm-up. The network diverges on these inputs (unbounded "
            "activations, e.g. relu or linear with large weights): scale the weights or inputs down.",
            kind="nonfinite",
            sequences=bad.tolist(),
            steps=steps,
        )


def _tangent(problem: Problem, h: Any, x: Any, Q: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        return problem.to_numpy(problem.dynamics.step_tangent(problem.xp, h, x, Q)[1]).astype(np.float64)


def raise_state_dependent(problem: Problem, h: Any, x: Any, flags: np.ndarray, offset: int = 0) -> None:
    """`NumericalError` if a sequence's state is NaN/Inf and its tangent map depends on the state.

    ``h`` is the current state ``(B, d)`` of the rows whose ``flags`` are given, ``x`` an input step
    ``(B, F)`` (or ``None``). The tangent map at ``h`` is compared with the tangent map at three finite
    states (``h0``, a seeded random ``r`` and ``-r``), along a few random directions: equal for a map whose
    Jacobian is constant (the exponents are then well defined), different (or non-finite) otherwise.
    """
    bad = np.nonzero(flags[:, STATE] >= 0)[0]
    if not bad.size:
        return
    B, d = (int(s) for s in h.shape)
    Q = problem.asarray(np.broadcast_to(orthonormal_basis(d, min(d, 4), seed=1), (B, d, min(d, 4))).copy())
    at_bad = _tangent(problem, h, x, Q)[bad]
    r = np.random.default_rng(2).standard_normal((B, d))
    finite_states = [problem.h0[:B, ...], problem.asarray(r), problem.asarray(-r)]  # -r: the other side of each kink
    depends = ~np.isfinite(at_bad).all(axis=(1, 2))
    for ref in finite_states:
        at_ref = _tangent(problem, ref, x, Q)[bad]
        depends |= ~np.isclose(at_bad, at_ref, rtol=1e-6, atol=0.0).all(axis=(1, 2))
    if depends.any():
        rows = bad[depends]
        steps = flags[rows, STATE].tolist()
        sequences = (rows + offset).tolist()
        raise NumericalError(
            f"the state overflowed to NaN/Inf in sequence(s) {sequences} at step(s) {steps} (steps count from 0 and "
            "include warm-up), and the tangent map depends on the state, so it is undefined from there on: the "
            "network diverges on these inputs (unbounded activations, e.g. relu or linear with large weights); "
            "scale the weights or inputs down.",
            kind="state",
            sequences=sequences,
            steps=steps,
        )


def warn_trouble(flags: np.ndarray, ortho_every: Any) -> None:
    """Warn once per computation about collapsed directions and overflowed states."""
    messages = {
        ("zero", ZERO): "an exact zero on diag(R) in sequence(s) {bad} at step(s) {steps}" + _within(ortho_every)
        + ": the tangent map is singular there (e.g. every relu unit inactive, or saturated units in low "
        "precision), so the collapsed directions have exponent -inf in those sequences (steps count from 0 "
        "and include warm-up). The finite exponents are returned as computed.",
        ("state", STATE): "the state overflowed to NaN/Inf in sequence(s) {bad} at step(s) {steps}, while the "
        "tangent map does not depend on the state: the exponents are still well defined (e.g. a linear map "
        "with an eigenvalue above 1) and are returned, but the trajectory itself is no longer meaningful.",
    }
    for (kind, column), text in messages.items():
        bad = np.nonzero(flags[:, column] >= 0)[0]
        if bad.size:
            steps = flags[bad, column].tolist()
            warnings.warn(
                NumericalWarning(text.format(bad=bad.tolist(), steps=steps), kind=kind, sequences=bad.tolist(),
                                 steps=steps),
                stacklevel=user_stacklevel(),
            )
