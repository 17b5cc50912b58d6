"""The API reference is complete and renders: every public name is documented by a ``:::`` directive
of mkdocstrings, and no docstring uses reST roles (``:class:`` etc.), which the Google-style
renderer prints literally.

Backend packages are read as source (``ast``), so this runs without any framework installed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import lyapax

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Modules whose ``__all__`` is public API, besides ``lyapax`` itself.
PUBLIC_MODULES = [
    "lyapax_torch/__init__.py", "lyapax_torch/callbacks.py",
    "lyapax_jax/__init__.py", "lyapax_jax/functional.py",
    "lyapax_tensorflow/__init__.py", "lyapax_tensorflow/callbacks.py",
]
REST_ROLE = re.compile(r":(class|func|meth|mod|attr|data|exc|obj|py:\w+):`")


def _directives() -> list[str]:
    """Every object path named by a ``::: path`` line anywhere in docs/."""
    out = []
    for page in DOCS.rglob("*.md"):
        out += re.findall(r"^:::\s+([\w.]+)\s*$", page.read_text(encoding="utf-8"), flags=re.M)
    return out


def _module_all(path: Path) -> list[str]:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"{path} has no __all__")


def _public() -> list[tuple[str, str]]:
    """(module, name) of every public name."""
    names = [("lyapax", n) for n in lyapax.__all__ if not isinstance(getattr(lyapax, n), type(lyapax))]
    for rel in PUBLIC_MODULES:
        path = ROOT / "backends" / rel
        module = rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        names += [(module, n) for n in _module_all(path)]
    return names


@pytest.mark.parametrize(("module", "name"), _public(), ids=lambda v: str(v))
def test_every_public_name_is_in_the_reference(module, name):
    directives = _directives()
    documented = any(
        d == f"{module}.{name}" or d == module and module != "lyapax"  # a module directive shows its members
        for d in directives
    )
    # a name re-exported by lyapax may be documented where it is defined (e.g. lyapax.errors)
    defined_in = getattr(getattr(lyapax, name, None), "__module__", None) if module == "lyapax" else None
    documented = documented or (defined_in is not None and defined_in in directives)
    assert documented, f"{module}.{name} is public but no '::: ' directive in docs/ documents it (add it to docs/api.md)"


def test_no_rest_roles_in_docstrings():
    offenders = []
    for folder in (ROOT / "lyapax", ROOT / "backends"):
        for path in folder.rglob("*.py"):
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if REST_ROLE.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{i}")
    assert not offenders, f"reST roles render literally in the API reference; use `name` instead: {offenders[:10]}"
