"""More than two classes and more than two features in both engines: the same parity with stock Keras as the binary
case (tests/test_engine.py), softmax outputs and categorical cross-entropy everywhere."""

import numpy as np
import pytest

from reportgen.data import make_datasets
from reportgen.models import Network, accuracy_and_loss, build_model, predict_logits
from reportgen.plan import plan_runs
from reportgen.training import train_runs
from tests.conftest import tiny_config

# A penalty (L1, Keras' L1 class: its arithmetic in the engine is L2's too, whose class tests/test_engine.py's
# early-stopping variants compare) and batch norm, each beside the plain network.
PARITY_VARIANTS = [
    {"name": "baseline"},
    {"name": "l1", "l1": 0.01},
    {"name": "bn", "batchnorm": True},
]


@pytest.fixture(scope="module")
def parity():
    """Both engines once on three classes of six features (make_classification): softmax width and input width both
    differ from the binary case."""
    base = dict(
        data={"kind": "classification", "n_features": 6, "n_classes": 3, "n_samples": 90},
        training={"epochs": 2, "seeds": [3], "batch_size": 20, "shuffle": False},  # an epoch on the Adam state of the first
        variants=PARITY_VARIANTS,
        sweeps={"l1": []},
        model={"hidden_units": [16, 8]},
    )
    fast, ref = tiny_config(**base), tiny_config(**{**base, "training": {**base["training"], "engine": "keras"}})
    datasets = make_datasets(fast.data, fast.training.seeds)
    runs = [r for r in plan_runs(fast) if r.init == 0]  # the twins train as their variants do
    return fast, datasets, train_runs(runs, datasets, fast), train_runs(runs, datasets, ref)


@pytest.mark.slow
def test_deterministic_variants_match_keras_fit(parity):
    config, data, fast, ref = parity
    d = data[config.training.seeds[0]]
    assert (d.n_features, d.n_classes) == (6, 3) and len(fast) == len(PARITY_VARIANTS)
    for a, b in zip(fast, ref, strict=True):
        assert a.run.key == b.run.key
        assert a.weights[0].shape[0] == d.n_features and a.weights[-1].shape == (d.n_classes,)  # inputs and softmax width
        assert len(a.weights) == len(b.weights)
        for wa, wb in zip(a.weights, b.weights, strict=True):
            np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5, err_msg=a.run.key)
        np.testing.assert_allclose(a.history["val_loss"], b.history["val_loss"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(a.history["train_accuracy"], b.history["train_accuracy"], atol=1e-6)


@pytest.mark.slow
def test_keras_predict_equals_the_numpy_forward_pass_and_its_loss(parity):
    config, data, fast, _ = parity
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


def _three_sectors(cell: float = 0.02):
    """P(each class) of three 120° sectors around the origin, and a frame whose region is the unit disc."""
    from reportgen.measures import Frame, square_grid

    xs, ys = square_grid((-1.5, 1.5, -1.5, 1.5), cell)
    xx, yy = np.meshgrid(xs, ys)
    logits = np.stack([np.cos(np.arctan2(yy, xx) - a) for a in (0, 2 * np.pi / 3, 4 * np.pi / 3)], axis=-1) * 20
    probs = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    return probs, Frame(xs, ys, np.hypot(xx, yy) < 1), xx, yy


def test_boundaries_between_three_classes_have_their_known_length_and_pieces():
    from reportgen.measures import Frame, boundary_measures

    probs, frame, xx, yy = _three_sectors()
    length, pieces = boundary_measures(np.where(frame.region[..., None], probs, np.nan), frame)
    assert length == pytest.approx(3.0, rel=0.02) and pieces == 1  # three radii meeting at the centre: one piece
    islands = np.stack([np.zeros_like(xx), (0.3 - np.hypot(xx + 0.7, yy)) * 40, (0.3 - np.hypot(xx - 0.7, yy)) * 40], -1)
    p = np.exp(islands) / np.exp(islands).sum(axis=-1, keepdims=True)
    length, pieces = boundary_measures(p, Frame(frame.xs, frame.ys, np.ones(xx.shape, bool)))
    assert length == pytest.approx(2 * 2 * np.pi * 0.3, rel=0.01) and pieces == 2


def test_the_view_maps_one_plane_point_to_the_same_raw_point_in_every_replicate():
    from reportgen.data import reference_view
    from reportgen.datasets import data_config

    cfg = data_config(kind="wine")
    first, other = make_datasets(cfg, [0, 1]).values()
    view, frame = reference_view(cfg, first)
    assert not view.measured and view.axes.shape == (2, 13) and "principal components" in view.sentence
    points = frame.points[:50]
    raw_first = first.to_raw(view.inputs(points, first, first))
    raw_other = other.to_raw(view.inputs(points, first, other))
    np.testing.assert_allclose(raw_first, raw_other, rtol=1e-4, atol=1e-3)  # each replicate's own standardisation
    np.testing.assert_allclose(view.project(view.inputs(points, first, first)), points, atol=1e-4)
