"""The user's model is left alone; bad inputs and device combinations give clear errors; registry."""

from __future__ import annotations

import subprocess
import sys

import lyapax_torch
import numpy as np
import pytest
import torch
from torch import nn
from torch_helpers import from_threads

import lyapax
from lyapax.errors import InputError, ModelTypeError

F, H, B, T = 3, 4, 2, 15


def _snapshot(m: nn.Module):
    return (
        {k: v.clone() for k, v in m.state_dict().items()},
        [(n, mod.training) for n, mod in m.named_modules()],
        [(n, p.requires_grad, p.grad) for n, p in m.named_parameters()],
        torch.get_rng_state().clone(),
    )


def _assert_same(a, b):
    assert a[0].keys() == b[0].keys() and all(torch.equal(a[0][k], b[0][k]) for k in a[0])
    assert a[1] == b[1]
    assert [(n, r, g is None) for n, r, g in a[2]] == [(n, r, g is None) for n, r, g in b[2]]
    assert torch.equal(a[3], b[3])


class DropoutStep(nn.Module):
    """A step function with dropout: must run as in eval mode and leave flags and RNG as they were."""

    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(F, H)
        self.drop = nn.Dropout(0.5)

    def forward(self, h, x):
        return self.cell(self.drop(x), h)


@pytest.mark.parametrize("kind", ["lstm", "step-module", "step-function"])
def test_model_unchanged(kind, gen):
    torch.manual_seed(0)
    if kind == "lstm":
        model = nn.LSTM(F, H, num_layers=2, dropout=0.5).train()
        call = dict()
    elif kind == "step-module":
        model = DropoutStep().train()
        call = dict(h0=torch.zeros(B, H))
    else:
        model = DropoutStep().train()
        call = dict(h0=torch.zeros(B, H))
    x = torch.randn(B, T, F, generator=gen)
    x_before = x.clone()
    model.cell.weight_hh.requires_grad_(False) if kind != "lstm" else model.weight_hh_l1.requires_grad_(False)
    before = _snapshot(model)
    if kind == "step-function":
        # a plain function cannot be switched to eval mode: random dropout is a clear error
        with pytest.raises(InputError, match=r"draws random numbers .* model.eval\(\)"):
            lyapax.spectrum(lambda h, xt: model(h, xt), x, **call)
        _assert_same(before, _snapshot(model))
        return
    s1 = lyapax.spectrum(model, x, **call)
    s2 = lyapax.spectrum(model, x, **call)
    _assert_same(before, _snapshot(model))
    assert torch.equal(x, x_before)
    # dropout was off: deterministic, and equal to eval mode
    np.testing.assert_array_equal(s1.per_sequence, s2.per_sequence)
    model.eval()
    s3 = lyapax.spectrum(model, x, **call)
    np.testing.assert_allclose(s1.per_sequence, s3.per_sequence, rtol=0, atol=1e-6)


def test_h0_not_modified(gen):
    m = nn.LSTM(F, H)
    h0 = (torch.randn(1, B, H, generator=gen), torch.randn(1, B, H, generator=gen))
    copies = tuple(t.clone() for t in h0)
    lyapax.spectrum(m, torch.randn(T, B, F, generator=gen), h0=h0)  # batch_first=False: (time, batch, features)
    assert all(torch.equal(a, b) for a, b in zip(h0, copies))


def test_wrong_feature_size(gen):
    with pytest.raises(InputError, match=r"inputs: the model expects 3 features per step, got 5"):
        lyapax.spectrum(nn.GRU(F, H), torch.randn(B, T, 5))


def test_bidirectional_rejected():
    with pytest.raises(ModelTypeError, match="bidirectional=True"):
        lyapax.spectrum(nn.LSTM(F, H, bidirectional=True), torch.randn(B, T, F))


def test_nan_inputs(gen):
    x = torch.randn(B, T, F, generator=gen)
    x[1, 4, 2] = float("nan")
    with pytest.raises(InputError, match=r"inputs: contains NaN or Inf \(first at sequence 1, step 4, feature 2\)"):
        lyapax.spectrum(nn.RNN(F, H, batch_first=True), x)
    with pytest.raises(InputError, match=r"inputs: contains NaN or Inf \(first at sequence 1, step 4, feature 2\)"):
        lyapax.spectrum(nn.RNN(F, H), x.transpose(0, 1))  # time-major, as the module takes it


