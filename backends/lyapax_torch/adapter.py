"""The PyTorch backend: :class:`TorchBackend`.

Three kinds of model, one data path (model + inputs -> dynamics on the compute
device -> the core's QR iteration):

- standard layers and cells (``nn.RNN``/``LSTM``/``GRU``, ``nn.RNNCell``/
  ``LSTMCell``/``GRUCell``): the core's canonical cells with the module's own
  weights (:mod:`lyapax_torch.models`), analytic tangent maps;
- :mod:`lyapax.cells` cells whose weights are torch tensors: used as they are;
- any other ``nn.Module`` or function ``f(h, x) -> h_next``: torch.func JVPs
  (:mod:`lyapax_torch.tangent`).

Defaults: compute on the model's device, in the model's parameter dtype
(float32 for freshly built layers; half precision is raised to float32). Pass
``dtype="float64"`` for reference accuracy.
"""

from __future__ import annotations

from typing import Any

from lyapax.backend import Backend, Problem
from lyapax.cells import Cell
from lyapax.errors import InputError, ModelTypeError
from lyapax.validation import check_h0_shape, check_inputs_shape

__all__ = ["TorchBackend", "resolve_device"]


def _is_tensor(a: Any) -> bool:
    import torch

    return isinstance(a, torch.Tensor)


def _torch_cell(model: Any) -> bool:
    if not isinstance(model, Cell):
        return False
    arrays = model.arrays()
    return bool(arrays) and all(_is_tensor(a) for a in arrays.values())


def _device_available(torch: Any, dev: Any) -> tuple[bool, str]:
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


def resolve_device(requested: Any, model_devices: list[Any], data_devices: list[Any]) -> Any:
    """The compute device.

    Args:
        requested: the ``device=`` argument (``None``, a string or a ``torch.device``).
        model_devices: the devices holding the model's parameters (empty when unknown,
            e.g. for a plain function).
        data_devices: the devices of tensors passed as ``h0``/``inputs`` (used only when
            nothing else decides).

    Rules: ``device=`` wins when given, and must be available (a clear error for
    ``"cuda"`` without CUDA, a missing device index, ``"meta"``). Without it, the
    model's device; a model spread over several devices needs ``device=``. A
    model without parameters follows its tensors' device, else the CPU.
    """
    import torch

    def unique(devs: list[Any]) -> list[Any]:
        out: list[Any] = []
        for d in devs:
            if not any(_same_device(d, o) for o in out):
                out.append(d)
        return out

    models = unique([torch.device(d) for d in model_devices])
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
        ok, why = _device_available(torch, dev)
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
    data = unique([torch.device(d) for d in data_devices])
    if len(data) > 1:
        raise InputError(
            f"device: h0 and inputs are on different devices ({', '.join(map(str, data))}) and the model does not "
            "say where to compute; pass device=..."
        )
    return data[0] if data else torch.device("cpu")


def _torch_dtype(torch: Any, name: str | None, fallback: Any) -> Any:
    if name is not None:
        return getattr(torch, name)
    if fallback in (torch.float32, torch.float64):
        return fallback
    return torch.float32  # half precision (or none found): compute in float32


def _leaves(obj: Any) -> list[Any]:
    if _is_tensor(obj):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [leaf for o in obj for leaf in _leaves(o)]
    return []


