"""Keras callbacks on `lyapax.Monitor` and `lyapax.flossing_loss`, on every Keras backend.

`SpectrumCallback` tracks the Lyapunov spectrum of a model's recurrent layers during
``fit``: a thin wrapper around `lyapax.Monitor` (the same record, schedule and options
as with PyTorch and JAX). Each due epoch it hands the recurrent layer(s) and the probe,
passed through the layers in front of them, to ``Monitor.update``, and writes the result
into the epoch's ``logs``. `FlossingCallback` takes gradient-flossing steps. Both run
wherever Keras runs (``KERAS_BACKEND`` = tensorflow, jax or torch; the lyapax backend of
the same name computes); this module imports keras and, when a step needs gradients, the
framework Keras runs on.

Steps: a record's step is the number of epochs done when it was taken (step 0: at
initialisation, before the first batch, with ``at_start=True``; step ``e``: after ``e``
epochs), as with a `lyapax.Monitor` called by hand and the Lightning callback.

Example::

    import keras, numpy as np
    from lyapax_tensorflow import SpectrumCallback

    model = keras.Sequential([keras.Input((50, 3)), keras.layers.LSTM(32), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    probe = np.random.default_rng(0).normal(size=(8, 50, 3)).astype("float32")
    cb = SpectrumCallback(probe, every=2, k=5, at_start=True)
    history = model.fit(x, y, epochs=10, callbacks=[cb])
    cb.epochs                        # [0, 2, 4, 6, 8, 10]: epochs done at each record
    history.history["lyap_max"]      # largest exponent (nats/step) after epochs 2, 4 ..., NaN in between
    cb.spectra[-1].exponents         # the last full lyapax.Spectrum
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

import lyapax
from lyapax.errors import InputError
from lyapax.flossing import probe_window, window_options
from lyapax.monitor import MonitorRecord
from lyapax.options import check as check_option
from lyapax.validation import check_int, numeric_array

__all__ = ["SpectrumCallback", "FlossingCallback", "pick_recurrent_layers"]


def _is_recurrent(layer: Any) -> bool:
    return isinstance(layer, keras.layers.RNN) and not isinstance(layer, keras.layers.Bidirectional)


def pick_recurrent_layers(model: Any) -> tuple[list, list]:
    """``(preprocessing, recurrent)`` layers of ``model`` for `SpectrumCallback`.

    - ``keras.Sequential``: the first run of consecutive recurrent layers
      (``SimpleRNN``/``LSTM``/``GRU``/``keras.layers.RNN``) is the stack; the
      layers in front of it (``Embedding``, ``Dense``, ...) are applied to the
      probe inputs (``training=False``) before each computation.
    - Any other model: its first recurrent layer (in ``model.layers`` order),
      with no preprocessing: the probe inputs must be that layer's inputs.
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    first = next((i for i, layer in enumerate(layers) if _is_recurrent(layer)), None)
    if first is None:
        raise InputError(
            f"layers: {model.name} has no recurrent layer (SimpleRNN, LSTM, GRU, keras.layers.RNN) among its "
            "top-level layers; pass layers=... to SpectrumCallback."
        )
    if not isinstance(model, keras.Sequential):
        return [], [layers[first]]
    stack = [layers[first]]
    for layer in layers[first + 1 :]:
        if not (_is_recurrent(layer) and getattr(stack[-1], "return_sequences", False)):
            break
        stack.append(layer)
    return layers[:first], stack


def _stack_and_inputs(model: Any, layers: Any, probe: Any) -> tuple[Any, list, Any]:
    """The recurrent layer (or stack list) to compute, its layers, and its inputs: the probe through the
    layers in front of it (``training=False``)."""
    if layers is None:
        pre, stack = pick_recurrent_layers(model)
    else:
        pre, stack = [], list(layers) if isinstance(layers, (list, tuple)) else [layers]
    x = probe
    for layer in pre:
        x = layer(x, training=False)
    return (stack[0] if len(stack) == 1 else stack), stack, x


def _synced(model: Any) -> None:
    """On JAX, Keras keeps the weights outside the variables between batches of ``fit``: write them back."""
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


