"""Canonical recurrent cells with analytic tangent maps, written against ``xp``.

The weights are plain arrays of any array-API namespace (numpy for the
reference path; backends pass their own tensors). Conventions follow
PyTorch, which most users know:

- `Elman`: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.
- `LSTM`: gate rows ordered ``i, f, g, o``; state ``[h; c]`` (``d = 2H``,
  or ``P + H`` with a projection ``h = W_hr (o * tanh(c'))``).
- `GRU`: gate rows ordered ``r, z, n``; ``h' = (1 - z) * n + z * h``.
  ``reset_after=True`` (PyTorch, Keras default):
  ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``;
  ``reset_after=False`` (Cho et al. 2014): ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``.
- `Stack`: layers fed one into the next; the state is all layers'
  states concatenated, the Jacobian is the full (block lower-triangular) one.
- `RateNetwork`: the continuous-time rate network ``τ dh/dt = -h + J φ(h) + B u + b``,
  one Euler or RK4 step of ``dt`` per input step (Euler is the leak form
  ``h' = (1 - δ) h + δ (J φ(h) + B u + b)``, ``δ = dt/τ``).

Every cell has ``dt``, the duration of one step in the model's time unit: 1 for
the discrete-time cells, the integration step for a `RateNetwork`. The driver
passes it to the `lyapax.Spectrum`, which reports rates per step and per unit time.

A tangent map costs a few ``(G, H) @ (B, H, k)`` matmuls and elementwise
products per step: no diagonal matrix and no dense ``d x d`` Jacobian is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError
from .results import check_step_duration
from .validation import check_int

__all__ = ["Cell", "CellDef", "Elman", "LSTM", "GRU", "Stack", "RateNetwork", "Map", "jacobian", "static"]

NONLINEARITIES = ("tanh", "relu", "linear")


def static(default: Any) -> Any:
    """A cell field that is an option, not an array (e.g. the nonlinearity).

    Static fields are part of a cell's `CellDef` (hashable: the key of
    compiled code); every other field is a weight array (or ``None``), traced
    by ``jax.jit`` and passed to ``tf.function`` as an argument.
    """
    return field(default=default, metadata={"static": True})


def _sigmoid(xp: Any, z: Any) -> Any:
    return 1.0 / (1.0 + xp.exp(-z))


# Slopes from the pre-activation, not as 1 - tanh² or σ(1 - σ) of the output: those cancel
# catastrophically for saturated units (in float32 tanh(9) rounds to 1 and the slope to 0),
# which is exactly where RNN exponents become very negative.
def _sigmoid_slope(xp: Any, z: Any) -> Any:
    """σ'(z) = e^{-|z|} / (1 + e^{-|z|})², accurate for saturated units."""
    e = xp.exp(-xp.abs(z))
    return e / ((1.0 + e) * (1.0 + e))


def _tanh_slope(xp: Any, z: Any) -> Any:
    """tanh'(z) = sech²(z) = 4 e^{-2|z|} / (1 + e^{-2|z|})², accurate for saturated units."""
    e = xp.exp(-2.0 * xp.abs(z))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


def _activation(xp: Any, nonlinearity: str, z: Any) -> tuple[Any, Any | None]:
    """``φ(z)`` and ``φ'(z)`` (``None`` for ``"linear"``: the slope is 1)."""
    if nonlinearity == "tanh":
        return xp.tanh(z), _tanh_slope(xp, z)
    if nonlinearity == "relu":
        return xp.where(z > 0, z, xp.zeros_like(z)), xp.where(z > 0, xp.ones_like(z), xp.zeros_like(z))
    return z, None


def _check_nonlinearity(nonlinearity: Any) -> None:
    if not isinstance(nonlinearity, str) or nonlinearity not in NONLINEARITIES:
        raise InputError(f"nonlinearity: expected 'tanh', 'relu' or 'linear', got {nonlinearity!r}.")


def _affine(xp: Any, W: Any, v: Any, b: Any | None = None) -> Any:
    """``v @ W.T + b`` for a batch of vectors ``v (B, n)``."""
    out = xp.matmul(v, xp.matrix_transpose(W))
    return out if b is None else out + b


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in a.shape)


