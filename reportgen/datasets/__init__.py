"""Every kind of data, registered in KINDS: a study file's [data] table is one of them, chosen by its `kind`.

- 2-D generators (planar.py: moons, circles, xor, spirals, blobs): each replicate draws fresh training, validation
  and test points; their Bayes posterior and density are known (toys.py).
- make_classification (classification.py): each replicate draws a new problem and its points; no Bayes reference.
- tables (tables.py: scikit-learn's bundled breast_cancer, wine, iris, digits; csv_file.py: CSV files): each replicate draws
  its own stratified split of the rows into training, validation and test (the test rows too), seeded by
  (data.seed, replicate).

Adding a kind is a class in one of those modules (or a module of its own: its settings, defaults, title and how to
load a replicate; see settings.DataSettings) and its entry in KINDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union

import numpy as np
from pydantic import BeforeValidator, Field, TypeAdapter

from reportgen.datasets import toys
from reportgen.datasets.base import DataError, Dataset, Generator, f32, standardise
from reportgen.datasets.classification import Classification
from reportgen.datasets.csv_file import CsvData
from reportgen.datasets.planar import PRUNING_POINTS, Blobs, Circles, Moons, Planar, Spirals, Xor
from reportgen.datasets.settings import DataSettings, Generated
from reportgen.datasets.tables import BreastCancer, Digits, Iris, TableSettings, Wine

__all__ = [
    "KINDS",
    "PRUNING_POINTS",
    "DataConfig",
    "DataError",
    "DataSettings",
    "DataShape",
    "Dataset",
    "Generated",
    "Generator",
    "Planar",
    "TableSettings",
    "data_config",
    "draw_seeds",
    "f32",
    "generator",
    "load",
    "pruning_points",
    "standardise",
    "test_draw_seed",
    "toys",
]

KINDS: tuple[type[DataSettings], ...] = (
    Moons,
    Circles,
    Xor,
    Spirals,
    Blobs,
    Classification,
    BreastCancer,
    Wine,
    Iris,
    Digits,
    CsvData,
)
BY_KIND: dict[str, type[DataSettings]] = {k.model_fields["kind"].default: k for k in KINDS}
SETTINGS = frozenset(name for k in KINDS for name in k.model_fields)  # every setting some kind has


def _choose_kind(raw: Any) -> Any:
    """A file's kind is 'csv' when only its path is given, else 'moons'; a setting of another kind is refused by name.

    None stands for a setting the kind does not have (results.json writes every kind's settings, None where unset)."""
    if not isinstance(raw, dict):
        return raw
    raw = {k: v for k, v in raw.items() if v is not None}
    kind = raw.get("kind", "csv" if "path" in raw else "moons")
    model = BY_KIND.get(kind) if isinstance(kind, str) else None
    stray = sorted(k for k in raw if k in SETTINGS and model is not None and k not in model.model_fields)
    if stray:
        raise ValueError(f"{', '.join(stray)}: not a setting of data.kind '{kind}'")
    return {**raw, "kind": kind}


if TYPE_CHECKING:
    DataConfig = DataSettings  # what code outside the kinds may rely on; narrow with isinstance for the rest
else:
    DataConfig = Annotated[Union[KINDS], Field(discriminator="kind"), BeforeValidator(_choose_kind)]  # noqa: UP007
_ADAPTER: TypeAdapter = TypeAdapter(DataConfig)


def data_config(raw: dict[str, Any] | None = None, **settings: Any) -> DataSettings:
    """The settings of a study's data from a [data] table (or keyword arguments), validated as a study file's are."""
    return _ADAPTER.validate_python({**(raw or {}), **settings})


def load(cfg: DataSettings, replicate: int = 0) -> Dataset:
    """One replicate's training, validation and test points for the study's data."""
    return cfg.load(replicate)


def draw_seeds(cfg: DataSettings, replicate: int) -> tuple[int, int]:
    """Random states of a replicate's (train + validation, test) draws (see DataSettings.draws)."""
    return cfg.draws(replicate)


def test_draw_seed(cfg: DataSettings, replicate: int) -> int:
    """The random state that chose a replicate's test points: a 2-D generator's own test draw, else the draw (or
    split) that also chose its training points."""
    return cfg.draws(replicate)[cfg.test_draw]


def pruning_points(cfg: DataSettings, replicate: int, data: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """Fresh points of the study's generator on which a replicate's prunable share is measured, as the inputs of its
    networks; None for a table, which has no points beyond its rows. Never the training, validation or test points."""
    return cfg.pruning_points(replicate, data)


def generator(cfg: DataSettings) -> Generator | None:
    """The study's 2-D generator with a known density, or None (make_classification, tables)."""
    return cfg.generator()


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
