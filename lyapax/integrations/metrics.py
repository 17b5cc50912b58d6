"""What the loggers log of one `lyapax.Monitor` record, named once for TensorBoard and W&B.

Scalars, under ``<prefix>/``: ``lambda_1 ... lambda_<leading>`` (the leading exponents),
``kaplan_yorke_dimension``, ``entropy`` (nats/step); the whole spectrum as a histogram
(``spectrum``); optionally the spectrum's figure (``spectrum_plot``, a PNG).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..monitor import MonitorRecord
from ..validation import check_int

__all__ = ["scalars", "finite_exponents", "figure_png", "check_leading"]


def check_leading(leading: Any) -> int:
    """``leading``: how many exponents to log as scalars (at least 1)."""
    return int(check_int("leading", leading, 1))


def scalars(record: MonitorRecord, *, prefix: str, leading: int) -> dict[str, float]:
    """The scalars of a record by tag: the leading exponents, Kaplan-Yorke dimension and entropy."""
    out = {f"{prefix}/lambda_{i + 1}": float(e) for i, e in enumerate(record.exponents[:leading])}
    out[f"{prefix}/kaplan_yorke_dimension"] = float(record.kaplan_yorke_dimension)
    out[f"{prefix}/entropy"] = float(record.entropy)
    return out


def finite_exponents(record: MonitorRecord) -> np.ndarray:
    """The record's exponents without -inf/NaN (a collapsed direction), for a histogram."""
    e = np.asarray(record.exponents, dtype=np.float64)
    return e[np.isfinite(e)]


def figure_png(spectrum: Any, step: int) -> tuple[bytes, int, int]:
    """The spectrum's figure (`lyapax.Spectrum.plot`) at ``step`` as PNG bytes, with its width and height in pixels."""
    from .. import plotting

    plt = plotting.pyplot(files_only=True)
    ax = spectrum.plot()
    ax.set_title(f"Lyapunov spectrum at step {step}")
    fig = ax.figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    width, height = (int(round(v)) for v in fig.get_size_inches() * 80)
    plt.close(fig)
    return buf.getvalue(), width, height