def _inputs_tensor(torch: Any, inputs: Any) -> Any:
    import numpy as np

    if _is_tensor(inputs):
        x = inputs
    else:
        try:
            x = torch.as_tensor(np.asarray(inputs))
        except Exception as exc:
            raise InputError(
                f"inputs: cannot read {type(inputs).__name__} as a tensor ({exc}); pass a torch tensor or a numpy "
                "array of shape (batch, time, features)."
            ) from exc
    if not (x.is_floating_point() or x.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise InputError(f"inputs: expected real numbers, got dtype {x.dtype}.")
    if not x.is_floating_point():
        raise InputError(
            f"inputs: got integer dtype {x.dtype}. Recurrent layers take float features; if these are token ids, "
            "embed them first (inputs = model.embedding(tokens)) and pass the recurrent sub-module, "
            "or cast numeric features with .float()."
        )
    return x


class _Restore:
    """Undo what the adapter changed on the user's side (training flags, RNG state)."""

    def __init__(self) -> None:
        self._flags: list[tuple[Any, bool]] = []
        self._rng: list[tuple[str, Any]] = []

    def eval_mode(self, module: Any) -> None:
        import torch

        if isinstance(module, torch.nn.Module):
            self._flags.extend((m, m.training) for m in module.modules())
            module.eval()  # no dropout: the spectrum of the deterministic map

    def save_rng(self) -> None:
        import torch

        self._rng.append(("cpu", torch.random.get_rng_state()))
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            self._rng.append(("cuda", torch.cuda.get_rng_state_all()))

    def __call__(self) -> None:
        import torch

        for m, flag in self._flags:
            m.training = flag
        self._flags.clear()
        for kind, state in self._rng:
            if kind == "cpu":
                torch.random.set_rng_state(state)
            else:
                torch.cuda.set_rng_state_all(state)
        self._rng.clear()


class TorchBackend(Backend):
    """PyTorch: standard layers/cells (analytic), torch-weighted lyapax cells, any f(h, x) (torch.func)."""

    name = "torch"
    modules = ("torch",)
    extra = "torch"
    differentiable = True

    def recognises_model(self, model: Any) -> bool:
        import torch

        return isinstance(model, torch.nn.Module) or _torch_cell(model)

    def recognises_array(self, array: Any) -> bool:
        import torch

        return isinstance(array, torch.Tensor) or (
            isinstance(array, (tuple, list)) and bool(array) and all(isinstance(a, torch.Tensor) for a in array)
        )

    def prepare(self, model, inputs, *, steps, h0, dtype, device, differentiable) -> Problem:
        import torch

        from . import models
        from .loop import make_runner
        from .namespace import namespace

        restore = _Restore()
        try:
            if isinstance(model, Cell):
                if not _torch_cell(model):
                    raise ModelTypeError(
                        "model: this lyapax cell's weights are not torch tensors; use backend='numpy' "
                        "(numpy weights) or build the cell from torch tensors."
                    )
                kind = "cell"
            elif isinstance(model, torch.nn.Module) and models.is_standard(model):
                models.check_standard(model)
                kind = "standard"
            elif isinstance(model, (torch.nn.RNNBase, torch.nn.RNNCellBase)):
                models.check_standard(model)
                raise ModelTypeError(
                    f"model: {type(model).__name__} subclasses a PyTorch RNN but overrides forward, so its weights "
                    "cannot be read as a standard layer; pass a step function f(h, x) -> h_next that calls it."
                )
            elif callable(model) and not isinstance(model, type):
                kind = "step"
            else:
                raise ModelTypeError(
                    f"model: the torch backend takes a PyTorch RNN layer or cell, a lyapax cell with torch weights, "
                    f"or a step function f(h, x) -> h_next; got {type(model).__name__}."
                )
            problem = self._prepare(torch, kind, model, inputs, steps, h0, dtype, device, differentiable, restore)
        except BaseException:
            restore()
            raise
        problem.xp = namespace()
        problem.run_chunk = make_runner(problem.xp, problem.dynamics, differentiable)
        problem.close = restore
        return problem

    # -- the three kinds share everything but the dynamics ------------------------------

    def _prepare(self, torch, kind, model, inputs, steps, h0, dtype, device, differentiable, restore) -> Problem:
        from . import models
        from .tangent import StateSpec, StepDynamics

        if kind == "cell":
            params = list(model.arrays().values())
        elif isinstance(model, torch.nn.Module):
            params = list(model.parameters()) + list(model.buffers())
        else:
            params = []
        float_params = [p for p in params if p.is_floating_point()]
        data_tensors = _leaves(h0) + ([inputs] if _is_tensor(inputs) else [])
        dev = resolve_device(device, [p.device for p in float_params], [t.device for t in data_tensors])
        if float_params:
            fallback = float_params[0].dtype
        else:
            floats = [t.dtype for t in _leaves(h0) if t.is_floating_point()]
            fallback = floats[0] if floats else torch.get_default_dtype()
        tdt = _torch_dtype(torch, dtype, fallback)

        def convert(p: Any) -> Any:
            q = p if differentiable else p.detach()
            return q.to(device=dev, dtype=tdt) if q.is_floating_point() else q.to(device=dev)

        # inputs: batch-first (B, T, F) in, time-major (T, B, F) on the device out
        xs, batch = None, None
        if kind == "standard":
            input_size = model.input_size
        elif kind == "cell":
            input_size = model.input_size
        else:
            input_size = getattr(model, "input_size", None)
            input_size = input_size if isinstance(input_size, int) else None
        if inputs is not None:
            x = _inputs_tensor(torch, inputs)
            batch, steps, _ = check_inputs_shape(tuple(x.shape), input_size)
            x = x if differentiable else x.detach()
            xs = x.to(device=dev, dtype=tdt).transpose(0, 1).contiguous()

        if kind in ("standard", "cell"):
            dynamics = models.to_cell(model, convert) if kind == "standard" else model.map_arrays(convert)
            d = dynamics.dim
            if h0 is None:
                state = torch.zeros((batch or 1, d), dtype=tdt, device=dev)
            else:
                if kind == "standard":
                    if batch is None:
                        raise InputError("h0: with inputs=None, pass the model's own state format with a batch axis.")
                    flat = models.flatten_h0(model, h0, batch)
                else:
                    flat = h0 if _is_tensor(h0) else torch.as_tensor(__import__("numpy").asarray(h0))
                    check_h0_shape(tuple(flat.shape), batch, d)
                state = self._state(flat, dev, tdt, differentiable)
            name = _describe(model)
        else:
            if h0 is None:
                raise InputError(
                    "h0: a step function f(h, x) needs an initial state to fix the state's shape: pass h0 as a "
                    "tensor (batch, ...) or a tuple of such tensors, e.g. torch.zeros(batch, hidden_size)."
                )
            spec, leaves = StateSpec.of(tuple(h0) if isinstance(h0, list) else h0, "h0")
            B0 = int(leaves[0].shape[0])
            if batch is not None and B0 != batch:
                raise InputError(
                    f"h0: its batch axis (first) has {B0} rows but inputs has {batch} sequences; pass one initial "
                    "state per sequence."
                )
            batch = B0
            state = self._state(spec.flatten(h0 if not isinstance(h0, list) else tuple(h0), "h0"), dev, tdt, differentiable)
            call, arrays = self._caller(torch, model, dev, tdt, differentiable, restore)
            restore.save_rng()
            dynamics = StepDynamics(call, spec, input_size, arrays)
            self._probe(torch, dynamics, state, None if xs is None else xs[0], differentiable)
            name = getattr(model, "__name__", type(model).__name__)

        return Problem(
            xp=None,
            dynamics=dynamics,
            inputs=xs,
            h0=state,
            steps=int(steps),
            to_numpy=lambda a: a.detach().cpu().numpy(),
            asarray=lambda a: torch.as_tensor(a, dtype=tdt, device=dev),
            int_array=lambda a: torch.as_tensor(a, device=dev),
            dtype=str(tdt).replace("torch.", ""),
            device=str(dev),
            model_name=name,
        )

    @staticmethod
    def _state(flat: Any, dev: Any, tdt: Any, differentiable: bool) -> Any:
        flat = flat if differentiable else flat.detach()
        if not flat.is_floating_point():
            flat = flat.to(tdt)
        # a copy, never the user's tensor: the core's iteration does not write in place, but be safe
        return flat.to(device=dev, dtype=tdt, copy=True)

    @staticmethod
    def _caller(torch, model, dev, tdt, differentiable, restore):
        """``call(state, x)`` running the user's step on ``dev`` in ``tdt``, and its parameters by name."""
        if not isinstance(model, torch.nn.Module):
            return model, {}
        restore.eval_mode(model)
        named = dict(model.named_parameters())
        named.update(dict(model.named_buffers()))
        needs_cast = any(
            t.is_floating_point() and (t.dtype != tdt or not _same_device(t.device, dev)) for t in named.values()
        ) or any(not t.is_floating_point() and not _same_device(t.device, dev) for t in named.values())
        if not needs_cast:
            return model, {k: v for k, v in named.items() if v.is_floating_point()}

        def convert(t: Any) -> Any:
            t = t if differentiable else t.detach()
            return t.to(device=dev, dtype=tdt) if t.is_floating_point() else t.to(device=dev)

        cast = {k: convert(v) for k, v in named.items()}

        def call(h: Any, x: Any) -> Any:
            return torch.func.functional_call(model, cast, (h, x))

        return call, {k: v for k, v in cast.items() if v.is_floating_point()}

    @staticmethod
    def _probe(torch, dynamics, state, x0, differentiable) -> None:
        """Run one step to turn a wrong signature, shape, dtype or device into a clear error."""
        try:
            with torch.no_grad():
                q = torch.zeros(state.shape + (1,), dtype=state.dtype, device=state.device)
                q[:, 0, 0] = 1.0
                dynamics.step_tangent(None, state, x0, q)  # one JVP column: also checks torch.func support
        except InputError:
            raise
        except Exception as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = ""
            if "random" in msg.lower():
                hint = (
                    " The step draws random numbers (dropout in training mode?): the spectrum is that of the "
                    "deterministic map. Call model.eval() before, or pass the nn.Module itself as f(h, x) "
                    "(lyapax switches its dropout off for the call and restores the training flags)."
                )
            elif "device" in msg.lower():
                hint = (
                    " The function's own tensors seem to be on another device than the computation "
                    f"({state.device}): pass device= matching them, or move them."
                )
            elif "dtype" in msg.lower() or "double" in msg.lower() or "float" in msg.lower():
                hint = (
                    f" The computation runs in {str(state.dtype).replace('torch.', '')}: pass dtype= matching the "
                    "function's own tensors (an nn.Module is cast automatically; a plain function is not)."
                )
            raise InputError(
                f"model: calling the step function f(h, x) on h0 and the first input step failed: "
                f"{type(exc).__name__}: {msg}.{hint} A step function takes the state h (as passed in h0, batch "
                "first) and one input step x (batch, features) and returns the next state in the format of h. "
                "For a whole network (embedding, RNN, head), pass its recurrent sub-module with pre-embedded "
                "inputs instead (see the PyTorch page of the docs)."
            ) from exc


def _describe(model: Any) -> str:
    import torch

    if isinstance(model, torch.nn.Module):
        return repr(model).replace("\n", " ")
    return type(model).__name__
