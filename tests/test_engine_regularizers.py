"""The regularizers, optimizers and activations added after the first five, in the fast engine against stock Keras fit:
the same weights within the tolerance of tests/test_engine.py (rtol 1e-4, atol 1e-5)."""

from dataclasses import replace

import numpy as np
import pytest

from reportgen import models
from reportgen.data import make_datasets
from reportgen.plan import plan_runs, settings_key
from reportgen.regularizers import REGULARIZERS
from reportgen.training import train_runs
from tests.conftest import tiny_config

pytestmark = pytest.mark.slow  # every test here trains with both engines
RTOL, ATOL = 1e-4, 1e-5  # as tests/test_engine.py's parity tests

# The default optimizer (Adam) with GELU hidden units: also the GELU case of test_optimizers_and_activations_match_keras_fit
# (its graphs, Adam and GELU with and without weight decay, are this study's baseline's and wd's)
ADAM_MODEL = {"activation": "gelu"}
ADAM_VARIANTS = [
    {"name": "baseline"},
    {"name": "wd", "weight_decay": 0.05},
    {"name": "smooth", "label_smoothing": 0.2},
    {"name": "maxnorm", "max_norm": 0.8},
    # every switched setting but input noise in one graph, with batch norm's arrays among the weights they act on
    {
        "name": "bn+l2+wd+maxnorm+smooth",
        "batchnorm": True,
        "l2": 0.01,
        "weight_decay": 0.1,
        "max_norm": 1.0,
        "label_smoothing": 0.1,
    },
]
# Plain SGD: L2 and the matched decoupled weight decay (test_sgd_without_momentum_makes_l2_and_matched_weight_decay_one_update
# compares the two)
SGD_MODEL = {"optimizer": "sgd", "learning_rate": 0.1}
SGD_VARIANTS = [{"name": "l2", "l2": 0.02}, {"name": "wd", "weight_decay": 0.04}]
# SGD with momentum and tanh units on three classes, one variant with label smoothing, L2 and weight decay: the
# multiclass smoothing test's study and the momentum-and-tanh case of test_optimizers_and_activations_match_keras_fit
# (its graph, weight decay switched in, runs every line of the graph without it, and the decay)
MULTICLASS_MODEL = {"optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.05, "activation": "tanh"}
MULTICLASS_DATA = {"kind": "blobs", "n_samples": 60}
MULTICLASS_VARIANTS = [{"name": "smooth+l2+wd", "label_smoothing": 0.2, "l2": 0.01, "weight_decay": 0.05, "dropout": 0.0}]
EPOCHS = 2  # the second epoch's steps use the Adam (or momentum) state of the first


def _configs(variants, model=None, epochs=EPOCHS, data=None, seeds=(3,)):
    """The study of the variants for the fast engine and for model.fit: 48 training rows in mini-batches of 20."""
    base = dict(
        training={"epochs": epochs, "seeds": list(seeds), "batch_size": 20, "shuffle": False},
        variants=variants,
        sweeps={"l1": []},
        model={"hidden_units": [16, 8], **(model or {})},
        **({"data": data} if data else {}),
    )
    return tiny_config(**base), tiny_config(**{**base, "training": {**base["training"], "engine": "keras"}})


def _both(variants, model=None, epochs=EPOCHS, data=None, seeds=(3,)):
    """Train the variants with the fast engine and with model.fit. The twins of plan_runs (a second initialization of
    a batch-norm variant and of the baseline) are left out: they train as their variants do, from other initial
    weights."""
    fast, ref = _configs(variants, model, epochs, data, seeds)
    datasets = make_datasets(fast.data, fast.training.seeds)
    runs = [r for r in plan_runs(fast) if r.init == 0]
    return train_runs(runs, datasets, fast), train_runs(runs, datasets, ref)


def _hidden_kernels(result) -> list[np.ndarray]:
    """A result's hidden Dense kernels (the only 2-D arrays besides the output layer's kernel, which comes last)."""
    return [w for w in result.weights if w.ndim == 2][:-1]


def _assert_parity(fast, ref):
    assert [a.run.key for a in fast] == [b.run.key for b in ref]
    for a, b in zip(fast, ref, strict=True):
        assert len(a.weights) == len(b.weights), a.run.key
        for wa, wb in zip(a.weights, b.weights, strict=True):
            np.testing.assert_allclose(wa, wb, rtol=RTOL, atol=ATOL, err_msg=a.run.key)
        # Keras' training loss averages the penalty over the epoch (the engines record its end): compared without one
        keys = ("val_loss", "val_accuracy", "train_accuracy") + (("train_loss",) if not a.history["penalty"].any() else ())
        for key in keys:
            np.testing.assert_allclose(a.history[key], b.history[key], rtol=RTOL, atol=ATOL, err_msg=f"{a.run.key} {key}")


@pytest.fixture(scope="module")
def adam():
    return _both(ADAM_VARIANTS, ADAM_MODEL)


@pytest.fixture(scope="module")
def sgd():
    return _both(SGD_VARIANTS, SGD_MODEL)


@pytest.fixture(scope="module")
def multiclass():
    return _both(MULTICLASS_VARIANTS, MULTICLASS_MODEL, data=MULTICLASS_DATA)


def test_weight_decay_label_smoothing_and_max_norm_match_keras_fit(adam):
    fast, ref = adam
    _assert_parity(fast, ref)
    assert len(fast) == len(ADAM_VARIANTS)
    by = {r.run.variant.name: r for r in fast}
    assert not np.allclose(by["wd"].weights[0], by["baseline"].weights[0])  # each setting changed the network
    assert not np.allclose(by["smooth"].weights[0], by["baseline"].weights[0])


def test_max_norm_bounds_every_hidden_unit(adam):
    fast, _ = adam
    bounded = [r for r in fast if r.run.variant.max_norm]
    assert len(bounded) == 2
    for r in bounded:
        kernels = _hidden_kernels(r)
        assert [k.shape for k in kernels] == [(2, 16), (16, 8)]
        for kernel in kernels:
            assert np.sqrt((kernel**2).sum(axis=0)).max() <= r.run.variant.max_norm * (1 + 1e-6)


def test_label_smoothing_records_the_losses_of_the_true_labels(adam):
    """Both engines record cross-entropy against the true labels: the smoothed variant's validation loss is what its
    weights give on the true labels, not the (larger) smoothed loss it trained on."""
    fast, ref = adam
    config = _configs(ADAM_VARIANTS, ADAM_MODEL)[0]
    data = make_datasets(config.data, [3])[3]
    for results in (fast, ref):
        smooth = next(r for r in results if r.run.variant.name == "smooth")
        net = models.Network.of(smooth.run.variant, config.model, data)
        _, val_loss = models.accuracy_and_loss(models.predict_logits(net, smooth.weights, data.x_val), data.y_val)
        assert smooth.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-4)


