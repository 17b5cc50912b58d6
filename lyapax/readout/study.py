"""The sweep: train every network of a study, one JSON file each, resumably.

Layout of the output folder::

    study.json            the study's settings
    networks/<id>.json    one file per trained network (configs, losses, spectra)
    networks.csv          one row per analysed network: hyperparameters, early loss, target, early features
    analysis.json         `lyapax.readout.analyze`'s output (docs/readout.md: the contract)
    figures/*.png         predictions per readout, the spectrum's added value
    report.md             the measured numbers in words

Every file is written atomically; a network whose file exists with the same
settings is skipped, so re-running the same command resumes an interrupted
study (and only refreshes the analysis when everything is done). Networks are
trained one after another in this process, or each as a Ray task
(`ray_sweep`); both call `train_network`
and this process writes the records.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .. import backends
from ..errors import InputError
from ..install import pip_install
from . import checks
from .records import read_record
from .storage import check_output_folder, read_json, write_json
from .tasks import CharCorpus, grammar_text, make_corpus, read_text
from .train import ARCHITECTURES, RECORD_VERSION, NetworkConfig, TrainConfig, train_network

if TYPE_CHECKING:
    from .ray_sweep import RayOptions

__all__ = ["StudyConfig", "QUICK", "DEFAULT", "TEXT_DEFAULT", "PAPER", "PAPER_GPU", "load_corpus", "networks_of",
           "run_networks", "run_study", "with_overrides", "check_study_folder", "check_backend", "check_corpus"]


def _state_size(arch: str, hidden: int) -> int:
    """The state dimension whose exponents the spectrum has: (h, c) for an LSTM."""
    return 2 * hidden if arch == "lstm" else hidden


@dataclass(frozen=True)
class StudyConfig:
    """A hyperparameter study: the grid, the task and the analysis settings.

    ``early_epoch`` is the epoch whose spectrum serves as the early readout
    (epoch 0 is the initialisation). Features use the top ``top`` exponents
    for their mean and count exponents above ``threshold`` (nats/step).
    ``hidden``: one size or several (every size is trained; the analysis pools them).
    """

    archs: tuple[str, ...] = ("lstm", "gru")
    init_scales: tuple[float, ...] = (0.05, 0.3, 1.0, 2.0, 4.0)
    lrs: tuple[float, ...] = (0.001, 0.006, 0.036)
    hidden: int | tuple[int, ...] = 64
    replicates: int = 1
    seed: int = 0
    text: str | None = None
    max_chars: int | None = None
    grammar_chars: int = 200_000
    train: TrainConfig = field(default_factory=TrainConfig)
    early_epoch: int = 1
    top: int = 4
    threshold: float = -0.1
    bootstrap: int = 2000
    folds: int = 5
    repeats: int = 5
    permutations: int = 200

    def __post_init__(self) -> None:
        archs = self.archs if isinstance(self.archs, (tuple, list)) else None
        if not archs or any(a not in ARCHITECTURES for a in archs):
            raise InputError(f"archs (--archs): expected a non-empty subset of {ARCHITECTURES}, got {self.archs!r}.")
        checks.normalise(self, "archs", tuple(archs))
        for name, flag in (("init_scales", "--init-scales"), ("lrs", "--lrs")):
            values = getattr(self, name)
            if not isinstance(values, (tuple, list)) or not values:
                raise InputError(f"{name} ({flag}): expected a non-empty list of positive numbers, got {values!r}.")
            checks.normalise(self, name, tuple(checks.real(name, v, flag, low=0, low_open=True) for v in values))
        sizes = self.hidden if isinstance(self.hidden, (tuple, list)) else (self.hidden,)
        if not sizes:
            raise InputError("hidden (--hidden): expected one size or several, got none.")
        sizes = tuple(checks.count("hidden", h, 1, "--hidden") for h in sizes)
        checks.normalise(self, "hidden", sizes[0] if not isinstance(self.hidden, (tuple, list)) else sizes)
        for name, minimum, flag in (("replicates", 1, "--replicates"), ("seed", 0, "--seed"),
                                    ("grammar_chars", 1000, None), ("early_epoch", 0, "--early-epoch"),
                                    ("top", 1, "--top"), ("bootstrap", 1, "--bootstrap"), ("folds", 2, "--folds"),
                                    ("repeats", 1, None), ("permutations", 0, None)):
            checks.normalise(self, name, checks.count(name, getattr(self, name), minimum, flag))
        checks.normalise(self, "max_chars", checks.count("max_chars", self.max_chars, 1000, "--max-chars", allow_none=True))
        checks.normalise(self, "threshold", checks.real("threshold", self.threshold, "--threshold"))
        if self.text is not None and not isinstance(self.text, (str, os.PathLike)):
            raise InputError(f"text (--text): expected the path of a text file, got {self.text!r}.")
        if not isinstance(self.train, TrainConfig):
            raise InputError(f"train: expected a TrainConfig, got {type(self.train).__name__}.")
        if self.early_epoch >= self.train.epochs:
            raise InputError(f"early_epoch (--early-epoch): expected an epoch before the last, 0 <= epoch < --epochs "
                             f"= {self.train.epochs}, got {self.early_epoch}.")
        if self.train.spectrum_epochs is not None and self.early_epoch not in self.train.spectrum_epochs:
            raise InputError(f"early_epoch (--early-epoch): the spectra are computed at epochs "
                             f"{list(self.train.spectrum_epochs)} only (spectrum_epochs), not at {self.early_epoch}.")
        if self.train.k is not None and self.train.k > min(_state_size(a, h) for a in self.archs for h in sizes):
            smallest = min((_state_size(a, h), a, h) for a in self.archs for h in sizes)
            raise InputError(f"k (--k): {self.train.k} exponents, but the {smallest[1].upper()} of {smallest[2]} units "
                             f"has a state of {smallest[0]} (H for a GRU, 2H for an LSTM); lower --k or use --k all.")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return json.loads(json.dumps(d))

    @property
    def sizes(self) -> tuple[int, ...]:
        """The hidden sizes of the sweep."""
        return (self.hidden,) if isinstance(self.hidden, int) else tuple(self.hidden)


#: ``lyapax readout --quick``: 30 small networks on the embedded grammar task, a few minutes on 2 CPU cores.
QUICK = StudyConfig(train=TrainConfig(epochs=5, batches_per_epoch=60))
#: ``lyapax readout`` on the embedded task: a denser grid, two seeds, longer training.
DEFAULT = StudyConfig(
    init_scales=(0.03, 0.1, 0.3, 0.6, 1.0, 1.5, 2.0, 3.0),
    lrs=(0.001, 0.003, 0.01, 0.03),
    replicates=2,
    train=TrainConfig(epochs=8, batches_per_epoch=100),
)
#: ``lyapax readout --text PATH``: character LM on a text file (the paper's setting), larger networks.
TEXT_DEFAULT = StudyConfig(
    init_scales=(0.04, 0.2, 0.7, 2.8),
    lrs=(0.002, 0.008, 0.03),
    hidden=128,
    train=TrainConfig(epochs=10, batches_per_epoch=60, seq_len=100),
)
#: ``lyapax readout --preset paper``: the regime of Vogt et al. (2022), sized for a shared 2-core CPU.
#: One-layer LSTMs and GRUs without biases, U(-p, p) init over the paper's range [0.04, 0.24] and on
#: into chaos, dropout 0.1, Adam at lr 0.002 decayed by 0.97 per epoch from epoch 7 (the paper: 15
#: epochs, decay from epoch 10; char-rnn's factor 0.97), 10 epochs of 100 batches of 32 x 100
#: characters, sizes 32 and 64 pooled (the paper: 64-512), two seeds per point: 56 networks;
#: all exponents at initialisation and at the early epoch 1, on 8 validation sequences of 400
#: characters after 100 warm-up steps. `PAPER_GPU` is the larger setting.
PAPER = StudyConfig(
    init_scales=(0.04, 0.08, 0.12, 0.16, 0.24, 0.5, 1.0),
    lrs=(0.002,),
    hidden=(32, 64),
    replicates=2,
    train=TrainConfig(epochs=10, batches_per_epoch=100, batch=32, seq_len=100, k=None, bias=False, dropout=0.1,
                      lr_decay=0.97, lr_decay_after=7, probe_batch=8, probe_steps=400, warmup=100,
                      spectrum_epochs=(0, 1)),
)
#: The larger setting for a GPU (``run_study(PAPER_GPU, out)``, or `lyapax readout --preset paper` with the
#: flags docs/readout.md lists): the paper's sizes, epochs and decay.
PAPER_GPU = replace(
    PAPER, hidden=(64, 128, 256, 512), replicates=3,
    init_scales=(0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.3, 0.5, 1.0),
    train=replace(PAPER.train, epochs=15, batches_per_epoch=200, lr_decay_after=10, probe_steps=1000, warmup=200),
)


def load_corpus(cfg: StudyConfig) -> CharCorpus:
    """The study's corpus: the text file if given, else the embedded grammar text."""
    if cfg.text is not None:
        return make_corpus(read_text(cfg.text, cfg.max_chars), os.path.basename(cfg.text))
    return make_corpus(grammar_text(cfg.grammar_chars, seed=cfg.seed), f"grammar(seed={cfg.seed})")


