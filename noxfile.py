"""Test sessions; ``nox`` runs them all, ``nox -s tests-numpy`` is the quick first check."""

# Sessions run on the Python that runs nox (any of 3.10-3.13); ``nox --force-python 3.12``
# picks another installed interpreter. Each backend is tested in its own virtualenv with only
# its framework; then all of them together (agreement; Keras on each of its backends), the
# TensorBoard and W&B loggers from a torch and a JAX loop (integrations), every code block of
# README.md and docs/ (docs-examples), the oldest versions the extras allow (oldest), what
# installing an extra beside installed frameworks would change (install-check), the sdist and
# wheel a release would upload (package), the documentation build and lint.
#
# Virtualenvs are made with uv where it is installed (``pip install "nox[uv]"``), else with
# virtualenv. uv installs every framework once into its cache and hard-links it into each
# session's virtualenv, so separate virtualenvs cost seconds and almost no disk; uv does not
# read pip's configuration, so the indexes and find-links pip is configured with are handed
# to it (``_uv_follows_pip``): both install the same builds (torch 2.13.0+cpu here).
#
# Every install goes through tests/constraints.txt, which pins the exact builds the test
# machines need (torch 2.13.0, a CPU wheel); the extras in pyproject.toml are ranges.

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import nox
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

nox.options.sessions = [
    "lint", "tests-numpy", "install-check", "tests-torch", "tests-jax", "tests-tensorflow",
    "sweeps", "agreement", "integrations", "oldest", "docs-examples", "package", "docs",
]
nox.options.reuse_existing_virtualenvs = False
nox.options.default_venv_backend = "uv|virtualenv"

CONSTRAINTS = "tests/constraints.txt"
PYTEST = ["pytest", "-q", "-p", "no:cacheprovider"]
# The framework suites on one worker per core (pytest-xdist; work stealing evens out the few long
# property tests): on the 2-core machine the TensorFlow suite took 102 s against 136 s alone.
# The sweeps (a local Ray per process) and the integrations (short) stay in one process.
PARALLEL = [*PYTEST, "-n", "auto", "--dist", "worksteal"]
# ... with one BLAS/OpenMP thread each: two workers each spinning PyTorch's two OpenMP threads on
# two cores ran the torch flossing tests in 53-62 s each, against a few seconds alone.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
PROJECT = nox.project.load_toml("pyproject.toml")["project"]
DISTRIBUTION = PROJECT["name"]

# TensorFlow is not in any extra (see lyapax/install.py); the test environments install it
# themselves: the small CPU-only build where there is one, the `tensorflow` build elsewhere.
TENSORFLOW_MINIMUM = "2.16.1"  # the oldest TensorFlow with Keras 3; docs/index.md says ">= 2.16"
_CPU_BUILD = "platform_system == 'Windows' or platform_system == 'Linux' and platform_machine == 'x86_64'"
_NO_CPU_BUILD = "platform_system != 'Windows' and (platform_system != 'Linux' or platform_machine != 'x86_64')"
TENSORFLOW = [f"tensorflow-cpu>={TENSORFLOW_MINIMUM}; {_CPU_BUILD}", f"tensorflow>={TENSORFLOW_MINIMUM}; {_NO_CPU_BUILD}"]

# Frameworks an extra must never install over a user's own, and TensorFlow's distributions,
# of which an extra must install none (they all provide the module `tensorflow`).
FRAMEWORKS = {"torch", "jax", "jaxlib", "flax", "equinox", "keras", "lightning", "pytorch-lightning"}
TENSORFLOWS = {"tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel", "tensorflow-macos",
               "tensorflow-rocm", "tf-nightly", "tf-nightly-cpu", "intel-tensorflow"}

# The oldest session installs every declared lower bound exactly, except these (with why).
NOT_INSTALLABLE_HERE = {"torch": "the test machines have one CPU wheel, torch 2.13.0 (tests/constraints.txt)"}
# jax >= 0.8 and flax >= 0.12 (what the JAX backend needs) require Python >= 3.11.
JAX_PYTHON = (3, 11)

