"""The paper's readout: a small MLP on the interpolated early spectrum (PyTorch).

This module imports PyTorch at its top; `lyapax.readout.analysis` imports it only where
PyTorch is installed. `MLPGrid` follows the model protocol of `lyapax.readout.stats`
(``settings``, ``n_settings``, ``fit(X, y) -> predict``), so it runs under the same
cross-validation splits as the ridge readouts. Its default is one fixed weight decay (no
inner selection): with two, the nested selection made the MLP the slowest part of the
analysis by far (113 s for 2 repeats of 60 networks on the shared 2-core machine).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .stats import GridModel, column_scaling

__all__ = ["MLPGrid"]


class MLPGrid(GridModel):
    """One hidden layer of ``hidden`` tanh units on standardised inputs, full-batch Adam for ``steps`` steps.

    Settings: the weight decays ``decays`` (one network trained per setting). Seeded from
    ``seed``; PyTorch's global RNG and thread count are left as they were.
    """

    def __init__(self, *, hidden: int = 16, decays: tuple[float, ...] = (1e-2,), steps: int = 200,
                 lr: float = 0.01, seed: int = 0) -> None:
        self.hidden, self.steps, self.lr, self.seed = hidden, steps, lr, seed
        self.settings = [float(d) for d in decays]

    def fit(self, X: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
        mean, scale = column_scaling(X)
        y_mean, y_scale = float(y.mean()), float(y.std()) or 1.0
        Xt = torch.as_tensor((X - mean) / scale, dtype=torch.float32)
        yt = torch.as_tensor((y - y_mean) / y_scale, dtype=torch.float32)[:, None]
        gen = torch.Generator().manual_seed(self.seed)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # networks of a few hundred weights: threads only add overhead
        try:
            nets = [self._train(Xt, yt, decay, gen) for decay in self.settings]
        finally:
            torch.set_num_threads(threads)

        def predict(X_new: np.ndarray) -> np.ndarray:
            Z = torch.as_tensor((np.asarray(X_new, dtype=np.float64) - mean) / scale, dtype=torch.float32)
            with torch.no_grad():
                cols = [(torch.tanh(Z @ w1 + b1) @ w2 + b2)[:, 0].double().numpy() for w1, b1, w2, b2 in nets]
            return y_mean + y_scale * np.stack(cols, axis=1)

        return predict

    def _train(self, Xt: torch.Tensor, yt: torch.Tensor, decay: float, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        d = Xt.shape[1]
        w1 = (torch.randn(d, self.hidden, generator=gen) / np.sqrt(d)).requires_grad_()
        b1 = torch.zeros(self.hidden, requires_grad=True)
        w2 = (torch.randn(self.hidden, 1, generator=gen) / np.sqrt(self.hidden)).requires_grad_()
        b2 = torch.zeros(1, requires_grad=True)
        opt = torch.optim.Adam([w1, b1, w2, b2], lr=self.lr)
        for _ in range(self.steps):
            opt.zero_grad()
            loss = torch.mean((torch.tanh(Xt @ w1 + b1) @ w2 + b2 - yt) ** 2) + decay * (
                (w1 * w1).sum() + (w2 * w2).sum()) / yt.shape[0]
            loss.backward()
            opt.step()
        return tuple(t.detach() for t in (w1, b1, w2, b2))
