"""Tensors without values lyapax can compute with (meta, sparse, nested, quantized, fake, inside a
torch.func transform) are refused with a lyapax error naming the argument and the fix, never a raw
torch error (issue 23). Before lyapax_torch.devices.check_tensor each of these raised torch's own
NotImplementedError/RuntimeError ("Cannot copy out of meta tensor", "Could not run 'aten::ne.Scalar'
with arguments from the 'SparseCPU' backend", "NestedTensorImpl doesn't support sizes", ...)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from lyapax_torch import TorchBackend
from torch._subclasses.fake_tensor import FakeTensorMode

import lyapax
from lyapax.errors import InputError

B, T, F, H = 2, 6, 3, 4


def _fake(t):
    with FakeTensorMode() as mode:
        return mode.from_tensor(t)


#: kind -> (how to make one from a dense tensor, what the message says, the fix it names)
KINDS = {
    "meta": (lambda t: t.to("meta"), "on the meta device", "holds data"),
    "sparse": (lambda t: t.to_sparse(), "layout torch.sparse_coo", ".to_dense()"),
    "sparse_csr": (lambda t: t.to_sparse_csr(), "layout torch.sparse_csr", ".to_dense()"),
    "nested": (lambda t: torch.nested.nested_tensor(list(t)), "nested", "pad_sequence"),
    "quantized": (lambda t: torch.quantize_per_tensor(t, 0.1, 0, torch.quint8), "quantized", ".dequantize()"),
    "fake": (_fake, "FakeTensorMode", "holds data"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_backend_names_the_argument_and_the_fix(kind):
    make, says, fix = KINDS[kind]
    with pytest.raises(InputError, match=rf"^inputs: a tensor .*{says}.*{re.escape(fix)}"):
        TorchBackend().check_array(make(torch.zeros(B, H)), "inputs")
    TorchBackend().check_array(torch.zeros(B, H), "inputs")  # an ordinary tensor passes
    TorchBackend().check_array(np.zeros((B, H)), "inputs")  # not a tensor: the core's to read


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_h0_of_a_standard_cell(kind):
    make, says, _ = KINDS[kind]
    cell = torch.nn.GRUCell(F, H)
    x = torch.randn(B, T, F)
    with pytest.raises(InputError, match=rf"^h0: a tensor .*{says}"):
        lyapax.spectrum(cell, x, h0=make(torch.zeros(B, H)))


@pytest.mark.parametrize("kind", ["meta", "sparse", "quantized", "fake"])
def test_h0_of_a_standard_layer(kind):
    make, says, _ = KINDS[kind]
    rnn = torch.nn.RNN(F, H, num_layers=2, batch_first=True)
    with pytest.raises(InputError, match=rf"^h0: a tensor .*{says}"):
        lyapax.spectrum(rnn, torch.randn(B, T, F), h0=make(torch.zeros(2, B, H)))


@pytest.mark.parametrize("kind", ["sparse", "sparse_csr", "quantized", "fake"])
def test_weights_of_a_cell(kind):
    make, says, fix = KINDS[kind]
    cell = lyapax.cells.Elman(torch.randn(H, F), make(0.5 * torch.eye(H)))
    with pytest.raises(InputError, match=rf"^model: a weight .*{says}.*{re.escape(fix)}"):
        lyapax.spectrum(cell, torch.randn(B, T, F))


def test_inside_a_torch_func_transform():
    cell = torch.nn.GRUCell(F, H)
    x = torch.randn(B, T, F)

    def loss(h0):
        return torch.as_tensor(lyapax.spectrum(cell, x, h0=h0).exponents).sum()

    with pytest.raises(InputError, match=r"^h0: a tensor of a torch.func transform.*differentiable=True"):
        torch.func.grad(loss)(torch.zeros(B, H))


def test_meta_data_does_not_decide_the_device():
    """A meta tensor among h0/inputs is not "another device" to choose between (the device error
    would send the user to device=..., which cannot help): it is refused for what it is."""
    rnn = torch.nn.RNN(F, H, batch_first=True)
    with pytest.raises(InputError, match=r"^h0: a tensor on the meta device"):
        lyapax.spectrum(rnn, torch.randn(B, T, F), h0=torch.zeros(1, B, H, device="meta"))


@pytest.mark.parametrize("argument", ["inputs", "h0"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_inputs_and_the_h0_of_a_step_function(kind, argument):
    make, says, _ = KINDS[kind]

    def f(h, x):
        return torch.tanh(h + x.sum(dim=-1, keepdim=True))

    x, h0 = torch.randn(B, T, F), torch.zeros(B, H)
    if argument == "inputs":
        x = make(x)
    else:
        h0 = make(h0)
    with pytest.raises(InputError, match=rf"^{argument}: a tensor .*{says}"):
        lyapax.spectrum(f, x, h0=h0)
