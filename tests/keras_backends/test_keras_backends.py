"""Keras 3 on each of its backends: the same model gives the same spectrum under KERAS_BACKEND=tensorflow,
jax and torch, computed by the lyapax backend of that name, and agrees with the numpy reference.

Keras picks its backend once, at import, so each backend runs in its own process (`keras_worker.py`),
JAX and torch with TensorFlow hidden (as where it is not installed). Every model gets its weights
from `keras_cases` and the references are built there from the same numbers in numpy.

Tolerances: float64 computations of the standard cells, 1e-9 (they agree to 1e-11 here).
Float32 ones (the README's default dtype, and custom cells on JAX and torch, whose ``keras.ops``
compute float64 products in float32, Keras's rule, keras/src/backend/common/dtypes.py
``BIT64_TO_BIT32_DTYPE``): within 10x what float32 itself changes (a different order of operations
moves them by up to 5x that here), measured in the test as the
numpy reference in float32 against float64.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras_cases as C
import numpy as np
import pytest
from filelock import FileLock

import lyapax

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
ATOL = 1e-9

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("keras") is None or any(importlib.util.find_spec(m) is None for m in KERAS_BACKENDS),
    reason="needs keras, tensorflow, jax and torch (the agreement session)",
)


def readme_block() -> str:
    """The code of README.md's TensorFlow / Keras block."""
    text = (ROOT / "README.md").read_text()
    return re.search(r"## TensorFlow / Keras\s+```python\n(.*?)```", text, re.S).group(1)


def run_worker(backend: str) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, HIDE_TENSORFLOW="0" if backend == "tensorflow" else "1",
               TF_CPP_MIN_LOG_LEVEL="2", README_BLOCK=readme_block(), PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))
    # one BLAS thread: several threads per process on a shared 2-core machine made one batched QR 50x slower
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(HERE / "keras_worker.py")], capture_output=True, text=True, env=env,
                          timeout=900)
    assert done.returncode == 0, f"KERAS_BACKEND={backend}: {done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict]:
    """The three workers' answers, computed once per run: pytest-xdist's workers share them through a
    file (each computed them itself before: 78 s and 63 s of a 165 s agreement session, measured)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return {b: run_worker(b) for b in KERAS_BACKENDS}
    shared = tmp_path_factory.getbasetemp().parent / "keras_backends_results.json"
    with FileLock(f"{shared}.lock"):
        if not shared.is_file():
            shared.write_text(json.dumps({b: run_worker(b) for b in KERAS_BACKENDS}))
        return json.loads(shared.read_text())


def spectrum_rows(results: dict, key: str) -> dict[str, np.ndarray]:
    return {b: np.asarray(r[key]) for b, r in results.items()}


def float32_effect(cell: lyapax.cells.Cell, x: np.ndarray, **kw) -> tuple[np.ndarray, float]:
    """The float64 reference's per-sequence exponents and how far computing them in float32 moves them."""
    ref = lyapax.spectrum(cell, x.astype(np.float64), **kw).per_sequence
    low = lyapax.spectrum(cell.map_arrays(lambda a: np.asarray(a, np.float32)), x, dtype="float32", **kw).per_sequence
    return ref, float(np.abs(low - ref).max())


def test_each_keras_backend_is_computed_by_its_lyapax_backend(results):
    for backend, r in results.items():
        assert r["backend"] == backend and r["readme"]["backend"] == backend
        assert r["readme"]["dtype"] == "float32"  # the layer's own dtype, on every backend
    for backend in ("jax", "torch"):  # without TensorFlow: nothing asked for it, and its backend is absent
        assert results[backend]["tensorflow_imported"] is False
        assert "tensorflow" not in results[backend]["backends"]


def test_readme_block_is_the_one_tested(results):
    block = readme_block()
    for backend, r in results.items():  # run as written (its own random weights and inputs)
        assert r["readme_verbatim"] == {"backend": backend, "k": C.README["k"]}
    assert f"keras.layers.LSTM({C.README['layers'][0][1]})" in block
    assert f"np.random.randn({', '.join(map(str, C.README['shape']))})" in block
    assert f"warmup={C.README['warmup']}" in block and f"k={C.README['k']}" in block


def test_readme_block_gives_the_same_spectrum_on_every_backend(results):
    c = C.README
    ref, effect = float32_effect(C.reference(c), C.inputs(c["shape"], c["seed"]), warmup=c["warmup"], k=c["k"])
    for backend, r in results.items():
        np.testing.assert_allclose(r["readme"]["float64"], ref, rtol=0, atol=ATOL, err_msg=backend)
        np.testing.assert_allclose(r["readme"]["float32"], ref, rtol=0, atol=10 * effect, err_msg=backend)


@pytest.mark.parametrize("key", ["stack", "stack_list"])
def test_lstm_gru_simple_rnn_stack_on_every_backend(results, key):
    ref = lyapax.spectrum(C.reference(C.STACK), C.inputs(C.STACK["shape"], C.STACK["seed"]).astype(np.float64))
    rows = spectrum_rows(results, key)
    assert ref.per_sequence.shape == (3, 2 * 5 + 4 + 3)
    for backend, got in rows.items():
        np.testing.assert_allclose(got, ref.per_sequence, rtol=0, atol=ATOL, err_msg=backend)


