"""The chunk runner the torch backend gives the driver (``Problem.run_chunk``).

It runs the core's own `lyapax.algorithm.run_chunk` (the algorithm is
written once, in the core) with the torch namespace. No autograd graph is built
or kept unless the spectrum must be differentiable: analytic cells and compiled
tangent maps run under ``torch.inference_mode()``, eager step functions under
``torch.no_grad()`` (their forward-mode JVPs need the autograd dispatch that
inference mode turns off).
It runs without per-interval trouble tracking (``track=False``): the driver checks
each chunk's result and re-runs a chunk with tracking only when it went wrong.

Measured alternatives (CPU, float32, hidden 128, batch 16, full spectrum): the
QR of the ``(B, d, d)`` basis is about 80% of a step for nn.RNN and two thirds
for nn.LSTM, and LAPACK's Householder QR is already what ``torch.linalg.qr``
calls; forming Q from ``geqrf`` with a GEMM-based (UT-transform) formula was
slower single-threaded, and ``inference_mode`` vs ``no_grad`` or the
array-api-compat wrappers change a step by less than the run-to-run noise. So
the plain loop stays; ``ortho_every > 1`` is the lever that amortises the QR.

A step function's tangent map is the exception: eagerly its ``torch.func`` JVP costs 2-6x the
analytic cell in dispatch, so the runner hands chunks to `CompiledTangent`, the tangent map
compiled by ``torch.compile`` (TorchInductor). The dispatch of ``torch.func``'s ops, not their
arithmetic, is most of the eager cost; compiled, the same JVP is one graph of fused kernels,
faster than the analytic cells' eager ops. Compiling costs seconds, so `step_compilation` says
when (figures: docs/performance.md, "Step functions"):

- ``"auto"`` (the default): the first `AUTO_AFTER` steps of a computation (warm-up included) run
  eagerly and the rest compiled, so only long computations pay for a compilation; the switch is
  at a fixed step, so a call gives the same numbers whatever ran before it in the process.
- ``"always"``: compiled from the first step (repeated calls: a `lyapax.Monitor` every epoch, a
  benchmark). The compiled graph is kept per step function, state layout, shapes, dtype and
  device, and reused by later calls.
- ``"never"``: always eager (``torch.func``).

`set_step_compilation` (or the environment variable ``LYAPAX_TORCH_COMPILE``) chooses.

Never silently wrong: dynamo guards what it traced (a changed attribute of the module recompiles);
the first step of every new graph is compared with the eager tangent map and a difference beyond
rounding discards the graph; and a step function dynamo cannot capture as one graph, a machine
without a C++ compiler (Windows without MSVC, a slim container) or a torch older than 2.4 runs
eagerly (a `RuntimeWarning` under ``"always"``, a log record under ``"auto"``), with the numbers
of ``"never"``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import sys
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

import lyapax
from lyapax.algorithm import run_chunk
from lyapax.cells import Cell
from lyapax.errors import InputError
from lyapax.linalg import HOUSEHOLDER, QR
from lyapax.tangent import AutodiffDynamics

from .namespace import namespace

__all__ = [
    "make_runner", "trace_count", "MODES", "AUTO_AFTER", "set_step_compilation", "step_compilation",
    "CompiledTangent", "graphs",
]

MODES = ("auto", "always", "never")
#: In ``"auto"``, steps before the switch to the compiled tangent map: eagerly they cost 1.3-3 ms each
#: for the step functions of docs/performance.md on one CPU thread, a compilation 4-14 s (the first
#: of a process) or 1-6 s (later ones), so about the compilation's cost is spent before it is paid.
AUTO_AFTER = 4096
#: compiled graphs kept (least recently used dropped first)
KEPT = 16
_ENV = "LYAPAX_TORCH_COMPILE"

log = logging.getLogger(__name__)
_MODE: list[str | None] = [None]  # set_step_compilation's choice (None: the environment's, else "auto")
_GRAPHS: collections.OrderedDict = collections.OrderedDict()
_LOCK = threading.RLock()  # dynamo compiles one graph at a time; the cache is shared by threads


def set_step_compilation(mode: str) -> str:
    """Choose when step functions' tangent maps are compiled: ``"auto"``, ``"always"`` or ``"never"``
    (see `lyapax_torch.loop`); returns the previous choice. Process-wide, like ``torch.set_num_threads``."""
    if mode not in MODES:
        raise InputError(f"mode: expected one of {', '.join(map(repr, MODES))}, got {mode!r}.")
    previous = step_compilation()
    _MODE[0] = mode
    return previous


def step_compilation() -> str:
    """The current choice: `set_step_compilation`'s, else ``LYAPAX_TORCH_COMPILE``'s, else ``"auto"``."""
    if _MODE[0] is not None:
        return _MODE[0]
    mode = os.environ.get(_ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise InputError(f"{_ENV}: expected one of {', '.join(MODES)}, got {mode!r}; unset it or fix its value.")
    return mode


def graphs() -> int:
    """How many compiled tangent-map graphs are kept in this process (for tests and diagnostics)."""
    with _LOCK:
        return sum(1 for g in _GRAPHS.values() if g.fn is not None)


def _unavailable() -> str:
    """Why this torch cannot compile at all, or ``""``."""
    if not hasattr(torch, "compiler") or not hasattr(torch.compiler, "is_compiling"):
        return f"torch {torch.__version__} is older than 2.4"
    try:
        if not torch._dynamo.is_dynamo_supported():
            return "torch.compile is not supported on this Python/platform"
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return f"torch.compile is not available ({exc})"
    return ""


def _tangent(definition: Any, params: Any, h: Any, x: Any, Q: Any) -> tuple[Any, Any]:
    """What is compiled: the core's autodiff tangent map (`lyapax.tangent.AutodiffDynamics`), rebuilt
    from its static part and its arrays so that the arrays are the graph's inputs."""
    return definition.build(params).step_tangent(namespace(), h, x, Q)


