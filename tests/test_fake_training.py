"""The fake trainer that tests of files, claims and reports use (tests/fake_training.py) gives results shaped as the
engines' are, makes progress, repeats itself, never imports TensorFlow and never writes a real run cache."""

import os
import subprocess
import sys

import numpy as np
import pytest

from reportgen.data import make_datasets
from reportgen.models import Network
from reportgen.plan import plan_runs, snapshot_epochs, snapshotted
from tests.conftest import tiny_config
from tests.fake_training import fake_train

VARIANTS = [
    {"name": "baseline"},
    {"name": "bn", "batchnorm": True, "dropout": 0.2},
    {"name": "es", "l1": 0.01, "early_stopping": {"patience": 2}},
]


def _trained(**data):
    config = tiny_config(variants=VARIANTS, output={"cache": ""}, **({"data": data} if data else {}))
    runs = plan_runs(config)
    datasets = make_datasets(config.data, {r.data_key for r in runs})
    return config, datasets, fake_train(runs, datasets, config)


@pytest.mark.parametrize("data", [{}, {"kind": "blobs", "n_classes": 3}])
def test_results_have_the_shapes_the_engines_give(data):
    config, datasets, results = _trained(**data)
    for r in results:
        network = Network.of(r.run.variant, config.model, datasets[r.run.data_key])
        assert len(r.weights) == len(network.layout()) == len(r.min_val_weights), r.run.key
        for w, (kind, layer) in zip(r.weights, network.layout(), strict=True):
            units = network.hidden[layer] if layer < len(network.hidden) else network.outputs
            assert w.shape[-1] == units and w.dtype == np.float32 and np.isfinite(w).all(), (r.run.key, kind)
        assert {k: len(v) for k, v in r.history.items()} == dict.fromkeys(r.history, r.epochs_run)
        assert r.history["train_loss"][-1] < r.initial_loss  # it made progress: no run is failed for want of it
        assert r.min_val_epoch == int(np.argmin(r.history["val_loss"])) + 1 and r.diverged_at is None
        assert sorted(r.snapshots) == (list(snapshot_epochs(config)) if snapshotted(r.run, config) else []), r.run.key
        assert (r.best_epoch is not None) == bool(r.run.variant.early_stopping)
    assert sum(bool(r.snapshots) for r in results) == len(VARIANTS)  # each variant's first replicate


def test_the_same_runs_give_the_same_numbers_and_replicates_differ():
    _, _, a = _trained()
    _, _, b = _trained()
    for x, y in zip(a, b, strict=True):
        assert all(np.array_equal(u, v) for u, v in zip(x.weights, y.weights, strict=True))
        assert all(np.array_equal(x.history[k], y.history[k]) for k in x.history)
    by = {r.run.key: r for r in a}
    assert not np.array_equal(by["baseline/seed0"].weights[0], by["baseline/seed1"].weights[0])
    assert by["baseline/seed0"].initial_loss == by["es/seed0"].initial_loss  # a replicate's variants start alike
    assert np.mean(np.abs(by["es/seed0"].weights[0]) < 1e-6) > np.mean(np.abs(by["baseline/seed0"].weights[0]) < 1e-6)


def test_it_imports_no_tensorflow_and_refuses_a_real_cache(tmp_path):
    code = (
        "import sys\nfrom reportgen.config import validate\nfrom reportgen.data import make_datasets\n"
        "from reportgen.plan import plan_runs\nfrom tests.fake_training import fake_train\n"
        "config = validate({'training': {'epochs': 2, 'seeds': [0]}, 'output': {'cache': sys.argv[1]}})\n"
        "runs = plan_runs(config)[:3]\nfake_train(runs, make_datasets(config.data, [0]), config)\n"
        "print('tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    ok = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c")], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and ok.stdout.strip() == "False", ok.stderr
    with pytest.raises(RuntimeError, match="would store fake runs in"):
        fake_train([], {}, tiny_config(output={"cache": str(os.path.expanduser("~/.cache/reportgen-runs"))}))
