"""SpectrumCallback inside a tiny model.fit."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from lyapax_tensorflow import SpectrumCallback, loop

import lyapax


def _data(rng, n=16, T=12, F=2):
    x = rng.normal(size=(n, T, F)).astype("float32")
    return x, x[:, -1, :1] * 0.5


def test_callback_records_spectra_into_history(rng):
    model = keras.Sequential([keras.Input((12, 2)), keras.layers.Dense(3), keras.layers.GRU(4, return_sequences=True),
                              keras.layers.SimpleRNN(3), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data(rng)
    probe = x[:3]
    stack = [model.layers[1], model.layers[2]]
    initial = lyapax.spectrum(stack, model.layers[0](probe), k=3, backend="tensorflow")
    cb = SpectrumCallback(probe, every=2, k=3, at_start=True)
    # steps count epochs done: 0 (before the first batch), then 2 and 4, after the 2nd and 4th epochs
    history = model.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[cb])
    h = history.history
    assert len(h["lyap_max"]) == 4 and len(h["loss"]) == 4
    assert math.isnan(h["lyap_max"][0]) and math.isnan(h["lyap_max"][2])
    assert np.isfinite(h["lyap_max"][1]) and np.isfinite(h["lyap_max"][3])
    assert cb.epochs == [0, 2, 4] and len(cb.spectra) == 3 and cb.exponents.shape == (3, 3)
    np.testing.assert_array_equal(cb.monitor.steps, [0, 2, 4])  # the same records as a lyapax.Monitor
    np.testing.assert_array_equal(cb.monitor.exponents, cb.exponents)
    np.testing.assert_allclose(cb.spectra[0].exponents, initial.exponents, atol=1e-7)  # before any update
    # the last probe equals the spectrum of the trained stack (Dense in front applied to the probe)
    direct = lyapax.spectrum(stack, model.layers[0](probe), k=3, backend="tensorflow")
    np.testing.assert_allclose(cb.spectra[-1].exponents, direct.exponents, atol=1e-6)
    assert h["lyap_max"][3] == pytest.approx(direct.max_exponent, abs=1e-6)
    assert h["lyap_sum"][3] == pytest.approx(direct.exponents.sum(), abs=1e-5)
    assert h["lyap_kaplan_yorke"][3] == pytest.approx(direct.kaplan_yorke_dimension, abs=1e-5)
    assert cb.spectra[0].state_dim == 4 + 3
    assert np.abs(cb.spectra[0].exponents - cb.spectra[1].exponents).max() > 0  # weights moved


def test_callback_records_equal_a_monitors(rng, capsys):
    """The callback is a lyapax.Monitor fed the preprocessed probe: a Monitor called by hand beside it (step 0
    before fit, step e after e epochs), given the same stack and the probe through the Dense layer, records
    the same steps and numbers, and so do their on_record callbacks and what the callback prints."""
    model = keras.Sequential([keras.Input((12, 2)), keras.layers.Dense(3), keras.layers.LSTM(3, return_sequences=True),
                              keras.layers.GRU(2), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data(rng)
    probe = x[:3]
    seen = []
    cb = SpectrumCallback(probe, every=2, k=4, warmup=2, ortho_every=2, at_start=True, verbose=1,
                          on_record=lambda record, spectrum: seen.append(record.step))
    by_hand = []
    monitor = lyapax.Monitor(probe, every=2, k=4, warmup=2, ortho_every=2,
                             on_record=lambda record, spectrum: by_hand.append(record.step))
    monitor(model.layers[1:3], step=0, inputs=model.layers[0](probe))

    def record(epoch, logs):
        monitor(model.layers[1:3], step=epoch + 1, inputs=model.layers[0](probe))

    beside = keras.callbacks.LambdaCallback(on_epoch_end=record)
    model.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[cb, beside])
    np.testing.assert_array_equal(cb.monitor.steps, [0, 2, 4])
    np.testing.assert_array_equal(cb.monitor.steps, monitor.steps)
    assert seen == by_hand == [0, 2, 4]
    np.testing.assert_allclose(cb.monitor.exponents, monitor.exponents, rtol=0, atol=1e-7)
    np.testing.assert_allclose(cb.monitor.stderr, monitor.stderr, rtol=0, atol=1e-7)
    assert [s.k for s in cb.spectra] == [4, 4, 4] and cb.monitor.records[0].backend == "tensorflow"
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[1].strip() for line in printed] == [
        "largest Lyapunov exponent at initialisation (epoch 0)", "largest Lyapunov exponent after epoch 2",
        "largest Lyapunov exponent after epoch 4"]


def test_callback_traces_once_and_accepts_a_chosen_layer(rng):
    inp = keras.Input((12, 2))
    lstm = keras.layers.LSTM(3, name="core")
    model = keras.Model(inp, keras.layers.Dense(1)(lstm(inp)))
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data(rng)
    cb = SpectrumCallback(x[:2], layers=lstm, prefix="le_")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[cb])
    count = loop.trace_count()
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[cb])
    assert loop.trace_count() == count  # later epochs reuse the compiled chunk function
    assert len(history.history["le_max"]) == 3 and all(np.isfinite(history.history["le_max"]))
    assert cb.spectra[-1].k == 6
    default = SpectrumCallback(x[:2])
    default.set_model(model)
    np.testing.assert_allclose(default.compute().exponents, lyapax.spectrum(lstm, x[:2]).exponents, atol=1e-7)


def test_callback_argument_errors():
    with pytest.raises(lyapax.InputError, match="probe_inputs"):
        SpectrumCallback(np.zeros((3, 2)))
    with pytest.raises(lyapax.InputError, match="every"):
        SpectrumCallback(np.zeros((1, 3, 2)), every=0)
    with pytest.raises(lyapax.InputError, match="^at_start"):
        SpectrumCallback(np.zeros((1, 3, 2)), at_start="yes")
    with pytest.raises(lyapax.InputError, match="^on_record"):
        SpectrumCallback(np.zeros((1, 3, 2)), on_record=3)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    cb = SpectrumCallback(np.zeros((1, 3, 2)))
    cb.set_model(model)
    with pytest.raises(lyapax.InputError, match="no recurrent layer"):
        cb.compute()