# The backend's framework must import and the backend must be registered, or the session fails.
CHECK = "import lyapax, {module}; assert '{name}' in lyapax.backends(), lyapax.backends()"

# The numpy session proves the core needs no framework: none may be installed there.
NO_FRAMEWORK = (
    "import importlib.util as u, sys; bad = [m for m in ('torch', 'jax', 'tensorflow') if u.find_spec(m)]; "
    "sys.exit(f'unexpected frameworks: {bad}' if bad else 0)"
)


# pip's configuration (``pip config list``) -> uv's environment variables, with how uv separates
# several values. The index strategy makes uv pick the best version across all indexes, as pip does
# (uv's default takes the first index that has a package at all: the local mirror's few versions).
_PIP_TO_UV = {"index-url": ("UV_INDEX_URL", " "), "extra-index-url": ("UV_EXTRA_INDEX_URL", " "),
              "find-links": ("UV_FIND_LINKS", ","), "constraint": ("UV_CONSTRAINT", " ")}


def _uv_follows_pip() -> None:
    """Hand pip's configured indexes, find-links and constraints to uv (user-set UV_* variables win)."""
    try:
        listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                                 text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return  # no pip beside nox: nothing configured to follow
    found: dict[str, list[str]] = {}
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        option = key.rsplit(".", 1)[-1]
        if option in _PIP_TO_UV:
            for item in value.strip().strip("'\"").split():
                if item not in found.setdefault(option, []):
                    found[option].append(item)
    for option, values in found.items():
        variable, separator = _PIP_TO_UV[option]
        os.environ.setdefault(variable, separator.join(values[:1] if option == "index-url" else values))
    if found:
        os.environ.setdefault("UV_INDEX_STRATEGY", "unsafe-best-match")


_uv_follows_pip()


def _install(session: nox.Session, *args: str) -> None:
    """Install (uv pip or pip) through the constraints file."""
    session.install("-c", CONSTRAINTS, *args)


def _parallel(session: nox.Session, *tests: str, env: dict[str, str] | None = None) -> None:
    """pytest on ``tests`` (and the session's posargs) with one worker per core, one thread each."""
    session.run(*PARALLEL, *tests, *session.posargs, env={**ONE_THREAD, **(env or {})})


def _session_python(session: nox.Session) -> str:
    return os.path.join(session.bin, "python")


def _query(session: nox.Session, *args: str) -> str:
    """Run a command that only asks (a version, a dry-run plan) and return its output.

    Run directly, not through ``session.run``/``run_install``, so that it answers under
    ``--install-only`` and ``--no-install`` (``-R``) alike, where nox skips one or the other.
    """
    session.log(" ".join(args))
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        session.error(f"{args[0]} failed ({done.returncode}): {done.stderr[-3000:]}")
    return done.stderr + done.stdout  # uv writes its plan to stderr; the output asked for comes last


def _report(session: nox.Session, *args: str, target: str | None = None) -> list[dict]:
    """What ``pip install *args`` would install into the session (pip's JSON report), installing nothing.

    pip, not uv, on purpose: this is what a user's ``pip install`` would do. The pip beside nox
    runs against the session's Python (``pip --python``), which needs no pip of its own.
    ``target``: the Python of another environment to resolve against.
    """
    path = os.path.join(session.create_tmp(), "pip-report.json")
    where = ["--python", target or _session_python(session)]
    _query(session, sys.executable, "-m", "pip", *where, "install", "--dry-run", "--quiet", "--report", path, *args)
    with open(path, encoding="utf-8") as fh:
        return [
            {"name": canonicalize_name(item["metadata"]["name"]), "version": item["metadata"]["version"]}
            for item in json.load(fh)["install"]
        ]


