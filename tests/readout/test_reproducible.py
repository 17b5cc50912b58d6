"""A network's record depends on its settings and seed only: not on what ran before it, nor on a resume.

With dropout on (as in ``--preset paper``) the masks once came from torch's global RNG, so the
same network trained after another one, or after any use of the RNG, got another record
(issue 23). Tiny networks and a few batches: each training takes well under a second.
"""

import json
import random

import numpy as np
import pytest
import torch
from test_readout_e2e import _strip_timing  # tests/readout is on sys.path (pytest's prepend import mode)

from lyapax.readout.study import StudyConfig, networks_of, run_networks
from lyapax.readout.tasks import grammar_text, make_corpus
from lyapax.readout.train import NetworkConfig, TrainConfig, build_model, train_network

CFG = TrainConfig(epochs=2, batches_per_epoch=3, batch=4, seq_len=20, val_windows=4, val_len=30, probe_batch=2,
                  probe_steps=30, warmup=5, k=4, bias=False, dropout=0.3)
NET = NetworkConfig("gru", 0.3, 0.01, 8, 5)
OTHER = NetworkConfig("lstm", 1.0, 0.03, 8, 0)


def _global_states():
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _same_states(a, b):
    return torch.equal(a[0], b[0]) and all(np.array_equal(x, y) for x, y in zip(a[1], b[1])) and a[2] == b[2]


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(grammar_text(6000, seed=0), "g")


def test_record_is_the_same_first_after_others_and_after_reseeding(corpus):
    first = _strip_timing(train_network(NET, CFG, corpus))
    train_network(OTHER, CFG, corpus)  # another network in between
    after_other = _strip_timing(train_network(NET, CFG, corpus))
    torch.manual_seed(12345)
    torch.rand(100)
    np.random.seed(7)
    after_reseed = _strip_timing(train_network(NET, CFG, corpus))
    assert first == after_other == after_reseed  # bit for bit: floats compared exactly
    assert first["val_loss"][1] != first["val_loss"][0]  # it trained


def test_training_leaves_the_global_rngs_as_they_were(corpus):
    torch.manual_seed(3)
    before = _global_states()
    train_network(NET, CFG, corpus)
    build_model("lstm", corpus.vocab_size, 8, 0.5, 2, dropout=0.5)
    assert _same_states(before, _global_states())


def test_dropout_masks_are_drawn_and_seeded():
    a = build_model("gru", 6, 8, 0.3, 1, dropout=0.5)
    b = build_model("gru", 6, 8, 0.3, 1, dropout=0.5)
    ids = torch.zeros(3, 11, dtype=torch.long)
    a.train()
    b.train()
    first, second = a(ids), a(ids)
    assert not torch.equal(first, second)  # a new mask each forward pass
    assert torch.equal(first, b(ids))  # the same masks from the same seed
    a.eval()
    assert torch.equal(a(ids), a(ids))  # no dropout in evaluation


def test_resumed_study_retrains_the_same_record(tmp_path, corpus):
    study = StudyConfig(archs=("gru",), init_scales=(0.3, 1.0), lrs=(0.01,), hidden=8, grammar_chars=6000,
                        train=CFG)
    out = tmp_path / "s"
    run_networks(study, str(out), progress=False, log=lambda s: None)
    ids = [n.id for n in networks_of(study)]
    records = {i: _strip_timing(json.loads((out / "networks" / f"{i}.json").read_text())) for i in ids}
    (out / "networks" / f"{ids[1]}.json").unlink()  # as if interrupted before its record was written
    torch.manual_seed(99)
    run_networks(study, str(out), progress=False, log=lambda s: None)  # resumes: trains it first this time
    assert _strip_timing(json.loads((out / "networks" / f"{ids[1]}.json").read_text())) == records[ids[1]]


def test_a_record_of_the_old_training_is_retrained_on_resume(tmp_path):
    study = StudyConfig(archs=("gru",), init_scales=(0.3,), lrs=(0.01,), hidden=8, grammar_chars=6000, train=CFG)
    out = tmp_path / "s"
    run_networks(study, str(out), progress=False, log=lambda s: None)
    path = out / "networks" / f"{networks_of(study)[0].id}.json"
    old = json.loads(path.read_text())
    del old["record_version"]  # written before the per-network generators: dropout from the global RNG
    path.write_text(json.dumps(old))
    logs = []
    run_networks(study, str(out), progress=False, log=logs.append)
    assert not any("resuming" in m for m in logs)
    assert json.loads(path.read_text())["record_version"] == 2
