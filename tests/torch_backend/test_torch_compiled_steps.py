"""Step functions' tangent maps compiled by torch.compile (lyapax_torch.loop) and their eager fallback.

Tolerance of the comparisons with the analytic cell (float64, 1e-9 relative to the exponents' scale):
the compiled graph fuses kernels and evaluates tanh/sigmoid with vectorised code, so each step's
tangent map differs from the analytic one by a few ulps (~1e-15 relative). The GRU below is
contracting (every exponent < 0), so state differences do not grow along the trajectory, and a
relative perturbation δ of each step's tangent map moves each log|R_ii| by at most about δ times the
conditioning of that step's basis, here below 1e2: the exponents, means over the steps, agree to
~1e-13. A wrong tangent map (a missing term, a wrong gate) moves them by 1e-3 or more.

Compiling costs seconds, so the compiled graphs are shared: one model, one set of shapes (the
module-scoped fixtures), reused by every test that compiles.
"""

from __future__ import annotations

import lyapax_torch
import numpy as np
import pytest
import torch
from lyapax_torch import loop as compiled
from lyapax_torch.namespace import namespace
from torch_helpers import from_threads

import lyapax
from lyapax.errors import InputError

B, T, F, H = 3, 40, 3, 5


@pytest.fixture(scope="module")
def gru():
    with torch.random.fork_rng():  # seeded initialisation that leaves the global RNG as it was
        torch.manual_seed(7)
        return torch.nn.GRU(F, H, batch_first=True).double().eval()


@pytest.fixture(scope="module")
def step(gru):
    """The GRU's own forward as a step function: one object, so its compiled graph is shared."""
    return lyapax_torch.step_function(gru)


@pytest.fixture(scope="module")
def x():
    return torch.randn(B, T, F, generator=torch.Generator().manual_seed(3), dtype=torch.float64)


@pytest.fixture
def mode():
    """Restores the process-wide choice after each test."""
    before = lyapax_torch.set_step_compilation("auto")
    yield lyapax_torch.set_step_compilation
    lyapax_torch.set_step_compilation(before)


def _spectrum(f, x, **options):
    return lyapax.spectrum(f, x, h0=torch.zeros(B, H, dtype=torch.float64), **options)


def _tolerance(reference):
    return 1e-9 * max(1.0, float(np.abs(reference.per_sequence).max()))


def test_compiled_and_eager_step_functions_agree_with_the_analytic_cell(gru, step, x, mode):
    analytic = lyapax.spectrum(gru, x)
    assert np.all(analytic.exponents < 0)  # the contracting regime the tolerance is argued for
    f = step
    for choice in ("never", "always"):
        mode(choice)
        before = compiled.graphs()
        s = _spectrum(f, x)
        assert compiled.graphs() == before + (choice == "always")  # the compiled path ran (or did not)
        np.testing.assert_allclose(s.per_sequence, analytic.per_sequence, rtol=0, atol=_tolerance(analytic))
    again = _spectrum(f, x)  # the graph is kept: no new compilation, the same numbers
    assert compiled.graphs() == before + 1
    np.testing.assert_array_equal(again.per_sequence, s.per_sequence)


def test_compiled_step_functions_from_two_threads_give_the_sequential_results(step, x, mode):
    mode("always")
    f = step
    expected = _spectrum(f, x).per_sequence
    results = from_threads(lambda: _spectrum(f, x).per_sequence, threads=2, calls=2)
    assert len(results) == 4
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_auto_compiles_from_its_switch_step_on(gru, step, x, mode, monkeypatch):
    f = step
    eager = _spectrum(f, x, history=8)  # history=8: chunks of 8 steps
    mode("auto")
    before = compiled.graphs()
    short = _spectrum(f, x, history=8)  # 40 steps, far below the switch: all eager, bit for bit
    assert compiled.graphs() == before
    np.testing.assert_array_equal(short.per_sequence, eager.per_sequence)
    monkeypatch.setattr(compiled, "AUTO_AFTER", 16)
    switched = _spectrum(f, x, history=8)  # steps 0-15 eager, 16-39 compiled
    analytic = lyapax.spectrum(gru, x, history=8)
    np.testing.assert_allclose(switched.per_sequence, analytic.per_sequence, rtol=0, atol=_tolerance(analytic))


