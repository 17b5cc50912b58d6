"""The option schema (lyapax.options) against every entry point: signatures, defaults, docstrings, errors.

The JAX entry points are read from their source's syntax tree, so this runs without any framework.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import re

import numpy as np
import pytest

import lyapax
from lyapax.errors import InputError
from lyapax.options import ENTRY_POINTS, REQUIRED, SCHEMA, parse, takers
from lyapax.testing.networks import random_cell

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOT_OPTIONS = {"model", "inputs", "params", "probe", "self"}
JAX_SOURCES = {"lyapax_jax.exponents": ("functional.py", "exponents"),
               "lyapax_jax.flossing_loss": ("flossing.py", "flossing_loss")}


def _signature(entry: str) -> tuple[dict[str, object], str | None, str]:
    """``({option: default}, the name of **kwargs, docstring)`` of an entry point."""
    if entry in JAX_SOURCES:
        file, name = JAX_SOURCES[entry]
        tree = ast.parse((ROOT / "backends" / "lyapax_jax" / file).read_text(encoding="utf-8"))
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
        args = fn.args
        defaults = dict(zip([a.arg for a in args.args][-len(args.defaults):], args.defaults)) if args.defaults else {}
        defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults)})
        names = [a.arg for a in args.args + args.kwonlyargs]
        values = {n: (REQUIRED if defaults.get(n) is None else ast.literal_eval(defaults[n])) for n in names}
        return ({n: v for n, v in values.items() if n not in NOT_OPTIONS}, args.kwarg and args.kwarg.arg,
                ast.get_docstring(fn) or "")
    fn = {"lyapax.Monitor": lyapax.Monitor.__init__}.get(entry) or getattr(lyapax, entry.split(".")[1])
    params = inspect.signature(fn).parameters.values()
    options = {p.name: REQUIRED if p.default is p.empty else p.default for p in params
               if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in NOT_OPTIONS}
    kwarg = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
    doc = inspect.getdoc(lyapax.Monitor if entry == "lyapax.Monitor" else fn) or ""
    return options, kwarg, doc


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_each_entry_point_takes_exactly_its_schema_options_with_its_defaults(entry):
    options, kwarg, _ = _signature(entry)
    assert sorted(options) == sorted(takers(entry)), entry
    assert kwarg == "unknown", f"{entry} must end its signature with **unknown (the schema's refusal)"
    for name, default in options.items():
        want = SCHEMA[name].default_for(entry)
        if name == "k" and entry == "lyapax_jax.flossing_loss":
            assert default is REQUIRED
            continue
        assert default == want or (default is None and want is None) or (default is REQUIRED and want is REQUIRED), (
            f"{entry}: {name} defaults to {default!r}, the schema says {want!r}")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_each_entry_point_documents_every_option_it_takes(entry):
    options, _, doc = _signature(entry)
    missing = [n for n in options if f"``{n}``" not in doc and not re.search(rf"^\s*{n}[:,]", doc, re.M)
               and not re.search(rf"\b{n}\b[^:\n]*: as in `lyapax.spectrum`", doc)]
    assert not missing, f"{entry}'s docstring does not mention {missing}"


def test_spectrum_documents_each_option_in_the_schemas_words():
    doc = inspect.getdoc(lyapax.spectrum)
    for name in takers("lyapax.spectrum"):
        found = re.search(rf"^    {name}: (.*?)(?=^    \w+: |^\S|\Z)", doc, re.M | re.S)
        assert found, f"spectrum's docstring has no Args entry for {name}"
        assert " ".join(found.group(1).split()) == " ".join(SCHEMA[name].doc.split()), name


@pytest.mark.parametrize(
    ("call", "message"),
    [(lambda c, x: lyapax.finite_time(c, x, window=5, history=5),
      r"history: lyapax.finite_time does not take it \(.*keep_windows.*\); it is an option of lyapax.spectrum, "
      r"lyapax.Monitor\."),
     (lambda c, x: lyapax.covariant_vectors(c, x, threads=2),
      r"threads: lyapax.covariant_vectors does not take it \(.*one thread\); it is an option of lyapax.spectrum"),
     (lambda c, x: lyapax.spectrum(c, x, window=5), r"window: lyapax.spectrum does not take it; .*lyapax.finite_time"),
     (lambda c, x: lyapax.spectrum(c, x, wramup=5), r"wramup: not an option of lyapax.spectrum; did you mean 'warmup'"),
     (lambda c, x: lyapax.Monitor(x, steps=4), r"steps: lyapax.Monitor does not take it \(the probe's time axis"),
     (lambda c, x: lyapax.flossing_loss(c, x, k=1, differentiable=True),
      r"differentiable: lyapax.flossing_loss does not take it \(it is always differentiable\)"),
     (lambda c, x: lyapax.spectrum(c, x, qr_dtype="float16"), r"^qr_dtype: 'float16' is not supported")],
    ids=["finite_time-history", "covariant-threads", "spectrum-window", "typo", "monitor-steps",
         "flossing-differentiable", "qr_dtype-named"],
)
def test_an_option_an_entry_point_does_not_take_is_an_input_error_naming_who_takes_it(call, message):
    rng = np.random.default_rng(0)
    cell, x = random_cell("tanh", 3, 2, rng), rng.normal(size=(2, 20, 2))
    with pytest.raises(InputError, match=message):
        call(cell, x)


def test_parse_checks_once_and_returns_the_entry_points_own_options():
    opts, own = parse("lyapax.finite_time", {"window": np.int64(4), "ortho_every": 2, "basis": [[1.0], [0.0]]})
    assert opts.entry == "lyapax.finite_time" and opts.ortho_every == 2 and own == {"window": 4, "keep_windows": False}
    assert opts.basis.dtype == np.float64 and opts.warmup == 0 and opts.qr == "auto"
    with pytest.raises(InputError, match="window: 3 steps is not a multiple of ortho_every=2"):
        parse("lyapax.finite_time", {"window": 3, "ortho_every": 2})
    with pytest.raises(InputError, match="ortho_every: 'auto' chooses the interval .* traced"):
        parse("lyapax_jax.exponents", {"ortho_every": "auto"})
    with pytest.raises(InputError, match="window: lyapax.finite_time needs it"):  # Python's own check, called directly
        parse("lyapax.finite_time", {})


@pytest.mark.parametrize("name", ["basis", "h0"])
def test_integer_state_and_basis_are_not_called_token_ids(name):
    rng = np.random.default_rng(0)
    cell, x = random_cell("tanh", 2, 2, rng), rng.normal(size=(1, 20, 2))
    value = np.eye(2, dtype=np.int64) if name == "basis" else np.zeros((1, 2), dtype=np.int64)
    with pytest.raises(InputError, match=rf"{name}: got integer dtype int64; pass floats") as info:
        lyapax.spectrum(cell, x, **{name: value})
    assert "token" not in str(info.value)
    with pytest.raises(InputError, match="inputs: got integer dtype .* token ids"):
        lyapax.spectrum(cell, x.astype(np.int64))


def _calls(node: ast.AST, names: set[str]) -> list[str]:
    return [n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id for n in ast.walk(node)
            if isinstance(n, ast.Call) and (getattr(n.func, "id", None) in names or getattr(n.func, "attr", None) in names)]


def test_only_the_registry_and_the_pipeline_select_a_backend():
    """No module but lyapax/registry.py and lyapax/pipeline.py picks a backend (select_backend, get_backend) or
    builds a Backend subclass itself; the testing kits (lyapax/testing) look a backend up by name to find its
    builders, which selects nothing."""
    allowed = {ROOT / "lyapax" / "registry.py", ROOT / "lyapax" / "pipeline.py"}
    backend_classes = {"NumpyBackend", "TorchBackend", "JaxBackend", "TensorFlowBackend"}
    offenders = []
    for path in [*(ROOT / "lyapax").rglob("*.py"), *(ROOT / "backends").rglob("*.py")]:
        if path in allowed or "testing" in path.parts or path.name == "testing.py":
            continue
        found = _calls(ast.parse(path.read_text(encoding="utf-8")), {"select_backend", "get_backend", *backend_classes})
        offenders += [f"{path.relative_to(ROOT)}: {name}" for name in found]
    assert not offenders, offenders
