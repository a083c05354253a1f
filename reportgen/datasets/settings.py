"""What every kind of data is: a table of a study file ([data]) with its own settings, and the few things the rest of
reportgen asks of it (its title, how to load a replicate, whether a generator with a Bayes reference drew it).

Each kind is one class in one module per family (planar.py, classification.py, tables.py, csv_file.py), registered in
reportgen.datasets: the settings a study file may give it, their defaults, and its behaviour live together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_serializer, model_validator

from reportgen.datasets.base import Dataset, Generator
from reportgen.regularizers import Strict

# Upper bounds: far beyond any study this tool is for, low enough that a typo fails here rather than after hours.
MAX_POINTS = 100_000
MAX_SEED = 2**31 - 1
MAX_TEXT = 200
MAX_FEATURES = 1_000
MAX_CLASSES = 20
MAX_NOISE = 10.0

# The settings of every kind before kinds had models of their own, in their order then: a study's data is written
# (results.json, the analysis memo, run cache keys) with each of them, None where its kind has no such setting, so
# files and keys of earlier builds stay the same. Settings added since appear only when set to other than their default.
SHARED_KEYS = (
    "kind",
    "n_samples",
    "noise",
    "n_features",
    "n_classes",
    "seed",
    "resample",
    "validation_fraction",
    "test_samples",
    "test_fraction",
    "path",
    "label",
    "features",
    "delimiter",
)
KIND_DESCRIPTION = (
    "The data: a 2-D generator ('moons', 'circles', 'xor', 'spirals', 'blobs'), scikit-learn's "
    "make_classification ('classification'), a bundled table ('breast_cancer', 'wine', 'iris', 'digits') or a CSV file "
    "('csv', the default when path is set)."
)


def kind_field(kind: str) -> Any:
    """The `kind` setting of a data kind (its tag in the union of kinds)."""
    return Field(kind, description=KIND_DESCRIPTION)


def n_samples_field(default: int | None) -> Any:
    """Points for training plus validation: a generator's draw, or a table's optional sample of its rows."""
    return Field(
        default,
        ge=10,
        le=MAX_POINTS,
        json_schema_extra={"example": 200},
        description=f"Points for training plus validation (10 to {MAX_POINTS:,}): drawn by a generator (moons, circles, "
        "xor: 100; spirals, classification: 200; blobs: 150), or, for a table, a stratified sample of its rows outside "
        "the test split (unset: all of them).",
    )


def split_problem(n_samples: int, validation_fraction: float) -> None:
    """Refuse a number of points that leaves the training or the validation split empty."""
    n_val = round(n_samples * validation_fraction)
    if not 1 <= n_val <= n_samples - 2:
        raise ValueError(
            f"validation_fraction {validation_fraction:g} of {n_samples} points leaves "
            f"{n_val} for validation and {n_samples - n_val} for training; both need points"
        )


def no_reference(why: str) -> str:
    """The report's sentence for data without a Bayes-optimal reference."""
    return f"There is no Bayes-optimal reference ({why}), so the report measures no excess error and draws no Bayes boundary."


