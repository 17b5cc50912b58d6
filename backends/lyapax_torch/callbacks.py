"""Spectra during PyTorch training: a plain-loop helper and a PyTorch Lightning callback.

Both are thin wrappers around `lyapax.Monitor`, which holds the probe
batch, computes the spectrum with `lyapax.spectrum` (never changing the
model) and keeps the record. Importing this module imports neither torch nor
Lightning; the Lightning base class is resolved when ``SpectrumCallback`` is
first used (``pip install "lyapax-rnn[lightning]"``).

Plain loop::

    monitor = lyapax.Monitor(probe, every=100, k=16, select=lambda m: m.rnn)
    handle = attach(monitor, model, optimizer)   # after every optimizer.step()
    ...train as usual...
    handle.remove()

Lightning (step 0: at initialisation; step e: after e epochs)::

    cb = SpectrumCallback(probe, every=1, k=16, at_start=True, select=lambda m: m.rnn)
    trainer = L.Trainer(callbacks=[cb])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lyapax.errors import InputError, ModelTypeError
from lyapax.flossing import flossing_loss, probe_window, window_options
from lyapax.install import pip_install
from lyapax.monitor import Monitor
from lyapax.options import check as check_option

__all__ = ["attach", "probe_batch", "SpectrumCallback", "SpectrumCallbackMixin", "FlossingCallback", "FlossingCallbackMixin"]  # noqa: F822 (lazy, see __getattr__)


def probe_batch(data: Any, *, batch: int = 8, steps: int | None = 100, transform: Callable[[Any], Any] | None = None) -> Any:
    """A fixed probe batch ``(batch, steps, features)`` from a tensor, a DataLoader or a Dataset.

    Takes the first ``batch`` sequences (concatenating loader batches as
    needed; a Dataset's single sequences are stacked), cuts them to ``steps`` time steps (``None``: keep all) and
    detaches and clones them, so later training never changes the probe.
    ``transform`` maps each loader item to the batch-first input tensor
    (default: the item itself, or its first element for ``(inputs, targets)`` pairs).

    The probe is batch-first, whatever the model's layout: for a module with
    ``batch_first=False`` (PyTorch's default), give the Monitor ``time_major=False``
    (``Monitor(probe, ..., time_major=False)``), or it reads the probe as
    ``(time, batch, features)``, as that module's ``forward`` would.
    """
    import torch

    def as_inputs(item: Any) -> Any:
        if transform is not None:
            return transform(item)
        return item[0] if isinstance(item, (tuple, list)) else item

    if isinstance(data, torch.Tensor):
        x = data
    else:
        parts, have = [], 0
        for item in data:
            t = as_inputs(item)
            if t.dim() == 2:  # a Dataset yields single sequences (time, features)
                t = t.unsqueeze(0)
            parts.append(t)
            have += int(t.shape[0])
            if have >= batch:
                break
        if not parts:
            raise InputError("data: the iterable yielded no batches.")
        x = torch.cat(parts, dim=0)
    if x.dim() != 3:
        raise InputError(f"data: expected batch-first sequences (batch, time, features), got shape {tuple(x.shape)}.")
    if x.shape[0] < batch:
        raise InputError(f"batch: asked for {batch} probe sequences, the data holds only {x.shape[0]}.")
    if steps is not None and x.shape[1] < steps:
        raise InputError(f"steps: asked for {steps} time steps, the sequences have {x.shape[1]}.")
    x = x[:batch] if steps is None else x[:batch, :steps]
    return x.detach().clone()


class _StepHook:
    """Handle returned by `attach`; ``remove()`` detaches the monitor."""

    def __init__(self, monitor: Monitor, model: Any, optimizer: Any, start: int) -> None:
        self.monitor, self.model, self.step = monitor, model, start
        self._handle = optimizer.register_step_post_hook(self._after_step)

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.step += 1
        self.monitor.update(self.model, step=self.step)

    def remove(self) -> None:
        self._handle.remove()


def attach(monitor: Monitor, model: Any, optimizer: Any, *, start: int = 0) -> _StepHook:
    """Call ``monitor.update(model, step)`` after every ``optimizer.step()`` (steps counted from ``start + 1``).

    Uses ``torch.optim.Optimizer.register_step_post_hook``, so the training
    loop itself stays unchanged; with ``Monitor(every=N)`` the spectrum is
    computed every N optimizer steps. Returns a handle with ``remove()``.
    For per-epoch monitoring, simply call ``monitor(model, step=epoch)`` at the
    end of each epoch instead.
    """
    if not hasattr(optimizer, "register_step_post_hook"):
        raise ModelTypeError(f"optimizer: expected a torch.optim.Optimizer, got {type(optimizer).__name__}.")
    return _StepHook(monitor, model, optimizer, start)


class SpectrumCallbackMixin:
    """The logic of `SpectrumCallback`, independent of the Lightning version.

    Steps count what is done, as a `lyapax.Monitor` called by hand does: with
    ``at_start=True`` the spectrum at initialisation (step 0, at ``on_train_start``, before
    the first batch); then, with ``interval="epoch"``, step ``e`` after ``e`` epochs (at the
    end of each training epoch, when ``e % every == 0``), with ``interval="step"``, step
    ``s`` after ``s`` optimizer steps (``trainer.global_step``).

    Args:
        probe: batch-first probe sequences (a tensor; moved to the module's device).
        every: compute every ``every`` epochs (``interval="epoch"``) or
            optimizer steps (``interval="step"``).
        interval: ``"epoch"`` (at the end of each training epoch) or ``"step"``.
        at_start: also compute at initialisation (step 0), before the first batch.
        log: also log ``lyapax/max_exponent``, ``lyapax/kaplan_yorke_dimension``
            and ``lyapax/entropy`` through ``pl_module.log`` (to the trainer's logger); the
            record at initialisation goes to the trainer's loggers directly, at step 0
            (``self.log`` there would be averaged into the first epoch's value).
        **monitor_kwargs: `lyapax.Monitor` arguments (``k``, ``warmup``, ``select``,
            ``on_record``, ``backend``, ``dtype`` ...).

    The record is `monitor` (a `lyapax.Monitor`). Only global rank 0 computes.
    """

    _NAMES = ("max_exponent", "kaplan_yorke_dimension", "entropy")

    def __init__(self, probe: Any, *, every: int = 1, interval: str = "epoch", at_start: bool = False,
                 log: bool = True, **monitor_kwargs: Any):
        super().__init__()
        if interval not in ("epoch", "step"):
            raise InputError(f"interval: expected 'epoch' or 'step', got {interval!r}.")
        if not isinstance(at_start, bool):
            raise InputError(f"at_start: expected True or False, got {at_start!r}.")
        self.interval = interval
        self.at_start = at_start
        self.log_metrics = bool(log)
        self.monitor = Monitor(probe, every=every, **monitor_kwargs)

    def _compute(self, trainer: Any, pl_module: Any, step: int) -> Any:
        if getattr(trainer, "global_rank", 0) != 0 or not self.monitor.due(step):
            return None
        probe = self.monitor.probe
        device = getattr(pl_module, "device", None)
        if device is not None and getattr(probe, "device", device) != device:
            self.monitor.probe = probe.to(device)
        return self.monitor.update(pl_module, step=step)

    def _run(self, trainer: Any, pl_module: Any, step: int) -> None:
        spec = self._compute(trainer, pl_module, step)
        if spec is not None and self.log_metrics and hasattr(pl_module, "log"):
            rec = self.monitor.records[-1]
            for name in self._NAMES:
                pl_module.log(f"lyapax/{name}", float(getattr(rec, name)), on_step=self.interval == "step",
                              on_epoch=self.interval == "epoch", rank_zero_only=True)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not self.at_start or len(self.monitor):  # a resumed fit continues its record
            return
        spec = self._compute(trainer, pl_module, 0)
        if spec is not None and self.log_metrics:
            rec = self.monitor.records[-1]
            for logger in getattr(trainer, "loggers", []):
                logger.log_metrics({f"lyapax/{name}": float(getattr(rec, name)) for name in self._NAMES}, step=0)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.interval == "epoch":  # current_epoch: the 0-based index of the epoch that just ended
            self._run(trainer, pl_module, int(trainer.current_epoch) + 1)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.interval == "step":  # global_step: optimizer steps done
            self._run(trainer, pl_module, int(trainer.global_step))

    def state_dict(self) -> dict[str, Any]:
        return {"records": [r.to_dict() for r in self.monitor.records]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.monitor.records = Monitor.load_records(state_dict)


class FlossingCallbackMixin:
    """The logic of `FlossingCallback` (gradient flossing in Lightning), independent of the Lightning version.

    Before training (``before`` steps, at ``on_train_start``) and every ``every``
    training batches (after that batch's optimizer step), one flossing step: the
    gradient of `lyapax.flossing_loss` (``mean_b sum_{i<=k} (lambda_i - target)^2``,
    (nats/step)^2) on the probe sequences, with respect to the parameters of
    ``select(pl_module)``, applied by the module's first optimizer
    (``trainer.optimizers[0]``: the same optimiser as the task, only the recurrent
    parameters get a gradient) or by ``optimizer``.

    Defaults that work on chaotic networks (docs/flossing.md, "When the gradient grows"): each
    step takes a short window of the probe, ``window = 30`` time steps of which ``warmup = 10``
    are warm-up (the next window at the next step, consecutive and non-overlapping, from the
    start again when the probe is used up), so the gradient's ``exp(λ1 * 30)`` growth stays
    moderate, and clips the gradient's global norm to ``clip = 1.0``
    (``torch.nn.utils.clip_grad_norm_``). ``window=None`` and ``clip=None`` turn them off.

    Cost: each step runs the differentiable spectrum of ``B x window`` probe steps and its
    backward pass (the graph of all steps is kept, ``window * B * d * (d + k)`` numbers);
    ``every`` sets the overhead per batch (docs/flossing.md measures it).

    Args:
        probe: batch-first probe sequences for the selected recurrent module (moved to its device);
            time-major with ``time_major=True`` or a module with ``batch_first=False``.
        k: leading exponents to floss (<= the state dimension); a few (2) work best on chaotic networks.
        select: picks the recurrent module (or step function) from the LightningModule,
            e.g. ``lambda m: m.rnn``.
        target: their target value, nats/step.
        before: flossing steps before the first epoch.
        every: one flossing step every ``every`` training batches (``None``: never during training).
        optimizer: the optimizer of the flossing steps (default: ``trainer.optimizers[0]``).
        window: time steps of the probe per flossing step, warm-up included (``None``: all).
        warmup: warm-up steps of each window (as in `lyapax.flossing_loss`).
        clip: largest global norm of the flossing gradient (``None``: no clipping).
        **loss_kwargs: further `lyapax.flossing_loss` arguments (``ortho_every``, ...).

    The flossing losses are kept in `losses` and the gradient norms before clipping in
    `grad_norms`, in order. Under DDP each rank takes its own
    flossing step on the same probe (the gradients are not all-reduced).
    """

    def __init__(
        self, probe: Any, *, k: int, select: Callable[[Any], Any], target: float = 0.0, before: int = 0,
        every: int | None = None, optimizer: Any = None, window: int | None = 30, warmup: int = 10,
        clip: float | None = 1.0, **loss_kwargs: Any,
    ) -> None:
        super().__init__()
        if int(before) < 0 or (every is not None and int(every) < 1):
            raise InputError(f"before/every: expected before >= 0 and every >= 1 or None, got {before!r}, {every!r}.")
        self.probe, self.select, self.optimizer = probe, select, optimizer
        self.before, self.every = int(before), None if every is None else int(every)
        self.window, warmup, self.clip = window_options(window, warmup, clip)
        self.loss_kwargs = {"k": k, "target": check_option("target", target, "lyapax.flossing_loss"),
                            "warmup": warmup, **loss_kwargs}
        self.losses: list[float] = []
        self.grad_norms: list[float] = []

    def floss_step(self, trainer: Any, pl_module: Any) -> float:
        """One flossing step now; returns the loss before the step, (nats/step)^2."""
        import torch

        model = self.select(pl_module)
        device = getattr(pl_module, "device", None)
        if device is not None and getattr(self.probe, "device", device) != device:
            self.probe = self.probe.to(device)
        opt = self.optimizer if self.optimizer is not None else trainer.optimizers[0]
        time_major = self.loss_kwargs.get("time_major")
        axis = 0 if time_major or (time_major is None and getattr(model, "batch_first", True) is False) else 1
        steps = probe_window(len(self.losses), int(self.probe.shape[axis]), self.window)
        loss = flossing_loss(model, self.probe[(slice(None),) * axis + (steps,)], **self.loss_kwargs)
        opt.zero_grad()
        loss.backward()
        # only the selected module's parameters have a gradient (zero_grad set the others to None)
        grads = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(grads, self.clip if self.clip is not None else float("inf"))
        opt.step()
        opt.zero_grad()
        self.losses.append(float(loss.detach()))
        self.grad_norms.append(float(norm))
        return self.losses[-1]

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        for _ in range(self.before):
            self.floss_step(trainer, pl_module)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.every is not None and (int(trainer.global_step)) % self.every == 0:
            self.floss_step(trainer, pl_module)


def _lightning_callback() -> type:
    """Lightning's ``Callback`` (``lightning``, else ``pytorch_lightning``), or an install hint."""
    try:
        from lightning.pytorch.callbacks import Callback
    except ImportError:
        try:
            from pytorch_lightning.callbacks import Callback
        except ImportError as exc:
            raise ImportError(
                f"the Lightning callbacks need PyTorch Lightning: {pip_install('lightning')} "
                "(or use lyapax.Monitor / lyapax_torch.callbacks.attach in a plain loop)"
            ) from exc
    return Callback


#: the Lightning callbacks: each its mixin on Lightning's Callback, built on first access
_MIXINS = {"SpectrumCallback": SpectrumCallbackMixin, "FlossingCallback": FlossingCallbackMixin}
_CACHE: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    mixin = _MIXINS.get(name)
    if mixin is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _CACHE:
        _CACHE[name] = type(name, (mixin, _lightning_callback()), {"__module__": __name__, "__doc__": mixin.__doc__})
    return _CACHE[name]
