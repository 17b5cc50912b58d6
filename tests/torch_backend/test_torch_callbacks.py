"""lyapax_torch.callbacks: the plain-loop helper and the Lightning callback logic (PyTorch)."""

import importlib.util

import numpy as np
import pytest
import torch
from lyapax_torch import callbacks

import lyapax
from lyapax.monitor import Monitor


class Net(torch.nn.Module):
    def __init__(self, F=3, H=5):
        super().__init__()
        self.rnn = torch.nn.GRU(F, H, batch_first=True)
        self.head = torch.nn.Linear(H, 1)
        self.logged = []

    def forward(self, x):
        return self.head(self.rnn(x)[0])

    def log(self, name, value, **kw):
        self.logged.append((name, value))


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(12, 40, 3, generator=g), torch.randn(12, 40, 1, generator=g)


def test_probe_batch_from_tensor_and_loader(data):
    x, y = data
    p = callbacks.probe_batch(x, batch=4, steps=30)
    assert p.shape == (4, 30, 3) and torch.equal(p, x[:4, :30])
    p[0, 0, 0] = 99.0
    assert x[0, 0, 0] != 99.0  # a copy, not a view
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=3)
    q = callbacks.probe_batch(loader, batch=8, steps=None)
    assert q.shape == (8, 40, 3) and torch.equal(q, x[:8])
    r = callbacks.probe_batch(torch.utils.data.TensorDataset(x, y), batch=5, steps=10)  # single sequences
    assert torch.equal(r, x[:5, :10])
    with pytest.raises(ValueError, match="batch"):
        callbacks.probe_batch(x, batch=20)


def test_attach_computes_every_n_optimizer_steps(data):
    x, y = data
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = Monitor(x[:4], every=2, k=3, select=lambda m: m.rnn)
    handle = callbacks.attach(monitor, model, opt)
    for _ in range(5):
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.testing.assert_array_equal(monitor.steps, [2, 4])
    handle.remove()
    opt.step()  # no longer monitored
    assert len(monitor) == 2
    assert monitor.records[-1].backend == "torch"


def test_attach_spectrum_matches_direct_call(data):
    x, _ = data
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    monitor = Monitor(x[:4], every=1, k=3, select=lambda m: m.rnn)
    callbacks.attach(monitor, model, opt)
    opt.step()
    direct = lyapax.spectrum(model.rnn, x[:4], k=3, warmup=monitor.warmup)
    np.testing.assert_allclose(monitor.records[0].exponents, direct.exponents, rtol=1e-6, atol=1e-7)


def test_attach_rejects_non_optimizer(data):
    with pytest.raises(TypeError, match="optimizer"):
        callbacks.attach(Monitor(data[0]), Net(), object())


class FakeLogger:
    def __init__(self):
        self.logged = []

    def log_metrics(self, metrics, step):
        self.logged.append((step, metrics))


class FakeTrainer:
    def __init__(self, epoch=0, step=0, rank=0):
        self.current_epoch, self.global_step, self.global_rank = epoch, step, rank
        self.loggers = [FakeLogger()]


def test_callback_logic_per_epoch_logs_and_state(data):
    x, _ = data
    model = Net()
    before = [p.detach().clone() for p in model.parameters()]
    model.train()
    cb = callbacks.SpectrumCallbackMixin(x[:4], every=2, k=3, at_start=True, select=lambda m: m.rnn)
    start = FakeTrainer()
    cb.on_train_start(start, model)  # step 0: at initialisation, to the trainer's loggers directly
    for epoch in range(4):  # Lightning's current_epoch: the index of the epoch that ends; step: epochs done
        cb.on_train_epoch_end(FakeTrainer(epoch=epoch), model)
        cb.on_train_batch_end(FakeTrainer(epoch=epoch, step=epoch), model, None, None, 0)  # interval='epoch': ignored
    np.testing.assert_array_equal(cb.monitor.steps, [0, 2, 4])
    assert [(step, sorted(m)) for step, m in start.loggers[0].logged] == [
        (0, ["lyapax/entropy", "lyapax/kaplan_yorke_dimension", "lyapax/max_exponent"])]
    assert start.loggers[0].logged[0][1]["lyapax/max_exponent"] == pytest.approx(cb.monitor.records[0].max_exponent)
    assert [n for n, _ in model.logged] == ["lyapax/max_exponent", "lyapax/kaplan_yorke_dimension",
                                             "lyapax/entropy"] * 2
    assert model.logged[0][1] == pytest.approx(cb.monitor.records[1].max_exponent)
    cb.on_train_start(FakeTrainer(), model)  # a resumed fit: its record goes on
    assert len(cb.monitor) == 3
    assert model.training and all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    state = cb.state_dict()
    other = callbacks.SpectrumCallbackMixin(x[:4], every=2, k=3, select=lambda m: m.rnn)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.monitor.exponents, cb.monitor.exponents)


def test_callback_per_step_and_rank(data):
    x, _ = data
    cb = callbacks.SpectrumCallbackMixin(x[:2], every=3, interval="step", log=False, k=2, select=lambda m: m.rnn)
    model = Net()
    for step in range(7):
        cb.on_train_batch_end(FakeTrainer(step=step), model, None, None, step)
        cb.on_train_batch_end(FakeTrainer(step=step, rank=1), model, None, None, step)  # other ranks never compute
    np.testing.assert_array_equal(cb.monitor.steps, [0, 3, 6])
    assert model.logged == []
    with pytest.raises(ValueError, match="interval"):
        callbacks.SpectrumCallbackMixin(x[:2], interval="batch")
    with pytest.raises(ValueError, match="^at_start"):
        callbacks.SpectrumCallbackMixin(x[:2], at_start=1)


def test_lightning_class_or_install_hint(data):
    have = importlib.util.find_spec("lightning") or importlib.util.find_spec("pytorch_lightning")
    if have:
        cls = callbacks.SpectrumCallback
        assert issubclass(cls, callbacks.SpectrumCallbackMixin)
    else:
        with pytest.raises(ImportError, match=r'pip install "lyapax-rnn\[lightning\]"'):
            callbacks.SpectrumCallback  # noqa: B018