def _install_torch(session: nox.Session) -> None:
    """torch as the constraints file pins it, refusing a CUDA build (several GB of downloads).

    The plan comes from the installer the session uses (uv's dry run, or pip's report): the two
    may resolve differently where their configuration differs.
    """
    if session.venv_backend == "uv":
        uv = nox.virtualenv.find_uv()[1]
        out = _query(session, uv, "pip", "install", "--python", _session_python(session), "--dry-run", "-c", CONSTRAINTS,
                     "torch")
        plan = [{"name": canonicalize_name(m)} for m in re.findall(r"^\s*\+ ([A-Za-z0-9_.-]+)==", out, re.M)]
    else:
        plan = _report(session, "-c", CONSTRAINTS, "torch")
    cuda = sorted(i["name"] for i in plan if i["name"].startswith("nvidia-") or i["name"] == "triton")
    if cuda and not os.environ.get("LYAPAX_ALLOW_CUDA_TORCH"):
        session.error(
            f"torch for this Python would be a CUDA build (it needs {', '.join(cuda[:3])}, ...: several GB). "
            "Use PyTorch's CPU wheels: PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu nox ... "
            "(the test machines carry one for CPython 3.11: nox --force-python 3.11), "
            "or set LYAPAX_ALLOW_CUDA_TORCH=1 to download the CUDA build."
        )
    _install(session, "torch")


def _python(session: nox.Session) -> tuple[int, int]:
    """The session's Python version (nox may run on another one: --force-python)."""
    out = _query(session, _session_python(session), "-c", "import sys; print(*sys.version_info[:2])")
    major, minor = out.strip().splitlines()[-1].split()
    return int(major), int(minor)


def _skip_without_jax(session: nox.Session) -> None:
    if _python(session) < JAX_PYTHON:
        session.skip("the JAX backend needs Python >= 3.11 (jax 0.8, flax 0.12): run it with nox --force-python 3.11")


def _lower_bounds(extras: list[str]) -> dict[str, Requirement]:
    """The core's and ``extras``' requirements (self-references followed), by canonical name."""
    out: dict[str, Requirement] = {}
    todo = [*PROJECT["dependencies"]] + [r for e in extras for r in PROJECT["optional-dependencies"][e]]
    while todo:
        req = Requirement(todo.pop())
        if canonicalize_name(req.name) == canonicalize_name(DISTRIBUTION):
            todo += [r for e in req.extras for r in PROJECT["optional-dependencies"][e]]
            continue
        out[canonicalize_name(req.name)] = req
    return out


def _minimum(req: Requirement) -> str:
    lows = [s.version for s in req.specifier if s.operator == ">="]
    if len(lows) != 1:
        raise ValueError(f"{req}: every requirement of an extra needs exactly one lower bound (>=)")
    return lows[0]


@nox.session(name="tests-numpy")
def tests_numpy(session: nox.Session) -> None:
    """Core, numpy path, Monitor, figures, the readout analysis and packaging metadata, with no framework installed."""
    # array-api-strict: the core must run on a strict array-API namespace (tests/core/test_array_api.py);
    # scipy: the independent reference of the readout analysis's statistics (tests/readout_analysis)
    _install(session, "-e", ".[test,plot,progress]", "array-api-strict", "scipy")
    session.install("--no-deps", "./tests/toy_backend")  # a third-party plugin, registered via entry points
    session.run("python", "-c", NO_FRAMEWORK)
    _parallel(session, "tests/core", "tests/monitor", "tests/plotting", "tests/readout_analysis")


@nox.session(name="tests-torch")
def tests_torch(session: nox.Session) -> None:
    """PyTorch backend, its conformance tests, the readout experiment and the Lightning callback."""
    _install_torch(session)
    _install(session, "-e", ".[torch,lightning,test,plot]")
    session.run("python", "-c", CHECK.format(module="torch", name="torch"))
    _parallel(session, "tests/torch_backend", "tests/readout")


@nox.session(name="tests-jax")
def tests_jax(session: nox.Session) -> None:
    """JAX backend (Flax nnx/linen, Equinox) and its conformance tests."""
    _skip_without_jax(session)
    _install(session, "-e", ".[jax,test,plot]", "optax")
    session.run("python", "-c", CHECK.format(module="jax", name="jax"))
    _parallel(session, "tests/jax_backend")


