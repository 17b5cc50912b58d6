"""What a backend (framework adapter) provides to the core.

A backend is a :class:`Backend` subclass registered under the entry-point group
``lyapax.backends``. Importing the module that defines it must not import its
framework: the registry asks :meth:`Backend.recognises_model` only once the
framework is already in ``sys.modules``, and imports nothing to check.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .algorithm import Dynamics

__all__ = ["Backend", "Problem"]


@dataclass
class Problem:
    """A model and its inputs made ready for the core's iteration.

    Attributes:
        xp: the array namespace the core computes with.
        dynamics: the system; see :class:`lyapax.algorithm.Dynamics`.
        inputs: time-major inputs ``(T, B, F)`` of ``xp`` on the compute device,
            or ``None`` for an autonomous map.
        h0: initial states ``(B, d)`` of ``xp``.
        steps: the number of time steps ``T``.
        to_numpy: turns an ``xp`` array into a numpy array (host copy).
        asarray: turns a float64 numpy array into an ``xp`` array of the
            compute dtype on the compute device.
        int_array: turns a numpy int64 array into an ``xp`` integer array on the device.
        dtype: ``"float32"`` or ``"float64"``.
        device: the compute device, in words (for reports).
        run_chunk: a faster runner with the signature and results of
            :func:`lyapax.algorithm.run_chunk` less its first two arguments, or ``None``.
        close: called once the iteration ends (to restore anything the adapter changed).
        model_name: a short description of the model for reports.
        chunk: preferred steps per chunk (host sync and compile unit), or ``None``.
    """

    xp: Any
    dynamics: Dynamics
    inputs: Any | None
    h0: Any
    steps: int
    to_numpy: Callable[[Any], np.ndarray]
    asarray: Callable[[np.ndarray], Any]
    int_array: Callable[[np.ndarray], Any]
    dtype: str = "float64"
    device: str = "cpu"
    run_chunk: Callable[..., Any] | None = None
    close: Callable[[], None] | None = None
    model_name: str = ""
    chunk: int | None = None


class Backend:
    """Base class of framework adapters.

    Class attributes:
        name: the backend's name (``spectrum(..., backend=name)``).
        modules: top-level modules of the framework; the backend is only asked
            to recognise objects once one of them is imported.
        extra: the pip extra that installs the framework (``lyapax-rnn[extra]``), or ``None``.
    """

    name: str = ""
    modules: tuple[str, ...] = ()
    extra: str | None = None
    differentiable: bool = False

    def is_installed(self) -> bool:
        """Whether the framework can be imported (checked without importing it)."""
        return all(m in sys.modules or importlib.util.find_spec(m) is not None for m in self.modules)

    def is_imported(self) -> bool:
        """Whether the user has already imported the framework."""
        return any(m in sys.modules for m in self.modules)

    def recognises_model(self, model: Any) -> bool:
        """Whether ``model`` is of this framework. Only called when :meth:`is_imported`."""
        return False

    def recognises_array(self, array: Any) -> bool:
        """Whether ``array`` is an array of this framework. Only called when :meth:`is_imported`."""
        return False

    def prepare(
        self,
        model: Any,
        inputs: Any | None,
        *,
        steps: int | None,
        h0: Any | None,
        dtype: str | None,
        device: Any | None,
        differentiable: bool,
    ) -> Problem:
        """Turn ``model`` and batch-first ``inputs (B, T, F)`` into a :class:`Problem`.

        Validates everything framework-specific (model type, feature size,
        ``h0`` structure, device combinations) with errors from
        :mod:`lyapax.errors`, and never changes the user's model or inputs.
        """
        raise NotImplementedError
