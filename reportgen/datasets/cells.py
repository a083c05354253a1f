"""A CSV file's cells as a Table: which feature columns hold numbers and which text (one-hot encoded per replicate),
what counts as a missing cell and what data.missing does with it. Every problem is one line naming the line, the
column and the value; the first is reported, with how many more the file has."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from reportgen.datasets.base import DataError, TableNotes
from reportgen.datasets.tables import Table
from reportgen.errors import shorten

MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}  # how spreadsheets and exports write a missing value
MAX_CATEGORIES = 50  # distinct values of a text column: beyond, it is an identifier or free text, not a category
LISTED = 100  # characters of a suggested data.features list quoted in a message


@dataclass(frozen=True)
class Row:
    """One data row of the file: its line number, label and feature cells (stripped text)."""

    line: int
    label: str
    cells: tuple[str, ...]


@dataclass(frozen=True)
class Columns:
    """The feature columns as the file names them, and which of them hold text."""

    names: tuple[str, ...]
    text: tuple[bool, ...]
    label: str


def is_missing(text: str) -> bool:
    """Whether a cell is missing: empty, or one of MISSING in any case."""
    return text.lower() in MISSING


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def text_columns(rows: list[Row], names: tuple[str, ...], categorical: tuple[str, ...]) -> tuple[bool, ...]:
    """Whether each feature column holds text: named in data.categorical, or no more than half its cells are numbers
    (a column mostly of numbers is numeric, and its text cells are errors)."""
    out = []
    for j, name in enumerate(names):
        present = [r.cells[j] for r in rows if not is_missing(r.cells[j])]
        numbers = sum(_number(c) is not None for c in present)
        out.append(name in categorical or (bool(present) and 2 * numbers <= len(present)))
    return tuple(out)


def _class_order(labels) -> list[str]:
    """Names in a natural order: numerically when every one is a number, else alphabetically."""
    names = sorted(set(labels))
    try:
        return sorted(names, key=float)
    except ValueError:
        return names


def _missing_problem(text: str) -> str:
    return f"missing value ({text!r})" if text else "missing value (empty field)"


def _value_problem(text: str) -> str | None:
    """What is wrong with a cell of a numeric column, or None when it is a finite number."""
    value = _number(text)
    if value is None:
        return f"{shorten(text)!r} is not a number"
    return None if math.isfinite(value) else f"infinite value ({text!r})"


def _problems(row: Row, cols: Columns, missing: str) -> list[str]:
    """The problems of one row: a missing label or cell (under data.missing = 'error'), text or infinity in a numeric
    column."""
    where = f"line {row.line}, column"
    out = [f"{where} {cols.label!r}: missing label ({row.label!r})"] if missing == "error" and is_missing(row.label) else []
    for name, cell, text in zip(cols.names, row.cells, cols.text):
        if is_missing(cell):
            out += [f"{where} {name!r}: {_missing_problem(cell)}"] if missing == "error" else []
        elif not text:
            problem = _value_problem(cell)
            out += [f"{where} {name!r}: {problem}"] if problem else []
    return out


def _hint(first: str) -> str:
    """How to get past a missing cell or label (data.missing), for the message that reports one."""
    if ": missing label (" in first:
        return '; data.missing = "drop" leaves rows without a label out'
    if ": missing value (" in first:
        return '; data.missing = "drop" leaves rows with a missing cell out, "impute" fills the cells'
    return ""


def _check_categories(source: str, rows: list[Row], cols: Columns) -> None:
    """Refuse a text column with more distinct values than one-hot encoding takes, saying how to leave it out."""
    for j, (name, text) in enumerate(zip(cols.names, cols.text)):
        distinct = {r.cells[j] for r in rows if not is_missing(r.cells[j])} if text else set()
        if len(distinct) > MAX_CATEGORIES:
            others = json.dumps([n for n in cols.names if n != name], ensure_ascii=False)
            how = f"data.features = {others}" if len(others) <= LISTED else "list the other feature columns in data.features"
            raise DataError(
                [
                    f"{source}: column {shorten(name)!r} holds text with {len(distinct):,} distinct values, more than "
                    f"the {MAX_CATEGORIES} a column can be one-hot encoded with; leave it out: {how}"
                ]
            )


def to_table(source: str, rows: list[Row], cols: Columns, missing: str) -> Table:
    """The rows as a Table (numbers, or a text column's category index; NaN where a cell is missing and filled later)."""
    _check_categories(source, rows, cols)
    problems = [p for r in rows for p in _problems(r, cols, missing)]
    if problems:
        more = f" (and {len(problems) - 1:,} more problem{'s' if len(problems) > 2 else ''} in this file)"
        raise DataError([f"{source}: {problems[0]}{more if len(problems) > 1 else ''}{_hint(problems[0])}"])
    kept = [r for r in rows if not is_missing(r.label) and not (missing == "drop" and any(map(is_missing, r.cells)))]
    if not kept:
        raise DataError([f"{source}: every row has a missing cell or label, so data.missing = {missing!r} leaves none"])
    x, levels = _values(kept, cols)
    empty = [name for name, column in zip(cols.names, x.T) if np.isnan(column).all()]
    if empty:
        raise DataError(
            [f"{source}: column {shorten(empty[0])!r} has no values (every cell is missing); leave it out with data.features"]
        )
    names = _class_order(r.label for r in kept)
    index = {name: k for k, name in enumerate(names)}
    notes = TableNotes(
        rows=len(rows),
        encoded=tuple((name, lv) for name, lv in zip(cols.names, levels) if lv is not None),
        missing=missing,
        markers=tuple(dict.fromkeys(c for r in rows for c in (r.label, *r.cells) if is_missing(c))),  # in the order found
        dropped=len(rows) - len(kept),
        filled=int(np.isnan(x).sum()),
    )
    y = np.array([index[r.label] for r in kept], int)
    return Table(x, y, tuple(names), cols.names, source, levels, notes)


def _values(kept: list[Row], cols: Columns) -> tuple[np.ndarray, tuple[tuple[str, ...] | None, ...]]:
    """The rows' cells as numbers [N, F] (a text column: the index of its category; NaN: missing), and each text
    column's categories (found in these rows, in a natural order)."""
    present = lambda j: (r.cells[j] for r in kept if not is_missing(r.cells[j]))  # noqa: E731
    levels = tuple(tuple(_class_order(present(j))) if text else None for j, text in enumerate(cols.text))
    codes = [None if lv is None else {name: float(k) for k, name in enumerate(lv)} for lv in levels]
    rows = [[_cell(c, code) for c, code in zip(r.cells, codes)] for r in kept]
    return np.array(rows, np.float64).reshape(len(kept), len(cols.names)), levels


def _cell(text: str, codes: dict[str, float] | None) -> float:
    """A cell's value: its number, its category's index, or NaN when missing."""
    if is_missing(text):
        return math.nan
    return float(text) if codes is None else codes[text]
