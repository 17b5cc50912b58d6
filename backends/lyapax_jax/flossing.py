"""Gradient flossing in JAX: `flossing_loss`, a pure function of the parameters.

The same loss as `lyapax.flossing.flossing_loss` (mean over sequences of the
sum over the top ``k`` of ``(lambda_i - target)^2``, (nats/step)^2), formed from
`lyapax_jax.functional.exponents`, so ``jax.grad``, ``nnx.grad``,
``eqx.filter_grad`` and ``jax.jit`` transform it.

The warning of a gradient dominated by ``exp(λ1 H)`` (`lyapax.flossing.warn_if_gradient_grows`) is
issued from the forward pass's exponents: directly when they are concrete, and through
``jax.debug.callback`` when they are traced (``jax.jit``, ``jax.grad``), so a jitted flossing step
warns when it runs, at the cost of copying ``B`` numbers to the host.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from lyapax.errors import InputError
from lyapax.flossing import loss_from_exponents, warn_if_gradient_grows
from lyapax.options import parse

from .functional import exponents_and_steps

__all__ = ["flossing_loss"]


def flossing_loss(
    model: Any,
    params: Any,
    inputs: Any,
    *,
    k: int,
    target: float = 0.0,
    warmup: int = 0,
    ortho_every: int = 1,
    steps: int | None = None,
    h0: Any = None,
    seed: int | None = 0,
    basis: Any = None,
    time_major: bool | None = None,
    **unknown: Any,
) -> Any:
    """Gradient-flossing loss ``mean_b sum_{i<=k} (lambda_{b,i} - target)^2``, (nats/step)^2, as a JAX scalar.

    A pure function of ``params``: differentiate it with ``jax.grad(lambda p:
    flossing_loss(model, p, xs, k=...))(params)`` (or through ``nnx.grad`` /
    ``eqx.filter_grad`` by passing the split parameters).

    Args:
        model: what `lyapax_jax.exponents` takes (nnx / linen / equinox cells,
            lyapax cells with jax weights, step functions).
        params: the parameters to differentiate with respect to (required):
            ``nnx.state(model, nnx.Param)``, linen variables, the array part of
            ``eqx.partition``, a dict of arrays for lyapax cells, or the first
            argument of a step function ``f(params, h, x)``.
        inputs: ``(batch, time, features)`` probe sequences.
        k: how many leading exponents to floss (1 <= k <= state dimension).
        target: the value they are pushed to, nats/step.
        warmup: as in `lyapax.spectrum` (the graph covers these steps too).
        ortho_every: as in `lyapax.spectrum` (an integer).
        steps: as in `lyapax.spectrum`.
        h0: as in `lyapax.spectrum`.
        seed: as in `lyapax.spectrum`.
        basis: as in `lyapax.spectrum`.
        time_major: as in `lyapax.spectrum`.

    Memory: reverse mode stores the ``warmup + T`` steps' tangent maps, about
    ``(warmup + T) * B * d * (d + k)`` numbers, plus one QR of ``B x d x k``
    per ``ortho_every`` steps (wrap the call in ``jax.checkpoint`` to trade
    time for memory). Computes in the parameters' dtype (float64 inside
    ``jax.enable_x64``). A traced call cannot check for NaN/Inf: a sequence
    that diverges makes the loss NaN.

    Warns:
        lyapax.errors.ChaoticGradientWarning: as `lyapax.flossing_loss` (under ``jax.jit`` when the step runs).

    Raises:
        lyapax.errors.InputError: ``params`` missing or without floating-point
            arrays, ``k`` not in ``1..d``, a non-finite ``target``.
    """
    options, own = parse("lyapax_jax.flossing_loss", locals())
    if params is None:
        raise InputError(
            "params: required, the parameters to differentiate with respect to, e.g. "
            "flossing_loss(model, nnx.state(model, nnx.Param), inputs, k=...) or the array part of eqx.partition."
        )
    if not any(jnp.issubdtype(jnp.result_type(leaf), jnp.inexact) for leaf in jax.tree_util.tree_leaves(params)):
        raise InputError(
            "params: contains no floating-point arrays (no trainable parameters), so flossing cannot change the model; "
            "pass the model's weights."
        )
    lam, horizon = exponents_and_steps(model, params, inputs, options)
    leading = jax.lax.stop_gradient(lam[..., 0])
    if isinstance(leading, jax.core.Tracer):
        jax.debug.callback(functools.partial(warn_if_gradient_grows, horizon=horizon), leading)
    else:
        warn_if_gradient_grows(leading, horizon)
    return loss_from_exponents(jnp, lam, own["target"])
