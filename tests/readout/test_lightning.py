"""The Lightning callback with real PyTorch Lightning: spectra logged through ``self.log`` reach the logger."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

import lyapax

lightning = pytest.importorskip("lightning", reason="the torch test session installs lightning (lyapax-rnn[lightning])")

from lightning.pytorch import LightningModule, Trainer  # noqa: E402
from lightning.pytorch.loggers import CSVLogger  # noqa: E402
from lyapax_torch.callbacks import SpectrumCallback  # noqa: E402


class Copy(LightningModule):
    """A GRU learning to echo its input: small enough for a few CPU epochs."""

    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.GRU(2, 8, batch_first=True)
        self.head = torch.nn.Linear(8, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        out, _ = self.rnn(x)
        loss = torch.nn.functional.mse_loss(self.head(out), y)
        self.log("loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


def test_lightning_trainer_logs_the_spectrum_to_csv(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(16, 20, 2)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x), batch_size=8)
    cb = SpectrumCallback(x[:4], every=1, k=3, at_start=True, select=lambda m: m.rnn)
    trainer = Trainer(max_epochs=3, callbacks=[cb], logger=CSVLogger(tmp_path), enable_progress_bar=False,
                      enable_checkpointing=False, enable_model_summary=False, accelerator="cpu", devices=1)
    model = Copy()
    initial = lyapax.spectrum(model.rnn, x[:4], k=3, warmup=4)
    trainer.fit(model, data)
    # step 0: at initialisation (before any update); step e: after e epochs
    assert len(cb.monitor) == 4 and list(cb.monitor.steps) == [0, 1, 2, 3]
    np.testing.assert_allclose(cb.monitor.exponents[0], initial.exponents, rtol=0, atol=1e-6)
    np.testing.assert_allclose(cb.monitor.exponents[-1], lyapax.spectrum(model.rnn, x[:4], k=3, warmup=4).exponents,
                               rtol=0, atol=1e-6)
    assert np.abs(cb.monitor.exponents[-1] - cb.monitor.exponents[0]).max() > 1e-4  # trained in between
    rows = list(csv.DictReader(open(next(tmp_path.rglob("metrics.csv")))))
    logged = [float(r["lyapax/max_exponent"]) for r in rows if r.get("lyapax/max_exponent")]
    np.testing.assert_allclose(logged, [r.max_exponent for r in cb.monitor.records], rtol=1e-6)
    ky = [float(r["lyapax/kaplan_yorke_dimension"]) for r in rows if r.get("lyapax/kaplan_yorke_dimension")]
    np.testing.assert_allclose(ky, [r.kaplan_yorke_dimension for r in cb.monitor.records], rtol=1e-6)
    assert model.training  # the callback never leaves the module in eval mode