@dataclass(frozen=True)
class CellDef:
    """The static part of a cell: its class, its static fields and which arrays it has.

    Hashable, so it keys compiled code; `build` puts arrays back in.
    ``params`` is a dict of arrays by field name (a list of such dicts for a `Stack`).
    """

    cls: type
    options: tuple[tuple[str, Any], ...] = ()
    names: tuple[str, ...] = ()
    layers: tuple[CellDef, ...] | None = None

    def build(self, params: Any) -> Cell:
        """The cell with ``params`` as its arrays."""
        if self.layers is not None:
            return Stack([d.build(p) for d, p in zip(self.layers, params)])
        return self.cls(**{n: params[n] for n in self.names}, **dict(self.options))


class Cell:
    """Base class: a recurrent layer with state ``(B, dim)`` and output ``(B, output_size)``.

    The output (what a layer above receives as input) is the leading
    ``output_size`` columns of the state. Subclasses are dataclasses whose
    fields are weight arrays (or ``None``) except those declared with
    `static`.
    """

    dim: int
    input_size: int
    output_size: int
    #: Duration of one step in the model's time unit (1: a discrete-time cell, rates per step).
    dt: float = 1.0

    def _array_fields(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if not f.metadata.get("static")]

    def arrays(self) -> dict[str, Any]:
        """The weight arrays by name (``None`` entries omitted)."""
        return {n: getattr(self, n) for n in self._array_fields() if getattr(self, n) is not None}

    def map_arrays(self, fn: Callable[[Any], Any]) -> Cell:
        """A copy with every weight array replaced by ``fn(array)`` (e.g. a dtype or device cast)."""
        _check_callable(fn)
        return dataclasses.replace(self, **{k: fn(v) for k, v in self.arrays().items()})

    def split(self) -> tuple[CellDef, Any]:
        """``(definition, params)``: the hashable static part and the arrays (see `CellDef`)."""
        arrays = self.arrays()
        options = tuple((f.name, getattr(self, f.name)) for f in dataclasses.fields(self) if f.metadata.get("static"))
        return CellDef(type(self), options, tuple(arrays)), arrays

    def step(self, xp: Any, h: Any, x: Any | None) -> Any:
        """Next state ``(B, dim)``."""
        return self.step_tangent(xp, h, x, None)[0]

    def step_tangent(self, xp: Any, h: Any, x: Any | None, Q: Any | None, dx: Any | None = None) -> tuple[Any, Any]:
        """Next state and the tangent ``J @ Q (B, dim, k)``.

        ``dx (B, input_size, k)`` is the tangent of the input (for stacked
        layers: the tangent of the layer below's output); ``None`` means the
        input is data, not a perturbed variable. With ``Q=None`` only the
        state is computed and the tangent is ``None``.
        """
        raise NotImplementedError

    def _input_tangent(self, xp: Any, W: Any, dx: Any | None) -> Any | None:
        return None if dx is None else xp.matmul(W, dx)


def _array_shape(name: str, a: Any, want: str) -> tuple[int, ...]:
    """The shape of a weight array, or a clear error for what is not an array (``None``, a list...)."""
    shape = getattr(a, "shape", None)
    try:
        return tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise InputError(
            f"{name}: expected an array of shape {want} (numpy or a framework's tensor), got {type(a).__name__}; "
            "convert it (e.g. np.asarray(...))."
        ) from None


def _check_matrix(name: str, w: Any, rows: int | None, cols: int | None) -> None:
    want = f"({rows if rows is not None else 'any'}, {cols if cols is not None else 'any'})"
    shape = _array_shape(name, w, want)
    if len(shape) != 2 or (rows is not None and shape[0] != rows) or (cols is not None and shape[1] != cols):
        raise InputError(f"{name}: expected a matrix of shape {want}, got {shape}.")


def _check_vector(name: str, b: Any | None, n: int) -> None:
    if b is not None and _array_shape(name, b, f"({n},)") != (n,):
        raise InputError(f"{name}: expected shape ({n},), got {_shape(b)}.")


def _check_callable(fn: Any) -> None:
    if not callable(fn):
        raise InputError(f"fn: expected a function of one array (e.g. torch.from_numpy), got {type(fn).__name__}.")


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name}: expected True or False, got {value!r} ({type(value).__name__}).")


