"""The continuous-time rate network `lyapax.cells.RateNetwork` (numpy, float64).

Its steps against an RK4 and an Euler step written here, its tangent maps against finite
differences, exponents against exact ones (linear networks), the sum and prefix identities,
per-unit-time rates, and its bad-input errors.
"""

from __future__ import annotations

import array_api_compat.numpy as xp
import numpy as np
import pytest

import lyapax
from lyapax import cells
from lyapax.algorithm import orthonormal_basis
from lyapax.cells import RateNetwork
from lyapax.testing import trajectory

N, F, B = 6, 2, 3
METHODS = [("euler", 0.3), ("euler", 1.0), ("rk4", 0.1), ("rk4", 0.5)]
IDS = [f"{m}-dt{dt}" for m, dt in METHODS]


def network(rng, method="rk4", dt=0.1, *, g=2.0, inputs=True, bias=True, tau=1.0, nonlinearity="tanh"):
    return RateNetwork(
        rng.normal(0, g / np.sqrt(N), (N, N)),
        rng.normal(0, 1.0, (N, F)) if inputs else None,
        rng.normal(0, 0.3, N) if bias else None,
        dt=dt, tau=tau, method=method, nonlinearity=nonlinearity,
    )


def reference_step(cell, h, u):
    """The step written out: Euler, or classical RK4 of tau dh/dt = -h + J phi(h) + B u + b with u held."""
    phi = {"tanh": np.tanh, "linear": lambda z: z, "relu": lambda z: np.maximum(z, 0)}[cell.nonlinearity]
    drive = (0 if u is None else u @ cell.weight_ih.T) + (0 if cell.bias is None else cell.bias)

    def f(y):
        return (-y + phi(y) @ cell.weight_hh.T + drive) / cell.tau

    if cell.method == "euler":
        return h + cell.dt * f(h)
    k1 = f(h)
    k2 = f(h + cell.dt / 2 * k1)
    k3 = f(h + cell.dt / 2 * k2)
    k4 = f(h + cell.dt * k3)
    return h + cell.dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def fd_jacobian(step, h, eps=1e-6):
    J = np.empty((h.shape[0], h.shape[1], h.shape[1]))
    for j in range(h.shape[1]):
        e = np.zeros(h.shape[1])
        e[j] = eps
        J[:, :, j] = (step(h + e) - step(h - e)) / (2 * eps)
    return J


@pytest.mark.parametrize(("method", "dt"), METHODS, ids=IDS)
@pytest.mark.parametrize("nonlinearity", ["tanh", "linear"])
def test_step_is_the_euler_or_rk4_step_written_out(method, dt, nonlinearity, rng):
    cell = network(rng, method, dt, tau=0.7, nonlinearity=nonlinearity)
    h, u = rng.normal(size=(B, N)), rng.normal(size=(B, F))
    np.testing.assert_allclose(cell.step(xp, h, u), reference_step(cell, h, u), rtol=1e-13, atol=1e-13)
    Q = rng.normal(size=(B, N, 2))
    np.testing.assert_array_equal(cell.step_tangent(xp, h, u, Q)[0], cell.step(xp, h, u))


def test_euler_at_leak_one_is_the_discrete_map_exactly(rng):
    cell = network(rng, "euler", 1.0)
    assert cell.leak == 1.0 and cell.dt == 1.0
    h, u = rng.normal(size=(B, N)), rng.normal(size=(B, F))
    np.testing.assert_array_equal(cell.step(xp, h, u), np.tanh(h) @ cell.weight_hh.T + (u @ cell.weight_ih.T + cell.bias))
    half = RateNetwork(cell.weight_hh, dt=0.5, tau=2.0, method="euler")  # leak 0.25
    np.testing.assert_allclose(half.step(xp, h, None), 0.75 * h + 0.25 * (np.tanh(h) @ cell.weight_hh.T), rtol=1e-15)


@pytest.mark.parametrize(("method", "dt"), METHODS, ids=IDS)
def test_tangent_map_equals_finite_differences(method, dt, rng):
    cell = network(rng, method, dt, g=3.0, tau=1.3)
    h, u = rng.normal(size=(B, N)), rng.normal(size=(B, F))
    Q = np.stack([orthonormal_basis(N, 4, seed=s) for s in range(B)])
    _, JQ = cell.step_tangent(xp, h, u, Q)
    # central differences of a smooth step: error O(eps^2 |d3 step|) ~ 1e-11, rounding ~ 1e-10 / eps-scale
    np.testing.assert_allclose(JQ, fd_jacobian(lambda y: cell.step(xp, y, u), h) @ Q, atol=1e-8)


