"""The built-in backends are mirrored: docs/writing-a-backend.md's two tables (modules, roles) hold for
every package under backends/.

Only files and their syntax trees are read (nothing is imported), so this runs without torch, JAX or
TensorFlow installed. It fails when a package lacks a module or a role name that the table gives it,
has a module the table does not list, or defines a role's function with other parameters than the
other backends.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "writing-a-backend.md"
BACKENDS = ROOT / "backends"
NONE = "—"


def tables(text: str) -> dict[str, list[list[str]]]:
    """The markdown tables of ``text`` by their first header cell: rows of cells (header and rule dropped)."""
    out: dict[str, list[list[str]]] = {}
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if len(block) > 2:
            rows = [[c.strip() for c in row.strip().strip("|").split("|")] for row in block]
            out[rows[0][0]] = [rows[0], *rows[2:]]
        block = []
    return out


TABLES = tables(DOC.read_text())
MODULES, ROLES = TABLES["module"], TABLES["role"]
PACKAGES = MODULES[0][1:4]


def defined(path: Path) -> dict[str, ast.AST]:
    """The top-level names a module defines (functions, classes, assignments, imports) and their nodes."""
    names: dict[str, ast.AST] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    names[target.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = node
    return names


def entries(cell: str, row: list[str]) -> list[tuple[str, str]]:
    """``(module path, name)`` of each `` `module.name(...)` `` in a role cell (``"the same"``: the first
    backend's cell); none for ``—``."""
    if cell.startswith(NONE):
        return []
    if cell == "the same":
        cell = row[1]
    found = re.findall(r"`([\w.]+?)(?:\([^`]*\))?`", cell)
    assert found, f"role {row[0]!r}: no `module.name` in {cell!r}"
    return [(".".join(e.split(".")[:-1]), e.split(".")[-1]) for e in found]


def parameters(node: ast.AST) -> tuple[str, ...] | None:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    a = node.args
    return tuple(p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs])


def test_the_tables_name_the_three_packages():
    assert PACKAGES == ["lyapax_torch", "lyapax_jax", "lyapax_tensorflow"]
    assert {p.name for p in BACKENDS.iterdir() if (p / "__init__.py").exists()} == set(PACKAGES)
    assert ROLES[0][1:4] == PACKAGES and len(ROLES) > 10


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_has_the_modules_the_table_gives_it_and_no_other(package: str):
    column = PACKAGES.index(package) + 1
    listed = {row[0].strip("`"): row[column] == "yes" for row in MODULES[1:]}
    have = {p.name + ("/" if p.is_dir() else "") for p in (BACKENDS / package).iterdir()
            if p.suffix == ".py" or (p / "__init__.py").exists()}
    shared = {row[0].strip("`") for row in MODULES[1:] if all(c == "yes" for c in row[1:4])}
    assert shared <= have, f"{package} lacks {sorted(shared - have)} (every backend has them)"
    unlisted = {m for m in have if not listed.get(m, False)}
    assert not unlisted, f"{package} has {sorted(unlisted)}, which the module table does not give it"


@pytest.mark.parametrize("role", [row[0] for row in ROLES[1:]])
def test_each_role_has_the_same_names_and_parameters_in_every_backend(role: str):
    row = next(r for r in ROLES[1:] if r[0] == role)
    names, signatures = {}, {}
    for package, cell in zip(PACKAGES, row[1:4]):
        found = entries(cell, row)
        names[package] = {name for _, name in found}
        for module, name in found:
            path = BACKENDS / package / (module.replace(".", "/") + ".py")
            assert path.exists(), f"{role}: {package} has no {module} ({path.relative_to(ROOT)})"
            node = defined(path).get(name)
            assert node is not None, f"{role}: {package}.{module} does not define {name}"
            sig = parameters(node)
            if sig is not None:
                signatures.setdefault(name, {})[f"{package}.{module}"] = sig
    present = {frozenset(n) for n in names.values() if n}
    assert len(present) == 1, f"{role}: the backends name it differently: {names}"
    for name, by_module in signatures.items():
        assert len(set(by_module.values())) == 1, f"{role}: {name} has different parameters: {by_module}"


def test_the_table_can_fail():
    """A module without a role's name, or with other parameters, is caught by the checks above."""
    tree = ast.parse("def make_runner(xp, dynamics, differentiable): ...\nclass Runner: ...\n")
    nodes = {n.name: n for n in tree.body}
    assert parameters(nodes["make_runner"]) == ("xp", "dynamics", "differentiable")
    assert parameters(nodes["make_runner"]) != ("dynamics", "differentiable")
    assert parameters(nodes["Runner"]) is None
    assert entries(f"{NONE} (the core tiles)", ["vmap"]) == []
    assert entries("`a.b.c(x)`, `d.e`", ["r"]) == [("a.b", "c"), ("d", "e")]
