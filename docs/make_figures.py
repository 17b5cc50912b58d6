"""Figures of docs/architectures.md and docs/covariant.md, made by lyapax itself.

    python docs/make_figures.py            # writes docs/img/arch_*.png and cov_*.png (about two minutes on 2 cores)
    python docs/make_figures.py angles     # only the named ones: lstm gru saturation training angles finite_time

The first three figures use the numpy reference path (lyapax.cells, float64); the
others train small PyTorch networks on the embedded grammar task (needs
lyapax-rnn[torch]). Exponents in nats per step, angles in degrees.
"""

from __future__ import annotations

import os
import sys

import numpy as np

import lyapax
from lyapax import plotting

plotting.pyplot(files_only=True)  # the Agg backend: this script only writes files

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "img")
H, F, B, T, WARM = 32, 4, 8, 400, 100


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _u(rng: np.random.Generator, shape: tuple[int, ...], p: float) -> np.ndarray:
    return rng.uniform(-p, p, size=shape)


def _inputs(scale: float = 1.0, seed: int = 1, steps: int = T) -> np.ndarray:
    return scale * _rng(seed).standard_normal((B, steps, F))


def _save(fig, name: str) -> None:
    print("wrote", plotting.save(fig, os.path.join(OUT, name), dpi=110))


def lstm_state_doubling() -> None:
    """LSTM: the state is (h, c), 2H exponents; the c-block sits near log(forget gate)."""
    rng = _rng(0)
    fig, axes = plotting.subplots(1, 2, figsize=(10, 3.6))
    x = _inputs()
    for p, color in ((0.3, "C0"), (1.0, "C1")):
        cell = lyapax.cells.LSTM(_u(rng, (4 * H, F), p), _u(rng, (4 * H, H), p), _u(rng, (4 * H,), p), _u(rng, (4 * H,), p))
        spec = lyapax.spectrum(cell, x, warmup=WARM)
        axes[0].plot(np.arange(1, 2 * H + 1), spec.exponents, ".-", color=color, ms=3,
                     label=f"LSTM, U(-{p}, {p}): {spec.k} exponents")
        # the mean log forget gate along the trajectory: the rate at which c alone would contract
        xp = __import__("array_api_compat.numpy", fromlist=["x"])
        h = np.zeros((B, 2 * H))
        logf = []
        for t in range(T):
            gates = h[:, :H] @ cell.weight_hh.T + cell.bias_hh + x[:, t] @ cell.weight_ih.T + cell.bias_ih
            f = 1 / (1 + np.exp(-gates[:, H:2 * H]))
            if t >= WARM:
                logf.append(np.log(f).mean())
            h = cell.step(xp, h, x[:, t])
        axes[0].axhline(np.mean(logf), color=color, ls=":", lw=1)
    gru = lyapax.cells.GRU(_u(rng, (3 * H, F), 1.0), _u(rng, (3 * H, H), 1.0), _u(rng, (3 * H,), 1.0), _u(rng, (3 * H,), 1.0))
    spec = lyapax.spectrum(gru, x, warmup=WARM)
    axes[0].plot(np.arange(1, H + 1), spec.exponents, ".-", color="C2", ms=3, label=f"GRU, U(-1, 1): {spec.k} exponents")
    plotting.zero_line(axes[0])
    axes[0].set_xlabel("index i")
    axes[0].set_ylabel("λ_i (nats/step)")
    axes[0].set_title(f"H = {H}: LSTM state (h, c) has 2H dimensions", fontsize=10)
    plotting.legend(axes[0])
    # forget-gate bias moves the c-block of the spectrum towards 0
    for bf, color in ((-2.0, "C3"), (0.0, "C4"), (2.0, "C5"), (5.0, "C6")):
        r = _rng(3)
        b = _u(r, (4 * H,), 0.3)
        b[H:2 * H] = bf
        cell = lyapax.cells.LSTM(_u(r, (4 * H, F), 0.3), _u(r, (4 * H, H), 0.3), b, None)
        spec = lyapax.spectrum(cell, x, warmup=WARM)
        axes[1].plot(np.arange(1, 2 * H + 1), spec.exponents, ".-", ms=3, color=color,
                     label=f"forget bias {bf:+g}: log σ(b) = {np.log(1 / (1 + np.exp(-bf))):.2f}")
    plotting.zero_line(axes[1])
    axes[1].set_xlabel("index i")
    axes[1].set_ylabel("λ_i (nats/step)")
    axes[1].set_title("the forget gate sets the memory (c) exponents", fontsize=10)
    plotting.legend(axes[1])
    _save(fig, "arch_lstm_state.png")