class SpectrumCallback(keras.callbacks.Callback):
    """Computes the Lyapunov spectrum of the model's recurrent layer(s) on a fixed probe batch during ``fit``.

    Steps count epochs done, as a `lyapax.Monitor` called by hand does: with ``at_start=True``
    the spectrum at initialisation (step 0, in ``on_train_begin``, before the first batch),
    then at the end of every epoch after which ``e`` epochs are done with ``e % every == 0``
    (step ``e``; Keras prints that epoch as "Epoch e/..."). Each record goes to `monitor`
    (and its ``on_record``, e.g. `lyapax.integrations.tensorboard.TensorBoardLogger`); at the
    end of an epoch also into ``logs``, so that the numbers appear in ``History.history`` and
    in any Keras logger (CSVLogger, TensorBoard):

    - ``{prefix}max``: the largest exponent, nats/step;
    - ``{prefix}max_stderr``: its standard error over the probe sequences;
    - ``{prefix}sum``: the sum of the ``k`` exponents computed;
    - ``{prefix}kaplan_yorke``: the Kaplan-Yorke dimension (a lower bound when ``k < d``).

    On the epochs it skips, these keys are NaN, so History's lists stay aligned with epochs
    (the record at initialisation has no epoch there: it is in `spectra` and `monitor`).
    The full `lyapax.Spectrum` of every probe is kept in `spectra` (its step, the epochs
    done, in `epochs`), and the tidy record in `monitor`, the `lyapax.Monitor` used with
    PyTorch and JAX (``monitor.to_pandas()``, ``to_json()``, ``plot_trajectories()``).

    Which layers: with ``layers=None``, for a ``keras.Sequential`` the first
    run of consecutive recurrent layers (one layer, or a stack whose full state
    is used), with the layers in front of it applied to the probe inputs; for
    any other model, its first recurrent layer, fed ``probe_inputs`` directly.
    Pass ``layers=`` (one recurrent layer or a list forming a stack, bottom
    first) to choose; ``probe_inputs`` are then that (bottom) layer's inputs.

    Backends: the lyapax backend named like Keras's (``KERAS_BACKEND``) computes. Overhead:
    one spectrum of ``B x T`` steps per probe. The compiled chunk function takes the weights
    as arguments, so it is traced once (first probe) and reused by later epochs. Keep the
    probe batch small (a few sequences of a few hundred steps) and ``k`` at what you need.

    Args:
        probe_inputs: ``(batch, time, features)`` array or tensor, fixed for the whole run.
        every: probe after ``every``, ``2 * every``, ... epochs.
        k: number of exponents, at most the state dimension (default: all).
        at_start: also probe at initialisation (step 0), before the first batch.
        layers: the recurrent layer, or list of stacked layers, to analyse (default: picked as above).
        on_record: ``f(record, spectrum)`` after each computation, as `lyapax.Monitor`'s.
        warmup: passed to `lyapax.spectrum`.
        ortho_every: passed to `lyapax.spectrum`.
        seed: passed to `lyapax.spectrum`.
        dtype: passed to `lyapax.spectrum`.
        h0: passed to `lyapax.spectrum`.
        prefix: prefix of the log keys.
        verbose: print the largest exponent after each probe.
    """

    def __init__(
        self,
        probe_inputs: Any,
        every: int = 1,
        k: int | None = None,
        *,
        at_start: bool = False,
        layers: Any = None,
        on_record: Callable[[MonitorRecord, lyapax.Spectrum], Any] | None = None,
        warmup: int = 0,
        ortho_every: int = 1,
        seed: int | None = 0,
        dtype: Any = None,
        h0: Any = None,
        prefix: str = "lyap_",
        verbose: int = 0,
    ) -> None:
        super().__init__()
        if probe_inputs is not None and not hasattr(probe_inputs, "shape"):
            probe_inputs = numeric_array(probe_inputs, "probe_inputs")
        if probe_inputs is None or len(probe_inputs.shape) != 3:
            raise InputError(
                f"probe_inputs: expected one batch of sequences (batch, time, features), got shape "
                f"{None if probe_inputs is None else tuple(probe_inputs.shape)}."
            )
        if not isinstance(prefix, str):
            raise InputError(f"prefix: expected a string, got {prefix!r}.")
        if not isinstance(at_start, (bool, np.bool_)):
            raise InputError(f"at_start: expected True or False, got {at_start!r}.")
        if on_record is not None and not callable(on_record):
            raise InputError(f"on_record: expected a function f(record, spectrum), got {type(on_record).__name__}.")
        self.monitor = lyapax.Monitor(probe_inputs, every=every, k=k, warmup=warmup, backend=keras.backend.backend(),
                                      on_record=on_record, ortho_every=ortho_every, seed=seed, dtype=dtype, h0=h0)
        self.at_start = bool(at_start)
        self.layers = layers
        self.prefix = prefix
        self.verbose = int(verbose)
        self.spectra: list[lyapax.Spectrum] = []
        self.epochs: list[int] = []

    @property
    def probe_inputs(self) -> Any:
        return self.monitor.probe

    @property
    def every(self) -> int:
        return self.monitor.every

    @property
    def exponents(self) -> np.ndarray:
        """``(probes, k)`` mean exponents of every probe so far, nats/step."""
        if not self.spectra:
            return np.zeros((0, self.monitor.k or 0))
        return np.stack([s.exponents for s in self.spectra])

    def compute(self) -> lyapax.Spectrum:
        """The spectrum of the chosen layer(s) on the probe batch, now (with the monitor's options; not recorded)."""
        model, _, inputs = _stack_and_inputs(self.model, self.layers, self.monitor.probe)
        return self.monitor.measure(model, inputs=inputs)

    def _record(self, step: int) -> lyapax.Spectrum:
        model, _, inputs = _stack_and_inputs(self.model, self.layers, self.monitor.probe)
        spectrum = self.monitor.compute(model, step, inputs=inputs)
        self.spectra.append(spectrum)
        self.epochs.append(step)
        if self.verbose:
            when = "at initialisation (epoch 0)" if step == 0 else f"after epoch {step}"
            print(f"lyapax: largest Lyapunov exponent {when}: {spectrum.max_exponent:.4f} nats/step")
        return spectrum

    def _write(self, logs: dict | None, spectrum: lyapax.Spectrum | None) -> None:
        if logs is None:
            return
        nan = math.nan
        logs[f"{self.prefix}max"] = spectrum.max_exponent if spectrum else nan
        logs[f"{self.prefix}max_stderr"] = float(spectrum.stderr[0]) if spectrum else nan
        logs[f"{self.prefix}sum"] = float(np.sum(spectrum.exponents)) if spectrum else nan
        logs[f"{self.prefix}kaplan_yorke"] = spectrum.kaplan_yorke_dimension if spectrum else nan

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.at_start and not self.epochs:  # a second fit() on the same callback continues its record
            self._record(0)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        done = int(epoch) + 1  # Keras passes the 0-based index of the epoch that just ended
        self._write(logs, self._record(done) if self.monitor.due(done) else None)


