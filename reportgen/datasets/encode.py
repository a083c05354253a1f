"""A table's columns as one replicate's raw network inputs: missing cells filled and text columns one-hot encoded,
each fitted on the replicate's training rows alone, as scikit-learn's SimpleImputer (median for numbers, most frequent
for text) and OneHotEncoder(handle_unknown="ignore") fitted on them would be. Standardising comes after (tables.py).

Every replicate has the same input columns (one per category of the whole file, in the file's category order), so
networks of all replicates have one shape; a category absent from a replicate's training rows is all zeros in all of
its splits, which is what handle_unknown="ignore" does with a category it was not fitted on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from reportgen.datasets.tables import Table


def inputs(table: Table, train: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Every row of the table as the raw inputs [N, F'] of the replicate whose training rows are `train`, and their names."""
    if not any(table.levels) and not np.isnan(table.x).any():
        return table.x, table.feature_names  # numbers only, none missing: as they are
    levels = table.levels or (None,) * len(table.feature_names)
    blocks, names = [], []
    for column, name, categories in zip(table.x.T, table.feature_names, levels):
        filled = _filled(column, train, text=categories is not None)
        if categories is None:
            blocks.append(filled[:, None])
            names.append(name)
            continue
        codes = np.arange(len(categories))
        seen = np.isin(codes, filled[train])
        blocks.append(((filled[:, None] == codes[None, :]) & seen[None, :]).astype(np.float64))
        names += [f"{name}={category}" for category in categories]
    return np.hstack(blocks), tuple(names)


def _filled(column: np.ndarray, train: np.ndarray, text: bool) -> np.ndarray:
    """A column with its missing cells (NaN) filled from the training rows: their median, or for text (category
    indices) their most frequent category, the first of a tie, as SimpleImputer's 'most_frequent' picks."""
    gaps = np.isnan(column)
    if not gaps.any():
        return column
    known = column[train][~gaps[train]]
    if not known.size:  # nothing to learn from: a number is the training split's constant, a category none at all
        return np.where(gaps, -1.0 if text else 0.0, column)
    if text:
        values, counts = np.unique(known, return_counts=True)
        fill = values[np.argmax(counts)]
    else:
        fill = np.median(known)
    return np.where(gaps, fill, column)
