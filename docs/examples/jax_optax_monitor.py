"""Track the Lyapunov spectrum of a JAX RNN trained with optax, with lyapax.Monitor.

    python docs/examples/jax_optax_monitor.py

A tanh RNN h' = tanh(W h + U x + b) learns to output a delayed copy of its input
(a task that needs memory); every 20 steps the top 8 exponents (nats/step) of its
step function, driven by a fixed probe batch, are recorded. lyapax differentiates
the step function with JAX's forward mode: no Jacobian code is needed.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lyapax.monitor import Monitor

H, F, B, T, DELAY = 32, 1, 16, 60, 3


def step(params, h, x):
    """One RNN step on a batch: h (B, H), x (B, F) -> h' (B, H)."""
    return jnp.tanh(h @ params["W"].T + x @ params["U"].T + params["b"])


def loss_fn(params, x, y):
    def scan_step(h, xt):
        h = step(params, h, xt)
        return h, h @ params["V"].T

    _, out = jax.lax.scan(scan_step, jnp.zeros((x.shape[0], H)), jnp.swapaxes(x, 0, 1))
    return jnp.mean((jnp.swapaxes(out, 0, 1) - y) ** 2)


def main(steps: int = 200) -> Monitor:
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    params = {
        "W": 1.2 * jax.random.normal(k1, (H, H)) / jnp.sqrt(H),
        "U": jax.random.normal(k2, (H, F)),
        "b": jnp.zeros(H),
        "V": 0.1 * jax.random.normal(k3, (1, H)),
    }
    opt = optax.adam(3e-3)
    state = opt.init(params)
    rng = np.random.default_rng(0)
    probe = jnp.asarray(rng.standard_normal((8, 100, F)), dtype=jnp.float32)
    monitor = Monitor(probe, every=20, k=8, warmup=20, h0=jnp.zeros((8, H)))

    @jax.jit
    def train_step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = opt.update(grads, state)
        return optax.apply_updates(params, updates), state, loss

    for i in range(steps + 1):
        # the model handed to lyapax: the step function with the current parameters
        monitor(functools.partial(step, params), step=i)
        x = rng.standard_normal((B, T, F)).astype(np.float32)
        y = np.concatenate([np.zeros((B, DELAY, F), np.float32), x[:, :-DELAY]], axis=1)
        params, state, loss = train_step(params, state, x, y)
        if i % 50 == 0:
            print(f"step {i:4d}  loss {float(loss):.4f}  max exponent {monitor.records[-1].max_exponent:+.4f} nats/step")
    return monitor


if __name__ == "__main__":
    mon = main()
    print(mon.to_pandas()[["step", "max_exponent", "kaplan_yorke_dimension", "seconds"]].to_string(index=False))
