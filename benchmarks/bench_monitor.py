"""Overhead of monitoring the spectrum once per epoch, relative to an epoch of the readout task.

Measures, for the readout's character-level LSTM and GRU (PyTorch, one thread by default):

- the time of one training epoch = one pass over the training text, in batches of
  ``--batch`` windows of ``--seq-len`` characters (timed over ``--time-batches`` batches and
  scaled to the full pass);
- the time of one ``lyapax.Monitor`` computation: the top ``--k`` exponents on a probe
  batch of ``--probe-batch`` sequences of ``--probe-steps`` steps (median of ``--repeats``);

and prints their ratio; the target is under 5%. Text: ``--text`` (default
../shared/data/war_and_peace.txt when present, the readout's paper setting), else the
embedded grammar text (200k characters, a much shorter epoch).

    python benchmarks/bench_monitor.py [--hidden 128] [--k 16] [--probe-batch 8] [--probe-steps 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from lyapax.monitor import Monitor
from lyapax.readout.tasks import grammar_text, make_corpus, read_text
from lyapax.readout.train import build_model, one_hot_probe

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TEXT = os.path.join(HERE, "..", "..", "shared", "data", "war_and_peace.txt")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", default=DEFAULT_TEXT if os.path.exists(DEFAULT_TEXT) else None)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=100)
    ap.add_argument("--time-batches", type=int, default=40)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--probe-batch", type=int, default=8)
    ap.add_argument("--probe-steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    if args.text:
        corpus = make_corpus(read_text(args.text), os.path.basename(args.text))
    else:
        corpus = make_corpus(grammar_text(200_000, seed=0), "grammar")
    batches_per_epoch = corpus.train.size // (args.batch * args.seq_len)
    print(f"task: {corpus.name}, {corpus.train.size:,} training chars = {batches_per_epoch} batches of "
          f"{args.batch} x {args.seq_len} per epoch; torch threads {args.threads}; {torch.__version__}")
    rng = np.random.default_rng(0)
    probe_ids, _ = corpus.val_windows(args.probe_batch, args.probe_steps)
    probe = torch.from_numpy(one_hot_probe(probe_ids, corpus.vocab_size))
    for arch in ("lstm", "gru"):
        model = build_model(arch, corpus.vocab_size, args.hidden, 0.1, seed=0)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def train_batch(model=model, opt=opt) -> None:
            x, y = corpus.train_batch(rng, args.batch, args.seq_len)
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)).reshape(-1, corpus.vocab_size),
                                                     torch.from_numpy(y).reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()

        for _ in range(3):
            train_batch()
        t0 = time.perf_counter()
        for _ in range(args.time_batches):
            train_batch()
        per_batch = (time.perf_counter() - t0) / args.time_batches
        epoch = per_batch * batches_per_epoch

        monitor = Monitor(probe, every=1, k=args.k, select=lambda m: m.rnn)
        monitor.compute(model, step=0)  # warm-up call
        for step in range(args.repeats):
            monitor.compute(model, step=step + 1)
        spec_s = statistics.median(r.seconds for r in monitor.records[1:])
        ratio = spec_s / epoch
        print(f"{arch.upper():4} H={args.hidden}: epoch {epoch:7.2f} s ({per_batch * 1e3:.1f} ms/batch), "
              f"spectrum k={args.k} on {args.probe_batch}x{args.probe_steps}: {spec_s * 1e3:7.1f} ms "
              f"[{monitor.records[-1].backend}] -> overhead {100 * ratio:.2f}% of an epoch "
              f"({'under' if ratio < 0.05 else 'OVER'} the 5% target)")


if __name__ == "__main__":
    main()
