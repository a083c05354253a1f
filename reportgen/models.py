"""A Keras model from a variant spec, its weight layout, and a numpy forward pass for analysis."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from reportgen.config import ModelConfig, VariantConfig
from reportgen.regularizers import BN_EPSILON, REGULARIZERS

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Network:
    """The shape of a network: input width, hidden widths, whether batch norm follows each hidden layer, output width."""

    hidden: tuple[int, ...]
    batchnorm: bool
    inputs: int = 2
    outputs: int = 1  # 1: one sigmoid unit for two classes; K > 2: a softmax over K classes
    activation: str = "relu"  # of the hidden layers

    @classmethod
    def of(cls, variant: VariantConfig, model: ModelConfig, data=None) -> Network:
        """Return the network shape of a variant on data with n_features and n_classes (default: 2 and 2)."""
        inputs, classes = (data.n_features, data.n_classes) if data is not None else (2, 2)
        return cls(tuple(model.hidden_units), variant.batchnorm, inputs, output_width(classes), model.activation)

    def layout(self) -> list[tuple[str, int]]:
        """Name each array of Keras' get_weights() order as (kind, layer index)."""
        names = []
        for i in range(len(self.hidden)):
            names += [("kernel", i), ("bias", i)]
            if self.batchnorm:
                names += [("gamma", i), ("beta", i), ("moving_mean", i), ("moving_variance", i)]
        return names + [("kernel", len(self.hidden)), ("bias", len(self.hidden))]

    def size(self) -> int:
        """Its weights: Dense kernels and biases, and batch norm's four arrays per hidden unit."""
        widths = [self.inputs, *self.hidden, self.outputs]
        return sum(a * b + b for a, b in zip(widths, widths[1:])) + (4 * sum(self.hidden) if self.batchnorm else 0)

    def kernel_indices(self) -> list[int]:
        """Positions of the Dense kernels (hidden layers first, output last) in the weight list."""
        return [i for i, (kind, _) in enumerate(self.layout()) if kind == "kernel"]


def output_width(n_classes: int) -> int:
    """Output units for n classes: one sigmoid unit for two, one softmax unit per class beyond."""
    return 1 if n_classes == 2 else n_classes


def kernel_regularizer(variant: VariantConfig):
    """Return the Keras regularizer for the hidden kernels of a variant (None if it has none): the penalties its
    regularizers' records name, together in one keras.regularizers.L1L2."""
    from reportgen._tf import keras

    penalties = {
        r.keras_penalty: variant.setting(r.key) for r in REGULARIZERS if r.keras_penalty and r.key in variant.regularizers()
    }
    if not penalties:
        return None
    if len(penalties) == 1:  # the classes Keras itself names for one penalty (their configs read back the same)
        ((name, value),) = penalties.items()
        return {"l1": keras.regularizers.L1, "l2": keras.regularizers.L2}[name](value)
    return keras.regularizers.L1L2(**penalties)


def _used(variant: VariantConfig, attribute: str) -> list:
    """The records of the regularizers a variant uses that set a Keras attribute (keras_layer, keras_loss, ...)."""
    return [r for r in REGULARIZERS if getattr(r, attribute) and r.key in variant.regularizers()]


def _constraint(variant: VariantConfig):
    """The Keras constraint on the hidden kernels (one record's at most: none combines two)."""
    used = _used(variant, "keras_constraint")
    return used[0].keras_constraint(variant.setting(used[0].key)) if used else None


def build_model(variant: VariantConfig, model: ModelConfig, data=None):
    """Build and compile the Keras Sequential model of a variant (the seed notebook's network) for data with
    n_features and n_classes (default: two of each): sigmoid and binary cross-entropy, or softmax and categorical."""
    from reportgen._tf import keras

    net = Network.of(variant, model, data)
    layers: list = [keras.Input(shape=(net.inputs,))]
    layers += [r.keras_input(variant.setting(r.key)) for r in _used(variant, "keras_input")]
    used = _used(variant, "keras_layer")
    for units in model.hidden_units:
        layers.append(
            keras.layers.Dense(
                units,
                activation=model.activation,
                kernel_regularizer=kernel_regularizer(variant),
                kernel_constraint=_constraint(variant),
            )
        )
        layers += [r.keras_layer(variant.setting(r.key)) for r in used]  # in the records' order: batch norm, then dropout
    binary = net.outputs == 1
    layers.append(keras.layers.Dense(net.outputs, activation="sigmoid" if binary else "softmax"))
    keras_model = keras.Sequential(layers, name=_keras_name(variant.name))
    hidden = {id(layer.kernel) for layer in keras_model.layers[:-1] if isinstance(layer, keras.layers.Dense)}
    return compile_model(keras_model, variant, model, binary, [v for v in keras_model.trainable_variables if id(v) in hidden])