def _loss_and_gradients(model: Any, variables: list, inputs: Any, options: dict) -> tuple[float, list]:
    """The flossing loss of ``model`` on ``inputs`` and its gradients with respect to ``variables``
    (Keras variables: ``trainable_variables`` of ``model``), with the autodiff of the framework Keras runs on."""
    backend = keras.backend.backend()
    # each framework is imported only where Keras runs on it (this module must import without the others)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = lyapax.flossing_loss(model, inputs, **options)
        return float(loss), tape.gradient(loss, variables)
    if backend == "torch":
        import torch

        loss = lyapax.flossing_loss(model, inputs, **options)
        grads = torch.autograd.grad(loss, [v.value for v in variables], allow_unused=True)
        return float(loss.detach()), list(grads)
    if backend == "jax":
        import jax
        import lyapax_jax

        def loss_of(values: list) -> Any:
            return lyapax_jax.flossing_loss(model, values, inputs, **options)

        loss, grads = jax.value_and_grad(loss_of)([v.value for v in variables])
        return float(loss), list(grads)
    raise InputError(
        f"model: Keras runs on its {backend!r} backend (KERAS_BACKEND={backend}); flossing needs the gradients "
        "of TensorFlow, JAX or PyTorch: set KERAS_BACKEND to tensorflow, jax or torch."
    )