@dataclass(eq=False)
class Elman(Cell):
    """Elman (vanilla) RNN: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.

    Args:
        weight_ih: ``(H, F)`` input weights.
        weight_hh: ``(H, H)`` recurrent weights.
        bias_ih: ``(H,)`` input bias or ``None``.
        bias_hh: ``(H,)`` recurrent bias or ``None``.
        nonlinearity: ``"tanh"``, ``"relu"`` or ``"linear"``.
    """

    weight_ih: Any
    weight_hh: Any
    bias_ih: Any = None
    bias_hh: Any = None
    nonlinearity: str = static("tanh")

    def __post_init__(self) -> None:
        _check_nonlinearity(self.nonlinearity)
        _check_matrix("weight_hh", self.weight_hh, None, None)
        H = _shape(self.weight_hh)[0]
        _check_matrix("weight_hh", self.weight_hh, H, H)
        _check_matrix("weight_ih", self.weight_ih, H, None)
        _check_vector("bias_ih", self.bias_ih, H)
        _check_vector("bias_hh", self.bias_hh, H)
        self.dim = self.output_size = H
        self.input_size = _shape(self.weight_ih)[1]

    def step_tangent(self, xp, h, x, Q, dx=None):
        pre = _affine(xp, self.weight_hh, h, self.bias_hh)
        if x is not None:
            pre = pre + _affine(xp, self.weight_ih, x, self.bias_ih)
        elif self.bias_ih is not None:
            pre = pre + self.bias_ih
        h_next, slope = _activation(xp, self.nonlinearity, pre)
        if Q is None:
            return h_next, None
        dpre = xp.matmul(self.weight_hh, Q)
        dinp = self._input_tangent(xp, self.weight_ih, dx)
        if dinp is not None:
            dpre = dpre + dinp
        return h_next, dpre if slope is None else slope[..., None] * dpre


@dataclass(eq=False)
class LSTM(Cell):
    """LSTM with the full state ``[h; c]`` (gate rows ``i, f, g, o``, as PyTorch).

    Args:
        weight_ih: ``(4H, F)`` input weights.
        weight_hh: ``(4H, P)`` recurrent weights (``P = H`` without projection).
        bias_ih: ``(4H,)`` or ``None``.
        bias_hh: ``(4H,)`` or ``None``.
        weight_hr: ``(P, H)`` projection of the hidden output, or ``None``.

    The state is ``[h (P); c (H)]`` of dimension ``P + H``.
    """

    weight_ih: Any
    weight_hh: Any
    bias_ih: Any = None
    bias_hh: Any = None
    weight_hr: Any = None

    def __post_init__(self) -> None:
        _check_matrix("weight_hh", self.weight_hh, None, None)
        G, P = _shape(self.weight_hh)
        if G % 4:
            raise InputError(f"weight_hh: expected 4H rows (gates i, f, g, o), got {G}.")
        H = G // 4
        if self.weight_hr is None and P != H:
            raise InputError(f"weight_hh: expected shape ({G}, {H}) without weight_hr, got {(G, P)}.")
        if self.weight_hr is not None:
            _check_matrix("weight_hr", self.weight_hr, P, H)
        _check_matrix("weight_ih", self.weight_ih, G, None)
        _check_vector("bias_ih", self.bias_ih, G)
        _check_vector("bias_hh", self.bias_hh, G)
        self.hidden_size, self.output_size = H, P
        self.dim = P + H
        self.input_size = _shape(self.weight_ih)[1]

    def step_tangent(self, xp, h, x, Q, dx=None):
        P, H = self.output_size, self.hidden_size
        hh, c = h[:, :P], h[:, P:]
        gates = _affine(xp, self.weight_hh, hh, self.bias_hh)
        if x is not None:
            gates = gates + _affine(xp, self.weight_ih, x, self.bias_ih)
        elif self.bias_ih is not None:
            gates = gates + self.bias_ih
        i = _sigmoid(xp, gates[:, :H])
        f = _sigmoid(xp, gates[:, H : 2 * H])
        g = xp.tanh(gates[:, 2 * H : 3 * H])
        o = _sigmoid(xp, gates[:, 3 * H :])
        c_next = f * c + i * g
        tc = xp.tanh(c_next)
        out = o * tc
        h_next = out if self.weight_hr is None else _affine(xp, self.weight_hr, out)
        state = xp.concat([h_next, c_next], axis=1)
        if Q is None:
            return state, None
        dh, dc = Q[:, :P, :], Q[:, P:, :]
        dg = xp.matmul(self.weight_hh, dh)
        dinp = self._input_tangent(xp, self.weight_ih, dx)
        if dinp is not None:
            dg = dg + dinp
        slopes = _sigmoid_slope(xp, gates)  # one pass over all 4H gates; the g block is tanh
        slopes = xp.concat([slopes[:, : 2 * H], _tanh_slope(xp, gates[:, 2 * H : 3 * H]), slopes[:, 3 * H :]], axis=1)
        dg = slopes[..., None] * dg
        di, df, dgg, do = dg[:, :H, :], dg[:, H : 2 * H, :], dg[:, 2 * H : 3 * H, :], dg[:, 3 * H :, :]
        dc_next = c[..., None] * df + f[..., None] * dc + g[..., None] * di + i[..., None] * dgg
        dout = tc[..., None] * do + (o * _tanh_slope(xp, c_next))[..., None] * dc_next
        dh_next = dout if self.weight_hr is None else xp.matmul(self.weight_hr, dout)
        return state, xp.concat([dh_next, dc_next], axis=1)


