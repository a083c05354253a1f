"""Tables: scikit-learn's bundled data sets and CSV files, split per replicate (stratified, seeded) and standardised
with the training split's statistics; and make_classification, whose every replicate is a new problem."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reportgen.config import DataConfig, informative_features
from reportgen.datasets.base import DataError, Dataset, f32, standardise


@dataclass(frozen=True)
class Table:
    """Rows of a data set: raw features [N, F] (float64), class indices [N], and the names of both."""

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    source: str  # how messages name it: the file's path, or 'scikit-learn's wine data'


def bundled(kind: str) -> Table:
    """One of scikit-learn's bundled data sets (shipped with the library, nothing downloaded)."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{kind}")()
    return Table(
        np.asarray(bunch.data, np.float64),
        np.asarray(bunch.target, int),
        tuple(str(n) for n in bunch.target_names),
        tuple(str(n) for n in bunch.feature_names),
        f"scikit-learn's {kind} data",
    )


def smallest_class(cfg: DataConfig) -> int:
    """Rows a class needs so that the stratified test, validation and training splits each get one of them."""
    t, v = cfg.test_fraction, cfg.validation_fraction
    return math.ceil(1 / min(t, (1 - t) * v, (1 - t) * (1 - v))) + 1  # +1: rounding of the split sizes


def check_classes(table: Table, cfg: DataConfig, label: str = "the label") -> None:
    """Refuse a table with one class, or a class too small to appear in every split."""
    names, counts = np.unique(table.y, return_counts=True)
    if len(names) < 2:
        raise DataError(
            [
                f"{table.source}: {label} has a single class ({table.class_names[names[0]]!r}, "
                f"{counts[0]} rows); a classifier needs two or more"
            ]
        )
    need = smallest_class(cfg)
    small = [(table.class_names[k], c) for k, c in zip(names, counts) if c < need]
    if small:
        listed = ", ".join(f"{name!r} has {c} row{'s' if c != 1 else ''}" for name, c in small[:5])
        raise DataError(
            [
                f"{table.source}: class {listed}: too few to appear in the training, validation and test "
                f"splits (test_fraction {cfg.test_fraction:g}, validation_fraction {cfg.validation_fraction:g}: "
                f"each class needs at least {need} rows)"
            ]
        )


def _stratified(idx: np.ndarray, y: np.ndarray, size, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into (rest, held out) with `size` held out (a share or a count), stratified by class."""
    from sklearn.model_selection import train_test_split

    rest, held = train_test_split(idx, test_size=size, stratify=y[idx], random_state=seed)
    return rest, held


def split(table: Table, cfg: DataConfig, seed: int) -> Dataset:
    """One replicate's stratified split of a table (test, then an optional sample, then validation), standardised."""
    pool, test = _stratified(np.arange(len(table.y)), table.y, cfg.test_fraction, seed)
    if cfg.n_samples is not None and cfg.n_samples != len(pool):
        if cfg.n_samples > len(pool):
            raise DataError(
                [
                    f"{table.source}: data.n_samples {cfg.n_samples} is more than the {len(pool)} rows outside "
                    f"the test split ({len(table.y)} rows, test_fraction {cfg.test_fraction:g})"
                ]
            )
        _, pool = _stratified(pool, table.y, cfg.n_samples, seed)
    train, val = _stratified(pool, table.y, cfg.validation_fraction, seed)
    missing = [
        table.class_names[k]
        for k in range(len(table.class_names))
        if not all(np.any(table.y[part] == k) for part in (train, val, test))
    ]
    if missing:
        raise DataError(
            [
                f"{table.source}: class {missing[0]!r} does not appear in every split of {len(pool)} training "
                f"and validation rows; use more rows (data.n_samples) or fewer classes"
            ]
        )
    shift, scale, (x_train, x_val, x_test) = standardise(*(table.x[part] for part in (train, val, test)))
    return Dataset(
        x_train,
        f32(table.y[train]),
        x_val,
        f32(table.y[val]),
        x_test,
        f32(table.y[test]),
        class_names=table.class_names,
        feature_names=table.feature_names,
        has_generator=False,
        shift=shift,
        scale=scale,
    )


PRUNING_ROWS = 2000  # make_classification's points beyond the test points, on which the prunable share is measured


def _classification_rows(cfg: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every point of a make_classification problem: training and validation, test, then PRUNING_ROWS more (one call:
    scikit-learn draws the problem and its points from one state, so more points of the same problem come with it)."""
    from sklearn.datasets import make_classification

    informative = informative_features(cfg.n_features)
    return make_classification(
        n_samples=cfg.n_samples + cfg.test_samples + PRUNING_ROWS,
        n_features=cfg.n_features,
        n_informative=informative,
        n_redundant=min(2, cfg.n_features - informative),
        n_classes=cfg.n_classes,
        n_clusters_per_class=1,
        flip_y=cfg.noise,
        random_state=seed,
    )


def classification(cfg: DataConfig, seed: int) -> Dataset:
    """A make_classification problem and its points (a new problem per seed: scikit-learn draws both from one state)."""
    x, y = _classification_rows(cfg, seed)
    n_val, end = round(cfg.n_samples * cfg.validation_fraction), cfg.n_samples + cfg.test_samples
    train, val, test = slice(0, cfg.n_samples - n_val), slice(cfg.n_samples - n_val, cfg.n_samples), slice(cfg.n_samples, end)
    shift, scale, (x_train, x_val, x_test) = standardise(x[train], x[val], x[test])
    return Dataset(
        x_train,
        f32(y[train]),
        x_val,
        f32(y[val]),
        x_test,
        f32(y[test]),
        class_names=tuple(str(k) for k in range(cfg.n_classes)),
        feature_names=tuple(f"x{i + 1}" for i in range(cfg.n_features)),
        has_generator=False,
        shift=shift,
        scale=scale,
    )


def classification_pruning_points(cfg: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The PRUNING_ROWS points of a make_classification problem beyond its test points, in the data's own units."""
    x, y = _classification_rows(cfg, seed)
    return x[cfg.n_samples + cfg.test_samples :], f32(y[cfg.n_samples + cfg.test_samples :])
