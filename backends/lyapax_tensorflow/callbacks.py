"""A Keras callback that tracks the Lyapunov spectrum of a model's recurrent layers during ``fit``.

Example::

    import keras, numpy as np
    from lyapax_tensorflow import SpectrumCallback

    model = keras.Sequential([keras.Input((50, 3)), keras.layers.LSTM(32), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    probe = np.random.default_rng(0).normal(size=(8, 50, 3)).astype("float32")
    cb = SpectrumCallback(probe, every=2, k=5)
    history = model.fit(x, y, epochs=10, callbacks=[cb])
    history.history["lyap_max"]      # largest exponent (nats/step), NaN on epochs not probed
    cb.spectra[-1].exponents         # the last full lyapax.Spectrum
"""

from __future__ import annotations

import math
import time
from typing import Any

import keras
import numpy as np

import lyapax
from lyapax.errors import InputError
from lyapax.monitor import MonitorRecord
from lyapax.validation import check_int

__all__ = ["SpectrumCallback"]


def _is_recurrent(layer: Any) -> bool:
    return isinstance(layer, keras.layers.RNN) and not isinstance(layer, keras.layers.Bidirectional)


def pick_recurrent_layers(model: Any) -> tuple[list, list]:
    """``(preprocessing, recurrent)`` layers of ``model`` for :class:`SpectrumCallback`.

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


class SpectrumCallback(keras.callbacks.Callback):
    """Computes the Lyapunov spectrum of the model's recurrent layer(s) on a fixed probe batch during ``fit``.

    Every ``every`` epochs (at epoch end, after the weights of that epoch are
    updated), it runs :func:`lyapax.spectrum` on ``probe_inputs`` and writes
    into ``logs``, so that they appear in ``History.history`` and in any
    logger (CSVLogger, TensorBoard):

    - ``{prefix}max``: the largest exponent, nats/step;
    - ``{prefix}max_stderr``: its standard error over the probe sequences;
    - ``{prefix}sum``: the sum of the ``k`` exponents computed;
    - ``{prefix}kaplan_yorke``: the Kaplan-Yorke dimension (a lower bound when ``k < d``).

    On the epochs it skips, these keys are NaN, so History's lists stay aligned with epochs.
    The full :class:`lyapax.Spectrum` of every probe is kept in :attr:`spectra`
    (the epoch numbers, 0-based, in :attr:`epochs`), and a tidy record of each in
    :attr:`monitor`, a :class:`lyapax.Monitor` like the one used with PyTorch and JAX
    (``monitor.to_pandas()``, ``to_json()``, ``plot_trajectories()``, ``plot_spectra()``).

    Which layers: with ``layers=None``, for a ``keras.Sequential`` the first
    run of consecutive recurrent layers (one layer, or a stack whose full state
    is used), with the layers in front of it applied to the probe inputs; for
    any other model, its first recurrent layer, fed ``probe_inputs`` directly.
    Pass ``layers=`` (one recurrent layer or a list forming a stack, bottom
    first) to choose; ``probe_inputs`` are then that (bottom) layer's inputs.

    Overhead: one spectrum of ``B x T`` steps per probe. The compiled chunk
    function takes the weights as arguments, so it is traced once (first
    probe) and reused by later epochs. Keep the probe batch small (a few
    sequences of a few hundred steps) and ``k`` at what you need.

    Args:
        probe_inputs: ``(batch, time, features)`` array or tf tensor, fixed for the whole run.
        every: probe every ``every`` epochs (epochs ``every - 1``, ``2 * every - 1``, ...).
        k: number of exponents (default: all).
        layers: the recurrent layer, or list of stacked layers, to analyse (default: picked as above).
        warmup, ortho_every, seed, dtype, h0: passed to :func:`lyapax.spectrum`.
        prefix: prefix of the log keys.
        verbose: print the largest exponent after each probe.
    """

    def __init__(
        self,
        probe_inputs: Any,
        every: int = 1,
        k: int | None = None,
        *,
        layers: Any = None,
        warmup: int = 0,
        ortho_every: int = 1,
        seed: int | None = 0,
        dtype: Any = None,
        h0: Any = None,
        prefix: str = "lyap_",
        verbose: int = 0,
    ) -> None:
        super().__init__()
        if probe_inputs is None or np.ndim(probe_inputs) != 3:
            raise InputError(
                f"probe_inputs: expected one batch of sequences (batch, time, features), got shape "
                f"{np.shape(probe_inputs) if probe_inputs is not None else None}."
            )
        self.probe_inputs = probe_inputs
        self.every = check_int("every", every, 1)
        self.k = check_int("k", k, 1, allow_none=True)
        self.layers = layers
        self.options = dict(warmup=warmup, ortho_every=ortho_every, seed=seed, dtype=dtype, h0=h0)
        if not isinstance(prefix, str):
            raise InputError(f"prefix: expected a string, got {prefix!r}.")
        self.prefix = prefix
        self.verbose = int(verbose)
        self.spectra: list[lyapax.Spectrum] = []
        self.epochs: list[int] = []
        self.monitor = lyapax.Monitor(probe_inputs, every=self.every, k=self.k, backend="tensorflow")

    @property
    def exponents(self) -> np.ndarray:
        """``(probes, k)`` mean exponents of every probe so far, nats/step."""
        if not self.spectra:
            return np.zeros((0, self.k or 0))
        return np.stack([s.exponents for s in self.spectra])

    def _targets(self) -> tuple[list, Any]:
        if self.layers is None:
            return pick_recurrent_layers(self.model)
        layers = list(self.layers) if isinstance(self.layers, (list, tuple)) else [self.layers]
        return [], layers

    def compute(self) -> lyapax.Spectrum:
        """The spectrum of the chosen layer(s) on the probe batch, now."""
        pre, stack = self._targets()
        x = self.probe_inputs
        for layer in pre:
            x = layer(x, training=False)
        model = stack[0] if len(stack) == 1 else stack
        return lyapax.spectrum(model, x, k=self.k, backend="tensorflow", **self.options)

    def _write(self, logs: dict | None, spectrum: lyapax.Spectrum | None) -> None:
        if logs is None:
            return
        nan = math.nan
        logs[f"{self.prefix}max"] = spectrum.max_exponent if spectrum else nan
        logs[f"{self.prefix}max_stderr"] = float(spectrum.stderr[0]) if spectrum else nan
        logs[f"{self.prefix}sum"] = float(np.sum(spectrum.exponents)) if spectrum else nan
        logs[f"{self.prefix}kaplan_yorke"] = spectrum.kaplan_yorke_dimension if spectrum else nan

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.every:
            self._write(logs, None)
            return
        started = time.perf_counter()
        spectrum = self.compute()
        self.spectra.append(spectrum)
        self.epochs.append(int(epoch))
        self.monitor.records.append(MonitorRecord.from_spectrum(epoch, spectrum, time.perf_counter() - started))
        self._write(logs, spectrum)
        if self.verbose:
            print(f"epoch {epoch + 1}: largest Lyapunov exponent {spectrum.max_exponent:.4f} nats/step")