@dataclass(eq=False)
class GRU(Cell):
    """GRU (gate rows ``r, z, n``, as PyTorch): ``h' = (1 - z) * n + z * h``.

    Args:
        weight_ih: ``(3H, F)`` input weights.
        weight_hh: ``(3H, H)`` recurrent weights.
        bias_ih: ``(3H,)`` or ``None``.
        bias_hh: ``(3H,)`` or ``None`` (its ``n`` part sits inside the reset product when ``reset_after``).
        reset_after: apply the reset gate after the recurrent matmul
            (PyTorch, Keras' default) or before it (original GRU).
    """

    weight_ih: Any
    weight_hh: Any
    bias_ih: Any = None
    bias_hh: Any = None
    reset_after: bool = static(True)

    def __post_init__(self) -> None:
        _check_flag("reset_after", self.reset_after)
        _check_matrix("weight_hh", self.weight_hh, None, None)
        G, H = _shape(self.weight_hh)
        if G != 3 * H:
            raise InputError(f"weight_hh: expected shape (3H, H) (gates r, z, n), got {(G, H)}.")
        _check_matrix("weight_ih", self.weight_ih, G, None)
        _check_vector("bias_ih", self.bias_ih, G)
        _check_vector("bias_hh", self.bias_hh, G)
        self.dim = self.output_size = H
        self.input_size = _shape(self.weight_ih)[1]

    def step_tangent(self, xp, h, x, Q, dx=None):
        # reset_after: one product with the whole W_hh (state and tangent), the result sliced: slicing
        # the weights made XLA copy each slice every step (about 5% of a JAX step at hidden 256)
        H = self.dim
        W_hh, b_hh = self.weight_hh, self.bias_hh
        if x is not None:
            gi = _affine(xp, self.weight_ih, x, self.bias_ih)
        elif self.bias_ih is not None:
            gi = self.bias_ih + xp.zeros_like(h[:, :1])
        else:
            gi = None
        if self.reset_after:
            gh = _affine(xp, W_hh, h, b_hh)
            rz, hn = gh[:, : 2 * H], gh[:, 2 * H :]
        else:
            W_rz, W_n = W_hh[: 2 * H, :], W_hh[2 * H :, :]
            rz = _affine(xp, W_rz, h, None if b_hh is None else b_hh[: 2 * H])
        if gi is not None:
            rz = rz + gi[:, : 2 * H]
        r = _sigmoid(xp, rz[:, :H])
        z = _sigmoid(xp, rz[:, H:])
        if self.reset_after:
            pre_n = r * hn
        else:
            pre_n = _affine(xp, W_n, r * h, None if b_hh is None else b_hh[2 * H :])
        if gi is not None:
            pre_n = pre_n + gi[:, 2 * H :]
        n = xp.tanh(pre_n)
        h_next = (1.0 - z) * n + z * h
        if Q is None:
            return h_next, None
        dinp = self._input_tangent(xp, self.weight_ih, dx)
        if self.reset_after:
            dg = xp.matmul(W_hh, Q)
            drz, dhn = dg[:, : 2 * H, :], dg[:, 2 * H :, :]
        else:
            drz = xp.matmul(W_rz, Q)
        if dinp is not None:
            drz = drz + dinp[:, : 2 * H, :]
        drz = _sigmoid_slope(xp, rz)[..., None] * drz
        dr, dz = drz[:, :H, :], drz[:, H:, :]
        if self.reset_after:
            dpre_n = hn[..., None] * dr + r[..., None] * dhn
        else:
            dpre_n = xp.matmul(W_n, h[..., None] * dr + r[..., None] * Q)
        if dinp is not None:
            dpre_n = dpre_n + dinp[:, 2 * H :, :]
        dn = _tanh_slope(xp, pre_n)[..., None] * dpre_n
        dh_next = (h - n)[..., None] * dz + (1.0 - z)[..., None] * dn + z[..., None] * Q
        return h_next, dh_next


