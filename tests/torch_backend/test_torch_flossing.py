"""Gradient flossing on PyTorch: gradient, effect on the spectrum, nothing of the user's changed, bad input."""

from __future__ import annotations

import importlib.util
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from lyapax_torch.testing import native_model

import lyapax
from lyapax.errors import ChaoticGradientWarning, InputError


def tanh_rnn(hidden: int, gain: float, seed: int = 0) -> torch.nn.RNN:
    """A float64 tanh RNN, recurrent weights N(0, gain^2 / hidden), input weights N(0, 0.01), no bias
    (the weights of the JAX and TensorFlow tests, drawn by numpy)."""
    rng = np.random.default_rng(seed)
    rnn = torch.nn.RNN(1, hidden, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.as_tensor(rng.standard_normal((hidden, hidden)) * gain / hidden**0.5))
        rnn.weight_ih_l0.copy_(torch.as_tensor(rng.standard_normal((hidden, 1)) * 0.1))
        rnn.bias_hh_l0.zero_()
        rnn.bias_ih_l0.zero_()
    return rnn


def inputs(batch: int, steps: int, seed: int) -> torch.Tensor:
    return torch.as_tensor(0.1 * np.random.default_rng(seed).standard_normal((batch, steps, 1)))


def reference_loss(rnn: torch.nn.RNN, x: torch.Tensor, k: int, target: float) -> float:
    """The loss from the checked (non-differentiable) spectrum, formed independently in numpy."""
    lam = lyapax.spectrum(rnn, x, k=k, warmup=5).per_sequence
    return float(np.mean(np.sum((lam - target) ** 2, axis=1)))


def test_value_matches_spectrum_and_gradient_matches_finite_differences():
    rnn, x = tanh_rnn(4, 1.5), inputs(2, 20, 1)
    loss = lyapax.flossing_loss(rnn, x, k=2, target=0.1, warmup=5)
    assert loss.dtype == torch.float64 and loss.ndim == 0
    assert loss.item() == pytest.approx(reference_loss(rnn, x, 2, 0.1), rel=1e-12)
    loss.backward()
    grad = rnn.weight_hh_l0.grad.clone()
    eps = 1e-6
    for i, j in ((0, 0), (1, 3), (3, 2)):
        with torch.no_grad():
            rnn.weight_hh_l0[i, j] += eps
        up = reference_loss(rnn, x, 2, 0.1)
        with torch.no_grad():
            rnn.weight_hh_l0[i, j] -= 2 * eps
        down = reference_loss(rnn, x, 2, 0.1)
        with torch.no_grad():
            rnn.weight_hh_l0[i, j] += eps
        assert grad[i, j].item() == pytest.approx((up - down) / (2 * eps), rel=1e-5)


def test_step_function_gradient_matches_finite_differences():
    w = torch.as_tensor(np.random.default_rng(3).standard_normal((3, 3)) * 0.8, dtype=torch.float64).requires_grad_()
    u = torch.ones(1, 3, dtype=torch.float64)

    def step(h, x):
        return torch.tanh(h @ w.T + x @ u)

    x, h0 = inputs(2, 15, 2), torch.zeros(2, 3, dtype=torch.float64)
    loss = lyapax.flossing_loss(step, x, k=3, h0=h0)
    (grad,) = torch.autograd.grad(loss, w)

    def value() -> float:
        lam = lyapax.spectrum(step, x, k=3, h0=h0).per_sequence
        return float(np.mean(np.sum(lam**2, axis=1)))

    eps = 1e-6
    for i, j in ((1, 2), (0, 0)):
        with torch.no_grad():
            w[i, j] += eps
        up = value()
        with torch.no_grad():
            w[i, j] -= 2 * eps
        down = value()
        with torch.no_grad():
            w[i, j] += eps
        assert grad[i, j].item() == pytest.approx((up - down) / (2 * eps), rel=1e-5)


def floss(rnn: torch.nn.RNN, steps: int, k: int, lr: float, batch: int, length: int, warmup: int,
          clip: float | None = None, decay: bool = False) -> None:
    opt = torch.optim.Adam(rnn.parameters(), lr=lr)
    # the cosine decay of optax.cosine_decay_schedule(lr, steps, alpha=0.1)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.1 * lr) if decay else None
    for i in range(steps):
        loss = lyapax.flossing_loss(rnn, inputs(batch, length, 100 + i), k=k, warmup=warmup)
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(rnn.parameters(), clip)
        opt.step()
        if schedule is not None:
            schedule.step()


def test_ordered_network_moves_up_to_target():
    rnn = tanh_rnn(8, 0.5)
    probe = inputs(4, 300, 7)
    before = lyapax.spectrum(rnn, probe, k=2, warmup=50).exponents
    assert before[0] < -0.3  # ordered
    floss(rnn, 20, k=2, lr=4e-2, batch=2, length=45, warmup=20)
    after = lyapax.spectrum(rnn, probe, k=2, warmup=50).exponents
    assert np.all(after > before)
    np.testing.assert_allclose(after, 0.0, atol=0.1)


