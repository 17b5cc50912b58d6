"""Hypothesis strategies drawing canonical networks and whole test cases, once, in numpy.

Shapes are drawn from short lists so that compiled backends (jit, tf.function)
meet the same shapes again and reuse their caches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import _missing_test_tool

try:
    from hypothesis import strategies as st
except ModuleNotFoundError as exc:
    raise _missing_test_tool(__name__, ("hypothesis",), exc) from exc

from .. import cells
from ..api import spectrum
from ..results import Spectrum
from .networks import LAYER_KINDS, random_network

__all__ = ["Case", "cases"]


@dataclass(frozen=True)
class Case:
    """One drawn test case: a canonical network, its inputs and the iteration options."""

    kind: str
    layers: int
    cell: cells.Cell
    inputs: np.ndarray
    warmup: int
    k: int
    ortho_every: int
    seed: int

    @property
    def options(self) -> dict:
        """Keyword arguments for `lyapax.spectrum`."""
        return {"k": self.k, "warmup": self.warmup, "ortho_every": self.ortho_every, "seed": self.seed}

    def reference(self, **overrides) -> Spectrum:
        """The numpy reference spectrum (float64)."""
        return spectrum(self.cell, self.inputs, backend="numpy", **{**self.options, **overrides})


@st.composite
def cases(
    draw,
    kinds: Sequence[str] = LAYER_KINDS,
    hidden: Sequence[int] = (2, 5),
    features: Sequence[int] = (1, 3),
    layers: Sequence[int] = (1, 2),
    batch: Sequence[int] = (1, 3),
    steps: Sequence[int] = (40, 120),
    gain: tuple[float, float] = (0.3, 3.0),
) -> Case:
    """A `Case`: kind, sizes, layers, bias, weight gain (ordered ~0.3 to chaotic ~3),
    inputs, warm-up, ``k`` and ``ortho_every``."""
    kind = draw(st.sampled_from(list(kinds)))
    H, F, L = draw(st.sampled_from(list(hidden))), draw(st.sampled_from(list(features))), draw(st.sampled_from(list(layers)))
    B, T = draw(st.sampled_from(list(batch))), draw(st.sampled_from(list(steps)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    cell = random_network(kind, H, F, rng, layers=L, gain=draw(st.floats(*gain)), bias=draw(st.booleans()))
    inputs = rng.normal(size=(B, T, F))
    k = draw(st.integers(1, cell.dim))
    return Case(
        kind=kind,
        layers=L,
        cell=cell,
        inputs=inputs,
        warmup=draw(st.sampled_from([0, 10])),
        k=k,
        ortho_every=draw(st.sampled_from([1, 3])),
        seed=seed % 1000,
    )