def gru_update_gate() -> None:
    """GRU: h' = (1 - z) n + z h; z -> 1 pins the exponents at log z -> 0."""
    fig, ax = plotting.subplots(figsize=(5.5, 3.6))
    x = _inputs()
    for bz, color in ((-2.0, "C0"), (0.0, "C1"), (2.0, "C2"), (4.0, "C3"), (6.0, "C4")):
        r = _rng(5)
        b = _u(r, (3 * H,), 1.0)
        b[H:2 * H] = bz
        cell = lyapax.cells.GRU(_u(r, (3 * H, F), 1.0), _u(r, (3 * H, H), 1.0), b, None)
        spec = lyapax.spectrum(cell, x, warmup=WARM)
        ax.plot(np.arange(1, H + 1), spec.exponents, ".-", ms=3, color=color,
                label=f"update bias {bz:+g} (σ = {1 / (1 + np.exp(-bz)):.3f})")
    plotting.zero_line(ax)
    ax.set_xlabel("index i")
    ax.set_ylabel("λ_i (nats/step)")
    ax.set_title("GRU: open update gates pin the spectrum near 0", fontsize=10)
    plotting.legend(ax)
    _save(fig, "arch_gru_update.png")


def saturation_and_drive() -> None:
    """Elman tanh: strong inputs saturate units and drive exponents negative; autonomous vs driven."""
    gains = np.linspace(0.5, 3.0, 11)
    scales = (0.0, 0.5, 1.0, 2.0, 4.0)
    fig, axes = plotting.subplots(1, 2, figsize=(10, 3.6))
    r = _rng(7)
    W0 = r.standard_normal((H, H)) / np.sqrt(H)
    Win = r.standard_normal((H, F))
    h0 = _rng(8).uniform(-1, 1, size=(B, H))
    for s in scales:
        lam = []
        for g in gains:
            cell = lyapax.cells.Elman(Win, g * W0, None, None)
            lam.append(lyapax.spectrum(cell, _inputs(s, steps=T), warmup=WARM, k=1, h0=h0).max_exponent)
        axes[0].plot(gains, lam, ".-", label="autonomous (x = 0)" if s == 0 else f"driven, input std {s:g}")
    plotting.zero_line(axes[0])
    axes[0].set_xlabel("recurrent gain g (W = g · N(0, 1/H))")
    axes[0].set_ylabel("λ₁ (nats/step)")
    axes[0].set_title("input drive suppresses chaos", fontsize=10)
    plotting.legend(axes[0])
    for s, color in ((0.0, "C0"), (0.5, "C1"), (1.0, "C2"), (2.0, "C4")):
        cell = lyapax.cells.Elman(Win, 2.0 * W0, None, None)
        # k = 16: one unit saturated to an exactly flat tanh makes J singular and the last exponent -inf
        spec = lyapax.spectrum(cell, _inputs(s), warmup=WARM, h0=h0, k=16)
        axes[1].plot(np.arange(1, spec.k + 1), spec.exponents, ".-", ms=3, color=color, label=f"input std {s:g}")
    plotting.zero_line(axes[1])
    axes[1].set_xlabel("index i")
    axes[1].set_ylabel("λ_i (nats/step)")
    axes[1].set_title("g = 2: saturation drives the spectrum down (top 16)", fontsize=10)
    plotting.legend(axes[1])
    _save(fig, "arch_saturation_drive.png")


