"""Benchmark cases for the PyTorch backend (timed side by side by ``benchmarks/run.py``).

Keys ``"RNN"``, ``"GRU"``, ``"LSTM"``: lyapax's torch backend, full spectrum,
float32. Keys ``"paper-RNN"``, ``"paper-GRU"``, ``"paper-LSTM"``: a
straightforward re-implementation of the approach published with Vogt et al.
("On Lyapunov Exponents for RNNs", arXiv 2006.14123; their ``calc_LEs_an`` /
``oneStepVarQR`` / ``*_jac`` code): per step, the dense Jacobian built from
``diag_embed`` matrices and batched matmuls, the layer's own forward for the
next state, ``Z = J Q``, ``torch.linalg.qr`` of the full ``(B, d, d)`` matrix,
sign fixing with ``diag_embed`` matmuls, all ``diag(R)`` stored, Python loop.

Two deliberate differences from the published code, so that both sides compute
the same numbers (checked in ``tests/torch_backend/test_torch_benchmark_cases.py``):
``Z = J @ Q`` instead of ``J^T @ Q`` (the same cost), and for the LSTM the Jacobian of
the full state ``(h, c)`` (``2H x 2H``, what lyapax computes) instead of ``dh'/dh`` only;
``paper_spectrum(..., h_only=True)`` is the published ``H x H`` variant (cheaper, and
the spectrum of a different product).

``build``, ``inputs``, ``matmul_op`` and ``qr_op`` are what ``benchmarks/run.py`` uses
(the same names in ``cases_jax.py`` and ``cases_tensorflow.py``); ``step_rows`` the rows of
``run.py --step-functions`` (step functions' autodiff tangent maps, eager and compiled).
"""

from __future__ import annotations

from collections.abc import Callable

import lyapax_torch
import torch
import torch.nn.functional as fn
from torch import nn

import lyapax

__all__ = ["cases", "paper_spectrum", "step_rows", "OwnGRU"]


# -- the paper's helpers: every elementwise factor becomes a (B, n, n) diagonal matrix ----------


def _sig(y):
    return torch.sigmoid(y)


def _d_sigmoid(y):
    return torch.diag_embed(torch.sigmoid(y))


def _d_sigmoid_p(y):
    s = torch.sigmoid(y)
    return torch.diag_embed(s * (1 - s))


def _d_tanh(y):
    return torch.diag_embed(torch.tanh(y))


def _d_sech2(y):
    return torch.diag_embed(1 / torch.cosh(y) ** 2)


def _rnn_jac(m: nn.RNN, h, x):
    W, U = m.weight_ih_l0, m.weight_hh_l0
    y = x @ W.T + h @ U.T + m.bias_ih_l0 + m.bias_hh_l0
    return _d_sech2(y) @ U


def _gru_jac(m: nn.GRU, h, x):
    H = m.hidden_size
    W, U = m.weight_ih_l0, m.weight_hh_l0
    r_x, z_x, n_x = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
    y1 = x @ W.T + m.bias_ih_l0
    y2 = h @ U.T + m.bias_hh_l0
    y = y1 + y2
    n_t = torch.tanh(y1[:, n_x] + _sig(y[:, r_x]) * y2[:, n_x])
    a_h = -_d_sigmoid_p(y[:, z_x]) @ torch.diag_embed(n_t) @ U[z_x]
    b0 = torch.diag_embed(1 - _sig(y[:, z_x]))
    b1 = _d_sech2(y1[:, n_x] + _sig(y[:, r_x]) * y2[:, n_x])
    b2_h = _d_sigmoid_p(y[:, r_x]) @ torch.diag_embed(y2[:, n_x]) @ U[r_x]
    b3_h = _d_sigmoid(y[:, r_x]) @ U[n_x]
    b_h = b0 @ (b1 @ (b2_h + b3_h))
    c_h = _d_sigmoid_p(y[:, z_x]) @ torch.diag_embed(h) @ U[z_x] + _d_sigmoid(y[:, z_x])
    return a_h + b_h + c_h