@nox.session(name="tests-tensorflow")
def tests_tensorflow(session: nox.Session) -> None:
    """TensorFlow/Keras backend and its conformance tests."""
    _install(session, "-e", ".[tensorflow,test,plot]", *TENSORFLOW)
    session.run("python", "-c", CHECK.format(module="tensorflow", name="tensorflow"))
    _parallel(session, "tests/tensorflow_backend")


@nox.session
def sweeps(session: nox.Session) -> None:
    """Readout sweeps on a local Ray (two CPUs), the Optuna pruner with SQLite, the Ray Tune stopper."""
    _install_torch(session)
    _install(session, "-e", ".[torch,ray,optuna,test]")
    # nox points TMPDIR into the virtualenv, where Ray's workers refuse to start: give Ray its own folder.
    ray_tmp = tempfile.mkdtemp(prefix="lyapax-ray-")
    try:
        env = {"RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": ray_tmp}
        session.run(*PYTEST, "tests/sweeps", *session.posargs, env=env)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


@nox.session
def agreement(session: nox.Session) -> None:
    """All backends in one environment: the same network gives the same spectrum everywhere, Keras's on each backend."""
    _skip_without_jax(session)
    _install_torch(session)
    _install(session, "-e", ".[all,lightning,test]", *TENSORFLOW)
    for module, name in (("torch", "torch"), ("jax", "jax"), ("tensorflow", "tensorflow")):
        session.run("python", "-c", CHECK.format(module=module, name=name))
    _parallel(session, "tests/agreement", "tests/keras_backends")


@nox.session
def integrations(session: nox.Session) -> None:
    """The TensorBoard and W&B loggers on Monitor, from a torch and a JAX loop, read back (W&B offline)."""
    # TensorFlow is installed so that the tests can check that logging does not load it.
    _skip_without_jax(session)
    _install_torch(session)
    _install(session, "-e", ".[torch,jax,tensorboard,wandb,plot,test]", *TENSORFLOW)
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true"}
    session.run(*PYTEST, "tests/integrations", *session.posargs, env=env)


@nox.session(name="docs-examples")
def docs_examples(session: nox.Session) -> None:
    """Every ```python block of README.md and docs/, and the scripts in docs/examples, run."""
    _skip_without_jax(session)
    _install_torch(session)
    _install(session, "-e", ".[examples,test]", *TENSORFLOW)
    _parallel(session, "tests/docs_examples")


# The oldest supported versions come in two environments, because no numpy suits both:
# TensorFlow 2.16 needs numpy < 2 and jax 0.8 needs numpy >= 2.
# Each group: the extras at their lower bounds, pins that replace a lower bound the group's
# frameworks do not allow, the Pythons those versions have wheels for, and the tests to run.
# The long training loops (pytest marker `training`) are left out: the lower bounds serve the API.
# test_memory_does_not_grow_with_steps is left out here: its margin is thin on every numpy
# (the driver's finiteness check of the inputs allocates a (T, B, F) bool array, a transient
# that grows with T) and numpy 1.24's few kB more allocation tips it over; not a version matter.
OLDEST = {
    "torch-tensorflow": (["torch", "tensorflow", "plot", "progress", "pandas"], {}, ("3.10", "3.11"),
                         ["tests/core", "tests/monitor", "tests/plotting", "tests/torch_backend", "tests/tensorflow_backend",
                          "--deselect", "tests/core/test_memory_and_registry.py::test_memory_does_not_grow_with_steps"]),
    "jax": (["jax"], {"numpy": "2.0"}, ("3.11", "3.12"), ["tests/jax_backend"]),
}


