"""The QR engine on the numpy path: ``ortho_every="auto"``, CholeskyQR and its Householder
fallback, the linear algebra underneath, and float32 (mixed-precision) accuracy.

Every comparison is against a reference computed here (``ortho_every=1``, Householder, float64).
Tolerances, in nats/step, per exponent of every sequence:

- ``AUTO_TOL`` (1e-8): ``"auto"`` keeps the condition number of a p-step product below 1e8 in
  float64, so each QR's ``log|R_ii|`` is off by at most about ``u * 1e8 ≈ 1e-8`` (and the average
  over steps by less). Measured: at most 3e-12.
- ``CHOLESKY_TOL`` (1e-9): CholeskyQR2/3 and Householder are both backward stable, so their
  ``log|R_ii|`` differ by about ``u * κ`` of one step; a chaotic Elman network's full spectrum
  (one step's κ up to ~1e6) measured 2.4e-10, every other case below 5e-11.
- ``FLOAT32_RTOL`` (5e-3): the default float32 (float32 maps, float64 QR) is within
  ``5e-3 * max(1, |λ_i|)`` of float64 on trajectories that are not chaotic (λ1 < 0) and, for
  gated cells, whose most negative exponent is above -8 nats/step. Measured: at most 2.9e-3,
  in the most negative exponent (-7.9) of one of 16 sequences of an LSTM (hidden 128,
  d = 256, 200 steps), 2.7e-4 for the benchmark's PyTorch LSTM, 1.5e-4 at these sizes; an
  Elman network stays within it far lower (9e-4 at λd = -24). Below, an LSTM's most negative
  exponents lose accuracy in float32 whatever the QR dtype (the float32 tangent map's own
  rounding: 6e-2 at λd = -17). The same numbers are in docs/performance.md. On a chaotic trajectory float32 rounding moves the state
  itself onto another trajectory, and the finite-time exponents then differ by their
  statistical spread, not by a precision error.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as xp
import numpy as np
import pytest

import lyapax
from lyapax.linalg import QR, cholesky_qr, orthonormalize, solve_triangular
from lyapax.numpy_backend import NumpyBackend
from lyapax.options import parse
from lyapax.pipeline import compute
from lyapax.testing.networks import random_cell

AUTO_TOL = 1e-8
CHOLESKY_TOL = 1e-9
FLOAT32_RTOL = 5e-3

HIDDEN, FEATURES, BATCH, STEPS, WARMUP = 24, 4, 4, 300, 50
#: recurrent gain: ordered (small weights) and large (chaotic for the Elman network)
GAINS = {"ordered": 0.5, "chaotic": 3.0}
KINDS = ("tanh", "gru", "lstm")


def network(kind: str, gain: float, seed: int = 0, drive: float = 1.0) -> tuple[Any, np.ndarray]:
    """A random canonical cell and its inputs ``(BATCH, STEPS, FEATURES)``, ``N(0, drive²)``."""
    rng = np.random.default_rng(seed)
    cell = random_cell(kind, HIDDEN, FEATURES, rng, gain=gain)
    return cell, drive * rng.normal(size=(BATCH, STEPS, FEATURES))


def run(model: Any, inputs: Any, **options: Any) -> lyapax.Spectrum:
    """``lyapax.spectrum`` with the core's options (``chunk``: steps per chunk, so that ``"auto"``
    chooses its interval several times)."""
    options.setdefault("warmup", WARMUP)
    chunk = options.pop("chunk", None)
    return compute(model, inputs, parse("lyapax.spectrum", options)[0], chunk=chunk)


def max_error(a: lyapax.Spectrum, b: lyapax.Spectrum) -> float:
    """The largest difference of any exponent of any sequence, nats/step."""
    return float(np.max(np.abs(a.per_sequence - b.per_sequence)))


cases = pytest.mark.parametrize(
    "kind, regime, k",
    [(kind, regime, k) for kind in KINDS for regime in GAINS for k in (None, 3)],
    ids=lambda v: "all" if v is None else f"k{v}" if isinstance(v, int) else str(v),
)


# -- ortho_every="auto" -------------------------------------------------------------------------


@cases
def test_auto_interval_equals_every_step(kind: str, regime: str, k: int | None) -> None:
    cell, x = network(kind, GAINS[regime])
    ref = run(cell, x, k=k, ortho_every=1)
    auto = run(cell, x, k=k, ortho_every="auto", chunk=64)
    assert max_error(auto, ref) <= AUTO_TOL
    assert auto.ortho_every == "auto" and set(auto.intervals) <= {1, 2, 4, 8, 16}
    if k is not None:  # a few leading exponents, a narrow spread: a long interval must have been chosen
        assert max(auto.intervals) > 1, auto.intervals


def test_auto_interval_lengthens_for_a_narrow_spread_and_stays_short_for_a_wide_one() -> None:
    cell, x = network("tanh", GAINS["chaotic"])
    wide = run(cell, x, ortho_every="auto", chunk=64)
    narrow = run(cell, x, k=2, ortho_every="auto", chunk=64)
    spread = wide.exponents[0] - wide.exponents[-1]
    assert spread > np.log(1e8) / 2  # (the premise) even two steps would exceed the budget
    assert wide.intervals == (1,)
    assert max(narrow.intervals) == lyapax.linalg.MAX_AUTO_INTERVAL


def test_auto_interval_for_one_exponent() -> None:
    # one column: its "spread" is zero and the product of any number of maps is exact
    cell, x = network("gru", GAINS["chaotic"])
    ref = run(cell, x, k=1)
    auto = run(cell, x, k=1, ortho_every="auto", chunk=64)
    assert max(auto.intervals) == lyapax.linalg.MAX_AUTO_INTERVAL
    assert max_error(auto, ref) <= AUTO_TOL


@pytest.mark.parametrize("kind", KINDS)
def test_auto_interval_within_one_chunk_without_warmup(kind: str) -> None:
    # 200 steps, no warm-up: one default chunk; a short first chunk estimates the spread
    cell, x = network(kind, GAINS["chaotic"])
    ref = lyapax.spectrum(cell, x[:, :200], k=3)
    auto = lyapax.spectrum(cell, x[:, :200], k=3, ortho_every="auto")
    assert max(auto.intervals) > 1, auto.intervals
    assert max_error(auto, ref) <= AUTO_TOL


def test_a_fixed_long_interval_on_a_wide_spectrum_fails_the_auto_tolerance() -> None:
    # what "auto" avoids, and proof that AUTO_TOL would notice it
    cell, x = network("tanh", GAINS["chaotic"])
    ref = run(cell, x, ortho_every=1)
    assert max_error(run(cell, x, ortho_every=8), ref) > 1e3 * AUTO_TOL


@pytest.mark.parametrize("kind", KINDS)
def test_auto_interval_in_float32_stays_within_the_float32_tolerance(kind: str) -> None:
    cell, x = network(kind, GAINS["ordered"])
    ref = run(cell, x, k=3, dtype="float32")
    auto = run(cell, x, k=3, dtype="float32", ortho_every="auto", chunk=64)
    assert max(auto.intervals) > 1
    assert np.all(np.abs(auto.per_sequence - ref.per_sequence) <= FLOAT32_RTOL * np.maximum(1, np.abs(ref.per_sequence)))


# -- CholeskyQR and the Householder fallback ----------------------------------------------------


@cases
def test_cholesky_equals_householder(kind: str, regime: str, k: int | None) -> None:
    cell, x = network(kind, GAINS[regime])
    ref = run(cell, x, k=k, qr="householder")
    chol = run(cell, x, k=k, qr="cholesky")
    assert "cholesky" in chol.qr and "Householder redid" not in chol.qr, chol.qr
    assert max_error(chol, ref) <= CHOLESKY_TOL


def test_auto_on_a_cpu_is_householder() -> None:
    cell, x = network("gru", GAINS["ordered"])
    assert run(cell, x).qr == "householder"


def graded_map(d: int = 6, rate: float = 8.0) -> lyapax.Map:
    """``h -> h``, with a diagonal Jacobian whose entries are ``exp(-rate * i)`` where the input is 1
    (one step's condition number ``exp(rate (d - 1))``: 2e17 with the defaults, beyond what any
    CholeskyQR factors in float64) and ``exp(-0.01 i)`` where it is 0."""

    def jacobian(h: np.ndarray, x: np.ndarray) -> np.ndarray:
        logs = -np.arange(d) * np.where(x[:, :1] > 0.5, rate, 0.01)
        return np.eye(d) * np.exp(logs)[:, None, :]

    return lyapax.Map(lambda h, x: h, jacobian, dim=d, input_size=1)


def test_failed_cholesky_is_redone_with_householder_and_recorded() -> None:
    m, x = graded_map(), np.ones((2, 64, 1))
    ref = run(m, x, warmup=0, qr="householder")
    chol = run(m, x, warmup=0, qr="cholesky")
    assert "Householder redid 1 chunk(s)" in chol.qr, chol.qr
    assert max_error(chol, ref) <= 1e-12
    np.testing.assert_allclose(ref.exponents, -8.0 * np.arange(6), atol=0.2)  # the map's own rates


@pytest.fixture
def accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The numpy backend pretending its device is a GPU (what decides ``qr="auto"``)."""
    monkeypatch.setattr(NumpyBackend, "is_accelerator", lambda self, device: True)