@dataclass(eq=False)
class Stack(Cell):
    """Layers stacked in depth: layer ``l`` reads layer ``l-1``'s new output.

    The state is the concatenation of all layers' states (bottom first), and
    the tangent map is that of the whole stacked map (inter-layer couplings
    included).
    """

    layers: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.layers, Cell) or not isinstance(self.layers, Iterable):
            raise InputError(f"layers: expected a list of lyapax.cells cells, got {type(self.layers).__name__}.")
        self.layers = list(self.layers)
        if not self.layers:
            raise InputError("layers: a Stack needs at least one layer.")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Cell) or isinstance(layer, Stack):
                raise InputError(
                    f"layers[{i}]: expected a lyapax.cells cell (Elman, LSTM, GRU, RateNetwork), got {type(layer).__name__}."
                )
            if i and layer.input_size != self.layers[i - 1].output_size:
                raise InputError(
                    f"layers[{i}]: input_size {layer.input_size} does not match the output size "
                    f"{self.layers[i - 1].output_size} of layers[{i - 1}]."
                )
        self.dim = sum(layer.dim for layer in self.layers)
        self.input_size = self.layers[0].input_size
        self.output_size = self.layers[-1].output_size
        self.offsets = np.cumsum([0] + [layer.dim for layer in self.layers]).tolist()
        durations = sorted({layer.dt for layer in self.layers if isinstance(layer, RateNetwork)})
        if len(durations) > 1:
            raise InputError(
                f"layers: the rate networks of one Stack step together, so they need one dt; got dt = {durations}."
            )
        self.dt = durations[0] if durations else 1.0

    def map_arrays(self, fn: Callable[[Any], Any]) -> Stack:
        _check_callable(fn)
        return Stack([layer.map_arrays(fn) for layer in self.layers])

    def arrays(self) -> dict[str, Any]:
        return {f"layers[{i}].{k}": v for i, layer in enumerate(self.layers) for k, v in layer.arrays().items()}

    def split(self) -> tuple[CellDef, Any]:
        parts = [layer.split() for layer in self.layers]
        return CellDef(Stack, layers=tuple(d for d, _ in parts)), [p for _, p in parts]

    def step_tangent(self, xp, h, x, Q, dx=None):
        states, tangents = [], []
        inp, dinp = x, dx
        for layer, a, b in zip(self.layers, self.offsets[:-1], self.offsets[1:]):
            s, t = layer.step_tangent(xp, h[:, a:b], inp, None if Q is None else Q[:, a:b, :], dinp)
            states.append(s)
            tangents.append(t)
            inp = s[:, : layer.output_size]
            dinp = None if t is None else t[:, : layer.output_size, :]
        state = states[0] if len(states) == 1 else xp.concat(states, axis=1)
        if Q is None:
            return state, None
        return state, tangents[0] if len(tangents) == 1 else xp.concat(tangents, axis=1)


