"""lyapax.Monitor on the numpy path (no framework imported)."""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import lyapax  # noqa: E402
from lyapax.errors import InputError, LyapaxError  # noqa: E402
from lyapax.monitor import Monitor, MonitorRecord  # noqa: E402


def linear_cell(diag):
    """Linear Elman cell h' = diag(d) h + W x: exponents are log|d| exactly."""
    d = np.asarray(diag, dtype=np.float64)
    return lyapax.cells.Elman(np.ones((d.size, 2)), np.diag(d), nonlinearity="linear")


def tanh_cell(H=6, F=3, gain=1.5, seed=0):
    rng = np.random.default_rng(seed)
    return lyapax.cells.Elman(rng.normal(size=(H, F)), gain * rng.normal(size=(H, H)) / np.sqrt(H), np.zeros(H), None)


@pytest.fixture
def probe():
    return np.random.default_rng(1).normal(size=(4, 60, 3))


def test_known_exponents_recorded(probe):
    mon = Monitor(probe[:, :, :2], every=1, k=2, basis=np.eye(2))  # aligned basis: exact at any T
    spec = mon(linear_cell([0.5, 0.25]), step=0)
    rec = mon.records[0]
    np.testing.assert_allclose(rec.exponents, np.log([0.5, 0.25]), atol=1e-12)
    assert rec.max_exponent == pytest.approx(np.log(0.5))
    assert rec.kaplan_yorke_dimension == 0.0 and rec.entropy == 0.0
    assert rec.seconds > 0 and rec.backend == "numpy"
    np.testing.assert_allclose(spec.exponents, rec.exponents)


def test_every_and_steps(probe):
    cell = tanh_cell()
    mon = Monitor(probe, every=3, k=4)
    out = [mon.update(cell, step=s) for s in range(8)]
    assert [s for s, o in enumerate(out) if o is not None] == [0, 3, 6]
    np.testing.assert_array_equal(mon.steps, [0, 3, 6])
    assert len(mon) == 3
    # force computes whatever the step
    assert mon.update(cell, step=7, force=True) is not None and mon.steps[-1] == 7


def test_call_count_without_step(probe):
    cell = tanh_cell()
    mon = Monitor(probe, every=2, k=2)
    for _ in range(5):
        mon(cell)
    np.testing.assert_array_equal(mon.steps, [0, 2, 4])


def test_matches_direct_spectrum_and_does_not_change_model(probe):
    cell = tanh_cell()
    before = {k: v.copy() for k, v in cell.arrays().items()}
    probe_before = probe.copy()
    mon = Monitor(probe, k=5, warmup=10, ortho_every=2, seed=3)
    mon(cell, step=0)
    ref = lyapax.spectrum(cell, probe, k=5, warmup=10, ortho_every=2, seed=3)
    np.testing.assert_allclose(mon.records[0].exponents, ref.exponents, rtol=0, atol=1e-14)
    np.testing.assert_allclose(mon.records[0].stderr, ref.stderr, rtol=0, atol=1e-14)
    assert mon.records[0].kaplan_yorke_dimension == pytest.approx(ref.kaplan_yorke_dimension)
    for k, v in cell.arrays().items():
        np.testing.assert_array_equal(v, before[k])
    np.testing.assert_array_equal(probe, probe_before)


def test_k_clipped_to_state_dimension(probe):
    mon = Monitor(probe, k=16)
    mon(tanh_cell(H=5), step=0)
    assert mon.records[0].exponents.shape == (5,)


def test_select_and_on_record(probe):
    seen = []
    mon = Monitor(probe, k=3, select=lambda m: m["rnn"], on_record=lambda rec, spec: seen.append((rec.step, spec.k)))
    mon({"rnn": tanh_cell()}, step=4)
    assert seen == [(4, 3)]


def test_exports(probe, tmp_path):
    cell = tanh_cell()
    mon = Monitor(probe, every=1, k=4)
    for s in range(3):
        mon(cell, step=s * 10)
    arrays = mon.to_numpy()
    assert arrays["exponents"].shape == (3, 4) and arrays["stderr"].shape == (3, 4)
    np.testing.assert_array_equal(arrays["step"], [0, 10, 20])
    np.testing.assert_allclose(arrays["max_exponent"], arrays["exponents"][:, 0])
    assert np.all(arrays["seconds"] > 0)

    path = tmp_path / "sub" / "monitor.json"
    text = mon.to_json(path)
    data = json.loads(path.read_text())
    assert json.loads(text) == data and data["units"] == "nats/step" and data["probe_shape"] == [4, 60, 3]
    back = Monitor.load_records(path)
    assert [r.step for r in back] == [0, 10, 20]
    np.testing.assert_allclose(back[2].exponents, mon.records[2].exponents, rtol=0, atol=0)
    assert not list(path.parent.glob(".tmp-*"))  # atomic write leaves no temp file


