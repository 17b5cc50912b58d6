"""Flossing chaotic GRUs and LSTMs: the gradient's exp(λ1 H) growth, and the old and the safe recipe.

    python benchmarks/flossing_chaotic.py --gradient            # ||grad|| against λ1 * H (PyTorch)
    python benchmarks/flossing_chaotic.py --recipes torch jax tensorflow
    python benchmarks/flossing_chaotic.py --recipes torch --gain 4 --safe-k 8   # other networks, the safe recipe's k

Networks: `lyapax.testing.networks.chaotic_gated_cell` (32 units, float64, gain 3, seeds 0-2; inputs
0.1 N(0, 1)). λ1 (nats/step) with `lyapax.spectrum` on 8 held-out sequences of 300 steps (warm-up 100).
Recipes (flossing only, fresh probe sequences every step):
- old:  the first recipe of docs/flossing.md before issue 24: 4 sequences of 40 steps (warm-up 10 inside),
        k = 8, Adam 1e-2, 50 steps, no clipping;
- safe: the first recipe now: 8 sequences of 30 steps (warm-up 10 inside), k = 2, Adam with a cosine decay
        from 1e-2 to 1e-3 over 150 steps, gradient norm clipped at 1.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import lyapax
from lyapax.testing.networks import chaotic_gated_cell

OLD = {"batch": 4, "length": 40, "k": 8, "steps": 50, "clip": None, "decay": False}
SAFE = {"batch": 8, "length": 30, "k": 2, "steps": 150, "clip": 1.0, "decay": True}
GAIN = 3.0  # --gain


def probes(seed: int, batch: int, length: int):
    rng = np.random.default_rng(seed)
    while True:
        yield 0.1 * rng.standard_normal((batch, length, 1))


def torch_model(kind: str, seed: int):
    from lyapax_torch.testing import native_model

    return native_model(chaotic_gated_cell(kind, 32, seed, gain=GAIN), "float64")


def floss_torch(kind: str, seed: int, r: dict):
    import torch

    m = torch_model(kind, seed)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=r["steps"], eta_min=1e-3) if r["decay"] else None
    source = probes(0, r["batch"], r["length"])
    for _ in range(r["steps"]):
        loss = lyapax.flossing_loss(m, torch.as_tensor(next(source)), k=r["k"], warmup=10)
        opt.zero_grad()
        loss.backward()
        if r["clip"]:
            torch.nn.utils.clip_grad_norm_(m.parameters(), r["clip"])
        opt.step()
        if decay:
            decay.step()
    return torch_model(kind, seed), m


def floss_jax(kind: str, seed: int, r: dict):
    import jax
    import jax.numpy as jnp
    import lyapax_jax
    import optax

    jax.config.update("jax_enable_x64", True)
    cell = chaotic_gated_cell(kind, 32, seed, gain=GAIN).map_arrays(jnp.asarray)
    definition, params = cell.split()
    rate = optax.cosine_decay_schedule(1e-2, r["steps"], alpha=0.1) if r["decay"] else 1e-2
    opt = optax.chain(optax.clip_by_global_norm(r["clip"]), optax.adam(rate)) if r["clip"] else optax.adam(rate)
    state = opt.init(params)

    @jax.jit
    def step(params, state, x):
        grads = jax.grad(lambda p: lyapax_jax.flossing_loss(cell, p, x, k=r["k"], warmup=10))(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    source = probes(0, r["batch"], r["length"])
    for _ in range(r["steps"]):
        params, state = step(params, state, jnp.asarray(next(source)))
    return cell, definition.build(params)


def keras_model(kind: str, seed: int):
    import keras

    cell = chaotic_gated_cell(kind, 32, seed, gain=GAIN)
    w_ih, w_hh, b = cell.weight_ih, cell.weight_hh, cell.bias_ih
    if kind == "gru":
        order = np.r_[32:64, 0:32, 64:96]
        layer, weights = keras.layers.GRU(32, dtype="float64"), [w_ih[order].T, w_hh[order].T,
                                                                  np.stack([b[order], np.zeros_like(b)])]
    else:
        layer, weights = keras.layers.LSTM(32, dtype="float64"), [w_ih.T, w_hh.T, b]
    layer.build((None, None, 1))
    layer.set_weights(weights)
    return layer


def floss_tensorflow(kind: str, seed: int, r: dict):
    import keras
    import tensorflow as tf

    layer = keras_model(kind, seed)
    rate = keras.optimizers.schedules.CosineDecay(1e-2, r["steps"], alpha=0.1) if r["decay"] else 1e-2
    opt = keras.optimizers.Adam(rate, global_clipnorm=r["clip"])
    source = probes(0, r["batch"], r["length"])
    for _ in range(r["steps"]):
        with tf.GradientTape() as tape:
            loss = lyapax.flossing_loss(layer, next(source), k=r["k"], warmup=10)
        opt.apply_gradients(zip(tape.gradient(loss, layer.trainable_variables), layer.trainable_variables))
    return keras_model(kind, seed), layer


def leading(model) -> tuple[float, float]:
    backend = type(model).__module__.split(".")[0]
    x = 0.1 * np.random.default_rng(99).standard_normal((8, 300, 1))
    if backend == "torch":
        import torch

        x = torch.as_tensor(x)
    elif backend == "lyapax":
        import jax.numpy as jnp

        x = jnp.asarray(x)
    s = lyapax.spectrum(model, x, k=1, warmup=100)
    return float(s.exponents[0]), float(s.stderr[0])


def recipes(frameworks: list[str]) -> None:
    run = {"torch": floss_torch, "jax": floss_jax, "tensorflow": floss_tensorflow}
    print("| framework | cell | seed | λ1 before | λ1 after old recipe | λ1 after safe recipe | warnings (old, safe) |")
    print("|---|---|---|---|---|---|---|")
    for fw in frameworks:
        for kind in ("gru", "lstm"):
            for seed in (0, 1, 2):
                row, counts = [], []
                for r in (OLD, SAFE):
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", lyapax.errors.ChaoticGradientWarning)
                        start, end = run[fw](kind, seed, r)
                        if fw == "jax":
                            import jax

                            jax.effects_barrier()
                    counts.append(sum(isinstance(c.message, lyapax.errors.ChaoticGradientWarning) for c in caught))
                    row.append(leading(end))
                b = leading(start)
                cells = " | ".join(f"{m:+.3f} ± {s:.3f}" for m, s in (b, *row))
                print(f"| {fw} | {kind} | {seed} | {cells} | {counts[0]}, {counts[1]} |", flush=True)


def gradient() -> None:
    import torch

    global GAIN
    print("| cell | seed | λ1 | H = warmup + T | λ1 H (nats) | gradient norm |")
    print("|---|---|---|---|---|---|")
    for kind in ("gru", "lstm"):
        for GAIN in (4.0, 3.0, 1.0):  # 1.0: a stable network (λ1 < 0)
            m = torch_model(kind, 0)
            lam = leading(m)[0]
            for horizon in (20, 40, 60, 100, 150, 210):
                x = torch.as_tensor(0.1 * np.random.default_rng(horizon).standard_normal((4, horizon, 1)))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    loss = lyapax.flossing_loss(m, x, k=2, warmup=10)
                m.zero_grad()
                loss.backward()
                norm = float(torch.sqrt(sum((p.grad**2).sum() for p in m.parameters())))
                print(f"| {kind} (gain {GAIN:g}) | 0 | {lam:+.3f} | {horizon} | {lam * horizon:.1f} | {norm:.3g} |",
                      flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gradient", action="store_true", help="gradient norm against λ1 H (PyTorch)")
    ap.add_argument("--recipes", nargs="*", choices=("torch", "jax", "tensorflow"), help="old and safe recipes")
    ap.add_argument("--gain", type=float, default=3.0, help="the candidate's recurrent gain of the recipes' networks")
    ap.add_argument("--safe-k", type=int, default=2, help="k of the safe recipe")
    args = ap.parse_args()
    global GAIN
    GAIN = args.gain
    SAFE["k"] = args.safe_k
    t = time.time()
    if args.gradient:
        gradient()
    if args.recipes:
        recipes(args.recipes)
    print(f"{time.time() - t:.0f} s")


if __name__ == "__main__":
    main()