@dataclass(eq=False)
class RateNetwork(Cell):
    """Continuous-time rate network ``τ dh/dt = -h + J φ(h) + B u + b``, one step of ``dt`` per input step.

    ``method="euler"`` is the leak form ``h' = (1 - δ) h + δ (J φ(h) + B u + b)`` with
    ``δ = dt / τ``; ``δ = 1`` (``dt = tau``) is the discrete map ``h' = J φ(h) + B u + b``.
    ``method="rk4"`` is one classical Runge-Kutta step with the input held over the step
    (``u`` of step ``t`` drives the whole step). The tangent maps are the exact
    derivatives of these discrete steps (for RK4: the RK4 stages of the variational
    equation ``dQ/dt = (-Q + J φ'(h) Q) / τ`` along the stages of the state), so the
    exponents are those of the integrator's map, which tend to the flow's as ``dt → 0``.

    The `lyapax.Spectrum` reports nats per step (``exponents``) and, with this cell's
    ``dt``, nats per unit of time (``exponents_per_time``: per step divided by ``dt``,
    in the unit of ``tau``).

    Args:
        weight_hh: ``J``, ``(N, N)`` recurrent weights.
        weight_ih: ``B``, ``(N, F)`` input weights, or ``None`` for an autonomous
            network (no input: ``input_size`` 0, run with ``steps=`` and an ``h0``).
        bias: ``b``, ``(N,)`` or ``None``.
        dt: the step, in the unit of ``tau`` (positive).
        tau: the time constant (positive).
        method: ``"rk4"`` or ``"euler"``.
        nonlinearity: ``φ``: ``"tanh"``, ``"relu"`` or ``"linear"`` (the identity).

    Example (Clark's map ``h <- J tanh(h)``, ``J_ij ~ N(0, g²/N)``, and the flow at RK4 step 0.1)::

        J = rng.normal(0, g / N**0.5, (N, N))
        lyapax.spectrum(RateNetwork(J, dt=1.0, method="euler"), steps=2000, h0=rng.normal(size=(1, N)), warmup=500)
        lyapax.spectrum(RateNetwork(J, dt=0.1, method="rk4"), steps=20000, h0=..., warmup=5000, ortho_every=5)

    The state ``h = 0`` is a fixed point of the autonomous tanh network: start from a random ``h0``.
    """

    weight_hh: Any
    weight_ih: Any = None
    bias: Any = None
    dt: float = static(0.1)
    tau: float = static(1.0)
    method: str = static("rk4")
    nonlinearity: str = static("tanh")

    def __post_init__(self) -> None:
        _check_nonlinearity(self.nonlinearity)
        if not isinstance(self.method, str) or self.method not in ("rk4", "euler"):
            raise InputError(f"method: expected 'rk4' or 'euler', got {self.method!r}.")
        self.dt = check_step_duration("dt", self.dt)
        self.tau = check_step_duration("tau", self.tau)
        _check_matrix("weight_hh", self.weight_hh, None, None)
        N = _shape(self.weight_hh)[0]
        _check_matrix("weight_hh", self.weight_hh, N, N)
        if self.weight_ih is not None:
            _check_matrix("weight_ih", self.weight_ih, N, None)
        _check_vector("bias", self.bias, N)
        self.dim = self.output_size = N
        self.input_size = 0 if self.weight_ih is None else _shape(self.weight_ih)[1]

    @property
    def leak(self) -> float:
        """``δ = dt / tau``, the fraction of the state replaced per Euler step."""
        return self.dt / self.tau

    def _target(self, xp: Any, h: Any, drive: Any | None, V: Any | None, dV: Any | None) -> tuple[Any, Any]:
        """``J φ(h) + drive`` (so ``τ dh/dt`` is this minus ``h``) and its tangent along ``V`` (``dV``: the drive's)."""
        phi, slope = _activation(xp, self.nonlinearity, h)
        g = _affine(xp, self.weight_hh, phi)
        if drive is not None:
            g = g + drive
        if V is None:
            return g, None
        dg = xp.matmul(self.weight_hh, V if slope is None else slope[..., None] * V)
        return g, dg if dV is None else dg + dV

    def step_tangent(self, xp, h, x, Q, dx=None):
        drive = None if x is None or self.weight_ih is None else _affine(xp, self.weight_ih, x)
        if self.bias is not None:
            drive = self.bias if drive is None else drive + self.bias
        ddrive = None if dx is None or self.weight_ih is None else xp.matmul(self.weight_ih, dx)
        c = self.leak
        if self.method == "euler":  # (1 - δ) h + δ g
            g, dg = self._target(xp, h, drive, Q, ddrive)
            if c == 1.0:  # the discrete map: three passes over (B, N, k) saved, 7% of a step at N = 1024
                return g, dg
            return (1.0 - c) * h + c * g, None if Q is None else (1.0 - c) * Q + c * dg
        ks, dks, stage, dstage = [], [], h, Q
        for frac in (0.5, 0.5, 1.0, None):  # RK4 stages of the state and of the variational equation
            g, dg = self._target(xp, stage, drive, dstage, ddrive)
            ks.append(g - stage)
            dks.append(None if Q is None else dg - dstage)
            if frac is not None:
                stage = h + (frac * c) * ks[-1]
                dstage = None if Q is None else Q + (frac * c) * dks[-1]
        h_next = h + (c / 6.0) * (ks[0] + 2.0 * ks[1] + 2.0 * ks[2] + ks[3])
        if Q is None:
            return h_next, None
        return h_next, Q + (c / 6.0) * (dks[0] + 2.0 * dks[1] + 2.0 * dks[2] + dks[3])


