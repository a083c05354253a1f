"""Tables as kinds of data: scikit-learn's bundled data sets here (CSV files in csv_file.py), split per replicate
(stratified, seeded) and standardised with the training split's statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import metadata
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from reportgen.datasets.base import DataError, Dataset, TableNotes, f32, standardise
from reportgen.datasets.encode import inputs
from reportgen.datasets.settings import DataSettings, kind_field, n_samples_field


@dataclass(frozen=True)
class Table:
    """Rows of a data set: raw features [N, F] (float64), class indices [N], and the names of both.

    A text column (levels set) holds the index of each row's category; a missing cell is NaN, filled per replicate.
    """

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    source: str  # how messages name it: the file's path, or 'scikit-learn's wine data'
    levels: tuple[tuple[str, ...] | None, ...] = ()  # per column: its categories, one-hot encoded (None: numbers)
    notes: TableNotes | None = None  # what reading a file found (encoded columns, missing cells)


def smallest_class(cfg: TableSettings) -> int:
    """Rows a class needs so that the stratified test, validation and training splits each get one of them."""
    t, v = cfg.test_fraction, cfg.validation_fraction
    return math.ceil(1 / min(t, (1 - t) * v, (1 - t) * (1 - v))) + 1  # +1: rounding of the split sizes


def check_classes(table: Table, cfg: TableSettings, label: str = "the label") -> None:
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


def split(table: Table, cfg: TableSettings, seed: int) -> Dataset:
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
    x, names = inputs(table, train)
    shift, scale, (x_train, x_val, x_test) = standardise(*(x[part] for part in (train, val, test)))
    return Dataset(
        x_train,
        f32(table.y[train]),
        x_val,
        f32(table.y[val]),
        x_test,
        f32(table.y[test]),
        class_names=table.class_names,
        feature_names=names,
        has_generator=False,
        shift=shift,
        scale=scale,
        rows=(train, val, test),
        notes=table.notes,
    )


class TableSettings(DataSettings):
    """Rows of a table: each replicate draws its own stratified split of them (the test rows too)."""

    n_samples: int | None = n_samples_field(None)
    test_fraction: float = Field(
        0.2,
        gt=0,
        lt=1,
        json_schema_extra={"example": 0.2},
        description="Tables (bundled sets and CSV files) only: share of the rows held out, stratified, as the test set "
        "(0.2); a replicate draws its own test rows when data.resample is true.",
    )

    redraws = ("the stratified split of the rows into training, validation and test sets",)

    def table(self) -> Table:
        """The rows, checked (DataError on bad data)."""
        raise NotImplementedError

    def load(self, replicate: int = 0) -> Dataset:
        return split(self.table(), self, self.draws(replicate)[0])

    def sizes(self) -> tuple[int, int, int]:
        """Rows of every replicate's training, validation and test splits (scikit-learn's train_test_split rounds a
        held-out share up)."""
        rows = len(self.table().y)
        n_test = math.ceil(rows * self.test_fraction)
        pool = rows - n_test if self.n_samples is None else self.n_samples
        n_val = math.ceil(pool * self.validation_fraction)
        return pool - n_val, n_val, n_test


class Bundled(TableSettings):
    """One of scikit-learn's bundled data sets (shipped with the library, nothing downloaded)."""

    loader: ClassVar[str] = ""  # sklearn.datasets.load_<loader>

    def table(self) -> Table:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{self.loader}")()
        return Table(
            np.asarray(bunch.data, np.float64),
            np.asarray(bunch.target, int),
            tuple(str(n) for n in bunch.target_names),
            tuple(str(n) for n in bunch.feature_names),
            f"scikit-learn's {self.loader} data",
        )

    def source_key(self) -> dict[str, Any]:
        return {"scikit-learn": metadata.version("scikit-learn")}  # the bundled tables ship with it


class BreastCancer(Bundled):
    """The Wisconsin breast cancer data: 569 rows, 30 features, two classes."""

    kind: Literal["breast_cancer"] = kind_field("breast_cancer")
    title = "the Wisconsin breast cancer data"
    loader = "breast_cancer"


class Wine(Bundled):
    """The wine recognition data: 178 rows, 13 features, three classes."""

    kind: Literal["wine"] = kind_field("wine")
    title = "the wine recognition data"
    loader = "wine"


class Iris(Bundled):
    """Fisher's iris data: 150 rows, 4 features, three classes."""

    kind: Literal["iris"] = kind_field("iris")
    title = "Fisher's iris data"
    loader = "iris"


class Digits(Bundled):
    """scikit-learn's handwritten digits: 1,797 images of 8×8 pixels (64 features, ink 0 to 16), ten classes."""

    kind: Literal["digits"] = kind_field("digits")
    title = "scikit-learn's handwritten digits (8×8 images)"
    loader = "digits"
    image_shape = (8, 8)
