"""Spectrum-guided pruning for Optuna: stop trials whose network is chaotic early in training.

Needs ``pip install "lyapax-rnn[optuna]"``. Works with any sampler and any storage; the
default storage is an SQLite file, which several processes on one machine share
(run the same script in each); for several machines give a server database URL
(``postgresql+psycopg2://user:password@host/db``, ``mysql+pymysql://...``).

Example::

    from lyapax.integrations.optuna import InstabilityRule, create_study, report_spectrum

    study = create_study(study_name="lstm", rule=InstabilityRule(threshold=0.05, epoch=1))
    def objective(trial):
        model = build(trial.suggest_float("init_scale", 0.03, 5, log=True))
        monitor = lyapax.Monitor(probe, k=16)
        for epoch in range(1, epochs + 1):
            loss = train_one_epoch(model)
            report_spectrum(trial, epoch, monitor.compute(model.rnn, step=epoch), value=loss, epochs=epochs)
        return loss                      # report_spectrum raised optuna.TrialPruned if the rule said so
    study.optimize(objective, n_trials=50)

How it works: `report_spectrum` stores λ1 (nats/step) of each epoch as a trial
user attribute (``lyapax.max_exponent.<epoch>``), reports the objective value, and
asks the study's pruner. `SpectrumPruner` applies the
`InstabilityRule` to those attributes (and, if
given, defers to a wrapped pruner such as ``MedianPruner`` otherwise). The verdict
with its reason is stored as the user attribute ``lyapax.verdict`` and is the
message of the ``optuna.TrialPruned`` raised.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from ..install import pip_install
from .rule import InstabilityRule, Verdict, check_epoch, leading_exponent

try:
    import optuna
    import sqlalchemy.exc
    from optuna.pruners import BasePruner
except ImportError as exc:  # Optuna (or its SQLAlchemy) is not installed
    raise ImportError(f"lyapax.integrations.optuna needs Optuna, which is not installed ({exc}): "
                      f"{pip_install('optuna')}") from exc

__all__ = ["SpectrumPruner", "report_spectrum", "create_study", "InstabilityRule", "Verdict", "DEFAULT_STORAGE",
           "EXPONENT_ATTR", "EPOCHS_ATTR", "VERDICT_ATTR"]

#: Default storage of `create_study`: an SQLite file in the working directory.
DEFAULT_STORAGE = "sqlite:///lyapax-optuna.db"
#: User attribute prefix of λ1 at an epoch (``lyapax.max_exponent.1``), nats/step, ``None`` if missing.
EXPONENT_ATTR = "lyapax.max_exponent."
#: User attribute with the trial's number of epochs, when `report_spectrum` was told.
EPOCHS_ATTR = "lyapax.epochs"
#: User attribute with the rule's `Verdict` (a dict), once the rule's epoch came.
VERDICT_ATTR = "lyapax.verdict"

_OPTION = "InstabilityRule(epoch=...)"


def _spectra_of(user_attrs: dict[str, Any]) -> dict[int, Any]:
    n = len(EXPONENT_ATTR)
    return {int(key[n:]): value for key, value in user_attrs.items()
            if key.startswith(EXPONENT_ATTR) and key[n:].isascii() and key[n:].isdigit()}


class SpectrumPruner(BasePruner):
    """Optuna pruner that stops a trial when its early spectrum says the network is unstable.

    Args:
        rule: the `InstabilityRule` (default:
            λ1 > 0.05 nats/step at epoch 1).
        wrapped: another pruner asked when the rule does not prune (e.g.
            ``optuna.pruners.MedianPruner()`` on the reported losses); default none.

    Use `report_spectrum` in the objective: it records the spectrum where
    this pruner reads it and records the reason of a pruning.
    """

    def __init__(self, rule: InstabilityRule | None = None, *, wrapped: BasePruner | None = None) -> None:
        if rule is not None and not isinstance(rule, InstabilityRule):
            raise InputError(f"rule: expected an InstabilityRule, got {type(rule).__name__}.")
        if wrapped is not None and not isinstance(wrapped, BasePruner):
            raise InputError(f"wrapped: expected an Optuna pruner (BasePruner), got {type(wrapped).__name__}.")
        self.rule = rule if rule is not None else InstabilityRule()
        self.wrapped = wrapped

    def verdict(self, trial: optuna.trial.FrozenTrial | optuna.trial.Trial) -> Verdict | None:
        """The rule's verdict on ``trial`` from its user attributes; ``None`` before the rule's epoch.

        Raises:
            InputError: the rule's epoch never comes for this trial (see
                `InstabilityRule.decide <lyapax.integrations.rule.InstabilityRule.decide>`).
        """
        attrs = trial.user_attrs
        return self.rule.decide(_spectra_of(attrs), epochs=attrs.get(EPOCHS_ATTR), option=_OPTION)

    def prune(self, study: optuna.study.Study, trial: optuna.trial.FrozenTrial) -> bool:
        """Whether to prune ``trial`` (called by ``Trial.should_prune``)."""
        verdict = self.verdict(trial)
        if verdict is not None and verdict.prune:
            return True
        return bool(self.wrapped.prune(study, trial)) if self.wrapped is not None else False


def report_spectrum(
    trial: optuna.trial.Trial,
    epoch: int,
    spectrum: Any,
    *,
    value: float | None = None,
    epochs: int | None = None,
) -> Verdict | None:
    """Record a trial's spectrum at ``epoch``, report ``value``, and prune the trial if its pruner says so.

    Args:
        trial: the running Optuna trial.
        epoch: the epoch (0 = at initialisation) the spectrum was computed after.
        spectrum: a `lyapax.Spectrum`, `lyapax.MonitorRecord`, a readout
            record dict, λ1 as a number (nats/step), or ``None`` when it could not be computed.
        value: the objective's intermediate value at ``epoch`` (e.g. the validation
            loss), passed to ``trial.report`` for samplers and wrapped pruners.
        epochs: the trial's number of epochs; lets the rule say at once when its epoch
            never comes.

    Returns:
        The rule's `Verdict` once its epoch has come (``None`` before, or when the
        study's pruner is not a `SpectrumPruner`).

    Raises:
        optuna.TrialPruned: the study's pruner prunes the trial; the message, and the
            trial's ``lyapax.verdict`` user attribute, say why.
        InputError: a bad ``epoch``/``epochs``, or the rule's epoch never comes.
    """
    epoch = check_epoch("epoch", epoch, "an int >= 0 (0 = at initialisation)")
    if epochs is not None:
        epochs = check_epoch("epochs", epochs, "the trial's number of epochs (an int >= 0)")
    trial.set_user_attr(f"{EXPONENT_ATTR}{epoch}", leading_exponent(spectrum))
    if epochs is not None:
        trial.set_user_attr(EPOCHS_ATTR, epochs)
    if value is not None:
        trial.report(float(value), epoch)
    pruner = trial.study.pruner
    verdict = pruner.verdict(trial) if isinstance(pruner, SpectrumPruner) else None
    if verdict is not None and VERDICT_ATTR not in trial.user_attrs:
        trial.set_user_attr(VERDICT_ATTR, verdict.to_dict())
    if trial.should_prune():
        if verdict is None or not verdict.prune:
            reason = f"pruned at epoch {epoch} by {type(getattr(pruner, 'wrapped', None) or pruner).__name__}"
            trial.set_user_attr(VERDICT_ATTR, {"prune": True, "epoch": epoch, "reason": reason})
        else:
            reason = verdict.reason
        raise optuna.TrialPruned(reason)
    return verdict


def _masked(url: str) -> str:
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:  # not a URL at all: no password to find
        return url


def create_study(
    *,
    study_name: str | None = None,
    storage: str | optuna.storages.BaseStorage | None = DEFAULT_STORAGE,
    rule: InstabilityRule | None = None,
    wrapped: BasePruner | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    direction: str = "minimize",
    load_if_exists: bool = True,
) -> optuna.Study:
    """``optuna.create_study`` with a `SpectrumPruner`, on a shared storage by default.

    Args:
        study_name: the study's name in the storage (several processes give the same name).
        storage: a database URL Optuna accepts (default ``sqlite:///lyapax-optuna.db``; for
            several machines a server database, e.g. ``postgresql+psycopg2://user:pw@host/db``),
            an Optuna storage object, or ``None`` for memory (one process).
        rule: the `InstabilityRule` (default λ1 > 0.05 nats/step at epoch 1).
        wrapped: a pruner asked when the rule keeps a trial (see `SpectrumPruner`).
        sampler: any Optuna sampler (default: Optuna's, TPE).
        direction: ``"minimize"`` (a loss) or ``"maximize"``.
        load_if_exists: join the study if it already exists (how several processes share it).

    Several processes sharing one new SQLite file should not create it at the same
    moment (the schema creation can collide): create the study once first (this
    function, or ``optuna create-study --storage URL --study-name NAME``), then start them.

    Raises:
        InputError: Optuna refuses ``storage`` (unknown scheme, missing database driver,
            unreachable server, unwritable SQLite path); the message hides any password.
    """
    pruner = SpectrumPruner(rule, wrapped=wrapped)
    if direction not in ("minimize", "maximize"):
        raise InputError(f"direction: expected 'minimize' (a loss) or 'maximize', got {direction!r}.")
    if storage is not None and not isinstance(storage, (str, optuna.storages.BaseStorage)):
        raise InputError(f"storage: expected a database URL, an Optuna storage or None, got "
                         f"{type(storage).__name__}.")
    if isinstance(storage, str):
        try:
            storage = optuna.storages.RDBStorage(storage)  # connects (and creates the tables) now
        except (ImportError, ValueError, sqlalchemy.exc.ArgumentError, sqlalchemy.exc.OperationalError) as exc:
            raise InputError(
                f"storage: Optuna refused {_masked(storage)!r}: {type(exc).__name__}: {str(exc).splitlines()[0]} "
                "Give an SQLite file in a writable folder ('sqlite:///path/search.db'), or a server database URL "
                "whose driver is installed and whose server answers (e.g. "
                "'postgresql+psycopg2://user:password@host/db' with psycopg2 installed)."
            ) from exc
    return optuna.create_study(storage=storage, sampler=sampler, pruner=pruner, study_name=study_name,
                               direction=direction, load_if_exists=load_if_exists)
