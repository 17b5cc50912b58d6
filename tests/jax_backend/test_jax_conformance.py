"""The conformance suite of lyapax (lyapax.testing.conformance) for the jax backend.

The builders (flax.nnx models holding canonical cells' weights) are in lyapax_jax.testing.
"""

import jax  # noqa: F401

from lyapax.testing.conformance import BackendConformance


class TestConformance(BackendConformance):
    backend = "jax"
    # Each example's shapes compile their own XLA programs: at the profile's 25 examples the two
    # float64 comparisons took 216 s and 138 s of the session's 576 s (pytest --durations, 2-core
    # machine); torch and TensorFlow run the 25 (about 11 s), and the agreement session compares all.
    compiled_examples = 8