def compile_model(keras_model, variant: VariantConfig, model: ModelConfig, binary: bool, decayed: list):
    """Compile a Keras model of a variant as both of reportgen's networks are (its own MLP and a factory's): the loss
    (with label smoothing, and the true labels' cross-entropy as the metric 'ce'), accuracy, and the optimizer, whose
    decoupled weight decay acts on the variables in `decayed` alone (the hidden kernels)."""
    loss, metrics = _loss(variant, binary)
    keras_model.compile(optimizer=_optimizer(variant, model, keras_model, decayed), loss=loss, metrics=metrics)
    return keras_model


def _loss(variant: VariantConfig, binary: bool) -> tuple:
    """The Keras loss and metrics: with a record's loss option (label smoothing) a loss object, and the cross-entropy
    of the true labels as the metric 'ce', which the reference engine records as the run's losses."""
    from reportgen._tf import keras

    options = {r.keras_loss: variant.setting(r.key) for r in _used(variant, "keras_loss")}
    if not options:
        return ("binary_crossentropy" if binary else "sparse_categorical_crossentropy"), ["accuracy"]
    if binary:
        return keras.losses.BinaryCrossentropy(**options), ["accuracy", keras.metrics.BinaryCrossentropy(name="ce")]
    return keras.losses.CategoricalCrossentropy(**options), ["accuracy", keras.metrics.CategoricalCrossentropy(name="ce")]


def keras_labels(variant: VariantConfig, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Labels as the Keras model of a variant takes them: class indices, or for a loss object with options (and its
    cross-entropy metric) a column of 0/1 for two classes and one-hot rows beyond."""
    if not _used(variant, "keras_loss"):
        return y
    return np.eye(n_classes, dtype=np.float32)[y.astype(int)] if n_classes > 2 else y.astype(np.float32)[:, None]


def _optimizer(variant: VariantConfig, model: ModelConfig, keras_model, decayed: list):
    """The Keras optimizer: Adam (AdamW with decoupled weight decay) or SGD; weight decay on the variables in `decayed`
    only (the hidden kernels, as L2: Keras decays every trainable variable unless it is excluded, and the biases, the
    output layer and batch norm's parameters are)."""
    from reportgen._tf import keras

    options = {r.keras_optimizer: variant.setting(r.key) for r in _used(variant, "keras_optimizer")}
    lr = model.learning_rate
    if model.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=model.momentum, **options)
    else:
        optimizer = (keras.optimizers.AdamW if "weight_decay" in options else keras.optimizers.Adam)(learning_rate=lr, **options)
    if options.get("weight_decay"):
        kept = {id(v) for v in decayed}
        optimizer.exclude_from_weight_decay(var_list=[v for v in keras_model.trainable_variables if id(v) not in kept])
    return optimizer


def _keras_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name) or "model"


def initial_dense_weights(model: ModelConfig, seed: int, data=None) -> list[np.ndarray]:
    """Draw the Dense kernels and biases for a seed on data with n_features and n_classes (default: two of each);
    every variant of that seed starts from them (paired runs).

    The same numbers as a build_model network without dropout (whose layers take seeds too) after
    keras.utils.set_random_seed(seed), at a third of the cost: each Dense layer's Glorot initializer takes its
    seed when it is constructed, in layer order, and the biases are zeros.
    """
    from reportgen._tf import keras, seeded

    net = Network.of(VariantConfig(name="init"), model, data)
    widths = [*net.hidden, net.outputs]
    with seeded(seed):
        kernels = [keras.initializers.GlorotUniform() for _ in widths]  # constructed in the model's layer order
    out = []
    for init, fan_in, fan_out in zip(kernels, [net.inputs, *net.hidden], widths):
        out += [np.asarray(init((fan_in, fan_out)), np.float32), np.zeros(fan_out, np.float32)]
    return out


def initial_weights(network: Network, dense: list[np.ndarray]) -> list[np.ndarray]:
    """Expand the seed's Dense weights to the full weight list of a network (fresh batch-norm state)."""
    out, dense_iter = [], iter(dense)
    for kind, layer in network.layout():
        if kind in ("kernel", "bias"):
            out.append(next(dense_iter))
        else:
            width = network.hidden[layer]
            fill = 0.0 if kind in ("beta", "moving_mean") else 1.0
            out.append(np.full(width, fill, dtype=np.float32))
    return out


