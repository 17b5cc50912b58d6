"""Test helpers for lyapax and for third-party backends.

- `lyapax.testing.networks`: random canonical networks (numpy only).
- `lyapax.testing.strategies`: hypothesis strategies drawing whole test cases (needs hypothesis).
- `lyapax.testing.conformance`: the test suite every backend runs against itself (needs pytest, hypothesis).
"""

from ..install import pip_install
from .networks import CELL_KINDS, LAYER_KINDS, random_cell, random_network, trajectory

__all__ = ["CELL_KINDS", "LAYER_KINDS", "random_cell", "random_network", "trajectory"]


def _missing_test_tool(module: str, needs: tuple[str, ...], exc: ModuleNotFoundError) -> ImportError:
    """The error for ``module`` imported without one of the test tools it ``needs``."""
    if exc.name not in needs:
        return exc
    return ImportError(
        f"{module} needs {' and '.join(needs)}, and {exc.name} is not installed: {pip_install('test')}"
    )