# Optimizers and activations other than Adam and ReLU: the study whose graphs train each, and its model settings
OPTIMIZERS = {
    "sgd": ("sgd", SGD_MODEL),
    "sgd+momentum+tanh": ("multiclass", MULTICLASS_MODEL),
    "gelu": ("adam", ADAM_MODEL),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizers_and_activations_match_keras_fit(request, name):
    study, model = OPTIMIZERS[name]
    fast, ref = request.getfixturevalue(study)
    config = _configs([{"name": "x"}], model)[0].model
    assert (config.optimizer, config.activation) == (model.get("optimizer", "adam"), model.get("activation", "relu"))
    _assert_parity(fast, ref)


def test_sgd_without_momentum_makes_l2_and_matched_weight_decay_one_update(sgd):
    """Plain SGD: the gradient of l2·‖w‖² is 2·l2·w, the decoupled decay lr·wd·w: with wd = 2·l2 the same network."""
    fast, _ = sgd
    l2, wd = fast
    assert (l2.run.variant.l2, wd.run.variant.weight_decay) == (0.02, 0.04)
    for a, b in zip(l2.weights, wd.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_multiclass_label_smoothing_matches_keras_fit(multiclass):
    """Three classes: Keras' CategoricalCrossentropy(label_smoothing) on one-hot labels, the engine's smoothed softmax
    (the unsmoothed softmax's parity is tests/test_multiclass.py's)."""
    fast, ref = multiclass
    assert [r.run.variant.label_smoothing for r in fast] == [0.2]
    assert fast[0].weights[-1].shape == (3,)  # a softmax over three classes
    _assert_parity(fast, ref)


def _matched_noise_layer(seed: int):
    """A Keras layer that adds the fast engine's input noise of a run: its stream, counted by the optimizer's steps."""
    from reportgen._tf import keras, tf
    from reportgen.training import engine

    key = tf.constant([engine.run_streams(seed)[1]], tf.uint32)
    steps = {}

    class MatchedNoise(keras.layers.Layer):
        def __init__(self, stddev):
            super().__init__()
            self.stddev = stddev

        def call(self, x, training=False):
            if not training:
                return x
            if id(self) not in steps:  # a plain tf.Variable per model: not one of its weights
                steps[id(self)] = tf.Variable(0, dtype=tf.int32, trainable=False)
            count = steps[id(self)]
            z = engine._normal(engine.noise_keys(key), count.read_value(), (20, x.shape[-1]))[0]
            count.assign_add(1)
            return x + self.stddev * z[: tf.shape(x)[0]]

    return MatchedNoise


def test_input_noise_matches_keras_fit_with_the_noise_stream_matched(adam, monkeypatch):
    """Noise draws of keras.layers.GaussianNoise cannot be the engine's, so the parity is tested with the engine's own
    stream drawn inside the Keras model (same step counter): every other part (where the noise goes, training only,
    its scale) must then give the same weights. test_input_noise_is_standard_normal checks the stream itself."""
    seed = 3
    records = tuple(replace(r, keras_input=_matched_noise_layer(seed)) if r.key == "input_noise" else r for r in REGULARIZERS)
    monkeypatch.setattr(models, "REGULARIZERS", records)
    noisy = [{"name": "noise", "input_noise": 0.3}, {"name": "noise+l2", "input_noise": 0.1, "l2": 0.01}]
    fast, ref = _both(noisy, ADAM_MODEL)
    _assert_parity(fast, ref)
    clean = next(r for r in adam[0] if r.run.variant.name == "baseline")  # the same study without the noise
    assert not np.allclose(fast[0].weights[0], clean.weights[0], atol=1e-3)  # the noise changed the training


def test_input_noise_is_standard_normal():
    from reportgen._tf import tf
    from reportgen.training import engine

    keys = engine.noise_keys(tf.constant([1, 2, 3], tf.uint32))
    z = engine._normal(keys, tf.constant(5), (200, 100)).numpy()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.mean(np.abs(z) > 1.96) - 0.05) < 0.005  # the tails of a normal, not just its first two moments
    assert abs(np.corrcoef(z[0].ravel(), z[1].ravel())[0, 1]) < 0.02  # runs draw their own noise
    later = engine._normal(keys, tf.constant(6), (200, 100)).numpy()
    assert abs(np.corrcoef(z[0].ravel(), later[0].ravel())[0, 1]) < 0.02  # and a new draw every step
    np.testing.assert_array_equal(engine._normal(keys, tf.constant(5), (3, 100)).numpy(), z[:, :3])  # rows are prefixes


def test_stock_keras_model_of_the_new_settings():
    """What model.fit trains: GaussianNoise before the first layer, MaxNorm on the hidden kernels, AdamW decaying the
    hidden kernels only, a smoothed loss with the true labels' cross-entropy as a metric."""
    from reportgen._tf import keras
    from reportgen.config import ModelConfig, VariantConfig

    variant = VariantConfig(name="all", weight_decay=0.01, label_smoothing=0.1, input_noise=0.2, max_norm=2.0)
    model = models.build_model(variant, ModelConfig(hidden_units=[8, 4]))
    assert isinstance(model.layers[0], keras.layers.GaussianNoise) and model.layers[0].stddev == 0.2
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert all(isinstance(d.kernel_constraint, keras.constraints.MaxNorm) for d in dense[:-1])
    assert dense[-1].kernel_constraint is None
    opt = model.optimizer
    assert isinstance(opt, keras.optimizers.AdamW) and opt.weight_decay == 0.01
    decayed = [v.path for v in model.trainable_variables if opt._use_weight_decay(v)]
    assert decayed == [d.kernel.path for d in dense[:-1]]
    assert model.loss.get_config()["label_smoothing"] == 0.1


def test_settings_keys_of_variants_without_the_new_settings_are_unchanged():
    """The new settings are left out of a variant's settings key when off: run cache keys made before they existed
    stay valid (the text below is the key main wrote for this variant)."""
    from reportgen.config import VariantConfig

    v = VariantConfig(name="x", l1=0.001, dropout=0.2)
    assert settings_key(v) == '{"l1":0.001,"l2":0.0,"dropout":0.2,"batchnorm":false,"early_stopping":null}'
    assert '"weight_decay":0.01' in settings_key(VariantConfig(name="y", weight_decay=0.01))
