"""The conformance suite every backend runs against itself.

A backend package ``lyapax_<name>`` registered under the ``lyapax.backends``
entry points provides a module ``<package>.testing`` with:

- ``KINDS``: the kinds of `lyapax.testing.LAYER_KINDS` its framework has as
  standard layers (homogeneous stacks of them included);
- ``native_model(cell, dtype)``: the framework's own model holding the weights of
  a canonical `lyapax.cells` cell (or homogeneous `Stack`);
- ``native_array(a, dtype)``: a numpy array as the framework's array;
- ``native_step(model, h, x, dtype)``: one step of the framework's own forward pass
  from the flat canonical state ``h (B, d)`` and input ``x (B, F)`` (numpy),
  returning the next flat canonical state as numpy;
- ``linear_step(A, U, dtype)``: a step function ``f(h, x) = h A^T + x U^T`` written
  with the framework's ops (it exercises the autodiff path);
- optionally ``snapshot(model)``: everything a computation must leave as it was
  (parameters, training flags, the framework's global RNG state) as a list of
  numpy arrays and plain values, compared before and after each bad input.

Then a test module of the backend subclasses `BackendConformance`::

    from lyapax.testing.conformance import BackendConformance

    class TestConformance(BackendConformance):
        backend = "torch"

Every property is checked against the numpy reference path: spectra, one step of the
state, float32, covariant vectors (`lyapax.covariant_vectors`: vectors up to sign,
growth rates, angles) and finite-time exponents (`lyapax.finite_time`).
The entry points' agreement with each other (``ortho_every="auto"``, ``qr="cholesky"``) and
the NaN/Inf-state cases come from `lyapax.testing.entry_points`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from . import _missing_test_tool

try:
    import pytest
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ModuleNotFoundError as exc:
    raise _missing_test_tool(__name__, ("pytest", "hypothesis"), exc) from exc

from .. import cells, registry
from ..api import spectrum
from ..covariant import CovariantVectors, covariant_vectors
from ..errors import InputError, NumericalError
from ..finite_time import finite_time
from ..namespace import missing
from .bad_inputs import BAD_INPUTS, BadInput, Context
from .entry_points import EntryPointConformance, backend_builders
from .networks import LAYER_KINDS, random_network
from .strategies import Case, cases

__all__ = [
    "BackendConformance",
    "CovariantCase",
    "assert_covariant_close",
    "assert_refused",
    "backend_builders",
    "covariant_case",
    "covariant_tolerance",
    "input_sensitivity",
    "one_step_tolerance",
    "float32_agrees",
    "float32_tolerance",
    "float64_tolerance",
]


# Each backend's subclass runs the same test methods: different executors by design.
_SHARED = [HealthCheck.differing_executors]


def float64_tolerance(reference) -> float:
    """``1e-9 + 1e-13 · exp(p · (λ1 - λk))`` absolute while round-off cannot be amplified past
    it (``max(λ1, 0) · T <= 12``; the second term is the conditioning of a product of
    ``p = ortho_every`` maps, as paid by the QR). Beyond the predictability horizon of a chaotic
    network, trajectories that differ in the last bit part ways and only a coarse 0.25 is meaningful."""
    ps = reference.per_sequence
    horizon = max(float(ps[:, 0].max()), 0.0) * (reference.steps + reference.warmup)
    if horizon > 12:
        return 0.25
    spread = float(ps[:, 0].max() - ps[:, -1].min())
    return 1e-9 + 1e-13 * np.exp(min(reference.ortho_every * spread, 50.0))


def input_sensitivity(run: Callable[[Any], Any], inputs: Any, values: Any, *, scale: float = 1e-10,
                      directions: int = 2) -> float:
    """The largest change of ``values = run(inputs)`` when ``inputs`` (a float64 array) are perturbed by a
    relative ``scale`` in ``directions`` seeded random directions: the problem's own conditioning, measured.

    Two float64 implementations of one network differ by rounding that acts as a perturbation of the
    data far below 1e-10 relative; where the exponents respond linearly the response to 1e-10 bounds
    theirs, and where they respond sub-linearly it bounds it more loosely still. Measured (issue 25): a
    two-layer tanh stack whose third and fourth exponents lie 0.08 apart over 120 steps moved its third
    exponent by 1.3e-6 for a 1e-10 perturbation (and 5e-6 for 1e-8: a square-root-like response); JAX
    and numpy differed there by 7e-7 and 6e-6 in two processes, while the QR's conditioning predicted 1e-9.
    """
    x = np.asarray(inputs, dtype=np.float64)
    rng = np.random.default_rng(0)
    change = 0.0
    for _ in range(directions):
        moved = np.asarray(run(x * (1.0 + scale * rng.standard_normal(x.shape))))
        change = max(change, float(np.max(np.abs(moved - np.asarray(values)), initial=0.0)))
    return change


def one_step_tolerance(model: Any, inputs: Any, reference, *, backend: str | None = "numpy", **options: Any) -> float:
    """Absolute tolerance (nats/step) between two float64 computations of the same spectrum (a framework's
    layer or its autodiff and the numpy reference ``model``; the first ``k`` exponents and all of them; the
    sum and ``mean log|det J|``), from the conditioning of each QR's product and of the problem.

    A QR computes ``r_ii`` as what is left of a column of ``A = J_p ... J_1 Q`` after the others are
    projected out, with an absolute error about ``u·r_11`` (``u = 2**-52``), so ``log r_ii`` carries a
    relative error up to ``u · r_11 / r_ii``: the exponential of that interval's spread of growth, which
    ``finite_time(window=p, ortho_every=p)`` on the reference measures, interval by interval. It is not
    the spread of the exponents: an LSTM whose forget gates close shrinks a direction by e^-10 in a
    step, and what one machine's inputs reach, another's may exceed (issue 25: a test at 1e-10 failed
    at 7.7e-10 on another machine). That term is ``1e-12 + 100 · u · max exp(spread)`` (100: the ``d``
    units and the weights' size; 1e-12: rounding summed over the steps). Exponents that lie close
    together converge slowly and respond to any perturbation far more than the QR's rounding says: ten
    times `input_sensitivity` of the spectrum (with the reference's options) covers them. Never below
    `float64_tolerance` (0.25 beyond the predictability horizon of a chaotic network).
    ``backend``: the one that computes (``None``: the model's own, for a framework's model).
    ``options``: the reference's options (``h0``, ``warmup``, ``seed``, ``basis``, ``time_major``; ``k`` and
    ``ortho_every`` are the reference's own).
    """
    floor = float64_tolerance(reference)
    if floor >= 0.25:
        return 0.25
    options = {name: value for name, value in options.items() if name not in ("k", "ortho_every")}
    p = int(reference.ortho_every) if reference.ortho_every != "auto" else 1
    k = int(reference.per_sequence.shape[1])
    intervals = finite_time(model, inputs, window=p, ortho_every=p, k=k, keep_windows=True, backend=backend,
                            dtype="float64", **options)
    rates = np.asarray(intervals.windows)
    spread = float(np.max(rates[..., 0] - rates[..., -1])) * p if rates.shape[-1] > 1 else 0.0
    rounding = 1e-12 + 100 * 2.0**-52 * np.exp(min(spread, 50.0))
    conditioning = 0.0
    if inputs is not None:
        def run(x: Any) -> Any:
            return spectrum(model, x, k=k, ortho_every=reference.ortho_every, backend=backend, dtype="float64",
                            **options).per_sequence
        conditioning = 10 * input_sensitivity(run, _host(inputs), reference.per_sequence)
    return min(0.25, max(floor, rounding, conditioning))


def _host(array: Any) -> np.ndarray:
    """A framework's tensor or a numpy array as a float64 numpy array."""
    to_numpy = getattr(array, "numpy", None)
    if callable(to_numpy) and not isinstance(array, np.ndarray):
        array = array.detach().numpy() if hasattr(array, "detach") else to_numpy()
    return np.asarray(array, dtype=np.float64)


def float32_tolerance(reference) -> np.ndarray:
    """Float32 vs float64 reference, per exponent ``λ_i``, in the predictable regime:
    ``2e-4 + 2e-6 · T + 2e-4 · |λ_i| + 1.2e-7 · exp(3 · p · (λ1 - λ_i))``.

    Round-off in each log|R_ii| is ~1e-7 relative and accumulates at worst linearly in T;
    the QR computes R_ii as what is left of column i after projecting out the columns above,
    whose norms are larger by about exp(p · (λ1 - λ_i)) (``p = ortho_every``), more at the
    most contracting steps than on average (the factor 3). Beyond the predictability horizon
    of a chaotic network: 0.25.
    """
    ps = reference.per_sequence
    if float64_tolerance(reference) >= 0.25:
        return np.full_like(ps, 0.25)
    gap = ps[:, :1] - ps
    conditioning = 1.2e-7 * np.exp(np.minimum(3.0 * reference.ortho_every * gap, 50.0))
    return 2e-4 + 2e-6 * (reference.steps + reference.warmup) + 2e-4 * np.abs(ps) + conditioning


def float32_agrees(got, reference, *, gap: float = 0.05) -> bool:
    """Whether a float32 spectrum agrees with the float64 reference, on the well-conditioned
    quantities: the largest exponent (where the reference separates it from the second by more
    than ``gap``) and the sum of all ``k`` (the growth rate of k-volumes) within the summed
    `float32_tolerance`.

    The split of the rest is not compared: where saturated units make a step's Jacobian nearly
    singular (one direction contracting by e^-9 in a step), which direction survives is decided
    by round-off, so two float64 implementations (numpy and PyTorch, same algorithm) already
    split λ2 and λ3 differently by 0.025 on such a network, and float32 by 0.5, while λ1 and the
    sum agree to 1e-6.
    """
    ps = reference.per_sequence
    tol = np.cumsum(float32_tolerance(reference), axis=1)
    diff = np.abs(np.cumsum(got.per_sequence, axis=1) - np.cumsum(ps, axis=1))
    total_ok = np.all(diff[:, -1] <= tol[:, -1])
    separated = ps[:, 0] - ps[:, 1] > gap if ps.shape[1] > 1 else np.ones(ps.shape[0], bool)
    first_ok = np.all((diff[:, 0] <= tol[:, 0]) | ~separated)
    return bool(total_ok and first_ok)


#: Kinds whose spectra are smooth in the state (relu's are not: see ``BackendConformance._kinds``).
SMOOTH_KINDS = tuple(k for k in LAYER_KINDS if k != "relu")


@dataclass(frozen=True)
class CovariantCase:
    """A small float64 network whose covariant vectors are well posed, with its numpy reference.

    Attributes:
        kind: one of `lyapax.testing.LAYER_KINDS`.
        cell: the canonical network (one layer, 3 units, 2 input features).
        inputs: ``(2, warmup + window + transient, 2)`` inputs (about 60 + 120 + 150 steps).
        options: keyword arguments of `lyapax.covariant_vectors` (vectors at every QR step
            of the window).
        window: counted steps whose vectors are computed.
        reference: the numpy backend's `lyapax.CovariantVectors`.
    """

    kind: str
    cell: cells.Cell
    inputs: np.ndarray
    options: dict
    window: int
    reference: CovariantVectors


@functools.cache
def covariant_case(kind: str, ortho_every: int = 1) -> CovariantCase:
    """The first seeded network of ``kind`` (gain 1, 3 units, ``k = 3``) whose numpy covariant
    vectors converge within the backward transient (150 steps, tolerance 1e-6) and whose largest
    exponent is negative, so round-off is not amplified along the 330 steps and float64 backends
    must agree to round-off. Cached: do not modify the arrays."""
    warmup, window, transient = (n - n % ortho_every for n in (60, 120, 150))
    for seed in range(50):
        rng = np.random.default_rng(seed)
        cell = random_network(kind, 3, 2, rng, gain=1.0)
        inputs = rng.normal(size=(2, warmup + window + transient, 2))
        options = {"k": min(cell.dim, 3), "warmup": warmup, "transient": transient, "ortho_every": ortho_every,
                   "at": list(range(0, window, ortho_every)), "seed": seed}
        try:
            ref = covariant_vectors(cell, inputs, backend="numpy", **options)
        except (InputError, NumericalError):  # nearly equal exponents (slow convergence), a singular step
            continue
        if ref.per_sequence[:, 0].max() < 0:
            return CovariantCase(kind, cell, inputs, options, window, ref)
    raise AssertionError(f"covariant_case: no well-posed {kind} network among 50 seeds")  # pragma: no cover


def covariant_tolerance(reference: CovariantVectors) -> float:
    """Absolute tolerance (nats/step) on float64 growth rates and covariant exponents, for a
    network with a negative largest exponent: ``1e-9 + 1e-13 · exp(p · (λ1 - λk))`` (as
    `float64_tolerance`: the conditioning of a product of ``p = ortho_every`` maps)."""
    ps = reference.per_sequence
    spread = float(ps.max() - ps.min())
    return 1e-9 + 1e-13 * np.exp(min(reference.ortho_every * spread, 50.0))


def assert_covariant_close(got: CovariantVectors, reference: CovariantVectors, *, vectors: float = 1e-7) -> None:
    """``got`` and ``reference`` hold the same covariant vectors up to sign (each unit vector within
    ``vectors`` in Euclidean norm), the same angles (within ``vectors`` radians) and the same
    growth rates and exponents (within `covariant_tolerance`, nats/step)."""
    assert got.vectors.shape == reference.vectors.shape, (got.vectors.shape, reference.vectors.shape)
    np.testing.assert_array_equal(got.steps, reference.steps)
    sign = np.sign(np.sum(got.vectors * reference.vectors, axis=-2, keepdims=True))
    distance = np.linalg.norm(got.vectors - sign * reference.vectors, axis=-2)
    worst = np.unravel_index(np.argmax(distance), distance.shape)
    assert distance.max() <= vectors, (
        f"covariant vector {worst[2] + 1} of sequence {worst[1]} at counted step {int(got.steps[worst[0]])} is "
        f"{distance.max():.3g} away from the reference's (up to sign), more than {vectors:g}"
    )
    tol = covariant_tolerance(reference)
    np.testing.assert_allclose(got.growth_rates, reference.growth_rates, rtol=0, atol=tol, err_msg="growth rates")
    np.testing.assert_allclose(got.per_sequence, reference.per_sequence, rtol=0, atol=tol, err_msg="exponents")
    np.testing.assert_allclose(got.angles, reference.angles, rtol=0, atol=vectors, err_msg="angles")
    np.testing.assert_allclose(got.subspace_angles, reference.subspace_angles, rtol=0, atol=vectors,
                               err_msg="subspace angles")


def _log_volumes(V: np.ndarray) -> np.ndarray:
    """``log vol_i`` ``(..., k)``: the log of the ``i``-volume spanned by the first ``i`` columns of
    ``V (..., d, k)``, for ``i = 1 .. k`` (``0.5 · log det`` of their Gram matrix)."""
    out = []
    for i in range(1, V.shape[-1] + 1):
        A = V[..., :i]
        out.append(0.5 * np.linalg.slogdet(np.swapaxes(A, -1, -2) @ A)[1])
    return np.stack(out, axis=-1)


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(a).dtype.kind == "f")
    return a == b


def assert_refused(row: BadInput, ctx: Context, backend: str, snapshot=None) -> None:
    """``row``'s call raises its library error, message first, and changes nothing: not the
    model (``snapshot``), not the inputs, not numpy's global RNG."""
    kwargs = {"model": ctx.model, "inputs": ctx.inputs, "backend": backend, **row.call(ctx)}
    native_before = np.array(ctx.x, copy=True)
    model_before = snapshot(kwargs["model"]) if snapshot is not None else None
    rng_before = np.random.get_state()[1].copy()
    with pytest.raises(row.error) as info:
        spectrum(**kwargs)
    assert isinstance(info.value, row.error), info.value
    assert re.match(row.match, str(info.value)), f"{row.id}: {info.value!s} does not begin like {row.match!r}"
    np.testing.assert_array_equal(ctx.x, native_before)
    np.testing.assert_array_equal(np.random.get_state()[1], rng_before)
    if snapshot is not None:
        assert _same(snapshot(kwargs["model"]), model_before), f"{row.id}: the model was changed"


def _spectrum_or_error(fn):
    try:
        return fn(), None
    except NumericalError as exc:
        return None, exc


class BackendConformance(EntryPointConformance):
    """Properties every backend must have; subclass it with ``backend = "<name>"`` (the entry points'
    agreement and NaN/Inf-state cases come from `lyapax.testing.entry_points.EntryPointConformance`)."""

    backend: ClassVar[str] = ""
    #: Hypothesis examples of the property tests that compile programs for each example's shapes
    #: (`COMPILING`); ``None``: the profile's. A backend whose compilation takes seconds sets fewer;
    #: a profile with fewer examples still wins (``oldest``).
    compiled_examples: ClassVar[int | None] = None
    COMPILING: ClassVar[tuple[str, ...]] = (
        "test_matches_numpy_reference_float64", "test_finite_time_matches_numpy_reference",
        "test_float32_within_documented_tolerance", "test_prefix_property", "test_ortho_every_gives_the_same_sums",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        examples = cls.__dict__.get("compiled_examples")
        if examples is not None:
            examples = min(examples, settings.default.max_examples)
            for name in cls.COMPILING:
                body = getattr(BackendConformance, name).hypothesis.inner_test
                test = settings(max_examples=examples, suppress_health_check=_SHARED)(given(data=st.data())(body))
                setattr(cls, name, test)

    def _native(self, case: Case, dtype: str = "float64") -> dict:
        return {
            "model": self.t.native_model(case.cell, dtype),
            "inputs": self.t.native_array(case.inputs, dtype),
        }

    def _kinds(self, smooth: bool = True) -> st.SearchStrategy[Case]:
        # relu spectra are discontinuous in the state: round-off that flips a unit's sign near 0
        # changes the Jacobian, so spectra of relu networks are compared in test_relu_* instead
        kinds = [k for k in self.t.KINDS if not (smooth and k == "relu")]
        return cases(kinds=kinds)

    def test_registered_and_installed(self):
        assert self.backend in registry.backends()
        assert registry.get_backend(self.backend).name == self.backend

    def test_namespace_has_what_the_core_computes_with(self):
        assert missing(registry.get_backend(self.backend).namespace()) == []

    @settings(suppress_health_check=_SHARED)
    @given(data=st.data())
    def test_matches_numpy_reference_float64(self, data):
        case = data.draw(self._kinds())
        ref, ref_err = _spectrum_or_error(case.reference)
        native = self._native(case)
        got, got_err = _spectrum_or_error(
            lambda: spectrum(native["model"], native["inputs"], backend=self.backend, dtype="float64", **case.options)
        )
        if ref_err is not None:  # e.g. dead relu units: both must report it
            assert got_err is not None and got_err.kind == ref_err.kind, (ref_err, got)
            return
        assert got_err is None, got_err
        assert got.backend == self.backend and got.per_sequence.shape == ref.per_sequence.shape
        tol = one_step_tolerance(case.cell, case.inputs, ref, **case.options)
        np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=tol)

    @settings(suppress_health_check=_SHARED)
    @given(data=st.data())
    def test_one_step_state_matches_reference(self, data):
        import array_api_compat.numpy as xp

        case = data.draw(self._kinds(smooth=False))
        rng = np.random.default_rng(case.seed)
        h = rng.normal(scale=0.5, size=(case.inputs.shape[0], case.cell.dim))
        model = self.t.native_model(case.cell, "float64")
        got = self.t.native_step(model, h, case.inputs[:, 0], "float64")
        np.testing.assert_allclose(got, case.cell.step(xp, h, case.inputs[:, 0]), rtol=0, atol=1e-12)

    @settings(suppress_health_check=_SHARED)
    @given(data=st.data())
    def test_float32_within_documented_tolerance(self, data):
        case = data.draw(self._kinds())
        # ortho_every = 1: in float32 a product of several maps of a wide spectrum is too
        # ill-conditioned for its most negative exponents (documented), whatever the backend.
        # k = d: the last of k < d exponents converges only at the rate of its gap to the next,
        # uncomputed one, so its finite-T value amplifies round-off (float32's 1e-7 can become 1e-3)
        opts = {**case.options, "ortho_every": 1, "k": case.cell.dim}
        ref, ref_err = _spectrum_or_error(lambda: case.reference(ortho_every=1, k=case.cell.dim))
        if ref_err is not None:
            return
        native = self._native(case, "float32")
        got, err = _spectrum_or_error(
            lambda: spectrum(native["model"], native["inputs"], backend=self.backend, dtype="float32", **opts)
        )
        # float32 may round a saturated unit's slope to an exact zero, and overflows
        # (1e38) long before float64 (1e308) on a diverging network
        assert err is None or err.kind == "zero" or ref.max_exponent > 0, err
        if got is not None:
            assert got.dtype == "float32"
            assert float32_agrees(got, ref), (
                got.per_sequence, ref.per_sequence)

    @settings(suppress_health_check=_SHARED)
    @given(data=st.data())
    def test_prefix_property(self, data):
        case = data.draw(self._kinds())
        native = self._native(case)
        opts = {**case.options, "ortho_every": 1}
        full = spectrum(native["model"], native["inputs"], backend=self.backend, dtype="float64",
                        **{**opts, "k": case.cell.dim})
        part = spectrum(native["model"], native["inputs"], backend=self.backend, dtype="float64", **opts)
        # the leading k basis columns evolve independently of the others, so the k-run's exponents are
        # exponents of the full run (at finite T the sorted order may interleave nearly tied ones)
        distance = np.abs(part.per_sequence[:, :, None] - full.per_sequence[:, None, :]).min(axis=2)
        assert distance.max() <= 1e-9, (part.per_sequence, full.per_sequence)

    @settings(suppress_health_check=_SHARED)
    @given(data=st.data())
    def test_ortho_every_gives_the_same_sums(self, data):
        case = data.draw(self._kinds())
        native = self._native(case)
        every = spectrum(native["model"], native["inputs"], backend=self.backend, dtype="float64",
                         **{**case.options, "ortho_every": 1})
        grouped = spectrum(native["model"], native["inputs"], backend=self.backend, dtype="float64", **case.options)
        # exact in exact arithmetic; the round-off of a product of p maps grows like its condition
        # number, exp(p · spread) on average and more at the most contracting steps
        spread = float(every.per_sequence[:, 0].max() - every.per_sequence[:, -1].min())
        tol = 1e-9 + 1e-11 * np.exp(min(case.ortho_every * spread, 50.0))
        np.testing.assert_allclose(grouped.per_sequence, every.per_sequence, rtol=0, atol=tol)

    def _covariant(self, case: CovariantCase, **overrides) -> CovariantVectors:
        if case.kind not in self.t.KINDS:
            pytest.skip(f"{self.backend} has no standard {case.kind} layer")
        model, x = self.t.native_model(case.cell, "float64"), self.t.native_array(case.inputs, "float64")
        got = covariant_vectors(model, x, backend=self.backend, dtype="float64", **{**case.options, **overrides})
        assert got.backend == self.backend and got.dtype == "float64"
        return got

    @pytest.mark.parametrize("ortho_every", [1, 2])
    @pytest.mark.parametrize("kind", SMOOTH_KINDS)
    def test_covariant_vectors_match_numpy_reference(self, kind, ortho_every):
        case = covariant_case(kind, ortho_every)
        assert_covariant_close(self._covariant(case), case.reference)

    def test_covariant_vectors_of_a_linear_map_are_its_eigenvectors(self):
        """A constant non-normal map ``h -> A h + U x`` through the autodiff path: its covariant vectors
        are ``A``'s eigenvectors (the Gram-Schmidt vectors are its Schur vectors, not these) and
        their growth rates ``log |eigenvalue|``."""
        rng = np.random.default_rng(0)
        rotation, _ = np.linalg.qr(rng.normal(size=(4, 4)))
        eigenvalues = np.array([0.9, -0.6, 0.35, 0.15])
        A = rotation @ (np.triu(rng.normal(size=(4, 4)), 1) + np.diag(eigenvalues)) @ rotation.T
        f = self.t.linear_step(A, rng.normal(size=(4, 2)) * 0.1, "float64")
        x = self.t.native_array(rng.normal(size=(2, 150, 2)), "float64")
        h0 = self.t.native_array(np.zeros((2, 4)), "float64")
        cv = covariant_vectors(f, x, h0=h0, backend=self.backend, dtype="float64", warmup=50, transient=50,
                               at=[0, 25, 49])
        w, v = np.linalg.eig(A)
        v = np.real(v[:, np.argsort(-np.abs(w))])
        v /= np.linalg.norm(v, axis=0)
        assert np.abs(v.T @ v - np.eye(4)).max() > 0.1  # non-normal: eigenvectors are not orthogonal
        np.testing.assert_allclose(np.abs(np.einsum("nbdk,dk->nbk", cv.vectors, v)), 1.0, rtol=0, atol=1e-12)
        np.testing.assert_allclose(cv.growth_rates, np.broadcast_to(np.log(np.abs(eigenvalues)), cv.growth_rates.shape),
                                   rtol=0, atol=1e-9)

    @pytest.mark.parametrize("kind", SMOOTH_KINDS)
    def test_covariant_growth_rates_average_to_the_exponents(self, kind):
        """The time average of the covariant growth rates is the Lyapunov exponent, up to a boundary
        term, checked as an identity against the backend's own Gram-Schmidt exponents.

        ``J V_t = V_{t+1} diag(e^{γ_t})`` and ``V_t = Q_t C_t`` with ``C_t`` upper triangular, so over
        the steps ``a .. b-1`` the first ``i`` growth rates sum to the first ``i`` ``log R_jj`` (the
        finite-time exponents of one window, times its length) plus ``log vol_i(V_a) - log vol_i(V_b)``,
        the change of the volume spanned by the first ``i`` unit vectors: O(1) nats, so the two kinds
        of exponents differ by O(1 / window)."""
        case = covariant_case(kind, 1)
        warmup, window, k = case.options["warmup"], case.window, case.options["k"]
        cv = self._covariant(case, at=[0, window - 1])
        # the finite-time exponents of the first window - 1 steps, in the basis' column order
        ft = finite_time(self.t.native_model(case.cell, "float64"),
                         self.t.native_array(case.inputs[:, : warmup + window - 1], "float64"), backend=self.backend,
                         dtype="float64", window=window - 1, warmup=warmup, k=k, seed=case.options["seed"])
        assert ft.count == 1
        covariant_sums = np.cumsum(cv.per_sequence * window - cv.growth_rates[-1], axis=1)  # steps 0 .. window-2
        boundary = _log_volumes(cv.vectors[0]) - _log_volumes(cv.vectors[-1])
        assert np.abs(boundary).max() > 0.1  # the identity is not the trivial one
        np.testing.assert_allclose(covariant_sums, np.cumsum(ft.mean * (window - 1), axis=1) + boundary,
                                   rtol=0, atol=1e-8)

    @settings(suppress_health_check=_SHARED)
    @given(data=st.data())
    def test_finite_time_matches_numpy_reference(self, data):
        case = data.draw(self._kinds())
        p = case.ortho_every
        # few window lengths and whole windows only: compiled runners (one program per chunk length) reuse theirs
        window = p * data.draw(st.sampled_from([4, 10]))
        counted = (case.inputs.shape[1] - case.warmup) // window * window
        x = case.inputs[:, : case.warmup + counted]
        opts = {**case.options, "window": window, "keep_windows": True}
        ref, ref_err = _spectrum_or_error(lambda: finite_time(case.cell, x, backend="numpy", **opts))
        model, native = self.t.native_model(case.cell, "float64"), self.t.native_array(x, "float64")
        got, got_err = _spectrum_or_error(
            lambda: finite_time(model, native, backend=self.backend, dtype="float64", **opts)
        )
        if ref_err is not None:
            assert got_err is not None and got_err.kind == ref_err.kind, (ref_err, got)
            return
        assert got_err is None, got_err
        assert got.spectrum.backend == self.backend
        assert (got.count, got.windows.shape) == (ref.count, ref.windows.shape)
        tol = float64_tolerance(ref.spectrum)
        if tol >= 0.25:  # past the predictability horizon windows part ways; their mean does not
            np.testing.assert_allclose(got.spectrum.per_sequence, ref.spectrum.per_sequence, rtol=0, atol=tol)
            return
        # one step's round-off lands in one window: its share of the whole run's is (counted steps) / window
        # larger; windows of nearby exponents respond to any perturbation more than to the QR's rounding
        windows = lambda z: finite_time(case.cell, z, backend="numpy", **opts).windows  # noqa: E731
        tol = max(tol * counted / window, 10 * input_sensitivity(windows, x, ref.windows))
        np.testing.assert_allclose(got.windows, ref.windows, rtol=0, atol=tol)
        np.testing.assert_allclose(got.mean, ref.mean, rtol=0, atol=tol)

    @pytest.mark.parametrize("layers", [1, 2])
    def test_relu_matches_numpy_reference(self, layers):
        if "relu" not in self.t.KINDS:
            pytest.skip(f"{self.backend} has no standard relu layer")  # pragma: no cover
        from .networks import random_network

        rng = np.random.default_rng(layers)
        cell = random_network("relu", 4, 2, rng, layers=layers, gain=0.8)
        # positive weights, biases and inputs keep every unit active, away from relu's kink at 0
        cell = cell.map_arrays(lambda a: np.abs(a) + 1.0 if a.ndim == 1 else 0.5 * np.abs(a))
        x = rng.uniform(0.0, 0.5, size=(2, 60, 2))
        ref = spectrum(cell, x, backend="numpy", warmup=5)
        native = self.t.native_model(cell, "float64")
        got = spectrum(native, self.t.native_array(x, "float64"), backend=self.backend, dtype="float64", warmup=5)
        np.testing.assert_allclose(got.per_sequence, ref.per_sequence, rtol=0, atol=1e-9)

    @pytest.mark.parametrize("c", [0.6, 1.0, 1.25])
    def test_scaled_orthogonal_linear_map_gives_log_c(self, c):
        rng = np.random.default_rng(0)
        orth, _ = np.linalg.qr(rng.normal(size=(5, 5)))
        f = self.t.linear_step(c * orth, rng.normal(size=(5, 2)) * 0.1, "float64")
        x = self.t.native_array(rng.normal(size=(3, 60, 2)), "float64")
        h0 = self.t.native_array(np.zeros((3, 5)), "float64")
        s = spectrum(f, x, h0=h0, backend=self.backend, dtype="float64")
        np.testing.assert_allclose(s.per_sequence, np.log(c), atol=1e-10)

    def test_bad_inputs_give_clear_errors(self):
        rng = np.random.default_rng(1)
        cell = random_cell_for(self.t.KINDS[0], rng)
        model = self.t.native_model(cell, "float64")
        x = rng.normal(size=(2, 10, cell.input_size))
        with pytest.raises(InputError, match="inputs"):
            spectrum(model, self.t.native_array(x[:, :, :1] if cell.input_size > 1 else np.concatenate([x, x], 2),
                                                "float64"), backend=self.backend)
        with pytest.raises(InputError, match="inputs"):
            spectrum(model, self.t.native_array(x[0], "float64"), backend=self.backend)
        bad = x.copy()
        bad[1, 3, 0] = np.nan
        with pytest.raises(InputError, match="NaN"):
            spectrum(model, self.t.native_array(bad, "float64"), backend=self.backend)
        with pytest.raises(InputError, match="k:"):
            spectrum(model, self.t.native_array(x, "float64"), backend=self.backend, k=cell.dim + 1)
        with pytest.raises(InputError, match="warmup"):
            spectrum(model, self.t.native_array(x, "float64"), backend=self.backend, warmup=10)
        with pytest.raises(InputError, match="dtype"):
            spectrum(model, self.t.native_array(x, "float64"), backend=self.backend, dtype="float16")

    @pytest.mark.parametrize("row", BAD_INPUTS, ids=lambda r: r.id)
    def test_bad_input_table(self, row):
        rng = np.random.default_rng(5)
        kind = "gru" if "gru" in self.t.KINDS else self.t.KINDS[0]
        cell = random_cell_for(kind, rng)
        x = rng.normal(size=(2, 10, cell.input_size))
        ctx = Context(self.t.native_model(cell, "float64"), self.t.native_array(x, "float64"), x,
                      self.t.native_array, cell.dim, 2, 10, cell.input_size)
        assert_refused(row, ctx, self.backend, getattr(self.t, "snapshot", None))

    def test_inputs_are_not_changed(self):
        rng = np.random.default_rng(2)
        cell = random_cell_for(self.t.KINDS[0], rng)
        x = rng.normal(size=(2, 12, cell.input_size))
        native = self.t.native_array(x, "float64")
        spectrum(self.t.native_model(cell, "float64"), native, backend=self.backend, warmup=2)
        np.testing.assert_array_equal(np.asarray(native), x)


def random_cell_for(kind: str, rng: np.random.Generator):
    from .networks import random_cell

    return random_cell(kind, 3, 2, rng, gain=1.0)