def test_nan_weights():
    m = nn.GRU(F, H)
    with torch.no_grad():
        m.weight_hh_l0[0, 0] = float("inf")
    with pytest.raises(InputError, match="weight_hh contains NaN or Inf"):
        lyapax.spectrum(m, torch.randn(B, T, F))


def test_integer_inputs_hint():
    with pytest.raises(InputError, match="embed them first"):
        lyapax.spectrum(nn.GRU(F, H), torch.randint(0, 5, (B, T, F)))


@pytest.mark.parametrize(
    "h0, match",
    [
        (torch.zeros(1, B, H), "nn.LSTM takes its initial state as a tuple"),
        ((torch.zeros(1, B, H), torch.zeros(1, 3, H)), r"c0 .* of shape \(1, 2, 4\), got \(1, 3, 4\)"),
        ((torch.zeros(B, H), torch.zeros(B, H)), "unbatched state|of shape"),
    ],
)
def test_bad_h0_for_lstm(h0, match):
    with pytest.raises(InputError, match=match):
        lyapax.spectrum(nn.LSTM(F, H), torch.randn(T, B, F), h0=h0)


def test_bad_h0_for_cells_and_gru():
    with pytest.raises(InputError, match=r"unbatched state .* add the batch axis"):
        lyapax.spectrum(nn.GRUCell(F, H), torch.randn(B, T, F), h0=torch.zeros(H))
    with pytest.raises(InputError, match="takes a single tensor"):
        lyapax.spectrum(nn.GRU(F, H), torch.randn(B, T, F), h0=(torch.zeros(1, B, H),))
    with pytest.raises(InputError, match=r"tuple \(h, c\)"):
        lyapax.spectrum(nn.LSTMCell(F, H), torch.randn(B, T, F), h0=torch.zeros(B, H))


def test_step_function_errors(gen):
    cell = nn.GRUCell(F, H)
    x = torch.randn(B, T, F, generator=gen)
    with pytest.raises(InputError, match="needs an initial state"):
        lyapax.spectrum(lambda h, xt: cell(xt, h), x)
    with pytest.raises(InputError, match="batch axis .* has 3 rows but inputs has 2"):
        lyapax.spectrum(lambda h, xt: cell(xt, h), x, h0=torch.zeros(3, H))
    with pytest.raises(InputError, match="returned a state of structure"):
        lyapax.spectrum(lambda h, xt: (cell(xt, h), h), x, h0=torch.zeros(B, H))
    with pytest.raises(InputError, match="calling the step function"):
        lyapax.spectrum(lambda h, xt: cell(h, xt), x, h0=torch.zeros(B, H))  # arguments swapped
    with pytest.raises(InputError, match="pass dtype= matching"):  # float32 closure, float64 requested
        lyapax.spectrum(lambda h, xt: cell(xt, h), x, h0=torch.zeros(B, H), dtype="float64")


def test_overridden_forward_subclass_rejected():
    class Mine(nn.GRU):
        def forward(self, x, h=None):
            return super().forward(x, h)

    with pytest.raises(ModelTypeError, match="overrides forward"):
        lyapax.spectrum(Mine(F, H), torch.randn(B, T, F))


# -- registry -----------------------------------------------------------------------------------


def test_registry_selection(gen):
    x = torch.randn(B, T, F, generator=gen)
    cell = nn.GRUCell(F, H)
    assert lyapax.spectrum(cell, x).backend == "torch"
    assert lyapax.spectrum(lambda h, xt: cell(xt, h), x, h0=torch.zeros(B, H)).backend == "torch"
    be = lyapax_torch.TorchBackend()
    assert be.name == "torch" and be.extra == "torch" and be.differentiable_error is None
    assert be.recognises_model(cell) and not be.recognises_model(lambda h, x: h)
    assert be.recognises_array(x) and not be.recognises_array(x.numpy())
    assert not be.recognises_model(lyapax.cells.Elman(np.zeros((H, F)), np.zeros((H, H))))


