"""How lyapax is installed: the distribution's name and the pip lines the error messages give.

The import name is ``lyapax``, but the distribution on the package index is ``lyapax-rnn``:
the name ``lyapax`` there belongs to an unrelated project (Lyapunov exponents of ODEs/DDEs
in JAX) whose wheel also installs a top-level module ``lyapax``, so the two cannot share
an environment. Every install hint of the library is built here, from one constant.
"""

from __future__ import annotations

__all__ = ["DISTRIBUTION", "BRING_YOUR_OWN", "pip_install"]

DISTRIBUTION = "lyapax-rnn"

# Extras that deliberately do not install their framework: extra -> (what to install, note).
# TensorFlow comes as several distributions (tensorflow, tensorflow-cpu, tensorflow[and-cuda]
# is `tensorflow` again, tensorflow-macos, ...) that all provide the module `tensorflow`.
# pip knows distributions, not modules, so an extra requiring any one of them installs a
# second TensorFlow over a user's other one. The extra carries Keras 3 and the user keeps or
# picks the TensorFlow build for their platform.
BRING_YOUR_OWN = {
    "tensorflow": (
        "tensorflow",
        "any TensorFlow >= 2.16 build will do: tensorflow, tensorflow[and-cuda], tensorflow-cpu",
    ),
}


def pip_install(extra: str | None = None) -> str:
    """The pip command that installs lyapax with ``extra``, e.g. ``'pip install "lyapax-rnn[plot]"'``."""
    if not extra:
        return f"pip install {DISTRIBUTION}"
    line = f'pip install "{DISTRIBUTION}[{extra}]"'
    if extra not in BRING_YOUR_OWN:
        return line
    framework, note = BRING_YOUR_OWN[extra]
    return f'pip install {framework} "{DISTRIBUTION}[{extra}]" ({note})'
