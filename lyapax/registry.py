"""Backend discovery through the ``lyapax.backends`` entry-point group.

Built-in backends and third-party plugins are found the same way. Entry points
are loaded lazily, and a backend is only asked to recognise an object once the
user has imported its framework: nothing is imported just to check.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .backend import Backend
from .errors import BackendNotFoundError, ModelTypeError
from .install import pip_install
from .tangent import tree_flatten

__all__ = ["backends", "registered", "get_backend", "select_backend", "refresh", "BackendWarning", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "lyapax.backends"

#: Backends that work without any registration (from a plain checkout that is not pip-installed).
_BUILTIN = {"numpy": EntryPoint("numpy", "lyapax.numpy_backend:NumpyBackend", ENTRY_POINT_GROUP)}


class BackendWarning(UserWarning):
    """A registered backend could not be loaded, or two plugins claim the same name."""


@functools.lru_cache(maxsize=1)
def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            warnings.warn(
                BackendWarning(
                    f"two packages register the lyapax backend {ep.name!r}: {found[ep.name].value!r} (used) and "
                    f"{ep.value!r} (ignored); uninstall one of them to choose."
                ),
                stacklevel=2,
            )
            continue
        found.setdefault(ep.name, ep)
    for name, ep in _BUILTIN.items():
        found.setdefault(name, ep)
    return found


@functools.cache
def _load(name: str) -> Backend:
    obj = _entry_points()[name].load()
    backend = obj() if isinstance(obj, type) else obj
    if not isinstance(backend, Backend):
        raise BackendNotFoundError(
            f"backend: the entry point {name!r} in group {ENTRY_POINT_GROUP!r} does not give a lyapax.backend.Backend."
        )
    return backend


@functools.cache
def _try_load(name: str) -> Backend | None:
    """The backend, or ``None`` with a warning (once) if its plugin fails to load."""
    try:
        return _load(name)
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the others
        ep = _entry_points()[name]
        warnings.warn(
            BackendWarning(
                f"the lyapax backend {name!r} ({ep.value}) failed to load and is skipped: "
                f"{type(exc).__name__}: {exc}"
            ),
            stacklevel=3,
        )
        return None


def refresh() -> None:
    """Forget discovered entry points (after installing a plugin in a running session)."""
    _entry_points.cache_clear()
    _load.cache_clear()
    _try_load.cache_clear()
    _by_type.clear()


def registered() -> list[str]:
    """Names of every backend registered under the entry points, installed or not (sorted)."""
    return sorted(_entry_points())


def backends() -> list[str]:
    """Names of the installed backends (registered and with their framework importable)."""
    names = []
    for n in _entry_points():
        backend = _try_load(n)
        if backend is not None and backend.is_installed():
            names.append(n)
    return sorted(names)


def _install_hint(name: str) -> str:
    backend = _try_load(name) if name in _entry_points() else None
    extra = backend.extra if backend is not None else None
    return pip_install(extra) if extra else f"install the package that provides backend {name!r}"


def get_backend(name: str) -> Backend:
    """The backend called ``name``; a clear error if it is unknown or not installed."""
    if not isinstance(name, str):
        raise BackendNotFoundError(f"backend: expected a backend name (str), got {type(name).__name__}.")
    if name not in _entry_points():
        raise BackendNotFoundError(
            f"backend: unknown backend {name!r}. Installed: {', '.join(backends()) or 'none'}; "
            f"registered: {', '.join(sorted(_entry_points()))}."
        )
    backend = _load(name)
    if not backend.is_installed():
        raise BackendNotFoundError(
            f"backend: {name!r} is registered but its framework ({', '.join(backend.modules)}) is not installed: "
            f"{_install_hint(name)}. Installed: {', '.join(backends()) or 'none'}."
        )
    return backend


_by_type: dict[tuple[str, type], str] = {}


def _candidates() -> list[Backend]:
    """Backends whose framework is already imported; numpy last (the fallback)."""
    names = sorted(_entry_points(), key=lambda n: (n == "numpy", n))
    out = []
    for n in names:
        b = _try_load(n)
        if b is not None and b.is_imported():
            out.append(b)
    return out


def _cacheable(obj: Any) -> bool:
    """Whether the type alone decides the backend: not for containers (a (module, variables)
    tuple, a tuple of state arrays) nor for core cells, which go with their weights' type."""
    return not isinstance(obj, (tuple, list, dict)) and not hasattr(obj, "arrays")


def _match(kind: str, obj: Any) -> Backend | None:
    key = (kind, type(obj))
    if key in _by_type:
        return _load(_by_type[key])
    for b in _candidates():
        ok = b.recognises_model(obj) if kind == "model" else b.recognises_array(obj)
        if ok:
            if _cacheable(obj):
                _by_type[key] = b.name
            return b
    return None


def select_backend(model: Any, data: Sequence[Any] = (), name: str | None = None) -> Backend:
    """Pick a backend: by ``name``, else by the model's type, else by the data's (the inputs, then
    h0; a structured h0 by its first array). A framework's array wins over a numpy one, so a plain
    function given JAX state and numpy inputs runs on JAX."""
    if name is not None:
        return get_backend(name)
    found = _match("model", model)
    if found is None:
        arrays = [a for a in data if a is not None]
        arrays += [tree_flatten(a)[0][0] for a in arrays if isinstance(a, (tuple, list, dict)) and tree_flatten(a)[0]]
        matches = [b for b in (_match("array", a) for a in arrays) if b is not None]
        found = next((b for b in matches if b.name != "numpy"), matches[0] if matches else None)
    if found is None:
        raise ModelTypeError(
            f"model: no installed backend recognises an object of type {type(model).__module__}.{type(model).__qualname__}. "
            f"Pass a model of a supported framework (installed backends: {', '.join(backends()) or 'none'}), "
            "a lyapax.cells cell or lyapax.Map, or name the backend with backend=...; "
            "a framework's backend is only considered once you have imported the framework."
        )
    return found
