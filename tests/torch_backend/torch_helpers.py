"""Helpers of the PyTorch backend tests: an independent numpy reference of each module."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from lyapax import cells


def np_weights(module: nn.Module, name: str):
    p = getattr(module, name, None)
    return None if p is None else p.detach().to(torch.float64).cpu().numpy()


def own_layout(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Batch-first inputs ``(B, T, F)`` in the layout the module declares (``batch_first=False``: ``(T, B, F)``)."""
    return x.transpose(0, 1) if isinstance(module, nn.RNNBase) and not module.batch_first else x


def numpy_reference(module: nn.Module):
    """The module as a lyapax.cells cell with numpy float64 weights, built from its named parameters."""
    if isinstance(module, (nn.RNNCell, nn.LSTMCell, nn.GRUCell)):
        suffixes = [""]
    else:
        suffixes = [f"_l{i}" for i in range(module.num_layers)]
    layers = []
    for s in suffixes:
        kw = {n: np_weights(module, n + s) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        if isinstance(module, (nn.RNN, nn.RNNCell)):
            layers.append(cells.Elman(**kw, nonlinearity=module.nonlinearity))
        elif isinstance(module, (nn.LSTM, nn.LSTMCell)):
            layers.append(cells.LSTM(**kw, weight_hr=np_weights(module, "weight_hr" + s)))
        else:
            layers.append(cells.GRU(**kw))
    return layers[0] if len(layers) == 1 else cells.Stack(layers)


def random_h0(module: nn.Module, batch: int, gen: torch.Generator):
    """A random initial state in the module's own format, and the same state flat (numpy, core layout)."""
    H = module.hidden_size

    def r(*shape):
        return 0.5 * torch.randn(*shape, generator=gen, dtype=torch.float64)

    if isinstance(module, (nn.RNNCell, nn.GRUCell)):
        h = r(batch, H)
        return h, h.numpy()
    if isinstance(module, nn.LSTMCell):
        h, c = r(batch, H), r(batch, H)
        return (h, c), np.concatenate([h.numpy(), c.numpy()], axis=1)
    L = module.num_layers
    if isinstance(module, nn.LSTM):
        P = module.proj_size or H
        h, c = r(L, batch, P), r(L, batch, H)
        flat = np.concatenate([np.concatenate([h[i].numpy(), c[i].numpy()], axis=1) for i in range(L)], axis=1)
        return (h, c), flat
    h = r(L, batch, H)
    return h, np.concatenate([h[i].numpy() for i in range(L)], axis=1)


def from_threads(call: Callable[[], Any], threads: int, calls: int) -> list[Any]:
    """``call()`` run ``calls`` times in each of ``threads`` threads started together; their results,
    or the first error any of them raised."""
    results, errors = [], []
    start = threading.Barrier(threads)

    def work() -> None:
        try:
            start.wait()
            for _ in range(calls):
                results.append(call())
        except Exception as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if errors:
        raise errors[0]
    return results