@pytest.mark.parametrize("kind", KINDS)
def test_auto_on_an_accelerator_uses_cholesky_and_equals_householder(kind: str, accelerator: None) -> None:
    cell, x = network(kind, GAINS["ordered"])
    ref = run(cell, x, qr="householder")
    auto = run(cell, x)
    # the first chunk (warm-up, conditioning unknown) is Householder; counted chunks CholeskyQR2
    assert auto.qr == "cholesky2", auto.qr
    assert max_error(auto, ref) <= CHOLESKY_TOL


def test_auto_on_an_accelerator_falls_back_when_the_conditioning_jumps(monkeypatch: pytest.MonkeyPatch) -> None:
    # 64 benign steps (a narrow spread: CholeskyQR2 over 16-step products), then graded ones
    m = graded_map(rate=3.0)
    x = np.concatenate([np.zeros((2, 64, 1)), np.ones((2, 192, 1))], axis=1)
    on_cpu = run(m, x, warmup=0, ortho_every="auto", chunk=64)
    monkeypatch.setattr(NumpyBackend, "is_accelerator", lambda self, device: True)
    auto = run(m, x, warmup=0, ortho_every="auto", chunk=64)
    assert "Householder redid 1 chunk(s)" in auto.qr, auto.qr  # and Householder from then on
    assert on_cpu.qr == "householder" and auto.intervals == on_cpu.intervals
    assert max(auto.intervals) > 1
    assert max_error(auto, on_cpu) == 0.0


