"""Every regularizer as one record: its setting in a study file, its name, how stock Keras applies it, what the fast
engine reads of it, whether strengths of it can be swept, and which claims and sanity checks it brings.

Adding a regularizer is a record here and its arithmetic in the fast engine (reportgen/training/engine.py): the
variant and sweep settings of a study file, the claims that apply, the report's names and the Keras model that the
reference engine trains are all read from this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_EPOCHS = 100_000
NO_PATIENCE = 0  # the fast engine's patience of a run without early stopping


class Strict(BaseModel):
    """A table of a study file: unknown keys refused, values of exactly the type written, frozen once read."""

    # strict: "500" is not an epoch count and "yes" is not a boolean; a study file says what it means
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True)


class EarlyStopping(Strict):
    """Keras EarlyStopping on the validation loss."""

    patience: int = Field(
        50, ge=1, le=MAX_EPOCHS, description="Epochs without improvement of the validation loss before stopping."
    )
    restore_best_weights: bool = Field(True, description="Go back to the weights of the best epoch when stopping.")


@dataclass(frozen=True)
class Sweep:
    """How a strength sweep of a regularizer is set and drawn."""

    default: tuple[float, ...]  # the default study's strengths
    values: Any  # the type of one strength (pydantic annotation)
    axis: str  # the x axis of its figure ('L1 strength')
    log: bool  # strengths spread over decades: a log axis


@dataclass(frozen=True)
class Check:
    """A sanity check: what the regularizer does by construction, shown with its raw test and never counted."""

    metric: str  # may hold {t}: one check per sparsity threshold
    direction: int
    how: str
    label: str = ""  # the metric's label, when the check measures it itself (measure)
    measure: Callable[[list], float] | None = None  # a metric of the run's hidden kernels that no other record measures


@dataclass(frozen=True)
class Regularizer:
    """One regularizer a variant may use."""

    key: str  # its setting in a variant, and the sweep's name
    name: str  # in titles and sentences
    annotation: Any  # the setting's type (pydantic)
    field: Any  # the setting's pydantic Field: its default (off), bounds and description
    on: Callable[[Any], bool]  # whether a setting switches it on
    describe: Callable[[Any], str]  # a setting in a few words ('L1 0.001', 'batch norm')
    colour: str  # its sweep's colour in figures
    sweep: Sweep | None = None  # strengths of it can be swept
    claims: tuple[str, ...] = ()  # claims that only variants using it get (by registry key)
    excludes: tuple[str, ...] = ()  # claims that variants using it do not get
    check: Check | None = None
    twinned: bool = False  # its variants are trained twice per replicate, for the claim about initialization
    varies: str = ""  # a source of randomness its runs add to what differs between replicates
    keras_penalty: str = ""  # the keyword of keras.regularizers.L1L2 it sets on the hidden kernels
    keras_layer: Callable[[Any], Any] | None = None  # the Keras layer it adds after each hidden Dense layer
    keras_input: Callable[[Any], Any] | None = None  # the Keras layer it adds before the first Dense layer
    keras_constraint: Callable[[Any], Any] | None = None  # the Keras constraint it sets on the hidden kernels
    keras_optimizer: str = ""  # the keyword of the Keras optimizer it sets (to its setting)
    keras_loss: str = ""  # the keyword of the Keras loss it sets (to its setting); the reported losses stay unsmoothed
    engine: dict[str, tuple[str, Callable[[Any], Any]]] = field(default_factory=dict)  # the per-run numbers the fast
    #   engine's graph reads of it: name -> (numpy dtype, the number from the setting)
    switched: bool = False  # its arithmetic is compiled only into the graphs of runs that use it, so that the graphs
    #   (and numbers) of runs without it stay those made before it existed
    keyed_off: bool = True  # its setting is in a variant's settings key (runs' cache keys) even when off: true for the
    #   first five only, so that keys made before the others existed stay the same


BN_EPSILON = 1e-3  # Keras BatchNormalization defaults, which both engines use
BN_MOMENTUM = 0.99


def _batchnorm_layer(_on: bool):
    from reportgen._tf import keras

    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


def _dropout_layer(rate: float):
    from reportgen._tf import keras

    return keras.layers.Dropout(rate)


def _input_noise_layer(stddev: float):
    from reportgen._tf import keras

    return keras.layers.GaussianNoise(stddev)


def _max_norm_constraint(value: float):
    from reportgen._tf import keras

    return keras.constraints.MaxNorm(value, axis=0)  # axis 0 of a Dense kernel [in, out]: each unit's incoming weights


def largest_unit_norm(kernels: list) -> float:
    """The largest L2 norm of any hidden unit's incoming weights (what max-norm bounds): of a Dense kernel's columns
    [in, out], or of a convolution's filters [..., in, out] (each output channel's weights, as MaxNorm bounds them
    with axis=[0, 1, 2])."""
    import numpy as np

    return float(max(np.sqrt(np.sum(np.square(np.reshape(k, (-1, k.shape[-1]))), axis=0)).max() for k in kernels))


HALF_DECADES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
Strength = Annotated[float, Field(gt=0)]
Rate = Annotated[float, Field(gt=0, lt=1)]

REGULARIZERS: tuple[Regularizer, ...] = (
    Regularizer(
        "l1",
        "L1",
        float,
        Field(0.0, ge=0, description="L1 penalty on the kernels of the hidden layers."),
        lambda v: v > 0,
        lambda v: f"L1 {v:g}",
        "#0072b2",
        Sweep(HALF_DECADES, Strength, "L1 strength", True),
        claims=("sparsity",),
        check=Check("first_below_{t}", +1, "share of first-layer weights with |w| < {t}, larger than the baseline's"),
        keras_penalty="l1",
        engine={"l1": ("float32", float)},
    ),
    Regularizer(
        "l2",
        "L2",
        float,
        Field(0.0, ge=0, description="L2 penalty on the kernels of the hidden layers."),
        lambda v: v > 0,
        lambda v: f"L2 {v:g}",
        "#d55e00",
        Sweep(HALF_DECADES, Strength, "L2 strength", True),
        check=Check("kernel_l2", -1, "L2 norm of the hidden kernels, smaller than the baseline's"),
        keras_penalty="l2",
        engine={"l2": ("float32", float)},
    ),
    Regularizer(
        "dropout",
        "dropout",
        Annotated[float, Field(ge=0, lt=1)],
        Field(0.0, description="Dropout rate after each hidden layer (0 = none)."),
        lambda v: v > 0,
        lambda v: f"dropout {v:g}",
        "#009e73",
        Sweep((0.1, 0.2, 0.3, 0.4, 0.5), Rate, "dropout rate", False),
        varies="the dropout masks",
        keras_layer=_dropout_layer,
        engine={"dropout": ("float32", float)},
    ),
    Regularizer(
        "batchnorm",
        "batch normalization",
        bool,
        Field(False, description="Batch normalization after each hidden layer."),
        bool,
        lambda v: "batch norm",
        "#cc79a7",
        claims=("init_dependence",),
        twinned=True,
        keras_layer=_batchnorm_layer,
        engine={"batchnorm": ("bool", bool)},
    ),
    Regularizer(
        "early_stopping",
        "early stopping",
        EarlyStopping | None,
        Field(None, description="Stop on the validation loss."),
        lambda v: v is not None,
        lambda v: f"early stopping (patience {v.patience})",
        "#e69f00",
        excludes=("stable_loss",),  # early stopping's late training is everyone else's early phase
        engine={
            "patience": ("int32", lambda e: e.patience if e else NO_PATIENCE),
            "restore_best": ("bool", lambda e: bool(e and e.restore_best_weights)),
        },
    ),
    Regularizer(
        "weight_decay",
        "weight decay",
        float,
        Field(
            0.0,
            ge=0,
            lt=1,
            description="Decoupled weight decay of the hidden kernels (keras.optimizers.AdamW, or SGD's weight_decay): "
            "each step multiplies them by 1 − learning_rate × weight_decay, outside the gradient; 2 × l2 is the same "
            "update as l2 with plain SGD.",
        ),
        lambda v: v > 0,
        lambda v: f"weight decay {v:g}",
        "#56b4e9",
        Sweep(HALF_DECADES, Annotated[float, Field(gt=0, lt=1)], "weight-decay strength", True),
        claims=("decoupled_decay",),
        check=Check("kernel_l2", -1, "L2 norm of the hidden kernels, smaller than the baseline's"),
        keras_optimizer="weight_decay",
        engine={"weight_decay": ("float32", float)},
        switched=True,
        keyed_off=False,
    ),
    Regularizer(
        "label_smoothing",
        "label smoothing",
        Annotated[float, Field(ge=0, lt=1)],
        Field(
            0.0,
            description="Label smoothing of the training loss (Keras' label_smoothing: targets y(1 − s) + s/K over K "
            "classes); accuracies and reported losses stay those of the true labels.",
        ),
        lambda v: v > 0,
        lambda v: f"label smoothing {v:g}",
        "#f0e442",
        Sweep((0.05, 0.1, 0.2, 0.3), Annotated[float, Field(gt=0, lt=1)], "label smoothing", False),
        check=Check(
            "confidence", -1, "mean confidence (probability of the predicted class) on test points, lower than the baseline's"
        ),
        keras_loss="label_smoothing",
        engine={"label_smoothing": ("float32", float)},
        switched=True,
        keyed_off=False,
    ),
    Regularizer(
        "input_noise",
        "input noise",
        Annotated[float, Field(ge=0, le=10)],
        Field(
            0.0,
            description="Standard deviation of Gaussian noise added to the inputs in training only "
            "(keras.layers.GaussianNoise; 0 = none).",
        ),
        lambda v: v > 0,
        lambda v: f"input noise {v:g}",
        "#999999",
        Sweep((0.05, 0.1, 0.2, 0.3), Annotated[float, Field(gt=0, le=10)], "input-noise standard deviation", False),
        varies="the input noise",
        keras_input=_input_noise_layer,
        engine={"input_noise": ("float32", float)},
        switched=True,
        keyed_off=False,
    ),
    Regularizer(
        "max_norm",
        "max-norm",
        Annotated[float, Field(ge=0)],
        Field(
            0.0,
            description="Largest L2 norm of each hidden unit's incoming weights, imposed after every step "
            "(keras.constraints.MaxNorm; 0 = none).",
        ),
        lambda v: v > 0,
        lambda v: f"max-norm {v:g}",
        "#882255",
        Sweep((0.5, 1.0, 2.0, 4.0), Annotated[float, Field(gt=0)], "max-norm value", True),
        check=Check(
            "max_unit_norm",
            -1,
            "largest norm of a hidden unit's incoming weights, smaller than the baseline's",
            "Largest norm of a hidden unit's incoming weights",
            largest_unit_norm,
        ),
        keras_constraint=_max_norm_constraint,
        engine={"max_norm": ("float32", float)},
        switched=True,
        keyed_off=False,
    ),
)
BY_KEY = {r.key: r for r in REGULARIZERS}
SWEPT = tuple(r for r in REGULARIZERS if r.sweep is not None)


def regularizer(key: str) -> Regularizer:
    """The record of a regularizer by its key."""
    return BY_KEY[key]