class DataSettings(Strict):
    """Where the points come from and how they are split: the settings every kind has, and what each kind does."""

    kind: str = Field(description=KIND_DESCRIPTION)
    n_samples: int | None = n_samples_field(None)  # each kind gives its own default
    seed: int = Field(
        42,
        ge=0,
        le=MAX_SEED,
        description="Base seed of the data draws (a file's or table's: of its splits); replicate r "
        f"draws its points from (seed, r) (0 to {MAX_SEED:,}).",
    )
    resample: bool = Field(
        True,
        description="Each replicate draws its own training, validation and test points (a table: its own stratified "
        "split of the rows) (true), or every replicate uses the one draw of data.seed (false: intervals then cover "
        "initial weights, batch order and dropout only).",
    )
    validation_fraction: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Share of the training-plus-validation points held out for validation (a generator's "
        "last ones, as Keras' validation_split; a table's a stratified random share).",
    )

    title: ClassVar[str] = ""  # how the report names the data ('make_moons', "Fisher's iris data")
    generated: ClassVar[bool] = False  # a generator draws new points per replicate (else: a table's rows, re-split)
    has_generator: ClassVar[bool] = False  # its class densities are known: a Bayes-optimal reference
    planar: ClassVar[bool] = False  # two features in the generator's own plane
    redraws: ClassVar[tuple[str, ...]] = ()  # what a replicate draws anew, for the design sentence
    test_draw: ClassVar[int] = 0  # which of draws() chose a replicate's test points
    unkeyed: ClassVar[frozenset[str]] = frozenset({"test_samples"})  # settings that never reach a run's weights
    image_shape: ClassVar[tuple[int, int] | None] = None  # the features are the pixels of an image of this shape

    @model_validator(mode="after")
    def _room_for_validation(self) -> DataSettings:
        if self.n_samples is not None:
            split_problem(self.n_samples, self.validation_fraction)
        return self

    @model_serializer(mode="wrap")
    def _with_every_shared_key(self, handler) -> dict[str, Any]:
        """The settings as earlier builds wrote them (SHARED_KEYS, None where this kind has no such setting), then
        settings added since that differ from their default."""
        own, fields = handler(self), type(self).model_fields
        out = {k: own.get(k) for k in SHARED_KEYS if k in own or k not in fields}
        out.update((k, v) for k, v in own.items() if k not in out and getattr(self, k) != fields[k].default)
        return out

    # ---- what the rest of reportgen asks of a kind ---------------------------------------------------------------

    def name(self) -> str:
        """How the report names these data."""
        return self.title

    @property
    def file(self) -> Path | None:
        """The file the data are read from (None: nothing is read)."""
        return None

    @property
    def reuses_rows(self) -> bool:
        """Whether replicates re-split the same rows (a table, resampled): their scores are then correlated."""
        return self.resample and not self.generated

    def relocated(self, where) -> DataSettings:
        """These settings with a file's path passed through where(path) (kinds without a file: unchanged)."""
        return self

    def draws(self, replicate: int) -> tuple[int, int]:
        """Random states of a replicate's (train + validation, test) draws; the same for every replicate when not
        resampling. A table's split uses the first; make_classification draws its test points in the first too."""
        if not self.resample:
            return self.seed, self.seed + 1
        a, b = np.random.SeedSequence([self.seed, replicate]).generate_state(2)
        return int(a), int(b)

    def pruning_seed(self, replicate: int) -> int:
        """The random state of a replicate's pruning points: a third draw, apart from its training and test draws."""
        if not self.resample:
            return self.seed + 2
        return int(np.random.SeedSequence([self.seed, replicate]).generate_state(3)[2])  # its first two: draws()'

    def load(self, replicate: int = 0) -> Dataset:
        """One replicate's training, validation and test points."""
        raise NotImplementedError

    def sizes(self) -> tuple[int, int, int]:
        """Points of every replicate's training, validation and test splits."""
        raise NotImplementedError

    def generator(self) -> Generator | None:
        """The 2-D generator with a known density that draws the points, or None."""
        return None

    def bayes_proba(self, x: np.ndarray) -> np.ndarray | None:
        """P(class | x) [n, K] under the generator (equal class sizes); None without a generator or without noise."""
        return None

    def pruning_points(self, replicate: int, data: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
        """Fresh points on which a replicate's prunable share is measured, as its networks' inputs (data: the
        replicate's dataset, whose standardisation they take); None when there are none beyond the rows."""
        return None

    def bayes_note(self) -> str:
        """Why there is no Bayes-optimal reference, for the report ('' when there is one)."""
        return no_reference(f"{self.name()} is a sample from an unknown source")

    def source_key(self) -> dict[str, Any]:
        """What of the data's source a run's cache key holds beyond the settings (a file's digest, a library's version)."""
        return {}

    def sweep_problem(self, axis: str, value: float) -> str | None:
        """Why a data sweep cannot set this value (None: it can); n_samples is checked for every kind by the study."""
        if axis == "noise" and "noise" not in type(self).model_fields:
            return f"data.kind '{self.kind}' has no noise setting; only generators do"
        return None


def noise_field(default: float) -> Any:
    """A generator's noise (a standard deviation; make_classification's: a share of labels)."""
    return Field(
        default,
        ge=0,
        le=MAX_NOISE,
        json_schema_extra={"example": 0.3},
        description="Generators only: the standard deviation of the Gaussian noise around the generating shape (moons "
        "0.25, circles 0.1, xor 0.4, spirals 0.15, blobs 1.0; 0 to 10), or for 'classification' the share of labels "
        "assigned at random (make_classification's flip_y, 0.01; 0 to 1).",
    )


def n_classes_field(default: int) -> Any:
    """A generator's number of classes."""
    return Field(
        default,
        ge=2,
        le=MAX_CLASSES,
        json_schema_extra={"example": 3},
        description=f"'blobs' (3) and 'classification' (2) only: number of classes (2 to {MAX_CLASSES}).",
    )


class Generated(DataSettings):
    """Points a generator draws anew for every replicate: training and validation, then fresh test points."""

    n_samples: int = n_samples_field(100)
    noise: float = noise_field(0.25)
    test_samples: int = Field(
        2000,
        ge=10,
        le=MAX_POINTS,
        json_schema_extra={"example": 2000},
        description=f"Generators only: fresh points from the same generator for each replicate's test set (2,000; 10 to "
        f"{MAX_POINTS:,}).",
    )

    generated = True
    redraws = ("the draw of the training and validation points", "the test points")

    def sizes(self) -> tuple[int, int, int]:
        n_val = round(self.n_samples * self.validation_fraction)  # the last ones, as Keras' validation_split
        return self.n_samples - n_val, n_val, self.test_samples
