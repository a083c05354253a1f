"""More than two classes and more than two features in both engines: the same parity with stock Keras as the binary
case (tests/test_engine.py), softmax outputs and categorical cross-entropy everywhere."""

import numpy as np
import pytest

from reportgen.data import make_datasets
from reportgen.models import Network, accuracy_and_loss, build_model, predict_logits
from reportgen.training import plan_runs, train_runs
from tests.conftest import tiny_config

PARITY_VARIANTS = [
    {"name": "baseline"},
    {"name": "l1", "l1": 0.01},
    {"name": "l2", "l2": 0.01},
    {"name": "bn", "batchnorm": True},
]


def _engines(data: dict, variants=PARITY_VARIANTS, epochs: int = 4):
    base = dict(data=data, training={"epochs": epochs, "seeds": [3], "batch_size": 20, "shuffle": False},
                variants=variants, sweeps={"l1": []}, model={"hidden_units": [16, 8]})
    fast, ref = tiny_config(**base), tiny_config(**{**base, "training": {**base["training"], "engine": "keras"}})
    datasets = make_datasets(fast.data, fast.training.seeds)
    runs = plan_runs(fast)
    return fast, datasets, train_runs(runs, datasets, fast), train_runs(runs, datasets, ref)


@pytest.fixture(scope="module")
def three_blobs():
    return _engines({"kind": "blobs", "n_classes": 3, "n_samples": 90})


@pytest.fixture(scope="module")
def wine():
    return _engines({"kind": "wine", "test_samples": None}, PARITY_VARIANTS[:2])  # 60 of its rows, 13 features


@pytest.mark.parametrize("case", ["three_blobs", "wine"])
def test_deterministic_variants_match_keras_fit(case, request):
    config, data, fast, ref = request.getfixturevalue(case)
    d = data[config.training.seeds[0]]
    for a, b in zip(fast, ref):
        assert a.run.key == b.run.key
        assert a.weights[0].shape[0] == d.n_features and a.weights[-1].shape == (d.n_classes,)  # inputs and softmax width
        for wa, wb in zip(a.weights, b.weights):
            np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5, err_msg=a.run.key)
        np.testing.assert_allclose(a.history["val_loss"], b.history["val_loss"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(a.history["train_accuracy"], b.history["train_accuracy"], atol=1e-6)


def test_keras_predict_equals_the_numpy_forward_pass_and_its_loss(three_blobs):
    config, data, fast, _ = three_blobs
    d = data[3]
    for result in fast:
        model = build_model(result.run.variant, config.model, d)
        model.set_weights(result.weights)
        probs = model.predict(d.x_val, verbose=0)
        logits = predict_logits(Network.of(result.run.variant, config.model, d), result.weights, d.x_val)
        assert logits.shape == (len(d.y_val), 3)
        np.testing.assert_allclose(probs, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), atol=1e-5)
        acc, loss = accuracy_and_loss(logits, d.y_val)
        assert acc == pytest.approx(np.mean(probs.argmax(axis=1) == d.y_val))
        assert loss == pytest.approx(result.history["val_loss"][-1], rel=1e-4)  # the engine's categorical cross-entropy


def test_categorical_loss_of_known_logits():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    acc, loss = accuracy_and_loss(logits, np.array([0.0, 2.0]))
    expected = -(np.log(np.exp(2) / (np.exp(2) + 2)) + np.log(1 / 3)) / 2
    assert acc == 0.5 and loss == pytest.approx(expected)
