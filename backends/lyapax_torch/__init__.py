"""lyapax's PyTorch backend, registered as ``torch`` in the ``lyapax.backends`` entry-point group.

Importing this package does not import torch: the registry asks
`TorchBackend` about a model only once the user has imported torch.
"""

from __future__ import annotations

from typing import Any

from .adapter import TorchBackend

__all__ = ["TorchBackend", "step_function", "set_step_compilation"]


def step_function(module: Any) -> Any:
    """A standard PyTorch layer or cell as a step function ``f(h, x) -> h_next`` (autodiff path).

    See `lyapax_torch.models.step_function`.
    """
    from .models import step_function as _step_function

    return _step_function(module)


def set_step_compilation(mode: str) -> str:
    """When step functions' tangent maps are compiled (``torch.compile``): ``"auto"`` (the default: after
    the first `lyapax_torch.loop.AUTO_AFTER` steps of a computation), ``"always"`` or ``"never"``;
    returns the previous choice.

    See `lyapax_torch.loop`.
    """
    from .loop import set_step_compilation as _set

    return _set(mode)
