"""Log `lyapax.Monitor` records to Weights & Biases, from any framework's training loop.

Needs ``pip install "lyapax-rnn[wandb]"``.

Example::

    import wandb
    from lyapax.integrations.wandb import WandbLogger

    run = wandb.init(project="lstm")
    monitor = lyapax.Monitor(probe, on_record=WandbLogger(run))
    for epoch in range(epochs):
        train_one_epoch(model)
        monitor(model.rnn, step=epoch + 1)       # step e: after e epochs (step 0: before training)
    run.finish()

Logged per record: ``lyapax/lambda_1 ...`` (the leading exponents), ``lyapax/kaplan_yorke_dimension``
and ``lyapax/entropy`` (nats/step), the spectrum as the histogram ``lyapax/spectrum``, and with
``figure=True`` its plot as the image ``lyapax/spectrum_plot``. They are plotted against
``lyapax/step``, the Monitor's step (declared with ``run.define_metric``), so they never
advance or fight the run's own step counter.
"""

from __future__ import annotations

import io
from typing import Any

from ..install import pip_install
from ..monitor import MonitorRecord
from ..results import Spectrum
from .metrics import check_leading, figure_png, finite_exponents, scalars

try:
    import wandb
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        f"lyapax.integrations.wandb needs Weights & Biases ({exc}): {pip_install('wandb')}", name="wandb"
    ) from exc

__all__ = ["WandbLogger"]


class WandbLogger:
    """A `lyapax.Monitor` ``on_record`` callback logging to a W&B run.

    Args:
        run: the run to log to; ``None``: the active run (``wandb.run``), or, without one, a run
            started here with ``wandb.init(**init_kwargs)``, which `close` then finishes.
        leading: how many leading exponents to log as scalars (default 3).
        prefix: key prefix (default ``"lyapax"``).
        figure: also log the spectrum's plot as an image (needs matplotlib).
        **init_kwargs: for ``wandb.init`` when the logger starts the run (``project=``, ``mode="offline"`` ...).
    """

    def __init__(self, run: Any = None, *, leading: int = 3, prefix: str = "lyapax", figure: bool = False,
                 **init_kwargs: Any) -> None:
        self.leading = check_leading(leading)
        self.prefix = str(prefix)
        self.figure = bool(figure)
        self._owned = run is None and wandb.run is None
        self.run = wandb.init(**init_kwargs) if self._owned else (run if run is not None else wandb.run)
        self.run.define_metric(f"{self.prefix}/step")
        self.run.define_metric(f"{self.prefix}/*", step_metric=f"{self.prefix}/step")

    def __call__(self, record: MonitorRecord, spectrum: Spectrum | None = None) -> None:
        data: dict[str, Any] = {f"{self.prefix}/step": int(record.step)}
        data.update(scalars(record, prefix=self.prefix, leading=self.leading))
        exps = finite_exponents(record)
        if exps.size:
            data[f"{self.prefix}/spectrum"] = wandb.Histogram(exps, num_bins=min(64, max(1, exps.size)))
        if self.figure and spectrum is not None:
            from PIL import Image  # matplotlib's own dependency

            png, _, _ = figure_png(spectrum, record.step)
            data[f"{self.prefix}/spectrum_plot"] = wandb.Image(Image.open(io.BytesIO(png)))
        self.run.log(data)

    def close(self) -> None:
        """Finish the run if this logger started it (a run you passed stays yours to finish)."""
        if self._owned:
            self.run.finish()

    def __enter__(self) -> WandbLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
