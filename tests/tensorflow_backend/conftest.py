"""Fixtures of the TensorFlow backend tests (small shapes: other suites run alongside)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240607)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    keras.utils.set_random_seed(7)
    tf.random.set_seed(7)