def _lstm_jac(m: nn.LSTM, h, c, x, h_only: bool = False):
    H = m.hidden_size
    W, U = m.weight_ih_l0, m.weight_hh_l0
    i_x, f_x, g_x, o_x = (slice(j * H, (j + 1) * H) for j in range(4))
    y = x @ W.T + h @ U.T + m.bias_ih_l0 + m.bias_hh_l0
    sp, sg, th, se = _d_sigmoid_p(y), _d_sigmoid(y), _d_tanh(y), _d_sech2(y)  # (B, 4H, 4H) each
    c_out = _sig(y[:, f_x]) * c + _sig(y[:, i_x]) * torch.tanh(y[:, g_x])
    a1_h = (sp[:, f_x, f_x] @ torch.diag_embed(c)) @ U[f_x]
    a2_h = (sp[:, i_x, i_x] @ th[:, g_x, g_x]) @ U[i_x]
    a3_h = (sg[:, i_x, i_x] @ se[:, g_x, g_x]) @ U[g_x]
    dc_dh = a1_h + a2_h + a3_h
    dc_dc = sg[:, f_x, f_x]
    b_h = (sp[:, o_x, o_x] @ torch.diag_embed(torch.tanh(c_out))) @ U[o_x]
    c_h = sg[:, o_x, o_x] @ _d_sech2(c_out)
    dh_dh = c_h @ dc_dh + b_h
    if h_only:  # the published code: dh'/dh only, c treated as an input
        return dh_dh
    dh_dc = c_h @ dc_dc
    return torch.cat([torch.cat([dh_dh, dh_dc], dim=2), torch.cat([dc_dh, dc_dc], dim=2)], dim=1)


def _one_step_var_qr(J, Q):
    Z = torch.matmul(J, Q)
    q, r = torch.linalg.qr(Z, "reduced")
    s = torch.diag_embed(torch.sign(torch.diagonal(r, dim1=1, dim2=2)))
    return torch.matmul(q, s), torch.diagonal(torch.matmul(s, r), dim1=1, dim2=2)


@torch.no_grad()
def paper_spectrum(
    model: nn.Module, inputs: torch.Tensor, Q0: torch.Tensor | None = None, h_only: bool = False
) -> torch.Tensor:
    """Per-sequence spectra ``(B, d)`` (nats/step, QR order) the paper's way; ``inputs (B, T, F)``.

    Single-layer ``nn.RNN`` (tanh), ``nn.GRU`` or ``nn.LSTM`` with biases; zero initial state;
    ``Q0 (B, d, d)`` the initial basis (default: the identity). ``h_only``: for an LSTM, the
    ``H x H`` Jacobian ``dh'/dh`` of the published code (``d = H``) instead of the full state's.
    """
    B, T, _ = inputs.shape
    H = model.hidden_size
    lstm = isinstance(model, nn.LSTM)
    d = 2 * H if lstm and not h_only else H
    dev, dt = inputs.device, inputs.dtype
    h = torch.zeros(1, B, H, device=dev, dtype=dt)
    c = torch.zeros(1, B, H, device=dev, dtype=dt)
    Q = torch.eye(d, device=dev, dtype=dt).repeat(B, 1, 1) if Q0 is None else Q0.clone()
    rvals = torch.zeros(B, T, d, device=dev, dtype=dt)
    x_tm = inputs.transpose(0, 1)
    for t in range(T):
        xt = x_tm[t]
        if lstm:
            J = _lstm_jac(model, h[0], c[0], xt, h_only)
        elif isinstance(model, nn.GRU):
            J = _gru_jac(model, h[0], xt)
        else:
            J = _rnn_jac(model, h[0], xt)
        Q, r = _one_step_var_qr(J, Q)
        seq = xt[:, None] if model.batch_first else xt[None]
        if lstm:
            _, (h, c) = model(seq, (h, c))
        else:
            _, h = model(seq, h)
        rvals[:, t, :] = r
    return torch.sum(torch.log(rvals), dim=1) / T


def build(kind: str, hidden: int, features: int | None = None, seed: int = 0, device: str = "cpu") -> nn.Module:
    """``nn.RNN``/``GRU``/``LSTM`` (batch first) on ``device``, every weight ``N(0, 1.5² / hidden)``."""
    torch.manual_seed(seed)
    cls = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}[kind]
    model = cls(features or hidden, hidden, batch_first=True)
    with torch.no_grad():  # weights of order-one gain: a network in an interesting regime
        for name, p in model.named_parameters():
            if name.startswith("weight"):
                p.normal_(0.0, 1.5 / hidden**0.5)
    return model.eval().to(device)


_build = build


def inputs(batch: int, steps: int, features: int, seed: int = 0, device: str = "cpu") -> torch.Tensor:
    """Standard normal inputs ``(batch, steps, features)``, float32, on ``device`` (drawn on the CPU)."""
    return torch.randn(batch, steps, features, generator=torch.Generator().manual_seed(seed + 1)).to(device)


def _synced(run: Callable[[], torch.Tensor], device: str) -> Callable[[], torch.Tensor]:
    """``run`` that returns once the device has finished (CUDA kernels are launched asynchronously)."""
    if torch.device(device).type != "cuda":
        return run

    def synced() -> torch.Tensor:
        out = run()
        torch.cuda.synchronize()
        return out

    return synced