@nox.session
@nox.parametrize("group", list(OLDEST))
def oldest(session: nox.Session, group: str) -> None:
    """The lower bounds of pyproject.toml installed exactly, with the tests of what they serve.

    numpy and array-api-compat are at their lower bounds too, where the group's frameworks
    allow it (beside jax, numpy is at jax's own lower bound, 2.0).
    """
    extras, overrides, pythons, tests = OLDEST[group]
    version = ".".join(map(str, _python(session)))
    if version not in pythons:
        session.skip(f"the oldest versions are wheels for Python {' and '.join(pythons)}, not {version}: "
                     f"nox -s oldest --force-python 3.11")
    bounds = _lower_bounds(extras)
    pins = [f"{name}=={overrides.get(name, _minimum(req))}" for name, req in bounds.items()
            if name not in NOT_INSTALLABLE_HERE]
    if "tensorflow" in extras:
        pins += [f"tensorflow-cpu=={TENSORFLOW_MINIMUM}", f"tensorflow=={TENSORFLOW_MINIMUM}"]
    lowest = os.path.join(session.create_tmp(), "lowest.txt")
    with open(lowest, "w", encoding="utf-8") as fh:
        fh.write("\n".join(pins) + "\n")
    if "torch" in bounds:
        session.log("not at their lower bound: " + "; ".join(f"{k}: {v}" for k, v in NOT_INSTALLABLE_HERE.items()))
        _install_torch(session)
    extra_installs = ["optax"] if group == "jax" else [*TENSORFLOW]
    _install(session, "-c", lowest, "-e", f".[{','.join(extras)},test]", *extra_installs)
    session.install("--no-deps", "./tests/toy_backend")
    # Fail unless every pin is what got installed (the TensorFlow build a platform does not use is absent).
    have = _installed(session)
    wrong = [pin for pin in pins if not _satisfied(pin, have)]
    if wrong:
        session.error(f"not installed at the lower bound: {wrong}")
    shown = {p.split("==")[0] for p in pins} | {"numpy", "torch", "jaxlib"}
    session.log("installed: " + ", ".join(f"{n} {have[n]}" for n in sorted(have) if n in shown))
    # the lower bounds' API: not the long training loops, and the properties on 5 examples, not 25
    # (the mathematics is tested in the backends' own sessions): torch-tensorflow's tests took 140 s
    # against 177 s with the 25
    _parallel(session, "-m", "not training", *tests, env={"LYAPAX_HYPOTHESIS_PROFILE": "oldest"})


# What is installed in the session (uv's virtualenvs have no pip to ask).
INSTALLED = ("import importlib.metadata as m, json; "
             "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")


def _installed(session: nox.Session) -> dict[str, str]:
    listing = json.loads(_query(session, _session_python(session), "-c", INSTALLED).strip().splitlines()[-1])
    return {canonicalize_name(name): version for name, version in listing.items()}


def _satisfied(pin: str, have: dict[str, str]) -> bool:
    name, version = pin.split("==")
    if name not in have:
        return name.startswith("tensorflow")
    return Version(Version(have[name]).public) == Version(version)  # 2.13.0+cpu is 2.13.0; 1.24 is 1.24.0