class Map:
    """Any map with a user-supplied Jacobian, on numpy arrays.

    Args:
        step: ``step(h, x) -> h_next`` with ``h (B, d)`` and ``x (B, F)`` or
            ``None`` (autonomous maps).
        jacobian: ``jacobian(h, x) -> J (B, d, d)``, ``J = d h_next / d h`` at ``(h, x)``.
        dim: the state dimension ``d`` (needed only when ``h0`` is not given).
        input_size: features per step, or ``None`` to accept any.

    Example (Hénon map, a=1.4, b=0.3)::

        def step(h, x):
            return np.stack([1 - 1.4 * h[:, 0] ** 2 + h[:, 1], 0.3 * h[:, 0]], axis=1)
        def jac(h, x):
            J = np.zeros((len(h), 2, 2)); J[:, 0, 0] = -2.8 * h[:, 0]; J[:, 0, 1] = 1; J[:, 1, 0] = 0.3
            return J
        lyapax.spectrum(lyapax.Map(step, jac, dim=2), steps=100_000)
    """

    def __init__(
        self,
        step: Callable[[Any, Any], Any],
        jacobian: Callable[[Any, Any], Any],
        *,
        dim: int | None = None,
        input_size: int | None = None,
    ) -> None:
        if not callable(step) or not callable(jacobian):
            raise InputError("Map: step and jacobian must be callables step(h, x) and jacobian(h, x).")
        self.step_fn, self.jacobian_fn = step, jacobian
        self.dim = check_int("dim", dim, 1, allow_none=True)
        self.input_size = check_int("input_size", input_size, 0, allow_none=True)

    def arrays(self) -> dict[str, Any]:
        return {}

    def step(self, xp: Any, h: Any, x: Any | None) -> Any:
        return self.step_fn(h, x)

    def step_tangent(self, xp: Any, h: Any, x: Any | None, Q: Any | None) -> tuple[Any, Any]:
        h_next = self.step_fn(h, x)
        if Q is None:
            return h_next, None
        J = self.jacobian_fn(h, x)
        if _shape(J) != (_shape(h)[0], _shape(h)[1], _shape(h)[1]):
            raise InputError(
                f"jacobian: expected shape (batch, d, d) = ({_shape(h)[0]}, {_shape(h)[1]}, {_shape(h)[1]}), "
                f"got {_shape(J)}; return one d x d matrix per sequence."
            )
        return h_next, xp.matmul(J, Q)

    def __repr__(self) -> str:
        return f"Map(step={getattr(self.step_fn, '__name__', self.step_fn)!r}, dim={self.dim})"


def jacobian(xp: Any, dynamics: Any, h: Any, x: Any | None) -> Any:
    """The full Jacobian ``(B, d, d)`` of ``dynamics`` at ``(h, x)``, from its tangent map.

    For tests and diagnostics (it costs a d-column tangent map).
    """
    B, d = _shape(h)
    eye = xp.eye(d, dtype=h.dtype, device=_device(h))
    Q = xp.zeros_like(h[:, :1, None]) + eye
    return dynamics.step_tangent(xp, h, x, Q)[1]


def _device(a: Any) -> Any:
    import array_api_compat

    try:
        return array_api_compat.device(a)
    except Exception:  # namespaces array_api_compat does not know (a backend's own)
        return getattr(a, "device", None)
