"""Log `lyapax.Monitor` records to TensorBoard, from any framework's training loop.

Needs ``pip install "lyapax-rnn[tensorboard]"`` (TensorBoard itself, no TensorFlow or
PyTorch: the event files are written with TensorBoard's own writer and protocol buffers).

Example::

    from lyapax.integrations.tensorboard import TensorBoardLogger

    logger = TensorBoardLogger("runs/lstm")
    monitor = lyapax.Monitor(probe, on_record=logger)
    for epoch in range(epochs):
        train_one_epoch(model)
        monitor(model.rnn, step=epoch)
    logger.close()

Logged at each record's step: ``lyapax/lambda_1 ...`` (the leading exponents),
``lyapax/kaplan_yorke_dimension`` and ``lyapax/entropy`` as scalars, the spectrum as the
histogram ``lyapax/spectrum`` (all in nats/step), and with ``figure=True`` the spectrum's
plot as the image ``lyapax/spectrum_plot``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from ..monitor import MonitorRecord
from ..results import Spectrum
from .metrics import check_leading, figure_png, finite_exponents, scalars

__all__ = ["TensorBoardLogger"]


class TensorBoardLogger:
    """A `lyapax.Monitor` ``on_record`` callback writing TensorBoard event files under ``log_dir``.

    Args:
        log_dir: folder of the event files (created if missing); point ``tensorboard --logdir`` at it
            or at its parent.
        leading: how many leading exponents to log as scalars (default 3).
        prefix: tag prefix (default ``"lyapax"``).
        figure: also log the spectrum's plot as an image at each record (needs matplotlib).
        bins: bins of the spectrum histogram (at most; fewer for a short spectrum).
        flush_secs: how often buffered events are written; `close` (or `flush`) writes them all.
    """

    def __init__(
        self, log_dir: str | os.PathLike[str], *, leading: int = 3, prefix: str = "lyapax", figure: bool = False,
        bins: int = 30, flush_secs: float = 10.0,
    ) -> None:
        self.log_dir = os.fspath(log_dir)
        self.leading = check_leading(leading)
        self.prefix = str(prefix)
        self.figure = bool(figure)
        self.bins = check_leading(bins)
        self._writer = EventFileWriter(self.log_dir, flush_secs=flush_secs)

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
        self._writer.add_event(Event(wall_time=time.time(), step=int(record.step), summary=Summary(value=values)))

    def _histogram(self, exps: np.ndarray) -> HistogramProto:
        # bucket_limit[i] is the right edge of bucket i (TensorBoard's convention)
        counts, edges = np.histogram(exps, bins=min(self.bins, exps.size))
        return HistogramProto(min=float(exps.min()), max=float(exps.max()), num=float(exps.size),
                              sum=float(exps.sum()), sum_squares=float(np.square(exps).sum()),
                              bucket_limit=[float(v) for v in edges[1:]], bucket=[float(c) for c in counts])

    def flush(self) -> None:
        """Write buffered events to disk."""
        self._writer.flush()

    def close(self) -> None:
        """Write buffered events and close the event file."""
        self._writer.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
