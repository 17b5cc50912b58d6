"""train_network's hooks for searches: a callback after every epoch, spectra only at chosen epochs."""

import pytest
import torch

from lyapax.readout.tasks import grammar_text, make_corpus
from lyapax.readout.train import NetworkConfig, TrainConfig, train_network

CFG = TrainConfig(epochs=3, batches_per_epoch=2, batch=4, seq_len=20, val_windows=2, val_len=30,
                  probe_batch=2, probe_steps=30, warmup=5, k=2)
NET = NetworkConfig("gru", 0.5, 0.01, 8, 0)


def test_on_epoch_sees_every_epoch_and_spectrum_epochs_restricts():
    corpus = make_corpus(grammar_text(6000, seed=0), "g")
    seen = []
    rec = train_network(NET, CFG, corpus, on_epoch=lambda e, v, s: seen.append((e, v, s)), spectrum_epochs={1})
    assert [e for e, _, _ in seen] == [0, 1, 2, 3]
    assert [v for _, v, _ in seen] == rec["val_loss"]
    assert [s is None for _, _, s in seen] == [True, False, True, True]
    assert [s["epoch"] for s in rec["spectra"]] == [1] and seen[1][2] is rec["spectra"][0]
    full = train_network(NET, CFG, corpus)
    assert full["val_loss"] == rec["val_loss"]  # computing fewer spectra changes nothing else
    assert full["spectra"][1]["exponents"] == rec["spectra"][0]["exponents"]


def test_exception_in_on_epoch_stops_training():
    corpus = make_corpus(grammar_text(6000, seed=0), "g")
    threads = torch.get_num_threads()
    epochs = []

    def stop_at_one(epoch, val_loss, spectrum):
        epochs.append(epoch)
        if epoch == 1:
            raise KeyError("pruned")

    with pytest.raises(KeyError, match="pruned"):
        train_network(NET, CFG, corpus, on_epoch=stop_at_one)
    assert epochs == [0, 1] and torch.get_num_threads() == threads
