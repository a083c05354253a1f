"""What every source of data hands the rest of reportgen: a Dataset (one replicate's splits), and for generators with
a known density, a Generator (its Bayes posterior and where its points lie)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from reportgen.errors import ConfigError


class DataError(ConfigError):
    """The data cannot be used as the study says (a missing file, a bad value): one line naming the file, exit 2."""


@dataclass(frozen=True)
class TableNotes:
    """What reading a table found and did, for the report: its one-hot encoded columns, its missing cells and what
    became of them (data.missing)."""

    rows: int = 0  # data rows in the file
    encoded: tuple[tuple[str, tuple[str, ...]], ...] = ()  # text (or data.categorical) columns and their categories
    missing: str = "error"  # data.missing: 'error', 'drop' or 'impute'
    markers: tuple[str, ...] = ()  # how its missing cells were written, in the order found ('' for an empty cell)
    dropped: int = 0  # rows left out for a missing feature (data.missing = 'drop') or a missing label
    filled: int = 0  # feature cells every replicate fills from its training split (data.missing = 'impute')

    @classmethod
    def from_json(cls, doc: dict) -> TableNotes:
        """The notes back from their JSON form (lists for tuples)."""
        encoded = tuple((str(name), tuple(levels)) for name, levels in doc.get("encoded", ()))
        return cls(**{**doc, "encoded": encoded, "markers": tuple(doc.get("markers", ()))})


@dataclass(frozen=True)
class Dataset:
    """One replicate's train, validation and test points: float32 inputs, class indices 0..K-1 as float32.

    Inputs are what the networks see: a table's features standardised with its training split's statistics
    (raw = input * scale + shift), a 2-D generator's points as drawn (shift 0, scale 1).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...] = ("0", "1")
    feature_names: tuple[str, ...] = ("x1", "x2")
    has_generator: bool = True  # a generator with a known Bayes posterior and density drew the points
    shift: np.ndarray | None = field(default=None, compare=False)  # None: inputs are the raw features
    scale: np.ndarray | None = field(default=None, compare=False)
    rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, compare=False)  # a table's rows behind
    #                                                     the training, validation and test splits (None: drawn points)
    notes: TableNotes | None = field(default=None, compare=False)  # a file's encoded columns and missing cells

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return int(self.x_train.shape[1])

    def bounds(self, margin: float = 0.5) -> tuple[float, float, float, float]:
        """Return (xmin, xmax, ymin, ymax) around the train and validation points (first two inputs)."""
        pts = np.vstack([self.x_train, self.x_val])
        return (
            float(pts[:, 0].min() - margin),
            float(pts[:, 0].max() + margin),
            float(pts[:, 1].min() - margin),
            float(pts[:, 1].max() + margin),
        )

    def to_raw(self, x: np.ndarray) -> np.ndarray:
        """Inputs of this replicate back in the data's own units."""
        return x if self.shift is None else x * self.scale + self.shift

    def from_raw(self, x: np.ndarray) -> np.ndarray:
        """Points in the data's own units as this replicate's inputs (its training split's standardisation)."""
        return x if self.shift is None else ((x - self.shift) / self.scale).astype(np.float32)


class Generator(Protocol):
    """A 2-D generator whose class densities are known in closed form (a mixture along its shape or of Gaussians)."""

    @property
    def name(self) -> str:
        """Its name ('moons')."""

    def n_classes(self, noise: float) -> int:
        """Number of classes it draws."""

    def draw(self, n: int, noise: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
        """n points and their classes, as scikit-learn's make_* functions return them."""

    def class_log_densities(self, x: np.ndarray, noise: float) -> np.ndarray:
        """Log density of each class at points x [n, 2], up to one shared constant: [n, K]."""


def standardise(x_train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Shift and scale from the training split alone (a constant feature keeps scale 1), and every split standardised."""
    shift = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return shift, scale, [((x - shift) / scale).astype(np.float32) for x in (x_train, *others)]


def f32(a) -> np.ndarray:
    """A float32 array."""
    return np.asarray(a, dtype=np.float32)