class FlossingCallback(keras.callbacks.Callback):
    """Gradient flossing during ``fit``: steps on `lyapax.flossing_loss` before and/or during training.

    Before training (``before`` steps, at ``on_train_begin``) and every ``every``
    batches (after that batch's update), one flossing step: the gradient of
    ``mean_b sum_{i<=k} (lambda_i - target)^2`` ((nats/step)^2) on the probe
    sequences with respect to the recurrent layer's trainable variables, applied
    by ``optimizer``. The recurrent layer(s) and the probe's preprocessing are
    picked as in `SpectrumCallback` (``layers=`` to choose). Only the recurrent
    variables move; the model's own optimizer state is untouched.

    Backends: the gradient comes from the framework Keras runs on (``KERAS_BACKEND``):
    ``tf.GradientTape`` around `lyapax.flossing_loss` on TensorFlow, torch's autograd on
    torch, and on JAX ``jax.value_and_grad`` of `lyapax_jax.flossing_loss` (the pure form)
    with respect to the variables' values.

    Defaults that work on chaotic networks (docs/flossing.md, "When the gradient grows"): each
    step takes a short window of the probe, ``window = 30`` time steps of which ``warmup = 10``
    are warm-up (the next window at the next step, consecutive and non-overlapping, from the
    start again when the probe is used up), so the gradient's ``exp(λ1 * 30)`` growth stays
    moderate, and scales the gradients down to a global norm of at most ``clip = 1.0`` (the
    rule of ``tf.clip_by_global_norm``, in ``keras.ops`` so on every backend) before the
    optimizer's step. ``window=None`` and ``clip=None`` turn them off.

    Cost: each step runs the differentiable spectrum of ``B x window`` probe steps and its
    backward pass (the graph of all steps is kept, ``window * B * d * (d + k)`` numbers);
    ``every`` sets the overhead per batch (docs/flossing.md measures it).

    Args:
        probe_inputs: ``(batch, time, features)`` sequences fed to the model.
        k: leading exponents to floss (<= the state dimension); a few (2) work best on chaotic networks.
        target: their target value, nats/step.
        before: flossing steps before the first epoch.
        every: one flossing step every ``every`` training batches (``None``: never during training).
        optimizer: the optimizer of the flossing steps (default: a fresh copy of the
            model's optimizer configuration, with its own state).
        layers: the recurrent layer or stack (default: picked as in `SpectrumCallback`).
        window: time steps of the probe per flossing step, warm-up included (``None``: all).
        warmup: warm-up steps of each window (as in `lyapax.flossing_loss`).
        clip: largest global norm of the flossing gradient (``None``: no clipping).
        ortho_every: passed to `lyapax.flossing_loss`.

    The flossing losses are kept in `losses` (one per step, in order), the gradient norms
    before clipping in `grad_norms`, and the mean loss of the steps taken in an epoch is
    written to ``logs["floss_loss"]``.
    """

    def __init__(
        self,
        probe_inputs: Any,
        *,
        k: int,
        target: float = 0.0,
        before: int = 0,
        every: int | None = None,
        optimizer: Any = None,
        layers: Any = None,
        window: int | None = 30,
        warmup: int = 10,
        clip: float | None = 1.0,
        ortho_every: int = 1,
    ) -> None:
        super().__init__()
        if probe_inputs is None or len(getattr(probe_inputs, "shape", ())) != 3:
            raise InputError(
                f"probe_inputs: expected one batch of sequences (batch, time, features), got "
                f"{type(probe_inputs).__name__} of shape {getattr(probe_inputs, 'shape', None)}."
            )
        self.probe_inputs = probe_inputs
        self.window, warmup, self.clip = window_options(window, warmup, clip)
        given = {"k": k, "target": target, "warmup": warmup, "ortho_every": ortho_every}
        self.options = {name: check_option(name, value, "lyapax.flossing_loss") for name, value in given.items()}
        self.before = check_int("before", before, 0)
        self.every = check_int("every", every, 1, allow_none=True)
        self.optimizer = optimizer
        self.layers = layers
        self.losses: list[float] = []
        self.grad_norms: list[float] = []
        self._epoch_start = 0
        self._batches = 0

    def floss_step(self) -> float:
        """One flossing step now; returns the loss before the step, (nats/step)^2."""
        _synced(self.model)
        steps = probe_window(len(self.losses), int(self.probe_inputs.shape[1]), self.window)
        target, stack, x = _stack_and_inputs(self.model, self.layers, self.probe_inputs[:, steps])
        variables = [v for layer in stack for v in layer.trainable_variables]
        if self.optimizer is None:
            self.optimizer = type(self.model.optimizer).from_config(self.model.optimizer.get_config())
        loss, grads = _loss_and_gradients(target, variables, x, self.options)
        norm = float(keras.ops.sqrt(sum(keras.ops.sum(keras.ops.square(g)) for g in grads if g is not None)))
        if self.clip is not None and norm > self.clip:  # tf.clip_by_global_norm's rule
            grads = [None if g is None else g * (self.clip / norm) for g in grads]
        self.optimizer.apply_gradients(zip(grads, variables))
        self.losses.append(loss)
        self.grad_norms.append(norm)
        return loss

    def on_train_begin(self, logs: dict | None = None) -> None:
        for _ in range(self.before):
            self.floss_step()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = len(self.losses)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches += 1
        if self.every is not None and self._batches % self.every == 0:
            self.floss_step()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            taken = self.losses[self._epoch_start:]
            logs["floss_loss"] = float(np.mean(taken)) if taken else math.nan