def _blocks(rows: int, cols: int, dtype: torch.dtype) -> torch.Tensor:
    """``(rows, cols)``: stacked random orthogonal ``cols x cols`` blocks (norms stay put when iterated)."""
    gen = torch.Generator().manual_seed(0)
    blocks = [torch.linalg.qr(torch.randn(cols, cols, generator=gen, dtype=dtype))[0] for _ in range(-(-rows // cols))]
    return torch.cat(blocks)[:rows]


def matmul_op(rows: int, cols: int, batch: int, k: int, dtype: str = "float32", n: int = 10,
              device: str = "cpu") -> Callable[[], object]:
    """``n`` dependent products ``Q <- (W (rows, cols) @ Q (batch, cols, k))[:, :cols]``: the matmul of a
    tangent map, timed for the GEMM rate."""
    dt = getattr(torch, dtype)
    W, Q = _blocks(rows, cols, dt).to(device), torch.randn(batch, cols, k, dtype=dt).to(device)

    def run() -> torch.Tensor:
        q = Q
        for _ in range(n):
            q = torch.matmul(W, q)[:, :cols]
        return q

    return _synced(run, device)


def qr_op(batch: int, d: int, k: int, dtype: str = "float64", n: int = 5, device: str = "cpu") -> Callable[[], object]:
    """``n`` dependent batched Householder QRs of ``(batch, d, k)`` (``torch.linalg.qr``: LAPACK on a CPU,
    cuSOLVER on a GPU)."""
    A = torch.randn(batch, d, k, dtype=getattr(torch, dtype)).to(device)

    def run() -> torch.Tensor:
        q = A
        for _ in range(n):
            q = torch.linalg.qr(q)[0]
        return q

    return _synced(run, device)


class OwnGRU(nn.Module):
    """A one-layer ``nn.GRU``'s step written as a user writes a cell: ``F.linear`` and elementwise ops on
    the layer's own parameters; ``forward(h, x) -> h_next`` with ``h (B, hidden)``."""

    def __init__(self, gru: nn.GRU) -> None:
        super().__init__()
        self.gru = gru

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        g = self.gru
        r_i, z_i, n_i = fn.linear(x, g.weight_ih_l0, g.bias_ih_l0).chunk(3, dim=1)
        r_h, z_h, n_h = fn.linear(h, g.weight_hh_l0, g.bias_hh_l0).chunk(3, dim=1)
        r, z = torch.sigmoid(r_i + r_h), torch.sigmoid(z_i + z_h)
        return (1 - z) * torch.tanh(n_i + r * n_h) + z * h


def step_rows(model: nn.Module, x: torch.Tensor, k: int) -> dict[str, Callable[[], object]]:
    """``run.py --step-functions``: the layer as step functions (autodiff tangent maps), float32, ``k`` exponents.

    ``nn.GRU`` through `lyapax_torch.step_function` (its own ``forward``) and as `OwnGRU`, each with
    the tangent map eager (``torch.func``) and compiled (``torch.compile``, the first call compiles).
    """
    batch = int(x.shape[0])
    steps = {"step_function": lyapax_torch.step_function(model)}
    if isinstance(model, nn.GRU) and model.num_layers == 1:
        steps["own GRU module"] = OwnGRU(model)

    def row(f: nn.Module, mode: str) -> Callable[[], object]:
        h0 = torch.zeros(batch, model.hidden_size * model.num_layers, device=x.device)

        def call() -> object:
            before = lyapax_torch.set_step_compilation(mode)
            try:
                return lyapax.spectrum(f, x, h0=h0, k=k, dtype="float32", threads=1)
            finally:
                lyapax_torch.set_step_compilation(before)

        return call

    modes = (("eager", "never"), ("compiled", "always"))
    if not hasattr(lyapax_torch, "set_step_compilation"):  # a lyapax before compiled step functions
        lyapax_torch.set_step_compilation, modes = (lambda mode: mode), modes[:1]
    return {f"{name} {label}": row(f, mode) for name, f in steps.items() for label, mode in modes}


def cases(
    hidden: int = 128, batch: int = 16, steps: int = 200, seed: int = 0, features: int | None = None, **options: object
) -> dict[str, Callable[[], object]]:
    """Zero-argument callables computing the full float32 spectrum of each model (inputs built once)."""
    out: dict[str, Callable[[], object]] = {}
    x = inputs(batch, steps, features or hidden, seed)
    for kind in ("RNN", "GRU", "LSTM"):
        model = build(kind, hidden, features, seed)
        out[kind] = lambda model=model: lyapax.spectrum(model, x, **options)
        out[f"paper-{kind}"] = lambda model=model: paper_spectrum(model, x)
    return out


if __name__ == "__main__":  # a quick look: python benchmarks/cases_torch.py
    import time

    for name, fn in cases().items():
        fn()
        t0 = time.perf_counter()
        fn()
        print(f"{name:12s} {time.perf_counter() - t0:8.3f} s")
