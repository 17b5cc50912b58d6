"""Log `lyapax.Monitor` records to TensorBoard, from any framework's training loop.

Needs ``pip install "lyapax-rnn[tensorboard]"`` (TensorBoard itself, no TensorFlow or
PyTorch). The event files are TensorBoard's protocol buffers framed by its own
``RecordWriter`` into a plain file: TensorBoard's ``EventFileWriter`` opens files through
``tensorboard.compat.tf``, which imports TensorFlow wherever it is installed (seconds and
hundreds of MB at the first record: docs/monitoring.md has the measurement, made with
`benchmarks/bench_tensorboard_logger.py`); nothing here imports it.

Example::

    from lyapax.integrations.tensorboard import TensorBoardLogger

    logger = TensorBoardLogger("runs/lstm")
    monitor = lyapax.Monitor(probe, on_record=logger)
    for epoch in range(epochs):
        train_one_epoch(model)
        monitor(model.rnn, step=epoch + 1)       # step e: after e epochs (step 0: before training)
    logger.close()

Logged at each record's step: ``lyapax/lambda_1 ...`` (the leading exponents),
``lyapax/kaplan_yorke_dimension`` and ``lyapax/entropy`` as scalars, the spectrum as the
histogram ``lyapax/spectrum`` (all in nats/step), and with ``figure=True`` the spectrum's
plot as the image ``lyapax/spectrum_plot``.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from typing import Any

import numpy as np

from ..errors import InputError
from ..install import pip_install
from ..monitor import MonitorRecord
from ..results import Spectrum
from .metrics import check_leading, figure_png, finite_exponents, scalars

try:
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary
    from tensorboard.summary.writer.record_writer import RecordWriter
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        f"lyapax.integrations.tensorboard needs TensorBoard ({exc}): {pip_install('tensorboard')}", name="tensorboard"
    ) from exc

__all__ = ["TensorBoardLogger"]

_FILES = itertools.count()  # one event file name per logger, as TensorBoard's own writer numbers them


def _event_file(log_dir: Any) -> str:
    """A new event file's path in ``log_dir`` (created if missing), named as TensorBoard names them."""
    if not isinstance(log_dir, (str, os.PathLike)):
        raise InputError(f"log_dir: expected a folder path (str or os.PathLike), got {type(log_dir).__name__}.")
    folder = os.fspath(log_dir)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InputError(f"log_dir: {folder!r} exists and is not a folder; pass a folder for the event files.")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise InputError(f"log_dir: cannot create the folder {folder!r} ({exc.strerror}); pass a writable folder.") from exc
    name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_FILES)}"
    return os.path.join(folder, name)


class TensorBoardLogger:
    """A `lyapax.Monitor` ``on_record`` callback writing TensorBoard event files under ``log_dir``.

    Args:
        log_dir: folder of the event files (created if missing); point ``tensorboard --logdir`` at it
            or at its parent.
        leading: how many leading exponents to log as scalars (default 3).
        prefix: tag prefix (default ``"lyapax"``).
        figure: also log the spectrum's plot as an image at each record (needs matplotlib).
        bins: bins of the spectrum histogram (at most; fewer for a short spectrum).
        flush_secs: at most this long between a record and its reaching the disk (the file is
            flushed at the first record after it); `close` (or `flush`) writes everything.

    Each logger writes one new event file in ``log_dir``, named as TensorBoard's own writer names them.
    """

    def __init__(
        self, log_dir: str | os.PathLike[str], *, leading: int = 3, prefix: str = "lyapax", figure: bool = False,
        bins: int = 30, flush_secs: float = 10.0,
    ) -> None:
        self.leading = check_leading(leading)
        self.prefix = str(prefix)
        self.figure = bool(figure)
        self.bins = check_leading(bins)
        if isinstance(flush_secs, bool) or not isinstance(flush_secs, (int, float)) or not flush_secs >= 0:
            raise InputError(f"flush_secs: expected a number of seconds >= 0, got {flush_secs!r}.")
        self.flush_secs = float(flush_secs)
        self.path = _event_file(log_dir)
        self.log_dir = os.path.dirname(self.path)
        try:
            self._records = RecordWriter(open(self.path, "wb"))  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise InputError(f"log_dir: cannot write {self.path!r} ({exc.strerror}); pass a writable folder.") from exc
        self._lock = threading.Lock()
        self._flushed = time.monotonic()
        self._write(Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def __call__(self, record: MonitorRecord, spectrum: Spectrum | None = None) -> None:
        values = [Summary.Value(tag=tag, simple_value=value)
                  for tag, value in scalars(record, prefix=self.prefix, leading=self.leading).items()]
        exps = finite_exponents(record)
        if exps.size:
            values.append(Summary.Value(tag=f"{self.prefix}/spectrum", histo=self._histogram(exps)))
        if self.figure and spectrum is not None:
            png, width, height = figure_png(spectrum, record.step)
            image = Summary.Image(height=height, width=width, colorspace=4, encoded_image_string=png)
            values.append(Summary.Value(tag=f"{self.prefix}/spectrum_plot", image=image))
        self._write(Event(wall_time=time.time(), step=int(record.step), summary=Summary(value=values)))
        if time.monotonic() - self._flushed >= self.flush_secs:
            self.flush()

    def _write(self, event: Event) -> None:
        with self._lock:
            if self._records.closed:
                raise InputError(f"logger: the TensorBoardLogger of {self.log_dir!r} is closed; make a new one.")
            self._records.write(event.SerializeToString())

    def _histogram(self, exps: np.ndarray) -> HistogramProto:
        # bucket_limit[i] is the right edge of bucket i (TensorBoard's convention)
        counts, edges = np.histogram(exps, bins=min(self.bins, exps.size))
        return HistogramProto(min=float(exps.min()), max=float(exps.max()), num=float(exps.size),
                              sum=float(exps.sum()), sum_squares=float(np.square(exps).sum()),
                              bucket_limit=[float(v) for v in edges[1:]], bucket=[float(c) for c in counts])

    def flush(self) -> None:
        """Write buffered events to disk."""
        with self._lock:
            if not self._records.closed:
                self._records.flush()
            self._flushed = time.monotonic()

    def close(self) -> None:
        """Write buffered events and close the event file (closing twice is harmless)."""
        with self._lock:
            if not self._records.closed:
                self._records.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