# -- linalg: cholesky_qr and solve_triangular against numpy.linalg -----------------------------


def conditioned(rng: np.random.Generator, batch: int, d: int, k: int, kappa: float) -> np.ndarray:
    """Random ``(batch, d, k)`` matrices with singular values ``logspace(0, -log10 kappa, k)``."""
    U = np.linalg.qr(rng.normal(size=(batch, d, k)))[0]
    V = np.linalg.qr(rng.normal(size=(batch, k, k)))[0]
    return (U * np.logspace(0, -np.log10(kappa), k)) @ V


def sign_fixed_qr(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    Q, R = np.linalg.qr(A)
    s = np.sign(np.diagonal(R, axis1=-2, axis2=-1))
    return Q * s[..., None, :], R * s[..., :, None]


def qr_quality(A: np.ndarray, Q: np.ndarray, R: np.ndarray) -> tuple[float, float]:
    """``max |QᵀQ - I|`` and the relative residual ``max ||QR - A|| / ||A||`` (Frobenius)."""
    k = A.shape[-1]
    orth = np.abs(np.swapaxes(Q, -1, -2) @ Q - np.eye(k)).max()
    res = (np.linalg.norm(Q @ R - A, axis=(-2, -1)) / np.linalg.norm(A, axis=(-2, -1))).max()
    return float(orth), float(res)


@pytest.mark.parametrize("shifted", [False, True], ids=["cholesky2", "cholesky3"])
@pytest.mark.parametrize("kappa", [1.0, 1e3, 1e6])
def test_cholesky_qr_matches_numpy_qr(rng: np.random.Generator, shifted: bool, kappa: float) -> None:
    A = conditioned(rng, 3, 40, 12, kappa)
    Q, R, ok = cholesky_qr(xp, A, "float64", shifted=shifted)
    Qn, Rn = sign_fixed_qr(A)
    assert ok.all()
    orth, res = qr_quality(A, Q, R)
    assert orth <= 1e-14 and res <= 1e-14
    np.testing.assert_allclose(Q, Qn, atol=1e-13 * kappa)  # both within u * kappa of the exact factors
    np.testing.assert_allclose(R, Rn, atol=1e-13 * kappa)
    np.testing.assert_array_equal(np.tril(R, -1), 0.0)


def test_shifted_cholesky_qr_reaches_further(rng: np.random.Generator) -> None:
    A = conditioned(rng, 3, 40, 12, 1e12)  # beyond CholeskyQR2 (u^-1/2 ~ 1e8), within shifted CholeskyQR3
    with np.errstate(all="ignore"):
        assert not cholesky_qr(xp, A, "float64", shifted=False)[2].any()
    Q, R, ok = cholesky_qr(xp, A, "float64", shifted=True)
    assert ok.all()
    orth, res = qr_quality(A, Q, R)
    assert orth <= 1e-14 and res <= 1e-14


@pytest.mark.parametrize("shifted", [False, True], ids=["cholesky2", "cholesky3"])
def test_cholesky_qr_says_when_it_fails(rng: np.random.Generator, shifted: bool) -> None:
    A = conditioned(rng, 2, 40, 12, 1e20)  # beyond u^-1: no CholeskyQR can factor it
    with np.errstate(all="ignore"):
        _, _, ok = cholesky_qr(xp, A, "float64", shifted=shifted)
    assert not ok.any()


@pytest.mark.parametrize("method", ["householder", "cholesky2", "cholesky3"])
def test_orthonormalize_in_float64_for_float32_maps(rng: np.random.Generator, method: str) -> None:
    A = conditioned(rng, 2, 30, 8, 1e3).astype(np.float32)
    Q, R, _ = orthonormalize(xp, A, QR(method, "float64", cast=True))
    assert Q.dtype == np.float32 and R.dtype == np.float64  # Q stored as the map's dtype, R (and logs) in float64
    _, Rn = sign_fixed_qr(A.astype(np.float64))
    np.testing.assert_allclose(np.diagonal(R, axis1=-2, axis2=-1), np.diagonal(Rn, axis1=-2, axis2=-1), rtol=1e-10)


def upper(rng: np.random.Generator, batch: int, k: int, kappa: float) -> np.ndarray:
    """Random upper-triangular ``(batch, k, k)`` with condition number about ``kappa``."""
    return np.linalg.qr(conditioned(rng, batch, k, k, kappa))[1]


@pytest.mark.parametrize("k", [1, 5, 16, 17, 40, 100])  # leaf only, at the leaf size, and recursive
def test_solve_triangular_matches_numpy(rng: np.random.Generator, k: int) -> None:
    R = upper(rng, 3, k, 10.0)
    B = rng.normal(size=(3, k, 7))
    np.testing.assert_allclose(solve_triangular(xp, R, B), np.linalg.solve(R, B), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("kappa", [1e8, 1e14])
def test_solve_triangular_is_backward_stable_when_ill_conditioned(rng: np.random.Generator, kappa: float) -> None:
    # the forward error may be as large as u * kappa (for numpy's solver too); the residual may not
    R = upper(rng, 2, 60, kappa)
    B = rng.normal(size=(2, 60, 5))
    X = solve_triangular(xp, R, B)
    Xn = np.linalg.solve(R, B)
    scale = np.linalg.norm(R, axis=(-2, -1))[:, None, None] * np.abs(X).max(axis=(-2, -1), keepdims=True)
    assert np.abs(R @ X - B).max() / scale.min() <= 1e-13
    np.testing.assert_allclose(X, Xn, atol=1e-14 * kappa * np.abs(Xn).max())


def test_solve_triangular_with_a_zero_on_the_diagonal_is_not_finite(rng: np.random.Generator) -> None:
    R = upper(rng, 1, 20, 10.0)
    R[0, 7, 7] = 0.0
    with np.errstate(all="ignore"):
        assert not np.isfinite(solve_triangular(xp, R, rng.normal(size=(1, 20, 2)))).all()


# -- float32 (mixed precision by default) against float64 --------------------------------------


#: (gain, input scale): ordered, near the edge of chaos (still λ1 < 0), and saturated (strong input:
#: many units in the flat part of tanh, λd about -13 for the Elman network)
FLOAT32_REGIMES = {"ordered": (0.5, 1.0), "edge": (1.5, 1.0), "saturated": (1.5, 3.0)}
#: the documented domain of FLOAT32_RTOL for gated cells: the most negative exponent above -8 nats/step
GATED_LOWEST = -8.0


@pytest.mark.parametrize(
    "kind, regime", [(k, r) for k in KINDS for r in ("ordered", "edge")] + [("tanh", "saturated")]
)
def test_float32_default_every_exponent_within_tolerance(kind: str, regime: str) -> None:
    gain, drive = FLOAT32_REGIMES[regime]
    cell, x = network(kind, gain, drive=drive)
    ref = run(cell, x)
    f32 = run(cell, x, dtype="float32")
    # (the premises) not chaotic: the same trajectory in both precisions; within the documented domain
    assert ref.exponents[0] < 0
    assert kind == "tanh" or ref.exponents[-1] > GATED_LOWEST
    assert f32.dtype == "float32" and f32.qr == "householder (float64)"
    err = np.abs(f32.per_sequence - ref.per_sequence)
    assert np.all(err <= FLOAT32_RTOL * np.maximum(1, np.abs(ref.per_sequence))), err.max()


def test_the_float32_tolerance_notices_a_precision_loss() -> None:
    # a long fixed interval in float32 (the condition number of an 8-step product far past 1/u):
    # the per-exponent check that the default passes must fail here
    cell, x = network("lstm", 1.5)
    ref = run(cell, x)
    bad = run(cell, x, dtype="float32", ortho_every=8)
    assert np.any(np.abs(bad.per_sequence - ref.per_sequence) > FLOAT32_RTOL * np.maximum(1, np.abs(ref.per_sequence)))