def test_json_roundtrip_single_sequence_nan_stderr():
    x = np.random.default_rng(0).normal(size=(1, 30, 3))
    mon = Monitor(x, k=2)
    mon(tanh_cell(), step=0)
    data = json.loads(mon.to_json())
    assert data["records"][0]["stderr"] == [None, None]
    rec = MonitorRecord.from_dict(data["records"][0])
    assert np.all(np.isnan(rec.stderr))


def test_plots(probe):
    cell = tanh_cell()
    mon = Monitor(probe, every=1, k=4)
    with pytest.raises(LyapaxError):
        mon.plot_trajectories()
    for s in range(4):
        mon(cell, step=s)
    ax = mon.plot_trajectories(indices=[1, 2], errorbars=True)
    assert len(ax.get_lines()) == 3  # two trajectories + the zero line
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0, 1, 2, 3])
    ax2 = mon.plot_spectra(steps=[0, 3])
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == ["step 0", "step 3"]
    with pytest.raises(InputError, match="no record at step 99"):
        mon.plot_spectra(steps=[99])
    plt.close("all")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"every": 0}, "every"),
        ({"every": 1.5}, "every"),
        ({"k": 0}, "k:"),
        ({"inputs": 1}, "inputs"),
    ],
)
def test_bad_arguments(probe, kwargs, match):
    with pytest.raises(InputError, match=match):
        Monitor(probe, **kwargs)


def test_bad_probe():
    with pytest.raises(InputError, match="probe"):
        Monitor(np.zeros((3, 4)))
    with pytest.raises(InputError, match="probe"):
        Monitor(None)


def test_errors_from_spectrum_propagate(probe):
    mon = Monitor(probe, k=2, warmup=100)
    with pytest.raises(InputError, match="warmup"):
        mon(tanh_cell(), step=0)
    assert len(mon) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"warmup": 1.5}, "warmup: expected an integer >= 0"),
     ({"warmup": "abc"}, "warmup: expected an integer >= 0"),
     ({"k": 0}, "k: expected an integer >= 1"),
     ({"every": 0}, "every: expected an integer >= 1"),
     ({"seed": -1}, "seed: expected an integer >= 0"),
     ({"ortho_every": 2, "history": 3}, "history: must be a multiple of ortho_every")],
)
def test_monitor_refuses_what_spectrum_refuses(probe, kwargs, match):
    """The Monitor validates its options with the same checks, and messages, as lyapax.spectrum."""
    with pytest.raises(InputError, match=match):
        Monitor(probe, **kwargs)
    spectrum_kwargs = {("k" if k == "every" else k): v for k, v in kwargs.items()}
    if "every" not in kwargs and "k" not in kwargs:
        with pytest.raises(InputError, match=match):
            lyapax.spectrum(tanh_cell(), probe, **spectrum_kwargs)


def test_default_k_fits_a_small_model_and_warmup_is_a_fifth_of_the_probe(probe):
    mon = Monitor(probe)  # k=16 by default, a state of 6: all 6; warm-up 60 // 5 = 12
    spec = mon(tanh_cell(H=6))
    assert spec.k == 6 and spec.warmup == 12
    assert Monitor(probe, k=None)(tanh_cell(H=6)).k == 6
    assert Monitor(probe, k=3)(tanh_cell(H=6)).k == 3


def test_token_id_probe_gets_the_embedding_hint():
    tokens = np.random.default_rng(0).integers(0, 50, size=(4, 60))
    with pytest.raises(InputError, match=r"token ids.*inputs=model\.embedding\(tokens\)"):
        Monitor(tokens)
    with pytest.raises(InputError, match=r"add a batch axis \(probe\[None\]\)"):
        Monitor(np.zeros((60, 3)))


def test_inputs_follow_a_trainable_embedding():
    # a "trainable embedding" E in front of the cell: after E changes, the fixed probe is stale,
    # inputs=E[tokens] at each call is the spectrum of what the network now sees
    rng = np.random.default_rng(2)
    tokens = rng.integers(0, 10, size=(3, 80))
    E = rng.normal(size=(10, 3))
    cell = tanh_cell()
    mon = Monitor(E[tokens], k=3)
    mon(cell, step=0)
    E = 3.0 * E  # a training step changed the embedding
    fresh = mon(cell, step=1, inputs=E[tokens])
    stale = mon(cell, step=2)
    expected = lyapax.spectrum(cell, E[tokens], k=3, warmup=mon.warmup)
    np.testing.assert_allclose(fresh.exponents, expected.exponents, rtol=1e-12)
    np.testing.assert_allclose(mon.records[1].exponents, expected.exponents, rtol=1e-12)
    assert not np.allclose(stale.exponents, fresh.exponents, rtol=1e-3)
    np.testing.assert_allclose(stale.exponents, mon.records[0].exponents, rtol=1e-12)
