"""The public entry point: :func:`spectrum`."""

from __future__ import annotations

from typing import Any

from .driver import Options, iterate
from .errors import InputError
from .registry import select_backend
from .results import Spectrum
from .validation import check_int, normalize_dtype

__all__ = ["spectrum"]


def spectrum(
    model: Any,
    inputs: Any = None,
    *,
    backend: str | None = None,
    k: int | None = None,
    warmup: int = 0,
    ortho_every: int = 1,
    steps: int | None = None,
    h0: Any = None,
    dtype: Any = None,
    device: Any = None,
    seed: int | None = 0,
    basis: Any = None,
    history: int | None = None,
    progress: bool = False,
    differentiable: bool = False,
) -> Spectrum:
    """Lyapunov spectrum of a recurrent model driven by input sequences, in nats per step.

    Args:
        model: a framework RNN (layer, cell, stack), a step function
            ``f(h, x) -> h_next``, a :mod:`lyapax.cells` cell or a :class:`lyapax.Map`.
        inputs: input sequences ``(batch, time, features)`` (always batch-first),
            as numpy arrays or the framework's tensors; ``None`` for an
            autonomous map (then give ``steps``).
        backend: backend name (``"numpy"``, ``"torch"``, ``"jax"``,
            ``"tensorflow"``, or a plugin's); default: chosen from the model's
            type, else the inputs' type.
        k: number of exponents (default: all, the state dimension ``d``).
        warmup: transient steps that move the state and re-orient the basis
            but are not counted.
        ortho_every: tangent maps applied between QR re-orthonormalisations
            (a last partial interval is counted too). Exact in exact arithmetic,
            but the product of ``p`` maps has condition number about
            ``exp(p * (λ1 - λk))``: with a wide spectrum, and in float32 above
            all, keep it small if the most negative exponents matter.
        steps: number of steps for an autonomous map (``inputs=None``).
        h0: initial state in the model's own format (default: zeros).
        dtype: ``"float32"`` or ``"float64"`` (default: the backend's; float64 for numpy).
        device: compute device (default: where the model lives).
        seed: seed of the random orthonormal initial basis.
        basis: a ``(d, k)`` initial basis instead of the random one
            (orthonormalised by QR).
        history: record the running estimate every ``history`` counted steps
            (a multiple of ``ortho_every``); ``None``: no history, and memory
            independent of the number of steps.
        progress: show a tqdm progress bar over time steps.
        differentiable: keep the autodiff graph so ``Spectrum.raw`` can be
            differentiated with respect to the model's parameters (backends with autodiff).

    Returns:
        A :class:`lyapax.Spectrum` (exponents descending, nats/step).

    Raises:
        lyapax.errors.InputError: bad arguments (each names the argument and the fix).
        lyapax.errors.ModelTypeError: no installed backend handles the model.
        lyapax.errors.BackendNotFoundError: unknown or uninstalled backend.
        lyapax.errors.NumericalError: NaN/Inf states or an exact zero on diag(R).
    """
    warmup = check_int("warmup", warmup, 0)
    ortho_every = check_int("ortho_every", ortho_every, 1)
    k = check_int("k", k, 1, allow_none=True)
    steps = check_int("steps", steps, 1, allow_none=True)
    history = check_int("history", history, 1, allow_none=True)
    if history is not None and history % ortho_every:
        raise InputError(f"history: must be a multiple of ortho_every={ortho_every}, got {history}.")
    if seed is not None and not isinstance(seed, int):
        raise InputError(f"seed: expected an int or None, got {seed!r}.")
    dtype = normalize_dtype(dtype)
    if inputs is None and steps is None:
        raise InputError(
            "inputs: pass input sequences of shape (batch, time, features), or inputs=None with steps=T for an autonomous map."
        )
    if inputs is not None and steps is not None:
        raise InputError("steps: only for autonomous maps (inputs=None); with inputs, their time axis sets the steps.")
    chosen = select_backend(model, inputs if inputs is not None else h0, backend)
    opts = Options(
        k=k,
        warmup=warmup,
        ortho_every=ortho_every,
        seed=seed,
        basis=basis,
        history=history,
        progress=bool(progress),
        differentiable=bool(differentiable),
    )
    problem = chosen.prepare(
        model, inputs, steps=steps, h0=h0, dtype=dtype, device=device, differentiable=bool(differentiable)
    )
    try:
        return iterate(problem, opts, chosen.name)
    finally:
        if problem.close is not None:
            problem.close()
