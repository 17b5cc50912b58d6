"""The ``lyapax`` console script: ``lyapax demo``, ``lyapax readout``, ``lyapax backends``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from . import __version__
from .errors import LyapaxError
from .registry import backends, registered

__all__ = ["main", "fail"]


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    out = None if args.no_plot else args.out
    try:
        run_demo(args.gains, hidden=args.hidden, batch=args.batch, steps=args.steps, warmup=args.warmup,
                 seed=args.seed, out=out)
    except LyapaxError as exc:
        return fail("lyapax demo", exc)
    except MemoryError:
        return fail("lyapax demo", "out of memory; lower --hidden, --batch or --steps.", 1)
    except KeyboardInterrupt:
        return 130
    return 0


def fail(prog: str, message: Any, code: int = 2) -> int:
    """Print ``prog: message`` on stderr and return ``code`` (2: bad input).

    Control characters of the message (from a file name, a record) are shown escaped, never
    sent to the terminal.
    """
    text = "".join(ch if ch == "\n" or 32 <= ord(ch) != 127 else repr(ch)[1:-1] for ch in str(message))
    print(f"{prog}: {text}", file=sys.stderr)
    return code


def _backends(args: argparse.Namespace) -> int:
    installed = set(backends())
    for name in registered():
        print(f"{name:12s} {'installed' if name in installed else 'not installed'}")
    return 0


def version() -> str:
    """The installed distribution's version (``lyapax.__version__`` where lyapax runs from a bare checkout)."""
    try:
        return metadata.version("lyapax-rnn")
    except metadata.PackageNotFoundError:
        return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code (2 with a message, never a traceback, for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "readout":
        try:
            from .readout.cli import main as readout_main
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            print(f"lyapax readout: {exc}", file=sys.stderr)
            return 2
        return int(readout_main(argv[1:]) or 0)

    parser = argparse.ArgumentParser(prog="lyapax", description="Lyapunov spectra of recurrent neural networks.")
    parser.add_argument("--version", action="version", version=f"lyapax {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="spectra of random tanh RNNs across gains (numpy only; prints each network's time)")
    demo.add_argument("--gains", type=float, nargs="+", default=[0.5, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0],
                      help="gains g to try: recurrent weights drawn from N(0, g^2/hidden); below 1 ordered, "
                           "above 1 chaotic (default 0.5 0.8 1 1.2 1.5 2 3)")
    demo.add_argument("--hidden", type=int, default=64, help="hidden units (default 64)")
    demo.add_argument("--batch", type=int, default=4, help="input sequences (default 4)")
    demo.add_argument("--steps", type=int, default=1000, help="time steps per sequence (default 1000)")
    demo.add_argument("--warmup", type=int, default=200, help="warm-up steps, not counted (default 200)")
    demo.add_argument("--seed", type=int, default=0,
                      help="seed of the random weights and input sequences; the same seed gives the same table (default 0)")
    demo.add_argument("--out", default="lyapax-demo", help="folder for the figure (default ./lyapax-demo)")
    demo.add_argument("--no-plot", action="store_true", help="do not save a figure")
    demo.set_defaults(func=_demo)
    sub.add_parser("readout", help="training-stability readout experiment (needs lyapax-rnn[torch]); see lyapax readout -h")
    sub.add_parser("backends", help="list registered backends and whether they are installed").set_defaults(func=_backends)
    args = parser.parse_args(argv)  # a bad flag: argparse's message and SystemExit(2)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