def test_import_does_not_import_torch():
    code = "import sys, lyapax, lyapax_torch; lyapax_torch.TorchBackend(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dead_relu_units_are_reported_with_sequence_and_step():
    """The torch runner skips per-interval tracking; trouble is still located exactly, and the
    collapsed directions are -inf (a singular tangent map), with a warning naming where."""
    import lyapax

    rnn = torch.nn.RNN(1, 4, nonlinearity="relu", batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.bias_hh_l0.fill_(-1.0)
        rnn.bias_ih_l0.zero_()
        rnn.weight_ih_l0.fill_(1.0)
        rnn.weight_hh_l0.copy_(0.5 * torch.eye(4))
    x = torch.zeros(2, 30, 1, dtype=torch.float64)
    # sequence 0: h = 4, 6, 7, 7.5, 7.75 while driven, then 2.875, 0.4375 and dead at step 7 (0.22 - 1 < 0);
    # sequence 1 is never driven: dead from step 0
    x[0, :5] = 5.0
    with pytest.warns(lyapax.NumericalWarning, match=r"exact zero on diag\(R\)") as info:
        s = lyapax.spectrum(rnn, x)
    w = info[0].message
    assert w.kind == "zero"
    assert w.sequences == [0, 1] and w.steps == [7, 0]
    assert np.all(np.isneginf(s.per_sequence))  # every unit dead: J = 0 from then on


def test_threads_on_the_same_step_module_leave_it_unchanged(gen):
    """torch.func swaps a module's parameters and lyapax switches its dropout off: two threads on
    the same module take turns, both get the sequential answer, and the flags are restored."""

    model = DropoutStep().train()
    x = torch.randn(B, 40, F, generator=gen)
    h0 = torch.zeros(B, H)
    before = _snapshot(model)
    expected = lyapax.spectrum(model, x, h0=h0).per_sequence
    results = from_threads(lambda: lyapax.spectrum(model, x, h0=h0).per_sequence, threads=3, calls=3)
    assert len(results) == 9
    for r in results:
        np.testing.assert_array_equal(r, expected)
    _assert_same(before, _snapshot(model))
    assert model.training and model.drop.training


def test_a_whole_network_is_named_as_such_with_the_fix():
    """A module that holds recurrent layers but is not one: the error says so first and names the fix,
    for lyapax.spectrum and for a Monitor without select=."""
    net = nn.Sequential(nn.Linear(F, 4), nn.LSTM(4, H, batch_first=True))
    x = torch.randn(B, T, F)
    for call in (lambda: lyapax.spectrum(net, x), lambda: lyapax.Monitor(x)(net)):
        with pytest.raises(ModelTypeError, match=r"^model: Sequential is not a recurrent layer but holds model\[1\] "
                                                 r"\(LSTM\).*pass it \(model\[1\]\).*select=lambda m: m\[1\]"):
            call()
    m = lyapax.Monitor(torch.randn(B, T, 4), select=lambda m: m[1])  # the fix works
    assert m(net).k == 2 * H


def test_step_functions_from_two_threads_at_once_give_the_sequential_results(gen):
    """torch's forward-AD levels are process-global: two threads each running lyapax.spectrum on a
    step function (the torch.func path), on different functions, get what one thread alone gets."""
    import threading

    W = torch.randn(H, H, generator=gen) * 0.5
    U = torch.randn(H, F, generator=gen)

    def f(h, x):
        return torch.tanh(h @ W.T + x @ U.T)

    def g(h, x):
        return torch.tanh(h @ (0.8 * W).T + x @ U.T + 0.1)

    x = torch.randn(B, 60, F, generator=gen)
    h0 = torch.zeros(B, H)
    expected = {f: lyapax.spectrum(f, x, h0=h0).per_sequence, g: lyapax.spectrum(g, x, h0=h0).per_sequence}
    results, errors = [], []
    start = threading.Barrier(4)

    def work(fn):
        try:
            start.wait()
            for _ in range(3):
                results.append((fn, lyapax.spectrum(fn, x, h0=h0).per_sequence))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(fn,)) for fn in (f, g, f, g)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 12
    for fn, r in results:
        np.testing.assert_array_equal(r, expected[fn])
