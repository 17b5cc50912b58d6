"""The public entry point: `spectrum` (its route: `lyapax.pipeline`)."""

from __future__ import annotations

from typing import Any

from .options import parse
from .pipeline import compute
from .results import Spectrum

__all__ = ["spectrum", "compute"]


def spectrum(
    model: Any,
    inputs: Any = None,
    *,
    backend: str | None = None,
    k: int | None = None,
    warmup: int = 0,
    ortho_every: int | str = 1,
    steps: int | None = None,
    h0: Any = None,
    dtype: Any = None,
    device: Any = None,
    seed: int | None = 0,
    basis: Any = None,
    history: int | None = None,
    progress: bool = False,
    differentiable: bool = False,
    time_major: bool | None = None,
    qr: str = "auto",
    qr_dtype: Any = "auto",
    threads: int | None = None,
    **unknown: Any,
) -> Spectrum:
    """Lyapunov spectrum of a recurrent model driven by input sequences, in nats per step.

    Args:
        model: a framework RNN (layer, cell, stack), a step function
            ``f(h, x) -> h_next``, a `lyapax.cells` cell or a `lyapax.Map`.
        inputs: input sequences ``(batch, time, features)``, or ``(time, batch,
            features)`` for a model that declares that layout (a PyTorch RNN with
            ``batch_first=False``, a flax ``RNN(time_major=True)``) or with
            ``time_major=True``; numpy arrays or the framework's tensors; ``None``
            for an autonomous map (then give ``steps``).
        backend: backend name (``"numpy"``, ``"torch"``, ``"jax"``,
            ``"tensorflow"``, or a plugin's); default: chosen from the model's
            type, else the inputs' (or h0's) type.
        k: number of exponents (default: all, the state dimension ``d``).
        warmup: transient steps that move the state and re-orient the basis
            but are not counted.
        ortho_every: tangent maps applied between QR re-orthonormalisations
            (a last partial interval is counted too). Exact in exact arithmetic,
            but the product of ``p`` maps has condition number about
            ``exp(p * (λ1 - λk))``: with a wide spectrum, and in float32 above
            all, keep it small if the most negative exponents matter.
            ``"auto"`` chooses it chunk by chunk from the running spread
            ``λ1 - λk`` so that this condition number stays below 1e8 (float64
            tangent maps) or 1e3 (float32): a power of two up to 16 (a first
            chunk of 32 steps, QR every step, estimates the spread).
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
        time_major: the layout of ``inputs``: ``True`` for ``(time, batch,
            features)``, ``False`` for ``(batch, time, features)``; default: the
            layout the model declares, else ``(batch, time, features)``.
        qr: the re-orthonormalisation: ``"householder"`` (LAPACK/cuSOLVER),
            ``"cholesky"`` (CholeskyQR2, or shifted CholeskyQR3 when the estimated
            conditioning needs it; GEMM-bound, checked, a failing chunk is redone
            with Householder) or ``"auto"`` (Householder on a CPU, where it is
            faster; Cholesky on a GPU in float64 while the conditioning allows).
        qr_dtype: the dtype of the QR and of the sums of logs: ``"auto"`` (float64,
            also for a float32 tangent map: mixed precision, which measured 2-50x
            smaller errors in the most negative exponents for about 10-30% more
            time on a CPU; the compute dtype on a device without float64),
            ``"float32"``, ``"float64"``, or ``None`` (the compute dtype).
        threads: threads sharing the batch (each with one intra-op thread);
            default: the backend's choice (PyTorch on a CPU: one per core; else 1).

    Returns:
        A `lyapax.Spectrum` (exponents descending, nats/step).

    Raises:
        lyapax.errors.InputError: bad arguments (each names the argument and the fix), or an
            option that `lyapax.spectrum` does not take (the error names those that do).
        lyapax.errors.ModelTypeError: no installed backend handles the model.
        lyapax.errors.BackendNotFoundError: unknown or uninstalled backend.
        lyapax.errors.NumericalError: the tangent map became NaN/Inf, or the state did
            while the tangent map depends on it (a diverging nonlinear network).

    Warns:
        lyapax.errors.NumericalWarning: an exact zero on diag(R) (the collapsed
            directions get exponent ``-inf``), or a state that overflowed under a
            tangent map that does not depend on the state (the exponents are still returned).
    """
    opts, _ = parse("lyapax.spectrum", locals())
    return compute(model, inputs, opts)