@contextlib.contextmanager
def _dynamo_options() -> Iterator[None]:
    """Held while dynamo traces (not around every call: entering it costs about a step's kernels)."""
    # nn.RNN/LSTM/GRU inside a step function (lyapax_torch.step_function) need dynamo's allow_rnn
    # (off by default in torch 2.13: "experimental"); the eager comparison of each new graph covers it
    with torch._dynamo.config.patch(allow_rnn=True):
        yield


class _Graph:
    """One compiled tangent map, with its own code object: dynamo keeps compiled graphs, their guards
    and its recompile limit per code object, so the graphs of different step functions never evict
    or slow down each other."""

    def __init__(self, name: str):
        code = _tangent.__code__.replace(co_name=name)
        self.fn = torch.compile(types.FunctionType(code, _tangent.__globals__, name), fullgraph=True, dynamic=False)
        self.checked = False
        self.failed = ""  # why it cannot be used (then every computation with this key runs eagerly)
        self.seconds = 0.0


def _user_level() -> int:
    """The ``stacklevel`` of the first frame outside lyapax and its backends (a warning points at the user's call)."""
    ours = tuple(os.path.dirname(os.path.abspath(m.__file__)) for m in (lyapax, sys.modules[__package__]))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(ours):
        frame, level = frame.f_back, level + 1
    return level


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def _tolerance(dtype: Any) -> float:
    """Agreement asked of a new graph's first step with the eager one, relative to the largest entry:
    fused kernels, vectorised transcendental functions and another summation order in the matmuls
    differ from eager by a few ulps per operation; a step function is a few tens of them deep."""
    return 1e3 * float(torch.finfo(dtype).eps)


def _close(a: Any, b: Any, dtype: Any) -> bool:
    scale = max(1.0, float(b.abs().max()))
    return bool(torch.isfinite(a).all() == torch.isfinite(b).all()) and float((a - b).abs().nan_to_num(0.0).max()) <= (
        _tolerance(dtype) * scale
    )