def test_input_tangent_of_a_stacked_rate_network(rng):
    """The rate network above an Elman layer: the whole map's Jacobian includes the input coupling."""
    bottom = cells.Elman(rng.normal(size=(F, F)), rng.normal(size=(F, F)) * 0.5)
    top = network(rng, "rk4", 0.2)
    stack = cells.Stack([bottom, top])
    assert stack.dt == 0.2 and stack.dim == F + N
    h, u = rng.normal(size=(B, stack.dim)), rng.normal(size=(B, F))
    J = cells.jacobian(xp, stack, h, u)
    np.testing.assert_allclose(J, fd_jacobian(lambda y: stack.step(xp, y, u), h), atol=1e-8)
    assert np.abs(J[:, F:, :F]).max() > 1e-3  # the coupling block is there


def test_stacked_rate_networks_must_share_dt(rng):
    with pytest.raises(ValueError, match=r"layers: the rate networks of one Stack step together, so they need one dt"):
        cells.Stack([network(rng, "rk4", 0.1), RateNetwork(np.eye(N), np.eye(N), dt=0.2)])


def _exact_linear_exponents(cell):
    """log|eigenvalues| of the step's propagator (phi = identity, no input): Euler (1 - δ) I + δ J; RK4 the
    degree-4 Taylor polynomial of exp(dt A), A = (J - I) / tau."""
    A = (cell.weight_hh - np.eye(N)) / cell.tau
    if cell.method == "euler":
        P = np.eye(N) + cell.dt * A
    else:
        M = cell.dt * A
        P = np.eye(N) + M + M @ M / 2 + M @ M @ M / 6 + M @ M @ M @ M / 24
    eig, V = np.linalg.eig(P)
    return np.sort(np.log(np.abs(eig)))[::-1], np.linalg.cond(V)


@pytest.mark.parametrize(("method", "dt"), METHODS, ids=IDS)
def test_linear_network_exponents_are_the_propagators_log_moduli(method, dt, rng):
    J = rng.normal(size=(N, N))
    J *= 1.2 / np.abs(np.linalg.eigvals(J)).max()  # unstable, and no overflow within the run (1.2^1200 ~ 1e95)
    cell = RateNetwork(J, dt=dt, method=method, nonlinearity="linear")
    exact, cond = _exact_linear_exponents(cell)
    steps, warmup = 1200, 200
    s = lyapax.spectrum(cell, steps=steps, warmup=warmup, h0=rng.normal(size=(2, N)))
    # the i-volumes of P^T differ from |λ_1...λ_i|^T by at most a factor cond(V)^2 (eigenvector basis)
    tol = 4 * np.log(cond) / (steps - warmup) + 1e-12
    np.testing.assert_allclose(s.exponents, exact, rtol=0, atol=tol)
    np.testing.assert_allclose(s.exponents_per_time, exact / dt, rtol=1e-14, atol=tol / dt)
    assert s.dt == dt


@pytest.mark.parametrize(("method", "dt"), METHODS, ids=IDS)
def test_sum_rule_and_prefix_property(method, dt, rng):
    cell = network(rng, method, dt, g=2.5)
    x = rng.normal(size=(2, 80, F))
    h0 = rng.normal(size=(2, N))
    full = lyapax.spectrum(cell, x, h0=h0, seed=3)
    states = trajectory(cell, x, h0)
    logdet = sum(np.linalg.slogdet(cells.jacobian(xp, cell, states[t], x[:, t]))[1] for t in range(x.shape[1]))
    np.testing.assert_allclose(full.per_sequence.sum(axis=1), logdet / x.shape[1], rtol=1e-10, atol=1e-10)
    # the leading columns evolve alike whatever k (exact); sorted rows agree once the order has settled
    x = rng.normal(size=(2, 400, F))
    full = lyapax.spectrum(cell, x, h0=h0, seed=3, warmup=100)
    top = lyapax.spectrum(cell, x, h0=h0, seed=3, warmup=100, k=2)
    np.testing.assert_allclose(top.per_sequence, full.per_sequence[:, :2], rtol=0, atol=1e-10)


