"""Your own Keras network for reportgen: a small convolutional network on square images (examples/factory.toml).

reportgen calls build(n_features, n_classes, variant) once per variant and replicate, then compiles and trains the
uncompiled model it returns with stock model.fit. `variant` carries the variant's settings: the layer-level ones
(l1, l2, dropout, batchnorm, input_noise, max_norm) are the network's to apply, and reportgen checks the built network
shows each of them (and no other) before anything trains; early stopping, label smoothing and weight decay are
training settings that reportgen applies itself.
"""

import math

import keras


def build(n_features, n_classes, variant):
    """Conv 3×3 (8 filters) → max-pool → Dense 32 → one sigmoid unit (two classes) or a softmax."""
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise ValueError(f"expects the pixels of a square image, got {n_features} features")
    penalty = keras.regularizers.L1L2(l1=variant.l1, l2=variant.l2) if variant.l1 or variant.l2 else None

    def max_norm(axis):  # each unit's (each filter's) incoming weights, as reportgen's own MLP bounds them
        return keras.constraints.MaxNorm(variant.max_norm, axis=axis) if variant.max_norm else None

    def regularized(x):  # what the variant adds after a hidden layer
        if variant.batchnorm:
            x = keras.layers.BatchNormalization()(x)
        if variant.dropout:
            x = keras.layers.Dropout(variant.dropout)(x)
        return x

    inputs = keras.Input((n_features,))
    x = keras.layers.GaussianNoise(variant.input_noise)(inputs) if variant.input_noise else inputs
    x = keras.layers.Reshape((side, side, 1))(x)
    x = keras.layers.Conv2D(
        8, 3, padding="same", activation="relu", kernel_regularizer=penalty, kernel_constraint=max_norm([0, 1, 2])
    )(x)
    x = keras.layers.MaxPooling2D(2)(regularized(x))
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(32, activation="relu", kernel_regularizer=penalty, kernel_constraint=max_norm(0))(x)
    x = regularized(x)
    binary = n_classes == 2
    outputs = keras.layers.Dense(1 if binary else n_classes, activation="sigmoid" if binary else "softmax")(x)
    return keras.Model(inputs, outputs)
