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

On a chaotic network the gradient of the loss grows like ``exp(λ1 H)``, ``H`` the steps the
graph spans (warm-up included): `warn_if_gradient_grows` warns, from the forward pass's own
estimate of λ1, when ``λ1 H`` exceeds `GROWTH_LIMIT` (docs/flossing.md, "When the gradient grows").
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from typing import Any

import numpy as np

from .errors import ChaoticGradientWarning, InputError, user_stacklevel
from .observers import Observer
from .options import FLOSSING, check, parse
from .pipeline import compute
from .validation import check_int

__all__ = ["flossing_loss", "loss_from_exponents", "warn_if_gradient_grows", "probe_window", "window_options",
           "GROWTH_LIMIT"]

#: ``λ1 * H`` (nats; ``H`` = warmup + counted steps) above which `flossing_loss` warns. Measured on 32-unit
#: GRUs and LSTMs (benchmarks/flossing_chaotic.py --gradient, PyTorch, float64): the log of the gradient's norm
#: grows with slope 1 in λ1 H (a GRU with λ1 = 0.188: 204 at H = 20, 4.2e17 at H = 210), against a flat
#: 0.45-0.72 for stable ones (λ1 = -0.08). The safe recipe's 30-step windows (λ1 H <= 7.4 on its networks)
#: reduced |λ1| on 17 of 18; the old recipe's 40-step windows failed on gain-4 GRUs at λ1 H = 7.5-9.4 and
#: would have warned on 10 and 35 of their 50 steps. e^8 is about 3000x the gradient at H near 0.
GROWTH_LIMIT = 8.0


def loss_from_exponents(xp: Any, per_sequence: Any, target: float) -> Any:
    """The flossing loss from per-sequence exponents ``(B, k)`` (nats/step): a scalar in (nats/step)^2.

    Mean over the ``B`` sequences of the sum over the ``k`` columns of
    ``(lambda - target)^2``, computed with the array namespace ``xp`` of
    ``per_sequence`` (so it stays differentiable in the framework).
    """
    batch = int(per_sequence.shape[0])
    return xp.sum((per_sequence - target) ** 2) / batch


def warn_if_gradient_grows(leading: Any, horizon: int) -> None:
    """Warn (`lyapax.errors.ChaoticGradientWarning`) if the flossing gradient is dominated by ``exp(λ1 H)``.

    ``leading``: the per-sequence leading exponents ``(B,)`` of the forward pass (nats/step, any
    array numpy can read); ``horizon``: ``H``, the steps the autodiff graph spans (warmup + counted).
    Warns when their mean λ1 is positive and ``λ1 * H > GROWTH_LIMIT``. The text depends only on ``H``,
    so the warnings module's default shows it once per call site; the estimate is in the warning's
    ``exponent``.
    """
    lam = np.asarray(leading, dtype=np.float64).reshape(-1)
    mean = float(np.mean(lam)) if lam.size else float("nan")
    if not (mean > 0 and mean * horizon > GROWTH_LIMIT):
        return
    bound = GROWTH_LIMIT / horizon
    warnings.warn(
        ChaoticGradientWarning(
            f"flossing_loss: the leading exponent of this probe is above {bound:.3g} nats/step "
            f"({GROWTH_LIMIT:g} nats over the {horizon} steps of the graph, warmup included): the network is "
            f"chaotic over this window and the gradient grows like exp(λ1 * {horizon}), more than e^{GROWTH_LIMIT:g} "
            "times its local part, so its direction is unreliable. Use shorter probes (fewer time steps and "
            "warmup, e.g. 30 in all), clip the gradient norm (torch.nn.utils.clip_grad_norm_, Keras clipnorm, "
            "optax.clip_by_global_norm) and a lower k; see docs/flossing.md. Silence with "
            "warnings.filterwarnings('ignore', category=lyapax.errors.ChaoticGradientWarning).",
            exponent=mean, horizon=int(horizon),
            sequences=np.nonzero(lam * horizon > GROWTH_LIMIT)[0].tolist(),
        ),
        stacklevel=user_stacklevel(),
    )


def probe_window(step: int, length: int, window: int | None) -> slice:
    """The time steps of a ``length``-step probe that flossing step ``step`` (0-based) uses: consecutive,
    non-overlapping windows of ``window`` steps, from the start again when the probe is used up (``None``, or
    a window at least as long as the probe: all of it). The flossing callbacks take their windows so."""
    if window is None or window >= length:
        return slice(0, length)
    start = (step % (length // window)) * window
    return slice(start, start + window)


def window_options(window: Any, warmup: Any, clip: Any) -> tuple[int | None, int, float | None]:
    """The flossing callbacks' ``window``, ``warmup`` and ``clip``, checked (`InputError` naming the one at fault)."""
    window = check_int("window", window, 1, allow_none=True)
    warmup = check("warmup", warmup, FLOSSING)
    if window is not None and warmup >= window:
        raise InputError(f"warmup: {warmup} warm-up steps leave none of the window={window} steps counted; "
                         "lower warmup or raise window.")
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, numbers.Real) or not 0 < clip < math.inf):
        raise InputError(f"clip: expected a positive number (the largest gradient norm) or None, got {clip!r}.")
    return window, warmup, None if clip is None else float(clip)


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

    Warns:
        lyapax.errors.ChaoticGradientWarning: the forward pass's mean leading exponent λ1 is positive and
            ``λ1 * (warmup + T) > GROWTH_LIMIT`` nats (8): the gradient is dominated by its ``exp(λ1 H)``
            growth; use shorter probes, gradient clipping, a lower ``k``.

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
    spectrum = compute(model, inputs, dataclasses.replace(opts, differentiable=True), [namespace])
    raw = spectrum.raw
    if getattr(raw, "requires_grad", True) is False:
        raise InputError(
            "model: the exponents do not depend on any tensor that requires grad (no trainable parameters); "
            "give the step function parameters with requires_grad=True."
        )
    # the forward pass's own numbers (already on the host): no extra pass
    warn_if_gradient_grows(spectrum.per_sequence[:, 0], spectrum.warmup + spectrum.steps)
    return loss_from_exponents(namespace.xp, raw, own["target"])
