"""One of several processes sharing an Optuna study through one storage URL (run by test_optuna.py).

    python optuna_worker.py STORAGE_URL N_TRIALS SEED

Each process runs N_TRIALS trials of the study "shared" (created beforehand: several
processes creating one SQLite schema at once can collide); a trial is a random tanh
network whose gain the sampler draws (chaotic above a gain of about 1.8) and it reports
the network's spectrum at epochs 0..3.
"""

import os
import sys

import numpy as np
import optuna

import lyapax
from lyapax.demo import random_tanh_network
from lyapax.integrations.optuna import InstabilityRule, create_study, report_spectrum


def objective(trial):
    trial.set_user_attr("pid", os.getpid())
    gain = trial.suggest_float("gain", 0.3, 3.5)
    x = 0.1 * np.random.default_rng(0).standard_normal((2, 150, 3))
    spec = lyapax.spectrum(random_tanh_network(16, 3, gain, seed=1), x, warmup=50, k=2)
    for epoch in range(4):
        report_spectrum(trial, epoch, spec, value=1.0 / (1 + epoch), epochs=3)
    return float(spec.max_exponent)


if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = create_study(study_name="shared", storage=sys.argv[1], rule=InstabilityRule(threshold=0.0, epoch=1),
                         sampler=optuna.samplers.RandomSampler(seed=int(sys.argv[3])), load_if_exists=True)
    study.optimize(objective, n_trials=int(sys.argv[2]))
