"""The conformance suite of lyapax (lyapax.testing.conformance) for the jax backend.

The builders (flax.nnx models holding canonical cells' weights) are in lyapax_jax.testing.
"""

import jax  # noqa: F401

from lyapax.testing.conformance import BackendConformance


class TestConformance(BackendConformance):
    backend = "jax"
