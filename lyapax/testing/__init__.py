"""Test helpers for lyapax and for third-party backends.

- :mod:`lyapax.testing.networks`: random canonical networks (numpy only).
- :mod:`lyapax.testing.strategies`: hypothesis strategies drawing whole test cases (needs hypothesis).
- :mod:`lyapax.testing.conformance`: the test suite every backend runs against itself (needs pytest, hypothesis).
"""

from .networks import CELL_KINDS, LAYER_KINDS, random_cell, random_network, trajectory

__all__ = ["CELL_KINDS", "LAYER_KINDS", "random_cell", "random_network", "trajectory"]
