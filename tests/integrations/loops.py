"""Two small training loops, one in PyTorch and one in JAX, each recording spectra with a Monitor.

Both train a tanh RNN for a few steps on a toy regression task and call the monitor every
step; ``on_record`` is the logger under test. Small on purpose (8 units, 40-step probe).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

import lyapax

H, F, STEPS = 8, 3, 3
PROBE = np.random.default_rng(0).standard_normal((4, 40, F))


def torch_loop(on_record: Callable[..., Any]) -> lyapax.Monitor:
    torch.manual_seed(0)
    rnn, head = torch.nn.RNN(F, H, batch_first=True), torch.nn.Linear(H, 1)
    opt = torch.optim.SGD([*rnn.parameters(), *head.parameters()], lr=0.1)
    x, y = torch.randn(16, 20, F), torch.randn(16, 1)
    monitor = lyapax.Monitor(torch.as_tensor(PROBE, dtype=torch.float32), k=4, on_record=on_record)
    for step in range(STEPS):
        loss = torch.nn.functional.mse_loss(head(rnn(x)[0][:, -1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        monitor(rnn, step=step)
    return monitor


def _step(params: dict, h: jax.Array, x: jax.Array) -> jax.Array:
    return jnp.tanh(h @ params["W"].T + x @ params["U"].T)


def _loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    h, _ = jax.lax.scan(lambda h, xt: (_step(params, h, xt), None), jnp.zeros((x.shape[0], H)), jnp.swapaxes(x, 0, 1))
    return jnp.mean((h @ params["V"].T - y) ** 2)


def jax_loop(on_record: Callable[..., Any]) -> lyapax.Monitor:
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    params = {"W": 1.5 * jax.random.normal(k1, (H, H)) / H**0.5, "U": jax.random.normal(k2, (H, F)),
              "V": 0.1 * jax.random.normal(k3, (1, H))}
    rng = np.random.default_rng(1)
    x, y = jnp.asarray(rng.standard_normal((16, 20, F))), jnp.asarray(rng.standard_normal((16, 1)))
    probe = jnp.asarray(PROBE, dtype=jnp.float32)
    monitor = lyapax.Monitor(probe, k=4, on_record=on_record, h0=jnp.zeros((PROBE.shape[0], H)))
    grad = jax.jit(jax.grad(_loss))
    for step in range(STEPS):
        params = jax.tree.map(lambda p, g: p - 0.1 * g, params, grad(params, x, y))
        monitor(functools.partial(_step, params), step=step)
    return monitor


LOOPS = {"torch": torch_loop, "jax": jax_loop}
