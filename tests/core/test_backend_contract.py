"""The backend contract: docs/writing-a-backend.md's two tables against the `Backend` class, the array
namespace subset against what the core calls, and a namespace that lacks a function refused by name."""

from __future__ import annotations

import ast
import inspect
import pathlib
import re
import types

import array_api_compat.numpy as nxp
import numpy as np
import pytest

import lyapax
from lyapax.backend import Backend
from lyapax.errors import LyapaxError
from lyapax.namespace import DTYPES, FUNCTIONS, missing
from lyapax.numpy_backend import NumpyBackend
from lyapax.options import Options
from lyapax.session import session
from lyapax.testing.networks import random_cell

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "writing-a-backend.md").read_text(encoding="utf-8")


def _table(header: str) -> dict[str, str]:
    """First-column entries of the table whose header row starts with ``| header |``: name -> its text."""
    block = DOC[DOC.index(f"| {header} |"):].split("\n\n")[0].splitlines()[2:]
    out = {}
    for row in block:
        for entry in re.findall(r"`([^`]+)`", row.split("|")[1]):
            out[entry.split("(")[0]] = entry
    return out


def _members() -> tuple[dict[str, object], dict[str, inspect.Signature]]:
    attributes, hooks = {}, {}
    for name, member in vars(Backend).items():
        if name.startswith("_"):
            continue
        if inspect.isfunction(member):
            hooks[name] = inspect.signature(member)
        else:
            attributes[name] = member
    return attributes, hooks


def test_the_attribute_table_is_the_backend_classs_attributes():
    attributes, _ = _members()
    assert sorted(_table("attribute")) == sorted(attributes)


def test_the_hook_table_is_the_backend_classs_hooks_with_their_signatures():
    _, hooks = _members()
    documented = _table("hook")
    assert sorted(documented) == sorted(hooks)
    for name, signature in hooks.items():
        params = [("*, " if p.kind is p.KEYWORD_ONLY and i == next(
            j for j, q in enumerate(signature.parameters.values()) if q.kind is q.KEYWORD_ONLY) else "") + p.name
            for i, p in enumerate(signature.parameters.values()) if p.name != "self"]
        assert documented[name] == f"{name}({', '.join(params)})", name


def _namespace_calls(path: pathlib.Path) -> set[str]:
    """``xp.name`` / ``xp.linalg.name`` called in a module (outermost attribute chains on a name ``xp``)."""
    found, inner = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            chain, n = [], node
            while isinstance(n, ast.Attribute):
                chain.append(n.attr)
                inner.add(id(n))
                n = n.value
            if isinstance(n, ast.Name) and n.id == "xp":
                found.add(".".join(reversed(chain)))
    return found


def test_the_namespace_subset_is_what_the_core_calls():
    # lyapax.ginelli runs on numpy only (covariant vectors' backward pass works on host copies)
    modules = [p for p in (ROOT / "lyapax").glob("*.py") if p.name != "ginelli.py"]
    called = set().union(*(_namespace_calls(p) for p in modules))
    assert sorted(called) == sorted(FUNCTIONS)


@pytest.mark.parametrize("lacking", ["max", "linalg.cholesky", "float64"])
def test_a_namespace_that_lacks_a_function_is_refused_naming_it(lacking):
    parts = lacking.split(".")
    fake = types.SimpleNamespace(**{n: getattr(nxp, n) for n in dir(nxp) if not n.startswith("_")})
    fake.linalg = types.SimpleNamespace(**{n: getattr(nxp.linalg, n) for n in dir(nxp.linalg) if not n.startswith("_")})
    delattr(fake if len(parts) == 1 else fake.linalg, parts[-1])
    assert missing(fake) == [lacking] and lacking in (*FUNCTIONS, *DTYPES)

    class Lacking(NumpyBackend):
        name = f"lacking-{lacking}"

        def namespace(self):
            return fake

    rng = np.random.default_rng(0)
    with pytest.raises(LyapaxError, match=rf"lacks {re.escape(lacking)}, which the core computes with"):
        with session(Lacking(), random_cell("tanh", 2, 1, rng), rng.normal(size=(1, 10, 1)), Options()):
            pass


class NoFloat64(NumpyBackend):
    """A backend for hardware without float64 (as MLX on a GPU): the QR runs in the compute dtype."""

    name = "no-float64"
    default_dtype = "float32"

    def has_float64(self, device):
        return False


def test_a_backend_without_float64_computes_the_qr_in_float32_and_refuses_float64_by_name():
    rng = np.random.default_rng(1)
    cell, x = random_cell("gru", 3, 2, rng), rng.normal(size=(2, 60, 2))
    with session(NoFloat64(), cell, x, Options()) as problem:
        assert problem.dtype == "float32" and problem.qr_dtype is None
        from lyapax.driver import iterate

        got = iterate(problem, Options())
    ref = lyapax.spectrum(cell, x, dtype="float32", qr_dtype=None)
    np.testing.assert_array_equal(got.per_sequence, ref.per_sequence)
    assert got.qr == "householder"
    for name, value in (("qr_dtype", {"qr_dtype": "float64"}), ("dtype", {"dtype": "float64"})):
        with pytest.raises(lyapax.InputError, match=rf"^{name}: the no-float64 backend has no float64"):
            with session(NoFloat64(), cell, x, Options(**value)):
                pass


class Counting(NumpyBackend):
    """Counts the device-to-host transfers."""

    name = "counting"

    def __init__(self):
        self.transfers = 0

    def to_numpy(self, array):
        self.transfers += 1
        return super().to_numpy(array)


@pytest.mark.parametrize("ortho_every", [1, 3])
def test_one_host_transfer_per_chunk(ortho_every):
    from dataclasses import replace

    from lyapax.driver import iterate

    rng = np.random.default_rng(2)
    cell = random_cell("lstm", 3, 2, rng)
    counts = []
    for steps in (30, 60):
        backend = Counting()
        x = rng.normal(size=(2, steps, 2))
        with session(backend, cell, x, Options(ortho_every=ortho_every)) as problem:
            before = backend.transfers
            iterate(replace(problem, chunk=6), Options(ortho_every=ortho_every))
            counts.append(backend.transfers - before)
    assert counts[1] - counts[0] == 30 // 6  # five more chunks, five more transfers