def during_training() -> None:
    """LSTM and GRU on the grammar task: spectra after each epoch, from a lyapax.Monitor."""
    try:
        import torch  # noqa: F401
    except ImportError:
        print("skipping the training figure: needs torch", file=sys.stderr)
        return
    from lyapax.readout.tasks import grammar_text, make_corpus
    from lyapax.readout.train import NetworkConfig, TrainConfig, one_hot_probe, train_network

    corpus = make_corpus(grammar_text(200_000, seed=0), "grammar")
    cfg = TrainConfig(epochs=8, batches_per_epoch=60)
    fig, axes = plotting.subplots(2, 2, figsize=(10, 6.4))
    for row, (arch, p, lr) in enumerate((("lstm", 1.0, 0.006), ("gru", 1.0, 0.006))):
        monitors = []

        def factory(c, probe_ids, vocab, _m=monitors):
            import torch

            from lyapax.monitor import Monitor

            m = Monitor(torch.from_numpy(one_hot_probe(probe_ids, vocab)), every=1, k=c.k, warmup=c.warmup,
                        select=lambda model: model.rnn)
            _m.append(m)
            return m

        rec = train_network(NetworkConfig(arch, p, lr, 64, 0), cfg, corpus, monitor_factory=factory)
        mon = monitors[0]
        mon.plot_trajectories(axes[row, 0], indices=[1, 2, 4, 8, 16], step_name="epoch")
        axes[row, 0].set_xlabel("epoch (0 = initialisation)")
        plotting.legend(axes[row, 0])  # inside: the loss axis (twinx) takes the right-hand side
        axes[row, 0].set_title(f"{arch.upper()} H=64, U(-{p}, {p}), lr {lr}: exponents during training", fontsize=9)
        ax2 = axes[row, 0].twinx()
        ax2.plot(range(len(rec["val_loss"])), rec["val_loss"], "k--", lw=1)
        ax2.set_ylabel("validation loss (nats/char), dashed", fontsize=8)
        mon.plot_spectra(axes[row, 1], steps=[0, 1, 2, 4, 8], step_name="epoch")
        axes[row, 1].set_title(f"{arch.upper()}: top 16 exponents at chosen epochs", fontsize=9)
    _save(fig, "arch_training.png")


GRU_EPOCHS = (0, 1, 2, 4, 8)


def _trained_gru(_cache: dict = {}) -> tuple:  # noqa: B006  (computed once per run, shared by two figures)
    """A GRU (64 units, U(-1, 1): chaotic at initialisation) trained 8 epochs on the grammar task,
    its recurrent layer copied at GRU_EPOCHS, and the corpus; ``None`` without torch."""
    if "gru" in _cache:
        return _cache["gru"]
    try:
        import torch  # noqa: F401
    except ImportError:
        print("skipping the figures of trained networks: needs torch", file=sys.stderr)
        return None
    import copy
    from types import SimpleNamespace

    from lyapax.readout.tasks import grammar_text, make_corpus
    from lyapax.readout.train import NetworkConfig, TrainConfig, train_network

    corpus = make_corpus(grammar_text(200_000, seed=0), "grammar")
    snapshots: dict[int, object] = {}

    class Snapshots:
        """Stands in for the training's spectrum monitor: keeps a copy of the recurrent layer per epoch."""

        overhead_seconds = 0.0

        def __init__(self) -> None:
            self.records: list = []

        def compute(self, model, step: int) -> None:
            snapshots[step] = copy.deepcopy(model.rnn)
            self.records.append(SimpleNamespace(to_dict=lambda step=step: {"step": step}))

    rec = train_network(NetworkConfig("gru", 1.0, 0.006, 64, 0), TrainConfig(epochs=max(GRU_EPOCHS), batches_per_epoch=60),
                        corpus, monitor_factory=lambda cfg, ids, vocab: Snapshots())
    _cache["gru"] = (snapshots, corpus, rec["val_loss"])
    return _cache["gru"]


def _probe(corpus, count: int, steps: int):
    """``count`` one-hot validation windows of ``steps`` characters, as a torch tensor."""
    import torch

    from lyapax.readout.train import one_hot_probe

    ids, _ = corpus.val_windows(count, steps)
    return torch.from_numpy(one_hot_probe(ids, corpus.vocab_size))


