"""scikit-learn's make_classification as a kind of data: every replicate draws a new problem and its points."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from reportgen.datasets.base import Dataset, f32, standardise
from reportgen.datasets.settings import (
    MAX_FEATURES,
    Generated,
    kind_field,
    n_classes_field,
    n_samples_field,
    no_reference,
    noise_field,
)

PRUNING_ROWS = 2000  # points beyond the test points, on which the prunable share is measured


def informative_features(n_features: int) -> int:
    """Informative features of make_classification here: half of them, at least two."""
    return min(n_features, max(2, n_features // 2))


class Classification(Generated):
    """make_classification, half the features informative: a new problem (clusters and directions) per replicate."""

    kind: Literal["classification"] = kind_field("classification")
    n_samples: int = n_samples_field(200)
    noise: float = noise_field(0.01)
    n_features: int = Field(
        20,
        ge=2,
        le=MAX_FEATURES,
        json_schema_extra={"example": 20},
        description=f"'classification' only: number of features (20; 2 to {MAX_FEATURES:,}), half of them informative.",
    )
    n_classes: int = n_classes_field(2)

    title = "make_classification"
    redraws = (
        "the make_classification problem (its class clusters and their directions) with its training and validation points",
        "the test points",
    )
    unkeyed = frozenset()  # its test points are drawn with its training points: their number shapes the problem

    @model_validator(mode="after")
    def _possible(self) -> Classification:
        if self.noise > 1:
            raise ValueError(f"noise of 'classification' is the share of labels assigned at random: 0 to 1 (got {self.noise:g})")
        most = 2 ** informative_features(self.n_features)
        if self.n_classes > most:
            raise ValueError(
                f"make_classification with {self.n_features} features ({informative_features(self.n_features)} "
                f"informative) separates at most {most} classes"
            )
        return self

    def _rows(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Every point of a problem: training and validation, test, then PRUNING_ROWS more (one call: scikit-learn
        draws the problem and its points from one state, so more points of the same problem come with it)."""
        from sklearn.datasets import make_classification

        informative = informative_features(self.n_features)
        return make_classification(
            n_samples=self.n_samples + self.test_samples + PRUNING_ROWS,
            n_features=self.n_features,
            n_informative=informative,
            n_redundant=min(2, self.n_features - informative),
            n_classes=self.n_classes,
            n_clusters_per_class=1,
            flip_y=self.noise,
            random_state=seed,
        )

    def load(self, replicate: int = 0) -> Dataset:
        """A problem and its points (a new problem per replicate: scikit-learn draws both from one state)."""
        x, y = self._rows(self.draws(replicate)[0])
        n, n_val = self.n_samples, round(self.n_samples * self.validation_fraction)
        train, val, test = slice(0, n - n_val), slice(n - n_val, n), slice(n, n + self.test_samples)
        shift, scale, (x_train, x_val, x_test) = standardise(x[train], x[val], x[test])
        return Dataset(
            x_train,
            f32(y[train]),
            x_val,
            f32(y[val]),
            x_test,
            f32(y[test]),
            class_names=tuple(str(k) for k in range(self.n_classes)),
            feature_names=tuple(f"x{i + 1}" for i in range(self.n_features)),
            has_generator=False,
            shift=shift,
            scale=scale,
        )

    def pruning_points(self, replicate: int, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """The PRUNING_ROWS points of the replicate's problem beyond its test points."""
        x, y = self._rows(self.draws(replicate)[0])
        x, y = x[self.n_samples + self.test_samples :], y[self.n_samples + self.test_samples :]
        return data.from_raw(x).astype(np.float32), f32(y)

    def bayes_note(self) -> str:
        return no_reference("make_classification's class densities are not computed here")

    def source_key(self) -> dict[str, Any]:
        return {"pruning_rows": PRUNING_ROWS}

    def sweep_problem(self, axis: str, value: float) -> str | None:
        if axis == "noise" and value > 1:
            return "the noise of 'classification' is a share of labels, 0 to 1"
        return None