@nox.session(name="install-check")
def install_check(session: nox.Session) -> None:
    """`pip install` of an extra beside installed frameworks changes none of them (pip's dry-run report).

    1. A fresh virtualenv with torch 2.13.0 installed: [torch], [lightning], [all] and
       [examples], resolved without constraints, would install no framework that is already
       there (no torch), no CUDA package and no TensorFlow distribution.
    2. An environment holding the declared lower bounds of torch, jax, flax, equinox and
       keras, and tensorflow-cpu (metadata only: `pip --python` resolves against it):
       [torch,jax,tensorflow] would change none of them and add no second TensorFlow.
    """
    _install_torch(session)
    have = _installed(session)
    for extra in ("torch", "lightning", "all", "examples"):
        _check_plan(session, f".[{extra}]", _report(session, f".[{extra}]"), have)

    # 2. the declared lower bounds, as installed metadata in a bare environment
    sim = os.path.join(session.create_tmp(), "lower-bounds-env")
    _query(session, _session_python(session), "-m", "venv", "--clear", "--without-pip", sim)
    python = os.path.join(sim, "Scripts" if sys.platform == "win32" else "bin", "python")
    purelib = _query(session, python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip().splitlines()[-1]
    fake = {name: _minimum(req) for name, req in _lower_bounds(["torch", "jax", "tensorflow"]).items()
            if name in FRAMEWORKS}
    fake["tensorflow-cpu"] = TENSORFLOW_MINIMUM
    for name, version in fake.items():
        info = os.path.join(purelib, f"{name.replace('-', '_')}-{version}.dist-info")
        os.makedirs(info, exist_ok=True)
        with open(os.path.join(info, "METADATA"), "w", encoding="utf-8") as fh:
            fh.write(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    session.log(f"resolving against {', '.join(f'{k} {v}' for k, v in fake.items())}")
    _check_plan(session, ".[torch,jax,tensorflow]", _report(session, ".[torch,jax,tensorflow]", target=python), fake)


def _check_plan(session: nox.Session, what: str, plan: list[dict], have: dict[str, str]) -> None:
    changed = [f"{i['name']} {have[i['name']]} -> {i['version']}" for i in plan if i["name"] in have
               and (i["name"] in FRAMEWORKS or i["name"] in TENSORFLOWS)]
    tensorflow = [i["name"] for i in plan if i["name"] in TENSORFLOWS]
    cuda = [i["name"] for i in plan if i["name"].startswith("nvidia-") or i["name"] == "triton"]
    problems = [f"would change {', '.join(changed)}"] * bool(changed) + \
        [f"would install a TensorFlow distribution ({', '.join(tensorflow)})"] * bool(tensorflow) + \
        [f"would install CUDA packages ({', '.join(cuda[:3])} ...)"] * bool(cuda)
    if problems:
        session.error(f"pip install {what}: " + "; ".join(problems))
    session.log(f"pip install {what}: would add {', '.join(sorted(i['name'] for i in plan)) or 'nothing'}; "
                "changes no installed framework")


@nox.session
def package(session: nox.Session) -> None:
    """The sdist and wheel a release would upload: built, checked by twine, and the wheel installed
    alone into a clean virtualenv (pip, as a user would), where ``lyapax --version`` and ``lyapax demo`` run."""
    uv = session.venv_backend == "uv"
    session.install("build[uv]" if uv else "build", "twine")
    tmp = os.path.abspath(session.create_tmp())
    dist = os.path.join(tmp, "dist")
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", *(["--installer", "uv"] if uv else []), "--outdir", dist)
    built = sorted(os.listdir(dist))
    wheels = [f for f in built if f.endswith(".whl")]
    if len(wheels) != 1 or not any(f.endswith(".tar.gz") for f in built):
        session.error(f"expected one sdist and one wheel, built {built}")
    session.run("twine", "check", "--strict", *(os.path.join(dist, f) for f in built))
    version = wheels[0].split("-")[1]

    clean = os.path.join(tmp, "clean-venv")
    session.run(sys.executable, "-m", "venv", "--clear", clean, external=True)
    bindir = os.path.join(clean, "Scripts" if sys.platform == "win32" else "bin")
    session.run(os.path.join(bindir, "python"), "-m", "pip", "install", "--quiet", os.path.join(dist, wheels[0]),
                external=True)
    session.chdir(tmp)  # away from the checkout, so that only the installed wheel can be imported
    where = session.run(os.path.join(bindir, "python"), "-c", "import lyapax; print(lyapax.__file__)",
                        silent=True, external=True).strip()
    if not where.startswith(os.path.abspath(clean)):
        session.error(f"lyapax imported from {where}, not from the wheel installed in {clean}")
    shown = session.run(os.path.join(bindir, "lyapax"), "--version", silent=True, external=True).strip()
    if shown != f"lyapax {version}":
        session.error(f"lyapax --version printed {shown!r}; the wheel is version {version}")
    session.run(os.path.join(bindir, "lyapax"), "demo", "--no-plot", external=True)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation strictly (broken links and references fail)."""
    _install(session, "-e", ".", "mkdocs-material", "mkdocstrings[python]")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(session.create_tmp()) + "/site")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole project."""
    _install(session, "ruff")
    session.run("ruff", "check", ".")
