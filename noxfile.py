"""Test sessions: one per backend (each in its own virtualenv with only that
framework), cross-backend agreement, docs and lint. ``nox`` runs them all.

PyTorch is pinned to 2.13.0 (a CPU build; a looser requirement pulls a CUDA build of several GB).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests-numpy", "tests-torch", "tests-jax", "tests-tensorflow", "sweeps", "agreement", "docs"]
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
PYTEST = ["pytest", "-q", "-p", "no:cacheprovider"]

# The backend's framework must import and the backend must be registered, or the session fails.
CHECK = "import lyapax, {module}; assert '{name}' in lyapax.backends(), lyapax.backends()"


# The numpy session proves the core needs no framework: none may be installed there.
NO_FRAMEWORK = (
    "import importlib.util as u, sys; bad = [m for m in ('torch', 'jax', 'tensorflow') if u.find_spec(m)]; "
    "sys.exit(f'unexpected frameworks: {bad}' if bad else 0)"
)


def _install(session: nox.Session, extras: str) -> None:
    session.install("-e", f".[{extras}]")


@nox.session(python=PYTHON, name="tests-numpy")
def tests_numpy(session: nox.Session) -> None:
    """Core and numpy path, with no framework installed."""
    _install(session, "test,plot,progress")
    session.install("--no-deps", "./tests/toy_backend")  # a third-party plugin, registered via entry points
    session.run("python", "-c", NO_FRAMEWORK)
    session.run(*PYTEST, "tests/core", "tests/monitor", *session.posargs)


@nox.session(python=PYTHON, name="tests-torch")
def tests_torch(session: nox.Session) -> None:
    """PyTorch backend, its conformance tests and the readout experiment."""
    _install(session, "torch,test,plot")
    session.run("python", "-c", CHECK.format(module="torch", name="torch"))
    session.run(*PYTEST, "tests/torch_backend", "tests/readout", *session.posargs)


@nox.session(python=PYTHON, name="tests-jax")
def tests_jax(session: nox.Session) -> None:
    """JAX backend (Flax nnx/linen, Equinox) and its conformance tests."""
    _install(session, "jax,test,plot")
    session.install("optax")
    session.run("python", "-c", CHECK.format(module="jax", name="jax"))
    session.run(*PYTEST, "tests/jax_backend", *session.posargs)


@nox.session(python=PYTHON, name="tests-tensorflow")
def tests_tensorflow(session: nox.Session) -> None:
    """TensorFlow/Keras backend and its conformance tests."""
    _install(session, "tensorflow,test,plot")
    session.run("python", "-c", CHECK.format(module="tensorflow", name="tensorflow"))
    session.run(*PYTEST, "tests/tensorflow_backend", *session.posargs)


@nox.session(python=PYTHON)
def sweeps(session: nox.Session) -> None:
    """Readout sweeps on a local Ray (two CPUs), the Optuna pruner with SQLite, the Ray Tune stopper."""
    _install(session, "torch,ray,optuna,test")
    session.run(*PYTEST, "tests/sweeps", *session.posargs, env={"RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"})


@nox.session(python=PYTHON)
def agreement(session: nox.Session) -> None:
    """All backends in one environment: the same network gives the same spectrum everywhere."""
    _install(session, "all,test")
    for module, name in (("torch", "torch"), ("jax", "jax"), ("tensorflow", "tensorflow")):
        session.run("python", "-c", CHECK.format(module=module, name=name))
    session.run(*PYTEST, "tests/agreement", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation strictly (broken links and references fail)."""
    session.install("-e", ".", "mkdocs-material", "mkdocstrings[python]")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(session.create_tmp()) + "/site")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the whole project."""
    session.install("ruff")
    session.run("ruff", "check", ".")
