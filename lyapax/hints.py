"""Error texts that guess the cause of a user's mistake from what went wrong.

`whole_model_hint` (a network passed where its recurrent layer was meant) and
`probe_message` (the first call of a user's step function failed) word the
errors of every backend the same way.
"""

from __future__ import annotations

from typing import Any

__all__ = ["whole_model_hint", "probe_message"]


def whole_model_hint(model: Any, layers: list[tuple[tuple, str]]) -> str:
    """The hint of a `Plan` for a network that holds recurrent layers but is not one.

    ``layers``: ``(path, class name)`` of the recurrent layers inside, a path being the
    attribute names or indices from the model down (outermost layers first).
    """
    if not layers:
        return ""

    def access(path: tuple) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) or str(p).isdigit() else f".{p}" for p in path)

    layers = sorted(layers, key=lambda item: len(item[0]))
    first = access(layers[0][0])
    held = ", ".join(f"model{access(p)} ({cls})" for p, cls in layers[:3])
    return (
        f"{type(model).__name__} is not a recurrent layer but holds {held}: to get the spectrum of that layer, "
        f"pass it (model{first}) with its own inputs (embedded, if the network embeds tokens), or "
        f"lyapax.Monitor(probe, select=lambda m: m{first}). Pass h0 only if the module itself is a step "
        "function f(h, x) -> h_next."
    )


def probe_message(exc: Exception, backend: str) -> str:
    """The error text when the probe step of a step function raised ``exc`` (its likely cause guessed)."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    low = msg.lower()
    hint = ""
    if "random" in low or "rng" in low:
        hint = (
            " The step draws random numbers (dropout in training mode?): the spectrum is that of the deterministic "
            "map. Call model.eval() before, or pass the module itself as f(h, x) (lyapax switches its dropout off "
            "for the call and restores the training flags)."
        )
    elif "device" in low:
        hint = (
            " The function's own tensors seem to be on another device than the computation: pass device= "
            "matching them, or move them."
        )
    elif "dtype" in low or "double" in low or "float" in low:
        hint = (
            " The computation runs in the dtype lyapax chose (the model's, or dtype=): pass dtype= matching the "
            "function's own arrays (a module's parameters are cast automatically; a closure's arrays are not)."
        )
    return (
        f"model: calling the step function f(h, x) on h0 and the first input step failed: {type(exc).__name__}: "
        f"{msg}.{hint} A step function takes the state h (as passed in h0, batch first) and one input step x "
        "(batch, features) and returns the next state in the format of h. For a whole network (embedding, RNN, "
        f"head), pass its recurrent layer with pre-embedded inputs instead (see the {backend} page of the docs)."
    )