def _plain_step(h, x):
    return torch.tanh(0.5 * h + x.sum(dim=1, keepdim=True))


def test_without_compilation_the_eager_tangent_map_runs_with_a_warning(x, mode, monkeypatch):
    """Where torch.compile is unavailable (no C++ compiler, an old torch), "always" warns and gives
    exactly the eager numbers; "auto" stays silent."""
    mode("never")
    eager = _spectrum(_plain_step, x)
    monkeypatch.setattr(compiled, "_unavailable", lambda: "no C++ compiler found (simulated)")
    mode("always")
    with pytest.warns(RuntimeWarning, match=r"runs eagerly \(torch.func\): no C\+\+ compiler found \(simulated\)"):
        s = _spectrum(_plain_step, x)
    np.testing.assert_array_equal(s.per_sequence, eager.per_sequence)


def test_a_compiled_graph_that_disagrees_with_eager_is_discarded(x, mode, monkeypatch):
    """Never silently wrong: a graph whose first step differs from the eager tangent map beyond
    rounding (here a stand-in for a miscompilation) is dropped and the eager map computes."""
    mode("never")
    eager = _spectrum(_plain_step, x)

    class Wrong:
        def __init__(self, name):
            self.checked, self.failed, self.seconds = False, "", 0.0

        def fn(self, definition, params, h, x, Q):
            h_next, JQ = definition.build(params).step_tangent(namespace(), h, x, Q)
            return h_next, 1.001 * JQ

    monkeypatch.setattr(compiled, "_Graph", Wrong)
    monkeypatch.setattr(compiled, "_GRAPHS", type(compiled._GRAPHS)())
    mode("always")
    with pytest.warns(RuntimeWarning, match="differed from the eager one beyond rounding"):
        s = _spectrum(_plain_step, x)
    np.testing.assert_array_equal(s.per_sequence, eager.per_sequence)
    # the same in chunks of 8 steps (history=8): the chunks after the first run eagerly from the
    # first chunk's (inference-mode) carry
    with pytest.warns(RuntimeWarning, match="differed from the eager one"):
        s = _spectrum(_plain_step, x, history=8)
    np.testing.assert_array_equal(s.per_sequence, _spectrum_never(_plain_step, x, mode, history=8).per_sequence)


def _spectrum_never(f, x, mode, **options):
    before = mode("never")
    try:
        return _spectrum(f, x, **options)
    finally:
        mode(before)


def test_the_choice_is_checked(mode, monkeypatch):
    with pytest.raises(InputError, match=r"^mode: expected one of 'auto', 'always', 'never', got 'sometimes'"):
        lyapax_torch.set_step_compilation("sometimes")
    monkeypatch.setattr(compiled, "_MODE", [None])
    monkeypatch.setenv("LYAPAX_TORCH_COMPILE", "yes")
    with pytest.raises(InputError, match=r"^LYAPAX_TORCH_COMPILE: expected one of auto, always, never, got 'yes'"):
        compiled.step_compilation()
    monkeypatch.setenv("LYAPAX_TORCH_COMPILE", "Never")
    assert compiled.step_compilation() == "never"


def test_differentiable_spectra_never_compile(x, mode):
    mode("always")
    before = compiled.graphs()
    W = torch.full((1,), 0.5, dtype=torch.float64, requires_grad=True)

    def f(h, x):
        return torch.tanh(W * h + x.sum(dim=1, keepdim=True))

    s = _spectrum(f, x, differentiable=True)
    s.raw.sum().backward()
    assert compiled.graphs() == before and W.grad is not None
