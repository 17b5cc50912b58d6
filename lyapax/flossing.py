"""Gradient flossing: a loss that pushes the leading Lyapunov exponents towards a target.

Engelken (NeurIPS 2023, "Gradient Flossing: Improving Gradient Descent through
Dynamic Control of Jacobians") regularises a recurrent network by minimising

    L = mean over sequences b of  sum_{i<=k} (lambda_{b,i} - target)^2     (nats/step)^2

where ``lambda_{b,i}`` are the ``k`` largest finite-time Lyapunov exponents of
sequence ``b`` (nats/step), differentiated through the QR iteration. Exponents
near zero mean that the products of Jacobians neither blow up nor vanish over
long horizons, which is what backpropagation through time needs.

`flossing_loss` is the PyTorch and TensorFlow form: it calls
`lyapax.spectrum(..., differentiable=True)` and returns the framework's scalar,
attached to the model's parameters. JAX has the pure form
``lyapax_jax.flossing_loss(model, params, inputs, ...)``. Both form the loss
with `loss_from_exponents`, written once against the array namespace; this
module imports no framework.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from .api import spectrum
from .errors import InputError
from .registry import get_backend, select_backend

__all__ = ["flossing_loss", "loss_from_exponents", "check_target", "check_k"]


def check_target(target: Any) -> float:
    """``target`` as a finite float (nats/step), else an `InputError`."""
    if isinstance(target, bool) or not isinstance(target, numbers.Real):
        raise InputError(
            f"target: expected a finite real number (nats/step), got {target!r} ({type(target).__name__}); "
            "pass e.g. target=0.0."
        )
    if not math.isfinite(float(target)):
        raise InputError(f"target: expected a finite number (nats/step), got {target!r}; pass e.g. target=0.0.")
    return float(target)


def check_k(k: Any) -> int:
    """``k`` as an int >= 1 (the upper bound, the state dimension, is checked by the spectrum), else an `InputError`."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise InputError(f"k: expected an integer >= 1 (how many leading exponents to floss), got {k!r}.")
    return int(k)


def loss_from_exponents(xp: Any, per_sequence: Any, target: float) -> Any:
    """The flossing loss from per-sequence exponents ``(B, k)`` (nats/step): a scalar in (nats/step)^2.

    Mean over the ``B`` sequences of the sum over the ``k`` columns of
    ``(lambda - target)^2``, computed with the array namespace ``xp`` of
    ``per_sequence`` (so it stays differentiable in the framework).
    """
    batch = int(per_sequence.shape[0])
    return xp.sum((per_sequence - target) ** 2) / batch


def _has_no_trainable_parameters(model: Any) -> bool:
    # Duck-typed (no framework import): torch modules have parameters(), Keras layers
    # trainable_variables. Step functions are checked on the result instead (torch) or not
    # at all (TensorFlow, where a tensor carries no "attached to the tape" flag).
    params = getattr(model, "parameters", None)
    if callable(params) and hasattr(model, "training"):
        return not any(getattr(p, "requires_grad", False) for p in params())
    variables = getattr(model, "trainable_variables", None)
    if variables is not None and not callable(variables):
        return len(list(variables)) == 0
    return False


def flossing_loss(
    model: Any,
    inputs: Any,
    *,
    k: int,
    target: float = 0.0,
    warmup: int = 0,
    ortho_every: int = 1,
    h0: Any = None,
    seed: int | None = 0,
    dtype: Any = None,
    device: Any = None,
    backend: str | None = None,
    time_major: bool | None = None,
) -> Any:
    """Gradient-flossing loss of a PyTorch or TensorFlow recurrent model, in (nats/step)^2.

    ``mean_b sum_{i<=k} (lambda_{b,i} - target)^2`` over the ``B`` input
    sequences, with ``lambda_{b,1} >= ... >= lambda_{b,k}`` the leading
    finite-time Lyapunov exponents of sequence ``b`` (nats/step) over the
    counted steps of ``inputs``. Returned as the framework's scalar tensor,
    attached to the model's parameters: call ``loss.backward()`` (PyTorch) or
    ``tape.gradient(loss, variables)`` (TensorFlow, inside the tape), then
    your optimiser's step. For JAX use ``lyapax_jax.flossing_loss``.

    Args:
        model: what `lyapax.spectrum` takes on PyTorch or TensorFlow: a standard
            layer, cell or stack, or a step function ``f(h, x) -> h_next`` whose
            parameters are tensors requiring grad (tf.Variables).
        inputs: ``(batch, time, features)`` probe sequences (numpy or the framework's).
        k: how many leading exponents to floss (1 <= k <= state dimension).
        target: the value they are pushed to, nats/step (0: neither growth nor decay).
        warmup: transient steps before counting (the graph covers them too).
        ortho_every: tangent maps between QR steps (fewer QR nodes in the graph).
        h0: initial state (default zeros).
        seed: seed of the initial orthonormal basis.
        dtype: compute dtype (default: the model's).
        device: compute device (default: the model's).
        backend: backend name (default: chosen from the model).
        time_major: the inputs' layout, as in `lyapax.spectrum`.

    Memory and time: the autodiff graph of all ``warmup + T`` steps is kept
    until the backward pass, about ``(warmup + T) * B * d * (d + k)`` numbers
    for the tangent maps (``d`` the state size) plus ``(warmup + T) /
    ortho_every`` QR factorisations of ``B x d x k``; the backward pass costs
    about as much as the forward one. Keep probes short (tens to a few
    hundred steps). A larger ``ortho_every`` removes QR nodes but not the
    per-step tangent maps, and in a chaotic network the product of ``p``
    maps is ill-conditioned (``exp(p (lambda_1 - lambda_k))``).

    Raises:
        lyapax.errors.InputError: ``k`` not in ``1..d``, a non-finite ``target``,
            a model with no trainable parameters (or whose exponents are not
            attached to any), a backend without autodiff (numpy) or JAX (which
            needs the pure ``lyapax_jax.flossing_loss``).
    """
    target, k = check_target(target), check_k(k)
    if _has_no_trainable_parameters(model):
        raise InputError(
            "model: it has no trainable parameters (none requires grad), so flossing cannot change it; "
            "unfreeze the recurrent weights (requires_grad=True / trainable=True)."
        )
    if select_backend(model, inputs, backend).name == "jax":
        raise InputError(
            "model: in JAX the flossing loss is a pure function of the parameters; use "
            "lyapax_jax.flossing_loss(model, params, inputs, k=...) inside jax.grad / nnx.grad / eqx.filter_grad."
        )
    result = spectrum(
        model, inputs, k=k, warmup=warmup, ortho_every=ortho_every, h0=h0, seed=seed,
        dtype=dtype, device=device, backend=backend, time_major=time_major, differentiable=True,
    )
    raw = result.raw
    if raw is None:
        raise InputError(
            f"model: the {result.backend!r} backend has no autodiff, so the exponents cannot be "
            "differentiated; use a PyTorch or TensorFlow model (or lyapax_jax.flossing_loss in JAX)."
        )
    if getattr(raw, "requires_grad", True) is False:
        raise InputError(
            "model: the exponents do not depend on any tensor that requires grad (no trainable parameters); "
            "give the step function parameters with requires_grad=True."
        )
    return loss_from_exponents(get_backend(result.backend).namespace(), raw, target)