class CompiledTangent:
    """A `lyapax.algorithm.Dynamics`: ``dynamics`` (an `AutodiffDynamics`) with its tangent map compiled.

    ``step`` (the state alone) stays eager. The first tangent map of a new graph compiles it and is
    compared with the eager one; a graph that cannot be compiled or disagrees leaves this object
    running the eager tangent map (``fallback`` says why).
    """

    def __init__(self, dynamics: AutodiffDynamics, warn: bool):
        self.eager = dynamics
        self.dim, self.input_size = dynamics.dim, dynamics.input_size
        self.definition, self.params = dynamics.split()
        self.warn = warn
        self.fallback = ""
        self._graph: _Graph | None = None
        why = _unavailable()
        if why:
            self._give_up(why)

    def arrays(self) -> dict[str, Any]:
        return self.eager.arrays()

    def split(self) -> tuple[Any, Any]:
        return self.eager.split()

    def step(self, xp: Any, h: Any, x: Any | None) -> Any:
        return self._eager(xp, h, x, None)[0]

    def _eager(self, xp: Any, h: Any, x: Any | None, Q: Any | None) -> tuple[Any, Any]:
        """The eager tangent map. Compiled chunks run under ``torch.inference_mode`` (cheaper per op than
        ``no_grad``: the QR and the loop's own ops), where forward-mode AD is not dependable: the eager
        map runs outside it, on copies of the inference tensors."""
        if not torch.is_inference_mode_enabled():
            return self.eager.step_tangent(xp, h, x, Q)
        with torch.inference_mode(False), torch.no_grad():
            h, x, Q = (None if a is None else a.clone() for a in (h, x, Q))
            return self.eager.step_tangent(xp, h, x, Q)

    def _give_up(self, why: str, graph: _Graph | None = None) -> None:
        self.fallback = why
        if graph is not None:
            graph.failed = why
        message = f"lyapax_torch: the step function's tangent map runs eagerly (torch.func): {why}"
        if self.warn:
            warnings.warn(message + f". {_ENV}=never (or lyapax_torch.set_step_compilation('never')) skips "
                          "the attempt.", RuntimeWarning, stacklevel=_user_level())
        log.info(message)

    def _graph_for(self, h: Any, x: Any | None, Q: Any) -> _Graph:
        key = (self.definition, tuple(h.shape), None if x is None else tuple(x.shape), tuple(Q.shape), h.dtype,
               h.device, torch.get_num_threads())
        with _LOCK:
            graph = _GRAPHS.get(key)
            if graph is None:
                graph = _GRAPHS[key] = _Graph(f"lyapax_step_tangent_{len(_GRAPHS)}")
                while len(_GRAPHS) > KEPT:
                    _GRAPHS.popitem(last=False)
            _GRAPHS.move_to_end(key)
        return graph

    def step_tangent(self, xp: Any, h: Any, x: Any | None, Q: Any | None) -> tuple[Any, Any]:
        if Q is None or self.fallback:
            return self._eager(xp, h, x, Q)
        graph = self._graph
        if graph is None:
            graph = self._graph = self._graph_for(h, x, Q)
            if graph.failed:
                self._give_up(graph.failed)
                return self._eager(xp, h, x, Q)
        if graph.checked:
            try:
                return graph.fn(self.definition, self.params, h, x, Q)
            except Exception:  # noqa: BLE001 - a recompilation (a guard failed): again with the options
                try:
                    with _LOCK, _dynamo_options():
                        return graph.fn(self.definition, self.params, h, x, Q)
                except Exception as exc:  # noqa: BLE001 - one dynamo cannot do: eager from here on
                    self._give_up(f"recompiling failed ({_first_line(exc)})", graph)
                    return self._eager(xp, h, x, Q)
        with _LOCK:  # compile (or find another thread's graph) and compare with the eager tangent map
            start = time.perf_counter()
            try:
                with _dynamo_options():
                    out = graph.fn(self.definition, self.params, h, x, Q)
            except Exception as exc:  # noqa: BLE001 - dynamo's and inductor's errors have no common base
                self._give_up(f"torch.compile failed ({_first_line(exc)})", graph)
                return self._eager(xp, h, x, Q)
            eager = self._eager(xp, h, x, Q)
            if not graph.checked:
                if not (_close(out[0], eager[0], h.dtype) and _close(out[1], eager[1], h.dtype)):
                    self._give_up("the compiled tangent map differed from the eager one beyond rounding", graph)
                    return eager
                graph.checked = True
                graph.seconds = time.perf_counter() - start
                log.info("lyapax_torch: compiled a step function's tangent map in %.1f s", graph.seconds)
        return out


def trace_count() -> int:
    """How many times a chunk runner has been traced (compiled) in this process: always 0, PyTorch
    runs the loop eagerly (the name is the other backends'; see docs/writing-a-backend.md)."""
    return 0


def make_runner(dynamics: Any, differentiable: bool = False) -> Callable[..., Any]:
    """``Problem.run_chunk``: the signature and results of `lyapax.algorithm.run_chunk` less ``xp``
    and ``dynamics``; with ``differentiable``, the autograd graph is kept."""
    xp = namespace()
    quiet = torch.inference_mode if isinstance(dynamics, Cell) else torch.no_grad
    mode = "never" if differentiable or not isinstance(dynamics, AutodiffDynamics) else step_compilation()
    compiled: list[CompiledTangent] = []  # made on the first chunk that runs compiled

    def chosen(start: int) -> Any:
        if mode == "never" or (mode == "auto" and start < AUTO_AFTER):
            return dynamics
        if not compiled:
            compiled.append(CompiledTangent(dynamics, warn=mode == "always"))
        return dynamics if compiled[0].fallback else compiled[0]

    def runner(carry: Any, xs: Any, start: int, length: int, ortho_every: int, *, qr: QR = HOUSEHOLDER,
               factors: bool = False) -> Any:
        if differentiable:
            return run_chunk(xp, dynamics, carry, xs, start, length, ortho_every, qr=qr, track=False, factors=factors)
        dyn = chosen(int(start))
        # a compiled tangent map needs no autograd dispatch: its chunks run in inference mode, as the
        # analytic cells' do (a GRU of 64 units, k = 16: 1.09-1.22x the analytic cell's time under
        # no_grad, 1.00-1.07x in inference mode, three processes each)
        with torch.inference_mode() if dyn is not dynamics else quiet():
            return run_chunk(xp, dyn, carry, xs, start, length, ortho_every, qr=qr, track=False, factors=factors)

    return runner