def networks_of(cfg: StudyConfig) -> list[NetworkConfig]:
    """Every network of the grid (archs x init scales x learning rates x replicates); their ids are distinct."""
    nets = [
        NetworkConfig(arch=a, init_scale=float(p), lr=float(lr), hidden=int(h), seed=cfg.seed * 1000 + r)
        for a, h, p, lr, r in itertools.product(cfg.archs, cfg.sizes, cfg.init_scales, cfg.lrs, range(cfg.replicates))
    ]
    twice = sorted(i for i, c in Counter(n.id for n in nets).items() if c > 1)
    if twice:
        raise InputError(f"the grid names a network twice ({', '.join(twice[:3])}): a value repeated in --archs, "
                         "--hidden, --init-scales or --lrs, or two values equal to 6 significant digits; give each "
                         "value once.")
    return nets


def _done(path: str, train: TrainConfig, corpus: CharCorpus) -> bool:
    if not os.path.isfile(path):
        return False
    try:
        rec = read_record(path)  # never blocks, never reads a huge file
    except InputError:  # unreadable or corrupt: trained again
        return False
    return (isinstance(rec, dict) and rec.get("record_version") == RECORD_VERSION
            and rec.get("train") == json.loads(json.dumps(asdict(train)))
            and (rec.get("corpus") or {}).get("name") == corpus.name)