def test_rates_per_unit_time_and_units(rng):
    cell = network(rng, "rk4", 0.25, tau=2.0)
    s = lyapax.spectrum(cell, rng.normal(size=(2, 60, F)), h0=rng.normal(size=(2, N)))
    assert s.dt == 0.25 and s.to_dict()["dt"] == 0.25
    np.testing.assert_array_equal(s.exponents_per_time, s.exponents / 0.25)
    np.testing.assert_allclose(s.exponents_in("bits"), s.exponents / 0.25 / np.log(2), rtol=1e-15)
    np.testing.assert_allclose(s.exponents_in("nats", dt=1), s.exponents, rtol=1e-15)
    assert "per unit time (dt = 0.25)" in repr(s)
    discrete = lyapax.spectrum(cells.Elman(np.eye(N)[:, :F], cell.weight_hh), rng.normal(size=(2, 20, F)))
    assert discrete.dt == 1.0 and "per unit time" not in repr(discrete)
    np.testing.assert_array_equal(discrete.exponents_per_time, discrete.exponents)


def test_split_and_build_keep_the_options(rng):
    cell = network(rng, "euler", 0.4, tau=2.0, nonlinearity="relu")
    definition, params = cell.split()
    again = definition.build(params)
    assert (again.dt, again.tau, again.method, again.nonlinearity) == (0.4, 2.0, "euler", "relu")
    assert hash(definition) == hash(network(rng, "euler", 0.4, tau=2.0, nonlinearity="relu").split()[0])
    assert set(params) == {"weight_hh", "weight_ih", "bias"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dt": "0.1"}, r"dt: expected a positive number \(a duration\), got '0.1' \(str\)"),
        ({"dt": 0.0}, r"dt: expected a positive finite duration, got 0.0"),
        ({"dt": float("nan")}, r"dt: expected a positive finite duration"),
        ({"dt": True}, r"dt: expected a positive number"),
        ({"tau": -1.0}, r"tau: expected a positive finite duration, got -1.0"),
        ({"tau": float("inf")}, r"tau: expected a positive finite duration"),
        ({"method": "rk45"}, r"method: expected 'rk4' or 'euler', got 'rk45'"),
        ({"nonlinearity": "sigmoid"}, r"nonlinearity: expected 'tanh', 'relu' or 'linear'"),
        ({"weight_hh": None}, r"weight_hh: expected an array of shape \(any, any\).*got NoneType"),
        ({"weight_hh": np.ones((N, N + 1))}, r"weight_hh: expected a matrix of shape \(6, 6\)"),
        ({"weight_ih": np.ones((N + 1, F))}, r"weight_ih: expected a matrix of shape \(6, any\)"),
        ({"bias": np.ones(N + 1)}, r"bias: expected shape \(6,\)"),
        ({"bias": [0.0] * N}, r"bias: expected an array of shape \(6,\).*got list"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, message):
    args = {"weight_hh": np.eye(N), "weight_ih": np.ones((N, F)), "bias": None, **kwargs}
    with pytest.raises(lyapax.InputError, match=message):
        RateNetwork(**args)


def test_autonomous_network_takes_no_inputs(rng):
    cell = network(rng, inputs=False)
    assert cell.input_size == 0
    with pytest.raises(lyapax.InputError, match="inputs: the model expects 0 features per step, got 2"):
        lyapax.spectrum(cell, rng.normal(size=(1, 10, 2)))


@pytest.mark.parametrize(("method", "dt"), METHODS, ids=IDS)
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu", "linear"])
def test_runs_on_a_strict_array_api_namespace(method, dt, nonlinearity, rng):
    strict = pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    cell = network(rng, method, dt, tau=0.8, nonlinearity=nonlinearity)
    h, u, Q, dx = rng.normal(size=(B, N)), rng.normal(size=(B, F)), rng.normal(size=(B, N, 3)), rng.normal(size=(B, F, 3))
    ref_h, ref_JQ = cell.step_tangent(xp, h, u, Q, dx)

    def to(a):
        return strict.asarray(a, dtype=strict.float64)

    got_h, got_JQ = cell.map_arrays(to).step_tangent(strict, to(h), to(u), to(Q), to(dx))
    np.testing.assert_allclose(np.from_dlpack(got_h), ref_h, rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.from_dlpack(got_JQ), ref_JQ, rtol=0, atol=1e-13)