def covariant_angles() -> None:
    """Angles between covariant vectors: the GRU at initialisation (chaotic) and after training."""
    trained = _trained_gru()
    if trained is None:
        return
    snapshots, corpus, val_loss = trained
    probe = _probe(corpus, 4, 5000)
    fig, axes = plotting.subplots(1, 2, figsize=(10, 3.6))
    bins = np.linspace(0.0, 90.0, 46)
    for epoch, color in ((0, "C3"), (max(GRU_EPOCHS), "C0")):
        # 2000 steps with vectors every 5, a backward transient of 2500 steps: the top exponents of the
        # trained GRU are only ~0.003 nats/step apart, so the vectors converge slowly (to 1e-5 in 1 - |cos|)
        cv = lyapax.covariant_vectors(snapshots[epoch], probe, k=8, warmup=500, transient=2500,
                                      at=range(0, 2000, 5), tolerance=1e-5)
        lam = ", ".join(f"{v:+.3f}" for v in cv.exponents[:2])
        name = f"epoch {epoch} (val. loss {val_loss[epoch]:.2f}): λ₁, λ₂ = {lam}"
        axes[0].hist(np.degrees(cv.angles[..., 0]).ravel(), bins=bins, density=True, histtype="step", lw=1.4,
                     color=color, label=name)
        axes[1].hist(np.degrees(cv.angles.min(axis=-1)).ravel(), bins=bins, density=True, histtype="step", lw=1.4,
                     color=color, label=f"epoch {epoch}: smallest neighbour angle")
        if np.any(np.isfinite(cv.subspace_angles)):
            m = int(np.sum(cv.exponents > 0))
            axes[1].hist(np.degrees(cv.subspace_angles).ravel(), bins=bins, density=True, histtype="step", lw=1.4,
                         ls="--", color=color, label=f"epoch {epoch}: unstable ({m}) vs stable ({cv.k - m} of 8) subspace")
    axes[0].set_title("angle between covariant vectors 1 and 2", fontsize=10)
    axes[1].set_title("near-tangencies among the top 8 covariant vectors", fontsize=10)
    for ax in axes:
        ax.set_xlim(0.0, 90.0)
        ax.set_xlabel("angle (degrees)")
        ax.set_ylabel("density (1/degree)")
        plotting.legend(ax)
    _save(fig, "cov_angles.png")


def finite_time_in_training() -> None:
    """Finite-time exponents (windows of 25 steps) of the same GRU at several epochs of training."""
    trained = _trained_gru()
    if trained is None:
        return
    snapshots, corpus, val_loss = trained
    probe = _probe(corpus, 8, 2000)
    window, k = 25, 16
    fig, axes = plotting.subplots(1, 2, figsize=(10, 3.6))
    colors = plotting.index_colors(len(GRU_EPOCHS))
    for pos, (epoch, color) in enumerate(zip(GRU_EPOCHS, colors)):
        ft = lyapax.finite_time(snapshots[epoch], probe, window=window, k=k, warmup=100, keep_windows=True)
        first = ft.windows[..., 0].ravel()
        parts = axes[0].violinplot([first], positions=[pos], widths=0.8, showextrema=False)
        for body in parts["bodies"]:
            body.set_facecolor(color)
            body.set_alpha(0.6)
        axes[0].plot([pos - 0.3, pos + 0.3], [ft.spectrum.exponents[0]] * 2, color="k", lw=1.5)
        axes[0].text(pos, first.max(), f"{np.mean(first > 0):.0%}", ha="center", va="bottom", fontsize=8)
        axes[1].plot(np.arange(1, k + 1), np.sqrt(ft.pooled_variance), ".-", ms=4, color=color,
                     label=f"epoch {epoch} (val. loss {val_loss[epoch]:.2f})")
    plotting.zero_line(axes[0])
    axes[0].set_xticks(range(len(GRU_EPOCHS)), [str(e) for e in GRU_EPOCHS])
    axes[0].set_xlabel("epoch (0 = initialisation)")
    axes[0].set_ylabel(f"finite-time λ₁, {window}-step windows (nats/step)")
    axes[0].set_title("λ₁ over windows (bar: asymptotic λ₁; % of windows > 0)", fontsize=10)
    axes[1].set_xlabel(plotting.INDEX_LABEL)
    axes[1].set_ylabel("std over windows (nats/step)")
    axes[1].set_title(f"spread of the top {k} finite-time exponents", fontsize=10)
    axes[1].set_ylim(bottom=0.0)
    plotting.legend(axes[1])
    _save(fig, "cov_finite_time.png")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    figures = (("lstm", lstm_state_doubling), ("gru", gru_update_gate), ("saturation", saturation_and_drive),
               ("training", during_training), ("angles", covariant_angles), ("finite_time", finite_time_in_training))
    which = sys.argv[1:] or [name for name, _ in figures]
    for name, fn in figures:
        if name in which:
            fn()