def _train_here(
    todo: list[NetworkConfig],
    train: TrainConfig,
    corpus: CharCorpus,
    monitor_factory: Callable[..., Any] | None,
    bar: Any,
) -> Iterator[tuple[NetworkConfig, dict[str, Any]]]:
    """Train ``todo`` one after another in this process, yielding each network's record."""
    for i, net in enumerate(todo):
        if bar is not None:
            bar.set_postfix_str(f"{i + 1}/{len(todo)} {net.id}")
        yield net, train_network(net, train, corpus, monitor_factory=monitor_factory,
                                 on_batch=None if bar is None else (lambda: bar.update(1)))


def _progress_bar(total: int, unit: str, log: Callable[[str], Any]) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        log(f"(no progress bar: {pip_install('progress')})")
        return None
    return tqdm(total=total, unit=unit, desc="readout", dynamic_ncols=True)


def run_networks(
    cfg: StudyConfig,
    out: str,
    *,
    monitor_factory: Callable[..., Any] | None = None,
    progress: bool = True,
    log: Callable[[str], Any] = print,
    ray: RayOptions | bool = False,
) -> list[dict[str, Any]]:
    """Train the networks not yet in ``out/networks`` and return every network's record.

    With ``ray`` (``True`` or a `RayOptions`), each
    network is a Ray task; either way this process writes every record (atomically) as
    its network finishes, and a record does not depend on where or in which order it
    was trained.
    """
    nets = networks_of(cfg)
    check_study_folder(out, nets)
    check_backend(cfg.train.backend)
    corpus = load_corpus(cfg)
    check_corpus(cfg, corpus)
    folder = os.path.join(out, "networks")
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(out, "study.json"), {"study": cfg.to_dict(), "corpus": {
        "name": corpus.name, "vocab_size": corpus.vocab_size,
        "train_chars": int(corpus.train.size), "val_chars": int(corpus.val.size)}})
    todo = [n for n in nets if not _done(os.path.join(folder, n.id + ".json"), cfg.train, corpus)]
    if len(todo) < len(nets):
        log(f"resuming: {len(nets) - len(todo)} of {len(nets)} networks already done in {folder}")
    bar = None
    on_ray = ray is not False and ray is not None
    results: Iterator[tuple[NetworkConfig, dict[str, Any]]] | None = None
    t0 = time.perf_counter()
    try:
        if on_ray:
            from .ray_sweep import RayOptions, train_on_ray

            options = RayOptions() if ray is True else ray
            if progress and todo:
                bar = _progress_bar(len(todo), "network", log)
            results = train_on_ray(todo, cfg.train, corpus, options, monitor_factory=monitor_factory, log=log)
        else:
            if progress and todo:
                bar = _progress_bar(len(todo) * cfg.train.epochs * cfg.train.batches_per_epoch, "batch", log)
            results = _train_here(todo, cfg.train, corpus, monitor_factory, bar)
        for net, rec in results:
            write_json(os.path.join(folder, net.id + ".json"), rec)
            if bar is not None and on_ray:
                bar.update(1)
                bar.set_postfix_str(net.id)
    finally:
        if results is not None:
            results.close()  # at once, not at garbage collection: cancels Ray tasks still running
        if bar is not None:
            bar.close()
    if todo:
        log(f"trained {len(todo)} networks in {time.perf_counter() - t0:.1f} s")
    return [read_json(os.path.join(folder, n.id + ".json")) for n in nets]


