"""Training one character-level network with PyTorch, with spectra along the way.

A network is one-hot characters -> ``nn.LSTM``/``nn.GRU`` (one layer, biases
optional) -> dropout (optional) -> linear decoder, trained with Adam on
next-character cross-entropy (truncated back-propagation over random windows),
the learning rate optionally multiplied by ``lr_decay`` after every epoch from
``lr_decay_after`` on. The recurrent weights (and biases) are initialised from
U(-p, p) as in the paper; the decoder keeps PyTorch's default initialisation.
After every epoch (and at initialisation, epoch 0) the spectrum of the
recurrent layer, driven by a fixed probe batch of one-hot validation text, is
computed by a `lyapax.Monitor`.

Every random draw of a network comes from generators seeded by its own seed:
initialisation and dropout masks from ``torch.Generator`` objects, batches from a
numpy generator, the probe's basis from the Monitor's seed. Nothing draws from
torch's (or numpy's) global RNG, so a record does not depend on what ran before it in
the process (other networks, a resumed study, a Ray worker's earlier tasks, the
caller's own use of the RNG), and the caller's global RNG state is left as it was.
``nn.Dropout`` draws its masks from the global RNG: with it, one GRU with dropout 0.1
trained twice in one process with another network in between ended epoch 1 at
validation losses 3.46087 and 3.46061 (issue 23), hence `SeededDropout`.

This module imports PyTorch; `lyapax.readout.cli` checks that it is installed
before importing it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..monitor import Monitor
from . import checks
from .tasks import CharCorpus

__all__ = ["NetworkConfig", "TrainConfig", "CharRNN", "SeededDropout", "build_model", "train_network", "one_hot_probe",
           "seeded_generator", "RECORD_VERSION"]

ARCHITECTURES = ("lstm", "gru")
#: Version of the training that wrote a record: a resumed study retrains records of another version.
#: 2: every draw from the network's own generators (1, unversioned: dropout from torch's global RNG).
RECORD_VERSION = 2


@dataclass(frozen=True)
class NetworkConfig:
    """One point of the sweep."""

    arch: str
    init_scale: float
    lr: float
    hidden: int
    seed: int

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise InputError(f"arch (--archs): expected one of {ARCHITECTURES}, got {self.arch!r}.")
        checks.normalise(self, "init_scale", checks.real("init_scale", self.init_scale, "--init-scales", low=0, low_open=True))
        checks.normalise(self, "lr", checks.real("lr", self.lr, "--lrs", low=0, low_open=True))
        checks.normalise(self, "hidden", checks.count("hidden", self.hidden, 1, "--hidden"))
        checks.normalise(self, "seed", checks.count("seed", self.seed, 0, "--seed"))

    @property
    def id(self) -> str:
        """A stable file-name-safe identifier."""
        return f"{self.arch}_h{self.hidden}_p{self.init_scale:g}_lr{self.lr:g}_s{self.seed}"


@dataclass(frozen=True)
class TrainConfig:
    """Training and spectrum settings shared by every network of a study.

    Exponents are in nats per step (one character). ``k=None``: all exponents
    (the state dimension: H for a GRU, 2H for an LSTM's (h, c)). ``bias``: the
    recurrent layer has biases; ``dropout``: dropout probability on the recurrent
    layer's outputs during training; ``lr_decay``: factor applied to the learning
    rate at the end of every epoch >= ``lr_decay_after`` (1: constant);
    ``spectrum_epochs``: the epochs whose spectra are computed (default: all).
    """

    epochs: int = 6
    batches_per_epoch: int = 60
    batch: int = 32
    seq_len: int = 50
    val_windows: int = 64
    val_len: int = 100
    clip: float = 5.0
    probe_batch: int = 8
    probe_steps: int = 150
    warmup: int = 50
    k: int | None = 16
    backend: str | None = None
    threads: int = 1
    bias: bool = True
    dropout: float = 0.0
    lr_decay: float = 1.0
    lr_decay_after: int = 0
    spectrum_epochs: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name, minimum in (("epochs", 1), ("batches_per_epoch", 1), ("batch", 1), ("seq_len", 1),
                              ("val_windows", 1), ("val_len", 1), ("probe_batch", 1), ("probe_steps", 1),
                              ("warmup", 0), ("threads", 1), ("lr_decay_after", 0)):
            checks.normalise(self, name, checks.count(name, getattr(self, name), minimum, _flag(name)))
        checks.normalise(self, "k", checks.count("k", self.k, 1, "--k", allow_none=True))
        if self.warmup >= self.probe_steps:
            raise InputError(f"warmup (--warmup): the probe's {self.probe_steps} steps (--probe-steps) must be more "
                             f"than its {self.warmup} warm-up steps, which are not counted; lower --warmup or raise "
                             "--probe-steps.")
        checks.normalise(self, "clip", checks.real("clip", self.clip, low=0))
        checks.normalise(self, "dropout", checks.real("dropout", self.dropout, "--dropout", low=0, high=1, high_open=True))
        checks.normalise(self, "lr_decay", checks.real("lr_decay", self.lr_decay, "--lr-decay", low=0, low_open=True))
        checks.normalise(self, "bias", checks.boolean("bias", self.bias, "--bias/--no-bias"))
        if self.backend is not None and (not isinstance(self.backend, str) or not self.backend):
            raise InputError(f"backend (--backend): expected a backend's name, got {self.backend!r}.")
        if self.spectrum_epochs is not None:
            try:
                epochs = tuple(sorted({checks.count("spectrum_epochs", e, 0) for e in self.spectrum_epochs}))
            except TypeError:
                raise InputError(f"spectrum_epochs: expected epochs (ints >= 0) or None, got "
                                 f"{self.spectrum_epochs!r}.") from None
            checks.normalise(self, "spectrum_epochs", epochs)


#: Fields of `TrainConfig` that `lyapax readout` sets by a flag (the others are API only).
_FLAGS = {"epochs", "batches_per_epoch", "batch", "seq_len", "probe_batch", "probe_steps", "warmup", "threads",
          "lr_decay_after"}


def _flag(name: str) -> str | None:
    return "--" + name.replace("_", "-") if name in _FLAGS else None


def seeded_generator(seed: int, stream: int) -> torch.Generator:
    """A CPU ``torch.Generator`` for one use (``stream``) of a network's ``seed``, independent of the others."""
    state = np.random.SeedSequence([int(seed), int(stream)]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


#: Streams of `seeded_generator` (the numpy batch generator uses SeedSequence([seed, 7919])).
_DROPOUT_STREAM = 1


class SeededDropout(torch.nn.Module):
    """Inverted dropout (as ``nn.Dropout``) whose masks come from its own ``generator``, not the global RNG."""

    def __init__(self, p: float, generator: torch.Generator) -> None:
        super().__init__()
        self.p = float(p)
        self.generator = generator

    def forward(self, x: Any) -> Any:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, dtype=x.dtype, device=x.device) >= self.p
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class CharRNN(torch.nn.Module):
    """One-hot characters -> one recurrent layer (``.rnn``, batch-first) -> dropout -> ``.decoder`` (linear).

    The dropout masks come from ``generator`` (`SeededDropout`; default: a fresh generator seeded 0).
    """

    def __init__(self, arch: str, vocab_size: int, hidden: int, *, bias: bool = True, dropout: float = 0.0,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        cls = torch.nn.LSTM if arch == "lstm" else torch.nn.GRU
        self.vocab_size = vocab_size
        self.rnn = cls(vocab_size, hidden, batch_first=True, bias=bias)
        self.dropout = SeededDropout(dropout, generator if generator is not None else torch.Generator().manual_seed(0))
        self.decoder = torch.nn.Linear(hidden, vocab_size)

    def forward(self, ids: Any) -> Any:
        x = torch.nn.functional.one_hot(ids, self.vocab_size).to(self.decoder.weight.dtype)
        out, _ = self.rnn(x)
        return self.decoder(self.dropout(out))


def build_model(arch: str, vocab_size: int, hidden: int, init_scale: float, seed: int, *,
                bias: bool = True, dropout: float = 0.0) -> Any:
    """A `CharRNN` with its recurrent parameters drawn from U(-p, p), p = ``init_scale``.

    The decoder gets PyTorch's default initialisation of ``nn.Linear`` (weight and bias
    from U(-1/sqrt(hidden), 1/sqrt(hidden))). Every draw, dropout masks included, comes
    from generators seeded by ``seed``; torch's global RNG is neither read nor advanced
    (the layers are built on the meta device, then filled).
    """
    if arch not in ARCHITECTURES:
        raise InputError(f"arch: expected one of {ARCHITECTURES}, got {arch!r}.")
    dropout = checks.real("dropout", dropout, low=0, high=1, high_open=True)

    gen = torch.Generator().manual_seed(int(seed))
    masks = seeded_generator(seed, _DROPOUT_STREAM)
    with torch.device("meta"):  # no default initialisation: it would draw from the global RNG
        model = CharRNN(arch, vocab_size, hidden, bias=bias, dropout=dropout, generator=masks)
    model = model.to_empty(device="cpu")
    bound = 1.0 / math.sqrt(hidden)
    with torch.no_grad():
        for p in model.rnn.parameters():
            p.copy_((torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2.0 - 1.0) * init_scale)
        for p in model.decoder.parameters():
            p.copy_((torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2.0 - 1.0) * bound)
    return model


def one_hot_probe(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """``(batch, time, vocab)`` float32 one-hot encoding of character ids."""
    return np.eye(vocab_size, dtype=np.float32)[ids]


def _rnn_of(model: Any) -> Any:
    return model.rnn


def _default_monitor(train_cfg: TrainConfig, probe_ids: np.ndarray, vocab_size: int) -> Monitor:
    probe = torch.from_numpy(one_hot_probe(probe_ids, vocab_size))
    return Monitor(probe, every=1, k=train_cfg.k, warmup=train_cfg.warmup, backend=train_cfg.backend, select=_rnn_of)


def train_network(
    net: NetworkConfig,
    cfg: TrainConfig,
    corpus: CharCorpus,
    *,
    monitor_factory: Callable[[TrainConfig, np.ndarray, int], Monitor] | None = None,
    on_batch: Callable[[], Any] | None = None,
    on_epoch: Callable[[int, float, dict[str, Any] | None], Any] | None = None,
    spectrum_epochs: Collection[int] | None = None,
) -> dict[str, Any]:
    """Train one network and return its JSON-ready record.

    The record holds the configs, train/validation loss per epoch (nats per
    character), the spectrum (``cfg.k`` top exponents, nats/step) after each
    epoch (epoch 0: at initialisation) and whether training diverged. A network
    whose loss became NaN/Inf is marked ``diverged``; its later losses are
    recorded as ``log(vocab_size)`` (the loss of a uniform guess) and its later
    spectra as missing. A batch whose gradient norm overflows (Inf/NaN: exploding
    gradients, typical of chaotic networks) is skipped, not applied; the count is
    recorded as ``skipped_steps``.

    ``monitor_factory(cfg, probe_ids, vocab_size)`` builds the spectrum monitor
    (default: `lyapax.Monitor` on the recurrent layer with a one-hot
    probe of validation text); ``on_batch`` is called after each batch (progress).

    ``on_epoch(epoch, val_loss, spectrum)`` is called after the validation loss
    and spectrum of every epoch (epoch 0 included), with the spectrum's record
    (``None`` where none was computed); an exception it raises (e.g. a pruner's)
    stops training and propagates. ``spectrum_epochs`` restricts the spectra to
    those epochs (default: ``cfg.spectrum_epochs``, else every epoch); the others are
    absent from ``spectra``.
    """
    t_start = time.perf_counter()
    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(cfg.threads)))
    if spectrum_epochs is None and cfg.spectrum_epochs is not None:
        spectrum_epochs = set(cfg.spectrum_epochs)
    try:
        model = build_model(net.arch, corpus.vocab_size, net.hidden, net.init_scale, net.seed,
                            bias=cfg.bias, dropout=cfg.dropout)
        opt = torch.optim.Adam(model.parameters(), lr=net.lr)
        rng = np.random.default_rng(np.random.SeedSequence([net.seed, 7919]))
        val_x, val_y = corpus.val_windows(cfg.val_windows, cfg.val_len)
        val_x_t, val_y_t = torch.from_numpy(val_x), torch.from_numpy(val_y)
        probe_ids, _ = corpus.val_windows(cfg.probe_batch, cfg.probe_steps)
        factory = monitor_factory or _default_monitor
        monitor = factory(cfg, probe_ids, corpus.vocab_size)
        uniform = math.log(corpus.vocab_size)

        def val_loss() -> float:
            model.eval()
            with torch.no_grad():
                logits = model(val_x_t)
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, corpus.vocab_size), val_y_t.reshape(-1))
            model.train()
            return float(loss)

        def spectrum(epoch: int) -> dict[str, Any] | None:
            if spectrum_epochs is not None and epoch not in spectrum_epochs:
                return None
            if diverged:
                return {"epoch": epoch, "error": "diverged"}
            try:
                monitor.compute(model, step=epoch)
            except Exception as exc:  # a NumericalError on a pathological network is data, not a crash
                return {"epoch": epoch, "error": f"{type(exc).__name__}: {exc}"}
            rec = monitor.records[-1].to_dict()
            rec["epoch"] = rec.pop("step")
            return rec

        train_losses: list[float] = []
        diverged = False
        val_losses = [val_loss()]
        spectra = [spectrum(0)]
        if on_epoch is not None:
            on_epoch(0, val_losses[0], spectra[0])
        skipped = 0
        for epoch in range(1, cfg.epochs + 1):
            total, count = 0.0, 0
            for _ in range(cfg.batches_per_epoch):
                if not diverged:
                    x, y = corpus.train_batch(rng, cfg.batch, cfg.seq_len)
                    logits = model(torch.from_numpy(x))
                    loss = torch.nn.functional.cross_entropy(
                        logits.reshape(-1, corpus.vocab_size), torch.from_numpy(y).reshape(-1)
                    )
                    if not torch.isfinite(loss):
                        diverged = True
                    else:
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip if cfg.clip > 0 else float("inf"))
                        if torch.isfinite(norm):
                            opt.step()
                        else:  # exploding gradients overflowed float32: skip the update, count it
                            skipped += 1
                        total += float(loss.detach())
                        count += 1
                if on_batch is not None:
                    on_batch()
            v = uniform if diverged else val_loss()
            if not math.isfinite(v):
                diverged, v = True, uniform
            if cfg.lr_decay != 1.0 and epoch >= cfg.lr_decay_after:
                for group in opt.param_groups:
                    group["lr"] *= cfg.lr_decay
            train_losses.append(total / count if count else uniform)
            val_losses.append(v)
            spectra.append(spectrum(epoch))
            if on_epoch is not None:
                on_epoch(epoch, v, spectra[-1])
        return {
            "id": net.id,
            "record_version": RECORD_VERSION,
            "network": asdict(net),
            "train": asdict(cfg),
            "corpus": {"name": corpus.name, "vocab_size": corpus.vocab_size,
                       "train_chars": int(corpus.train.size), "val_chars": int(corpus.val.size)},
            "units": {"loss": "nats/character", "exponents": "nats/step"},
            "train_loss": train_losses,
            "val_loss": val_losses,
            "final_val_loss": val_losses[-1],
            "diverged": diverged,
            "skipped_steps": skipped,
            "spectra": [s for s in spectra if s is not None],
            "spectrum_seconds": monitor.overhead_seconds,
            "seconds": time.perf_counter() - t_start,
        }
    finally:
        torch.set_num_threads(old_threads)
