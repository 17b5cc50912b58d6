"""Does gradient flossing help a tanh RNN learn long delays? Delayed copy and delayed XOR.

    python benchmarks/flossing.py --quick      # a few minutes on 2 CPU cores
    python benchmarks/flossing.py              # the full setting (about 6x the quick one's work; not yet timed)
    python benchmarks/flossing.py --out results.json

Tasks (generated in numpy, no data): a stream of random bits ``s_t`` is fed as
``x_t = 2 s_t - 1``; the network outputs one logit per step.
- copy:  ``y_t = s_{t-d}``                  (scored for ``t >= d``)
- xor:   ``y_t = s_{t-d} XOR s_{t-d-1}``    (scored for ``t >= d + 1``)
Chance is 50 % in both.

Model: ``torch.nn.RNN(1, hidden, nonlinearity="tanh")`` and a linear readout.
32 units (the reference used 80): the flossing step's cost grows like
``d^2 k`` per time step, and 32 units keep five seeds x several delays x three
arms inside the 30-minute budget on 2 cores, while still failing plain
training at the longer delays.

Arms, same seed (same initial weights, same task batches), same optimiser
(Adam, lr, gradient clipping) and the same number of task batches:
- none:   task training only;
- before: ``--floss-steps`` flossing-only steps first, then task training;
- both:   as before, plus one flossing step every ``--floss-every`` task batches.
Flossing: the top ``k = hidden // 2`` exponents pushed to 0 on 8 fresh task
sequences of ``--floss-len`` steps (warm-up 10), `lyapax.flossing_loss`.

Reported per task, delay and arm: test accuracy over scored steps (mean and
standard deviation over seeds), the leading exponent lambda_1 (nats/step,
`lyapax.spectrum` on 8 probe sequences of 200 steps) at initialisation, after
pre-flossing and after training, and the wall time of the arm.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

import lyapax

ARMS = ("none", "before", "both")


def make_batch(rng: np.random.Generator, task: str, delay: int, batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Inputs ``(B, T, 1)`` (+-1), targets ``(B, T)`` in {0, 1}, and the first scored step."""
    s = rng.integers(0, 2, size=(batch, length))
    y = np.zeros_like(s)
    if task == "copy":
        y[:, delay:] = s[:, :-delay]
        first = delay
    else:
        y[:, delay + 1:] = s[:, 1:-delay] ^ s[:, :-delay - 1]
        first = delay + 1
    x = torch.as_tensor(2.0 * s - 1.0, dtype=torch.float32)[..., None]
    return x, torch.as_tensor(y, dtype=torch.float32), first


class Net(torch.nn.Module):
    def __init__(self, hidden: int, gain: float | None) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(1, hidden, batch_first=True, nonlinearity="tanh")
        self.head = torch.nn.Linear(hidden, 1)
        if gain is not None:
            with torch.no_grad():
                self.rnn.weight_hh_l0.normal_(0.0, gain / hidden**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out)[..., 0]


def lambda1(net: Net, probe: torch.Tensor) -> float:
    return float(lyapax.spectrum(net.rnn, probe, k=1, warmup=50).exponents[0])


def run_arm(arm: str, task: str, delay: int, seed: int, a: argparse.Namespace) -> dict:
    torch.manual_seed(seed)
    net = Net(a.hidden, a.gain)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    data = np.random.default_rng(10_000 + seed)        # task batches: the same in every arm
    floss_data = np.random.default_rng(20_000 + seed)  # flossing probes
    probe, _, _ = make_batch(np.random.default_rng(1), task, delay, 8, 200)
    length = delay + a.scored
    k = a.hidden // 2
    out = {"lambda1_init": lambda1(net, probe)}
    t0 = time.perf_counter()
    floss_time = 0.0

    def floss() -> None:
        nonlocal floss_time
        t = time.perf_counter()
        xf, _, _ = make_batch(floss_data, task, delay, 8, a.floss_len)
        loss = lyapax.flossing_loss(net.rnn, xf, k=k, warmup=10)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        floss_time += time.perf_counter() - t

    if arm != "none":
        for _ in range(a.floss_steps):
            floss()
    out["lambda1_flossed"] = lambda1(net, probe)
    for step in range(a.steps):
        x, y, first = make_batch(data, task, delay, a.batch, length)
        logits = net(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, first:], y[:, first:])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        if arm == "both" and (step + 1) % a.floss_every == 0:
            floss()
    out["seconds"] = time.perf_counter() - t0
    out["floss_seconds"] = floss_time
    x, y, first = make_batch(np.random.default_rng(2), task, delay, 512, length)
    with torch.no_grad():
        pred = (net(x)[:, first:] > 0).float()
    out["accuracy"] = float((pred == y[:, first:]).float().mean())
    out["lambda1_trained"] = lambda1(net, probe)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer delays and steps (a few minutes)")
    p.add_argument("--tasks", nargs="+", default=["copy", "xor"])
    p.add_argument("--delays", nargs="+", type=int, default=None)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--gain", type=float, default=None, help="recurrent weights N(0, gain^2/hidden); default: PyTorch's init")
    p.add_argument("--steps", type=int, default=None, help="task batches per arm")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--scored", type=int, default=30, help="scored steps per sequence (length = delay + scored)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--floss-steps", type=int, default=None)
    p.add_argument("--floss-every", type=int, default=25)
    p.add_argument("--floss-len", type=int, default=50)
    p.add_argument("--out", default=None, help="write all results as JSON")
    a = p.parse_args()
    a.delays = a.delays or ([4, 16] if a.quick else [4, 8, 16, 32])
    a.steps = a.steps or (300 if a.quick else 800)
    a.floss_steps = a.floss_steps if a.floss_steps is not None else (50 if a.quick else 100)
    torch.set_num_threads(1)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {a}")
    results = []
    for task in a.tasks:
        for delay in a.delays:
            for seed in range(a.seeds):
                for arm in ARMS:
                    r = run_arm(arm, task, delay, seed, a)
                    r.update(task=task, delay=delay, seed=seed, arm=arm)
                    results.append(r)
                    print(json.dumps(r), flush=True)
    print("\n| task | delay | arm | accuracy (mean ± sd) | λ1 init | λ1 after flossing | λ1 trained | s per arm | flossing s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for task in a.tasks:
        for delay in a.delays:
            for arm in ARMS:
                rs = [r for r in results if r["task"] == task and r["delay"] == delay and r["arm"] == arm]
                acc = np.array([r["accuracy"] for r in rs])

                def m(key: str, rs: list = rs) -> float:
                    return float(np.mean([r[key] for r in rs]))

                print(
                    f"| {task} | {delay} | {arm} | {acc.mean():.3f} ± {acc.std(ddof=1):.3f} | {m('lambda1_init'):+.3f} | "
                    f"{m('lambda1_flossed'):+.3f} | {m('lambda1_trained'):+.3f} | {m('seconds'):.1f} | {m('floss_seconds'):.1f} |"
                )
    n_both = a.steps // a.floss_every + a.floss_steps
    per_floss = np.mean([r["floss_seconds"] for r in results if r["arm"] == "both"]) / max(n_both, 1)
    per_batch = np.mean([(r["seconds"] - r["floss_seconds"]) / a.steps for r in results if r["arm"] == "none"])
    print(f"\none flossing step: {per_floss * 1e3:.1f} ms; one task batch: {per_batch * 1e3:.1f} ms; "
          f"during training (every {a.floss_every} batches): +{per_floss / a.floss_every / per_batch * 100:.0f} % per batch")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"args": vars(a), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
