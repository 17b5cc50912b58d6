"""The main job on an embedded default: spectra of random tanh networks across gains.

Needs numpy only (matplotlib, if installed, for the figure). The table prints the time of
each network (about a second each for the defaults on one core).
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import cells
from .api import spectrum
from .errors import InputError
from .install import pip_install
from .readout.storage import check_output_folder
from .results import Spectrum
from .validation import check_int

__all__ = ["random_tanh_network", "run_demo", "check_demo"]

DEFAULT_GAINS = (0.5, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0)


def random_tanh_network(hidden: int, inputs: int, gain: float, seed: int = 0) -> cells.Elman:
    """Elman tanh network with recurrent weights N(0, gain^2 / hidden) and weak input weights.

    Autonomous networks of this kind turn chaotic for gain > 1 (Sompolinsky,
    Crisanti & Sommers 1988); inputs tame the chaos somewhat.
    """
    rng = np.random.default_rng(seed)
    return cells.Elman(
        weight_ih=rng.normal(0.0, 1.0 / np.sqrt(inputs), size=(hidden, inputs)),
        weight_hh=rng.normal(0.0, gain / np.sqrt(hidden), size=(hidden, hidden)),
        nonlinearity="tanh",
    )


def check_demo(gains: Sequence[float], *, hidden: int, batch: int, steps: int, warmup: int, seed: int,
               out: str | Path | None) -> None:
    """Refuse the demo's bad settings before any work, naming the flag (`lyapax.errors.InputError`)."""
    check_int("hidden (--hidden)", hidden, 1)
    check_int("batch (--batch)", batch, 1)
    check_int("steps (--steps)", steps, 1)
    check_int("warmup (--warmup)", warmup, 0)
    check_int("seed (--seed)", seed, 0)
    if warmup >= steps:
        raise InputError(f"warmup (--warmup): {warmup} warm-up steps leave none of the {steps} steps (--steps) to "
                         "count; lower --warmup or raise --steps.")
    gains = list(gains)
    bad = [g for g in gains if isinstance(g, bool) or not isinstance(g, numbers.Real) or not math.isfinite(g) or g <= 0]
    if not gains or bad:
        raise InputError(f"gains (--gains): expected positive finite numbers, got {bad or gains}.")
    if out is not None:
        check_output_folder(out, "out (--out)", files=("spectra.png",))


def run_demo(
    gains: Sequence[float] = DEFAULT_GAINS,
    *,
    hidden: int = 64,
    batch: int = 4,
    steps: int = 1000,
    warmup: int = 200,
    input_scale: float = 0.1,
    seed: int = 0,
    out: str | Path | None = "lyapax-demo",
    print_fn=print,
) -> list[tuple[float, Spectrum]]:
    """Compute and print the spectra; save a figure under ``out`` if matplotlib is there.

    The settings are checked first (`check_demo`): an `InputError` names the bad one.
    """
    gains = list(gains)
    check_demo(gains, hidden=hidden, batch=batch, steps=steps, warmup=warmup, seed=seed, out=out)
    rng = np.random.default_rng(seed)
    features = 4
    x = input_scale * rng.standard_normal((batch, steps, features))
    print_fn(
        f"lyapax demo: random tanh RNNs, {hidden} units, {batch} input sequences x {steps} steps "
        f"({warmup} warm-up), full spectrum. Exponents in nats/step.\n"
        f"gain g: recurrent weights drawn from N(0, g^2/{hidden}); without input such networks are ordered "
        "for g < 1 and chaotic for g > 1 (max exponent > 0).\n"
        "entropy: sum of the positive exponents (Kolmogorov-Sinai entropy rate, Pesin), in nats/step."
    )
    print_fn(f"{'gain':>6} {'max exponent':>22} {'Kaplan-Yorke dim':>17} {'entropy (nats/step)':>20} {'time (s)':>9}")
    results = []
    for gain in gains:
        t0 = time.perf_counter()
        s = spectrum(random_tanh_network(hidden, features, gain, seed), x, warmup=warmup)
        dt = time.perf_counter() - t0
        results.append((gain, s))
        print_fn(
            f"{gain:6.2f} {s.max_exponent:+12.4f} ± {s.stderr[0]:.4f} {s.kaplan_yorke_dimension:17.2f} "
            f"{s.entropy:20.4f} {dt:9.2f}"
        )
    if out is not None:
        path = _save_figure(results, Path(out))
        print_fn(f"figure: {path}" if path else f"figure: skipped ({pip_install('plot')} for matplotlib)")
    return results


def _save_figure(results: list[tuple[float, Spectrum]], out: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for gain, s in results:
        s.plot(ax, label=f"gain {gain:g}")
    ax.set_title("Lyapunov spectra of random tanh RNNs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "spectra.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
