"""Test-wide settings: hypothesis profiles and a headless matplotlib.

Test folders are named ``<framework>_backend`` (never ``torch``, ``jax``...): pytest puts
``tests/`` on ``sys.path``, where a folder named like a framework would shadow it.

Profiles (select with LYAPAX_HYPOTHESIS_PROFILE): ``ci`` (default:
derandomized, few examples, fast) and ``nightly`` (random, many examples).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("nightly", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("LYAPAX_HYPOTHESIS_PROFILE", "ci"))

os.environ.setdefault("MPLBACKEND", "Agg")