def test_rnn_of_a_cell_reading_backwards_and_the_cell_itself(results):
    c = C.GRU_BEFORE
    x = C.inputs(c["shape"], c["seed"]).astype(np.float64)
    ref = C.reference(c, reset_after=False)
    backwards = lyapax.spectrum(ref, x[:, ::-1]).per_sequence
    forwards = lyapax.spectrum(ref, x).per_sequence
    assert np.abs(backwards - forwards).max() > 1e-3  # reading backwards is a different computation
    for backend, r in results.items():
        np.testing.assert_allclose(r["rnn_backwards"], backwards, rtol=0, atol=ATOL, err_msg=backend)
        np.testing.assert_allclose(r["cell"], forwards, rtol=0, atol=ATOL, err_msg=backend)


def test_custom_cell_through_each_backends_autodiff(results):
    c = C.CUSTOM
    ref, effect = float32_effect(C.custom_reference(), C.inputs(c["shape"], c["seed"]))
    assert effect > 0
    for backend, r in results.items():
        assert r["custom"]["dtype"] == "float64"  # its variables' dtype
        tol = ATOL if backend == "tensorflow" else 10 * effect  # keras.ops products in float32 on JAX and torch
        np.testing.assert_allclose(r["custom"]["rows"], ref, rtol=0, atol=tol, err_msg=backend)


def test_flossing_loss_and_gradients_agree(results):
    loss = {b: r["flossing"]["loss"] for b, r in results.items()}
    grads = {b: [np.asarray(g) for g in r["flossing"]["grads"]] for b, r in results.items()}
    assert loss["tensorflow"] > 0
    for backend in ("jax", "torch"):
        assert loss[backend] == pytest.approx(loss["tensorflow"], abs=ATOL)
        # TensorFlow and torch hand back float32 gradients (the variables' dtype): float32's resolution
        for g, h in zip(grads[backend], grads["tensorflow"]):
            np.testing.assert_allclose(g, h, rtol=0, atol=4 * np.finfo(np.float32).eps * np.abs(h).max())
    assert "lyapax_jax.flossing_loss" in results["jax"]["flossing"]["refused"]


def test_callbacks_record_step_zero_then_epochs_done_on_every_backend(results):
    initial = {}
    for backend, r in results.items():
        cb = r["callbacks"]
        assert cb["epochs"] == cb["on_record"] == cb["monitor_steps"] == [0, 1, 2], backend
        assert len(cb["history_max"]) == 2 and np.isfinite(cb["history_max"]).all()
        assert len(cb["floss_losses"]) == 1 and np.isfinite(cb["floss_losses"][0])
        initial[backend] = np.asarray(cb["initial"])
    cell = C.reference_cell("LSTM", C.weights("LSTM", 6, 3, 6))
    probe = C.inputs((16, 20, 3), 7)[:3]
    ref = lyapax.spectrum(cell, probe.astype(np.float64), k=4)
    for backend, got in initial.items():  # step 0: the weights set before fit, untouched
        np.testing.assert_allclose(got, ref.exponents, rtol=0, atol=ATOL, err_msg=backend)
    # the flossing step before the first batch (float32, k=1, no warm-up): the loss of the same weights
    lam, effect = float32_effect(cell, probe, k=1, warmup=0)
    loss = float(np.mean(lam[:, 0] ** 2))
    for backend, r in results.items():
        assert r["callbacks"]["floss_losses"][0] == pytest.approx(loss, abs=10 * effect * 2 * np.abs(lam).max()), backend


def test_the_wrong_lyapax_backend_names_keras_backend(results):
    for backend, r in results.items():
        message = r["wrong_backend"]
        assert message and f"KERAS_BACKEND={backend}" in message and f"backend={backend!r}" in message


@pytest.mark.skipif(importlib.util.find_spec("lightning") is None, reason="needs lightning")
def test_one_step_convention_across_monitor_lightning_and_keras():
    """Step 0 at initialisation, step e after e epochs: by hand, in Lightning and in Keras (on torch), with
    the same probe and weights: the same steps recorded, logged (on_record) and the same exponents."""
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(HERE / "steps_worker.py")], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["keras"]["epochs"] == [0, 1, 2]
    for name in ("monitor", "lightning", "keras"):
        assert out[name]["steps"] == out[name]["on_record"] == [0, 1, 2], name
        np.testing.assert_allclose(out[name]["exponents"], out["monitor"]["exponents"], rtol=0, atol=ATOL, err_msg=name)
    ref = lyapax.spectrum(C.reference_cell("LSTM", C.weights("LSTM", 4, 3, 9)), C.inputs((3, 20, 3), 10).astype(float),
                          warmup=4).exponents
    np.testing.assert_allclose(out["monitor"]["exponents"][0], ref, rtol=0, atol=ATOL)
