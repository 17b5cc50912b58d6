"""The shared backend conformance suite (lyapax.testing.conformance), run against the TensorFlow backend."""

from __future__ import annotations

import keras  # noqa: F401  (the framework is imported, as a user would)
import tensorflow  # noqa: F401

from lyapax.testing.conformance import BackendConformance


class TestTensorFlowConformance(BackendConformance):
    backend = "tensorflow"