def predict_logits(network: Network, weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Inference-mode logits; weights may carry a leading run axis (stacked, with x [runs, points, features] or shared
    points [points, features]) or not.

    Stacked runs on many points go through one at a time: BLAS multiplies those 2-D matrices about 1.5 times faster
    than numpy's batched matmul (on a few points the batch is faster), and the operations of each run are the same.
    Each layer's activation is one new array updated in place (relu(h @ kernel + bias) in the same order): a temporary
    per operation made grid passes 2.5 times slower.
    """
    weights = [np.asarray(w, np.float32) for w in weights]  # float32 throughout, as both engines train (no copy then)
    if weights[0].ndim == 3 and x.shape[-2] >= 256:  # one run per core at a time (numpy multiplies outside the GIL)
        one = lambda i: predict_logits(network, [w[i] for w in weights], x[i] if x.ndim == 3 else x)  # noqa: E731
        return np.stack(per_core(one, range(len(weights[0])), at_once(network, x.shape[-2])))
    h = x.astype(np.float32)
    it = iter(weights)
    for _ in network.hidden:
        kernel, bias = next(it), next(it)
        h = h @ kernel
        h += bias[..., None, :]
        _activate(h, network.activation)
        if network.batchnorm:
            gamma, beta, mean, var = next(it), next(it), next(it), next(it)
            h -= mean[..., None, :]
            h /= np.sqrt(var[..., None, :] + BN_EPSILON)
            h *= gamma[..., None, :]
            h += beta[..., None, :]
    kernel, bias = next(it), next(it)
    out = h @ kernel
    out += bias[..., None, :]
    return out[..., 0] if network.outputs == 1 else out


# Bytes of hidden activations [runs, points, width] at once in the analysis' forward passes: runs per batched call
# (reportgen.forward) and runs in threads (per_core) shrink with points and width, so a grid of 22,500 points through
# 1,024-unit layers goes one or two runs at a time instead of 48 (4 GB each).
ACTIVATION_BYTES = 128e6


def at_once(network: Network, points: int) -> int:
    """How many runs on this many points keep their activations within ACTIVATION_BYTES."""
    return max(1, int(ACTIVATION_BYTES // max(points * max((*network.hidden, network.outputs)) * 4, 1)))


def per_core(task: Callable[[T], R], items: Iterable[T], most: int | None = None) -> list[R]:
    """[task(item) for item in items], one thread per core (at most `most`): for numpy work, which runs outside the
    GIL. Each item's arithmetic is what it would be alone (the analysis holds BLAS to one thread per call), so the
    results are the same bits however many cores share them."""
    items = list(items)
    workers = min(os.cpu_count() or 1, len(items), most or len(items))
    if workers < 2:
        return [task(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(task, items))


def _activate(h: np.ndarray, activation: str) -> None:
    """Apply a hidden layer's activation in place."""
    if activation == "relu":
        np.maximum(h, 0.0, out=h)
    elif activation == "tanh":
        np.tanh(h, out=h)
    else:  # exact gelu, x Φ(x), as Keras' 'gelu'
        from scipy.special import ndtr

        h *= ndtr(h).astype(np.float32)


def probabilities(logits: np.ndarray, multiclass: bool) -> np.ndarray:
    """P(class 1) from a sigmoid's logits, or P(each class) along the last axis from a softmax's."""
    if not multiclass:
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))
    from scipy.special import softmax

    return softmax(logits, axis=-1)


def predict_proba(network: Network, weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Inference-mode probabilities: of class 1 for two classes, of every class [..., K] beyond."""
    return probabilities(predict_logits(network, weights, x), network.outputs > 1)


def predicted_class(logits: np.ndarray, multiclass: bool) -> np.ndarray:
    """The predicted class: True for class 1 from a sigmoid's logits, the index of the largest logit from a softmax's."""
    return np.argmax(logits, axis=-1).astype(np.uint8) if multiclass else logits > 0


def accuracy_and_loss(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Accuracy and cross-entropy from logits, in float64: binary from a sigmoid's logits [n] (as Keras computes it),
    categorical from a softmax's [n, K]."""
    z = logits.astype(np.float64)
    if z.ndim == y.ndim + 1:
        from scipy.special import log_softmax

        picked = np.take_along_axis(log_softmax(z, axis=-1), y.astype(int)[..., None], axis=-1)[..., 0]
        return float(np.mean(np.argmax(z, axis=-1) == y)), float(-np.mean(picked))
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    return float(np.mean((z > 0) == y)), float(loss)


def training_loss(network: Network, weights: list[np.ndarray], data) -> float:
    """Cross-entropy of weights on a dataset's training split, inference mode, without the penalty."""
    return accuracy_and_loss(predict_logits(network, weights, data.x_train), data.y_train)[1]
