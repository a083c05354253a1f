"""Every source of data behind one function, load(cfg, replicate) -> Dataset, chosen by data.kind.

- 2-D generators (moons, circles, xor, spirals, blobs): each replicate draws fresh training, validation and test points;
  their Bayes posterior and density are known (toys.py).
- make_classification ('classification'): each replicate draws a new problem and its points; no Bayes reference.
- tables (bundled breast_cancer, wine, iris; CSV files): each replicate draws its own stratified split of the rows into
  training, validation and test (the test rows too), seeded by (data.seed, replicate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reportgen.config import BUNDLED, PLANAR, DataConfig
from reportgen.datasets import toys
from reportgen.datasets.base import DataError, Dataset, Generator, f32, standardise
from reportgen.datasets.tables import (
    PRUNING_ROWS,
    Table,
    bundled,
    check_classes,
    classification,
    classification_pruning_points,
    split,
)

__all__ = [
    "PRUNING_POINTS",
    "DataError",
    "DataShape",
    "Dataset",
    "Generator",
    "draw_seeds",
    "generator",
    "load",
    "pruning_points",
    "standardise",
    "table",
    "test_draw_seed",
]

PRUNING_POINTS = PRUNING_ROWS  # fresh points per replicate behind a generated data set's prunable share (1 = 0.05 pp)


def draw_seeds(cfg: DataConfig, replicate: int) -> tuple[int, int]:
    """Random states of a replicate's (train + validation, test) draws; the same for every replicate when not resampling.

    A table's split uses the first; make_classification draws its test points in the first draw too.
    """
    if not cfg.resample:
        return cfg.seed, cfg.seed + 1
    a, b = np.random.SeedSequence([cfg.seed, replicate]).generate_state(2)
    return int(a), int(b)


def test_draw_seed(cfg: DataConfig, replicate: int) -> int:
    """The random state that chose a replicate's test points: a 2-D generator's own test draw, else the draw (or
    split) that also chose its training points."""
    return draw_seeds(cfg, replicate)[1 if cfg.kind in PLANAR else 0]


def pruning_seed(cfg: DataConfig, replicate: int) -> int:
    """The random state of a replicate's pruning points: a third draw, apart from its training and test draws."""
    if not cfg.resample:
        return cfg.seed + 2
    return int(np.random.SeedSequence([cfg.seed, replicate]).generate_state(3)[2])  # its first two: draw_seeds'


def pruning_points(cfg: DataConfig, replicate: int, data: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """Fresh points of the study's generator on which a replicate's prunable share is measured, as the inputs of its
    networks (data: the replicate's dataset, whose standardisation they take); None for a table, which has no points
    beyond its rows. Never the training, validation or test points."""
    gen = generator(cfg)
    if gen is not None:
        x, y = gen.draw(PRUNING_POINTS, cfg.noise, pruning_seed(cfg, replicate))
        return f32(x), f32(y)
    if cfg.kind == "classification":
        x, y = classification_pruning_points(cfg, draw_seeds(cfg, replicate)[0])
        return data.from_raw(x).astype(np.float32), y
    return None


def generator(cfg: DataConfig) -> Generator | None:
    """The study's 2-D generator with a known density, or None (make_classification, tables)."""
    return toys.generator(cfg.kind, cfg.n_classes) if cfg.kind in PLANAR else None


def table(cfg: DataConfig) -> Table | None:
    """The rows of a bundled data set or CSV file, checked (DataError on bad data); None for generators."""
    if cfg.kind == "csv":
        from reportgen.datasets.csv_file import read_table

        rows = read_table(cfg)
        check_classes(rows, cfg, f"label column {cfg.label!r}")
        return rows
    return bundled(cfg.kind) if cfg.kind in BUNDLED else None


def _generated(cfg: DataConfig, gen: Generator, replicate: int) -> Dataset:
    """Draw one replicate's points; the last validation_fraction of them is held out, as Keras' validation_split does."""
    seed, test_seed = draw_seeds(cfg, replicate)
    x, y = gen.draw(cfg.n_samples, cfg.noise, seed)
    n_val = round(cfg.n_samples * cfg.validation_fraction)
    x_test, y_test = gen.draw(cfg.test_samples, cfg.noise, test_seed)
    return Dataset(
        x_train=f32(x[:-n_val]),
        y_train=f32(y[:-n_val]),
        x_val=f32(x[-n_val:]),
        y_val=f32(y[-n_val:]),
        x_test=f32(x_test),
        y_test=f32(y_test),
        class_names=tuple(str(k) for k in range(gen.n_classes(cfg.noise))),
    )


def load(cfg: DataConfig, replicate: int = 0) -> Dataset:
    """One replicate's training, validation and test points for the study's data."""
    gen = generator(cfg)
    if gen is not None:
        return _generated(cfg, gen, replicate)
    if cfg.kind == "classification":
        return classification(cfg, draw_seeds(cfg, replicate)[0])
    return split(table(cfg), cfg, draw_seeds(cfg, replicate)[0])


@dataclass(frozen=True)
class DataShape:
    """The sizes a build is planned with: rows per split, features and classes (of the first replicate)."""

    n_train: int
    n_val: int
    n_test: int
    n_features: int
    n_classes: int

    @classmethod
    def of(cls, data: Dataset) -> DataShape:
        """The shape of a dataset."""
        return cls(len(data.y_train), len(data.y_val), len(data.y_test), data.n_features, data.n_classes)
