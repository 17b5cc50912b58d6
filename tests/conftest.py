"""Test-wide settings: hypothesis profiles and a headless matplotlib.

Test folders are named ``<framework>_backend`` (never ``torch``, ``jax``...): pytest puts
``tests/`` on ``sys.path``, where a folder named like a framework would shadow it.

Profiles (select with LYAPAX_HYPOTHESIS_PROFILE): ``ci`` (default:
derandomized, few examples, fast), ``oldest`` (the lower-bound sessions: every property
on a few derandomized examples, since there the versions' API is what is tested and the
mathematics is tested on ``ci``'s examples in the backends' own sessions) and ``nightly``
(random, many examples).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "oldest", derandomize=True, max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("nightly", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("LYAPAX_HYPOTHESIS_PROFILE", "ci"))

os.environ.setdefault("MPLBACKEND", "Agg")