#: What a study writes into its folder (besides networks/<id>.json).
STUDY_FILES = ("study.json", "analysis.json", "report.md", "networks.csv")
STUDY_FOLDERS = ("networks", "figures")


def check_study_folder(out: str, nets: list[NetworkConfig]) -> None:
    """Refuse, before any training, an output folder the study could not write (`check_output_folder`)."""
    check_output_folder(out, "out (--out)", files=STUDY_FILES, folders=STUDY_FOLDERS)
    for net in nets:
        path = os.path.join(out, "networks", net.id + ".json")
        if os.path.lexists(path) and not os.path.isfile(path):
            raise InputError(f"out (--out): {path!r} is not a regular file where the record of network {net.id} "
                             "goes; remove it, or choose another folder.")


def check_backend(backend: str | None) -> None:
    """Refuse an unknown or uninstalled spectrum backend before any training (each spectrum would fail)."""
    if backend is None:
        return
    installed = backends()
    if backend not in installed:
        raise InputError(f"backend (--backend): {backend!r} is not an installed lyapax backend (installed: "
                         f"{', '.join(installed)}); leave it out to use the model's own (torch).")


def check_corpus(cfg: StudyConfig, corpus: CharCorpus) -> None:
    """Refuse windows longer than the corpus's parts before any training."""
    t = cfg.train
    if corpus.train.size < t.seq_len + 2:
        raise InputError(f"seq_len (--seq-len): training windows of {t.seq_len} characters, but the training text "
                         f"has {corpus.train.size}; use a longer text or a shorter --seq-len.")
    need = max(t.val_len, t.probe_steps) + 2
    if corpus.val.size < need:
        raise InputError(f"probe_steps (--probe-steps): validation windows of {need - 2} characters (the probe's "
                         f"--probe-steps and val_len), but the held-out text has {corpus.val.size}; use a longer "
                         "text (--text, --max-chars) or shorter windows.")


