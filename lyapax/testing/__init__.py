"""Test helpers for lyapax and for third-party backends: random networks, strategies, builders."""

from .networks import CELL_KINDS, random_cell, trajectory

__all__ = ["CELL_KINDS", "random_cell", "trajectory"]
