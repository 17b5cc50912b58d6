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

import dataclasses
from typing import Any

from .errors import InputError
from .observers import Observer
from .options import parse
from .pipeline import compute

__all__ = ["flossing_loss", "loss_from_exponents"]


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


class _Namespace(Observer):
    """Keeps the array namespace of the computation, in which the loss is formed."""

    def start(self, problem: Any, opts: Any, batch: int, k: int) -> None:
        self.xp = problem.xp


def flossing_loss(
    model: Any,
    inputs: Any = None,
    *,
    k: int,
    target: float = 0.0,
    backend: str | None = None,
    warmup: int = 0,
    ortho_every: int | str = 1,
    steps: int | None = None,
    h0: Any = None,
    dtype: Any = None,
    device: Any = None,
    seed: int | None = 0,
    basis: Any = None,
    progress: bool = False,
    time_major: bool | None = None,
    qr: str = "auto",
    qr_dtype: Any = "auto",
    threads: int | None = None,
    **unknown: Any,
) -> Any:
    """Gradient-flossing loss of a PyTorch or TensorFlow recurrent model, in (nats/step)^2.

    ``mean_b sum_{i<=k} (lambda_{b,i} - target)^2`` over the ``B`` input
    sequences, with ``lambda_{b,1} >= ... >= lambda_{b,k}`` the leading
    finite-time Lyapunov exponents of sequence ``b`` (nats/step) over the
    counted steps of ``inputs``. Returned as the framework's scalar tensor,
    attached to the model's parameters: call ``loss.backward()`` (PyTorch) or
    ``tape.gradient(loss, variables)`` (TensorFlow, inside the tape), then
    your optimiser's step. For JAX use ``lyapax_jax.flossing_loss``.

    ``backend``, ``warmup`` (the graph covers these steps too), ``ortho_every`` (an integer
    removes QR nodes from the graph; ``"auto"`` too), ``steps``, ``h0``, ``dtype``, ``device``,
    ``seed``, ``basis``, ``progress``, ``time_major``, ``qr``, ``qr_dtype`` and ``threads`` are
    as in `lyapax.spectrum`.

    Args:
        model: what `lyapax.spectrum` takes on PyTorch or TensorFlow: a standard
            layer, cell or stack, or a step function ``f(h, x) -> h_next`` whose
            parameters are tensors requiring grad (tf.Variables).
        inputs: ``(batch, time, features)`` probe sequences (numpy or the framework's).
        k: how many leading exponents to floss (1 <= k <= state dimension).
        target: the value they are pushed to, nats/step (0: neither growth nor decay).

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
            attached to any), gradients not recorded (``torch.no_grad()``), a backend
            without autodiff (numpy) or JAX (which needs the pure ``lyapax_jax.flossing_loss``).
    """
    opts, own = parse("lyapax.flossing_loss", locals())
    if _has_no_trainable_parameters(model):
        raise InputError(
            "model: it has no trainable parameters (none requires grad), so flossing cannot change it; "
            "unfreeze the recurrent weights (requires_grad=True / trainable=True)."
        )
    namespace = _Namespace()
    raw = compute(model, inputs, dataclasses.replace(opts, differentiable=True), [namespace]).raw
    if getattr(raw, "requires_grad", True) is False:
        raise InputError(
            "model: the exponents do not depend on any tensor that requires grad (no trainable parameters); "
            "give the step function parameters with requires_grad=True."
        )
    return loss_from_exponents(namespace.xp, raw, own["target"])