@pytest.mark.training
def test_chaotic_network_flossed_to_target():
    # Gradients through a chaotic trajectory grow like exp(λ1 T): clipped, on 30-step windows, with a
    # decaying rate (the weights and schedule of the JAX test, which says what was measured).
    rnn = tanh_rnn(32, 3.0)
    rnn.bias_ih_l0.requires_grad_(False)  # the weights of the JAX test, which has no bias
    rnn.bias_hh_l0.requires_grad_(False)
    probe = inputs(4, 300, 7)
    before = lyapax.spectrum(rnn, probe, k=2, warmup=50).exponents
    assert before[0] > 0.1  # chaotic
    floss(rnn, 300, k=2, lr=1e-2, batch=8, length=30, warmup=20, clip=1.0, decay=True)
    after = lyapax.spectrum(rnn, probe, k=2, warmup=50).exponents
    # chaos amplifies rounding: the same weights end differently per framework and version (TF 2.21, 6 input
    # seeds at 300 and 500 steps: max |λ| 0.04-0.12, squared distance 3.7-7x smaller); a bound for all of them
    assert np.sum(after**2) < np.sum(before**2) / 3
    np.testing.assert_allclose(after, 0.0, atol=0.15)


def test_nothing_of_the_users_changed_except_by_the_optimiser():
    rnn = torch.nn.RNN(2, 5, batch_first=True, dropout=0.0)
    rnn.train()
    rnn.bias_ih_l0.requires_grad_(False)
    x = torch.randn(3, 12, 2)
    x_before, params_before = x.clone(), [p.detach().clone() for p in rnn.parameters()]
    rng_before = torch.get_rng_state()
    loss = lyapax.flossing_loss(rnn, x, k=2)
    assert rnn.training and not rnn.bias_ih_l0.requires_grad and rnn.weight_hh_l0.requires_grad
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.equal(x, x_before) and not x.requires_grad
    assert all(torch.equal(p, q) for p, q in zip(rnn.parameters(), params_before))
    assert all(p.grad is None for p in rnn.parameters())  # no gradient until the user's backward
    loss.backward()
    assert rnn.bias_ih_l0.grad is None and rnn.weight_hh_l0.grad is not None


