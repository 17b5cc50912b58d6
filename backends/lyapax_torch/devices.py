"""Where a PyTorch computation runs: `resolve_device`, whether that is an accelerator: `is_accelerator`, and
whether a tensor holds values lyapax can compute with there: `check_tensor`."""

from __future__ import annotations

from typing import Any

import torch

from lyapax.errors import InputError

__all__ = ["resolve_device", "is_accelerator", "check_tensor"]


def _functorch_wrapped(t: Any) -> bool:
    is_wrapped = getattr(getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", None)
    return bool(is_wrapped(t)) if is_wrapped is not None else False


def check_tensor(t: Any, name: str, weight: bool = False) -> None:
    """Refuse, naming the argument ``name`` and the fix (for a model's ``weight``: the weights'), a tensor
    without values lyapax can compute with: on the meta device, sparse or another non-strided layout,
    nested (ragged), quantized, fake (FakeTensorMode), or one of a ``torch.func`` transform (lyapax reads
    results back to the host). Complex and integer dtypes are the core's to refuse
    (`lyapax.validation.check_real_dtype`)."""
    if not isinstance(t, torch.Tensor):
        return
    subject, what = ("w", "a weight") if weight else (name, "a tensor")
    if type(t).__name__ == "FakeTensor" or t.device.type == "meta":
        kind = "on the meta device" if t.device.type == "meta" else "of FakeTensorMode (torch.compile's tracing)"
        raise InputError(
            f"{name}: {what} {kind}: it has a shape but no values; pass a tensor that holds data (e.g. "
            "created on 'cpu', or model.to_empty(device='cpu') followed by loading the weights)."
        )
    if t.is_nested:
        raise InputError(
            f"{name}: {what} is nested (ragged); lyapax takes rectangular tensors with the batch first. Pad "
            "input sequences of different lengths to one (torch.nn.utils.rnn.pad_sequence(sequences, "
            "batch_first=True)) or compute the spectrum of each sequence separately; pass h0 as one (batch, d) tensor."
        )
    if t.layout != torch.strided:
        raise InputError(
            f"{name}: {what} of layout {t.layout}, not a dense (strided) one; pass {subject}.to_dense()"
            + (" for each weight w." if weight else ".")
        )
    if t.is_quantized:
        raise InputError(
            f"{name}: {what} is quantized ({t.dtype}); pass {subject}.dequantize() (real floats)"
            + (" for each weight w." if weight else ".")
        )
    if _functorch_wrapped(t):
        raise InputError(
            f"{name}: {what} of a torch.func transform (grad, vmap, jvp ...); lyapax reads its results back to "
            "the host, so it cannot run inside one: call it outside, with differentiable=True for gradients of "
            "the spectrum."
        )


def _device_available(dev: Any) -> tuple[bool, str]:
    kind = dev.type
    if kind == "cpu":
        return True, ""
    if kind == "meta":
        return False, "meta tensors hold no data"
    if kind == "cuda":
        if not torch.cuda.is_available():
            return False, "CUDA is not available in this PyTorch installation or on this machine"
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            return False, f"there are only {torch.cuda.device_count()} CUDA device(s)"
        return True, ""
    if kind == "mps":
        ok = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
        return ok, "" if ok else "MPS is not available on this machine"
    module = getattr(torch, kind, None)
    is_available = getattr(module, "is_available", None)
    if callable(is_available):
        ok = bool(is_available())
        return ok, "" if ok else f"{kind} is not available on this machine"
    return True, ""


def _same_device(a: Any, b: Any) -> bool:
    if a.type != b.type:
        return False
    return a.index is None or b.index is None or a.index == b.index


def is_accelerator(device: Any) -> bool:
    """Whether ``device`` (a ``torch.device`` or its name) is a GPU or another accelerator (not the CPU)."""
    return torch.device(device).type not in ("cpu", "meta")


def resolve_device(requested: Any, model_arrays: list, data_arrays: list) -> Any:
    """The compute device (a ``torch.device``).

    Args:
        requested: the ``device=`` argument (``None``, a string or a ``torch.device``).
        model_arrays: the model's parameter tensors (empty when unknown, e.g. for a plain
            function); integer buffers say nothing.
        data_arrays: the tensors passed as ``h0``/``inputs`` (used only when nothing else decides).

    Rules: ``device=`` wins when given, and must be available (a clear error for
    ``"cuda"`` without CUDA, a missing device index, ``"meta"``). Without it, the
    model's device; a model spread over several devices needs ``device=``. A
    model without parameters follows its tensors' device, else the CPU.
    """
    def unique(devs: list[Any]) -> list[Any]:
        out: list[Any] = []
        for d in devs:
            if not any(_same_device(d, o) for o in out):
                out.append(d)
        return out

    for a in model_arrays:
        if a.device.type != "meta":  # meta weights: the message below says how to load them
            check_tensor(a, "model", weight=True)
    models = unique([a.device for a in model_arrays if a.is_floating_point()])
    for d in models:
        if d.type == "meta":
            raise InputError(
                "model: its parameters are on the meta device (shapes only, no data); load or "
                "initialise the weights (e.g. model.to_empty(device='cpu') and load a state_dict) first."
            )
    if requested is not None:
        try:
            dev = torch.device(requested)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise InputError(f"device: {requested!r} is not a torch device ({exc}); use e.g. 'cpu' or 'cuda:0'.") from exc
        ok, why = _device_available(dev)
        if not ok:
            raise InputError(
                f"device: cannot compute on {str(dev)!r}: {why}. Omit device= to compute where the model lives"
                + (f" ({models[0]})" if len(models) == 1 else "")
                + ", or pass device='cpu'."
            )
        return dev
    if len(models) > 1:
        raise InputError(
            f"device: the model's parameters are on several devices ({', '.join(map(str, models))}); "
            "pass device=... to compute on one of them (the weights are copied there for the computation)."
        )
    if models:
        return models[0]
    # meta tensors say nothing about where to compute (they are refused by name when read: check_tensor)
    data = unique([a.device for a in data_arrays if a.device.type != "meta"])
    if len(data) > 1:
        raise InputError(
            f"device: h0 and inputs are on different devices ({', '.join(map(str, data))}) and the model does not "
            "say where to compute; pass device=..."
        )
    return data[0] if data else torch.device("cpu")