#: `with_overrides`'s default for ``k``: keep the preset's (``None`` there means all exponents).
UNCHANGED: Any = object()


def with_overrides(cfg: StudyConfig, *, k: Any = UNCHANGED, **kw: Any) -> StudyConfig:
    """``cfg`` with study fields and `TrainConfig` fields (by name) replaced; ``None`` values ignored.

    ``k``: the number of exponents (``None``: all), replaced unless `UNCHANGED`. The
    combination is checked once, as a whole (e.g. ``k`` against ``hidden``).
    """
    train_fields = set(TrainConfig.__dataclass_fields__)
    train_kw = {k: v for k, v in kw.items() if k in train_fields and v is not None}
    if k is not UNCHANGED:
        train_kw["k"] = k
    study_kw = {k: v for k, v in kw.items() if k not in train_fields and v is not None}
    return replace(cfg, train=replace(cfg.train, **train_kw), **study_kw)


def run_study(
    cfg: StudyConfig,
    out: str,
    *,
    monitor_factory: Callable[..., Any] | None = None,
    progress: bool = True,
    figures: bool = True,
    log: Callable[[str], Any] = print,
    ray: RayOptions | bool = False,
) -> dict[str, Any]:
    """Train (or resume) every network of ``cfg`` into ``out``, then write the CSV, analysis, figures and report.

    ``ray``: run each network as a Ray task (see `run_networks`). Returns the
    analysis dict (also in ``out/analysis.json``).
    """
    from .report import write_outputs

    n_nets, minimum = len(networks_of(cfg)), max(2 * cfg.folds, 8)
    if n_nets < minimum:
        raise InputError(f"the study has {n_nets} networks, and its analysis with {cfg.folds} folds (--folds) needs "
                         f"at least {minimum}; add grid points or --replicates, or lower --folds (before training "
                         "them all for nothing).")
    t0 = time.perf_counter()
    records = run_networks(cfg, out, monitor_factory=monitor_factory, progress=progress, log=log, ray=ray)
    wall = time.perf_counter() - t0
    study = read_json(os.path.join(out, "study.json"))
    corpus, t = study["corpus"], cfg.train
    context = [
        f"Task: character-level language model on **{corpus['name']}** ({corpus['train_chars']:,} training / "
        f"{corpus['val_chars']:,} validation characters, vocabulary {corpus['vocab_size']}). Networks: "
        f"{', '.join(a.upper() for a in cfg.archs)}, hidden {list(cfg.sizes)}, U(-p, p) init with p in "
        f"{list(cfg.init_scales)}, Adam lr in {list(cfg.lrs)}, {cfg.replicates} seed(s) each, biases "
        f"{'yes' if t.bias else 'no'}, dropout {t.dropout:g}, lr decay {t.lr_decay:g} per epoch after epoch "
        f"{t.lr_decay_after}; {t.epochs} epochs of {t.batches_per_epoch} batches of {t.batch} x {t.seq_len} "
        f"characters. Spectrum: {'all' if t.k is None else f'top {t.k}'} exponents of the recurrent layer (an "
        f"LSTM's state is (h, c)), {t.probe_batch} validation sequences of {t.probe_steps} characters after "
        f"{t.warmup} warm-up steps. Training and spectra, summed over networks: "
        f"{sum(r.get('seconds') or 0.0 for r in records):.0f} s.", ""]
    analysis = write_outputs(
        records, out, figures=figures, context=context, log=log, early_epoch=cfg.early_epoch, top=cfg.top,
        threshold=cfg.threshold, n_boot=cfg.bootstrap, folds=cfg.folds, seed=cfg.seed,
        n_permutations=cfg.permutations, repeats=cfg.repeats)
    analysis["wall_seconds_this_run"] = wall
    analysis["training_seconds_total"] = float(sum(r.get("seconds") or 0.0 for r in records))
    write_json(os.path.join(out, "analysis.json"), analysis)
    return analysis