def test_bad_input():
    rnn, x = tanh_rnn(4, 1.0), inputs(2, 10, 0)
    with pytest.raises(InputError, match="^k:"):
        lyapax.flossing_loss(rnn, x, k=5)
    with pytest.raises(InputError, match="^k:"):
        lyapax.flossing_loss(rnn, x, k=0)
    for bad in (float("nan"), float("inf"), "0", None):
        with pytest.raises(InputError, match="^target:"):
            lyapax.flossing_loss(rnn, x, k=1, target=bad)
    frozen = tanh_rnn(4, 1.0).requires_grad_(False)
    with pytest.raises(InputError, match="^model: it has no trainable parameters"):
        lyapax.flossing_loss(frozen, x, k=1)
    w = torch.eye(4, dtype=torch.float64)  # a step function over tensors that do not require grad
    with pytest.raises(InputError, match="^model: the exponents do not depend"):
        lyapax.flossing_loss(lambda h, x: torch.tanh(h @ w), x, k=1, h0=torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(InputError, match="no autodiff"):
        lyapax.flossing_loss(lyapax.cells.Elman(np.ones((3, 1)), np.eye(3) * 0.5), x.numpy(), k=1)


def test_lightning_callback_flosses_before_and_every_n_batches():
    from lyapax_torch import callbacks

    rnn = tanh_rnn(6, 0.4)
    module = torch.nn.ModuleDict({"rnn": rnn, "head": torch.nn.Linear(6, 1).double()})
    opt = torch.optim.Adam(module.parameters(), lr=3e-2)
    trainer = SimpleNamespace(optimizers=[opt], global_step=0)
    probe = inputs(4, 40, 5)
    before = lyapax.spectrum(rnn, probe, k=2, warmup=20).exponents
    cb = callbacks.FlossingCallbackMixin(probe, k=2, select=lambda m: m["rnn"], before=25, every=3, warmup=10)
    cb.on_train_start(trainer, module)
    assert len(cb.losses) == 25 and module["head"].weight.grad is None  # only the recurrent module is flossed
    for step in range(1, 7):
        trainer.global_step = step
        cb.on_train_batch_end(trainer, module, None, None, step - 1)
    assert len(cb.losses) == 27  # steps 3 and 6
    after = lyapax.spectrum(rnn, probe, k=2, warmup=20).exponents
    assert np.all(after > before) and np.all(np.abs(after) < 0.5 * np.abs(before))
    with pytest.raises(InputError, match="before/every"):
        callbacks.FlossingCallbackMixin(probe, k=2, select=lambda m: m, every=0)
    if importlib.util.find_spec("lightning") is not None:
        from lightning.pytorch.callbacks import Callback

        assert issubclass(callbacks.FlossingCallback, Callback)


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_flossing_where_gradients_are_not_recorded_says_so(context):
    """Inside no_grad the exponents cannot be attached to the parameters: the error names that, not the
    parameters (which do require grad)."""
    rnn, x = tanh_rnn(3, 1.0), inputs(2, 20, 1)
    with context(), pytest.raises(InputError, match=r"not recording gradients .*no_grad"):
        lyapax.flossing_loss(rnn, x, k=1)
    assert lyapax.flossing_loss(rnn, x, k=1).requires_grad


# -- chaotic networks: the documented recipe, the warning (docs/flossing.md, "When the gradient grows") ------


def torch_gated(kind: str, seed: int) -> torch.nn.Module:
    """`lyapax.testing.networks.chaotic_gated_cell` as a float64 torch.nn.GRU / LSTM (32 units)."""
    from lyapax.testing.networks import chaotic_gated_cell

    return native_model(chaotic_gated_cell(kind, 32, seed, gain=3.0), "float64")


def recipe(rnn: torch.nn.Module, steps: int = 150, seed: int = 0) -> None:
    """The first PyTorch recipe of docs/flossing.md: fresh 30-step windows (10 of warm-up), k = 2, Adam with a
    cosine decay from 1e-2 to 1e-3, gradient norm clipped at 1."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(rnn.parameters(), lr=1e-2)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=1e-3)
    for _ in range(steps):
        probe = torch.as_tensor(0.1 * rng.standard_normal((8, 30, 1)))
        loss = lyapax.flossing_loss(rnn, probe, k=2, warmup=10)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(rnn.parameters(), 1.0)
        opt.step()
        decay.step()


def leading(rnn: torch.nn.Module) -> tuple[float, float]:
    """λ1 and its standard error (nats/step) on 8 held-out 300-step sequences."""
    s = lyapax.spectrum(rnn, inputs(8, 300, 99), k=1, warmup=100)
    return float(s.exponents[0]), float(s.stderr[0])


@pytest.mark.training
@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_chaotic_gated_network_flossed_with_the_documented_recipe(kind):
    rnn = torch_gated(kind, seed=1)
    before, se_before = leading(rnn)
    assert before > 0.1 and before > 5 * se_before  # chaotic by construction
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChaoticGradientWarning)  # the recipe's windows stay below the limit
        recipe(rnn)
    after, se_after = leading(rnn)
    assert abs(after) < abs(before) - 3 * np.hypot(se_before, se_after)


def test_chaotic_long_window_warns_and_stable_network_does_not():
    chaotic, stable = torch_gated("gru", seed=1), tanh_rnn(32, 0.8)
    long = inputs(4, 200, 3)
    with pytest.warns(ChaoticGradientWarning, match=r"exp\(λ1 \* 200\).*shorter probes.*clip") as caught:
        lyapax.flossing_loss(chaotic, long, k=2, warmup=10)
    (w,) = [c.message for c in caught if isinstance(c.message, ChaoticGradientWarning)]
    assert w.kind == "growth" and w.horizon == 200 and w.exponent * 200 > lyapax.flossing.GROWTH_LIMIT
    assert isinstance(w, lyapax.NumericalWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all: not on a stable network, not on a short window
        lyapax.flossing_loss(stable, long, k=2, warmup=10)
        lyapax.flossing_loss(chaotic, long[:, :30], k=2, warmup=10)
        warnings.filterwarnings("ignore", category=ChaoticGradientWarning)  # silenceable
        lyapax.flossing_loss(chaotic, long, k=2, warmup=10)


@pytest.mark.training
def test_lightning_callback_defaults_floss_a_chaotic_network():
    from lyapax_torch import callbacks

    rnn = torch_gated("lstm", seed=1)
    before, se_before = leading(rnn)
    opt = torch.optim.Adam(rnn.parameters(), lr=1e-2)
    probe = inputs(8, 600, 4)  # 20 windows of 30 steps, taken in turn
    cb = callbacks.FlossingCallbackMixin(probe, k=2, select=lambda m: m, before=150)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChaoticGradientWarning)
        cb.on_train_start(SimpleNamespace(optimizers=[opt], global_step=0), rnn)
    after, se_after = leading(rnn)
    assert max(cb.grad_norms) > 1.0  # clipping was needed and applied
    assert abs(after) < abs(before) - 3 * np.hypot(se_before, se_after)
    with pytest.raises(InputError, match="^clip:"):
        callbacks.FlossingCallbackMixin(probe, k=2, select=lambda m: m, clip=0)
    with pytest.raises(InputError, match="^warmup:"):
        callbacks.FlossingCallbackMixin(probe, k=2, select=lambda m: m, window=10, warmup=10)
