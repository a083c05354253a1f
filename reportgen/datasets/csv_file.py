"""Your CSV file as a kind of data: its settings, and a reader that checks everything before any training (each problem
is one line naming the file and, where it applies, the line, the column and the value: DataError, exit 2)."""

from __future__ import annotations

import csv
import difflib
import io
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from reportgen.datasets.base import DataError
from reportgen.datasets.settings import MAX_FEATURES, MAX_TEXT, kind_field
from reportgen.datasets.tables import Table, TableSettings, check_classes
from reportgen.errors import shorten

MAX_BYTES = 100 * 2**20  # the file is read into memory whole, and parsed values take several times its size
OTHER_DELIMITERS = (",", ";", "\t", "|")
MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}  # how spreadsheets and exports write a missing value


class CsvData(TableSettings):
    """Your CSV file: a header row, then one row per example; a replicate draws its own stratified split of the rows."""

    kind: Literal["csv"] = kind_field("csv")
    path: Annotated[Path, Field(strict=False)] = Field(
        json_schema_extra={"example": "data.csv"},
        description="'csv' only: the CSV file (relative to the study file's folder): a header row, then one row per "
        "example; UTF-8.",
    )
    label: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        json_schema_extra={"example": "species"},
        description="'csv' only: the column holding the class of each row (numbers or text; two classes or more).",
    )
    features: list[Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]] | None = Field(
        None,
        min_length=1,
        max_length=MAX_FEATURES,
        json_schema_extra={"example": ["length", "width"]},
        description=f"'csv' only: the feature columns (unset: every column but the label; at most {MAX_FEATURES:,}); "
        "standardised with the training split's mean and standard deviation.",
    )
    delimiter: str = Field(
        ",",
        min_length=1,
        max_length=1,
        json_schema_extra={"example": ";"},
        description="'csv' only: the character between fields (','; write \"\\t\" for tabs).",
    )

    @model_validator(mode="before")
    @classmethod
    def _names_file_and_label(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and (raw.get("path") is None or raw.get("label") is None):
            raise ValueError("a CSV study names its file and its label column: data.path and data.label")
        return raw

    def name(self) -> str:
        return self.path.name

    @property
    def file(self) -> Path:
        return self.path

    def relocated(self, where) -> CsvData:
        return self.model_copy(update={"path": where(self.path)})

    def table(self) -> Table:
        rows = read_table(self)
        check_classes(rows, self, f"label column {self.label!r}")
        return rows


def shown(path: Path) -> str:
    """The file as messages name it: relative to the working folder when it lies below it."""
    rel = os.path.relpath(path) if path.is_absolute() else str(path)
    return shorten(rel if not rel.startswith("..") else str(path), 120)


def read_table(cfg: CsvData) -> Table:
    """The study's CSV file as a Table (parsed once per file version and settings)."""
    path = cfg.path
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DataError([f"{shown(path)}: data file not found (data.path)"]) from None
    except OSError as err:
        raise DataError([f"{shown(path)}: cannot read the data file ({err.strerror or err})"]) from None
    return _parse(str(path), stat.st_size, stat.st_mtime_ns, cfg.label, tuple(cfg.features or ()), cfg.delimiter)


def _mb(n: float) -> str:
    return f"{n / 2**20:,.1f} MB" if n < 2**30 else f"{n / 2**30:,.1f} GB"


def _text(path: Path, size: int) -> str:
    """The file's text: refused from its size alone when too large, then read and decoded as UTF-8 (a BOM is fine)."""
    if not path.is_file():
        raise DataError([f"{shown(path)}: not a file (data.path)"])
    if size > MAX_BYTES:
        raise DataError(
            [
                f"{shown(path)}: the file is {_mb(size)}, more than the {_mb(MAX_BYTES)} limit for a data file "
                f"(it is read into memory whole); use a sample of its rows"
            ]
        )
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            [f"{shown(path)}: not valid UTF-8 text: byte 0x{raw[err.start]:02x} on line {line}; save the file as UTF-8"]
        ) from None


@lru_cache(maxsize=4)
def _parse(name: str, size: int, mtime: int, label: str, features: tuple[str, ...], delimiter: str) -> Table:
    """Parse and check a CSV file (the size and time only make a changed file a new cache entry)."""
    path = Path(name)
    text = _text(path, size)
    if not text.strip():
        raise DataError([f"{shown(path)}: the file is empty"])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    columns = _columns(path, header, text.splitlines()[0], label, list(features), delimiter)
    labels, values = _rows(path, reader, header, header.index(label), columns)
    return _table(path, header, columns, labels, values)


def _columns(path: Path, header: list[str], first: str, label: str, features: list[str], delimiter: str) -> list[int]:
    """Positions of the feature columns, after checking the header (delimiter, names, label, features)."""
    if len(header) < 2:
        other = next((d for d in OTHER_DELIMITERS if d != delimiter and len(first.split(d)) > 1), None)
        if other:
            raise DataError(
                [
                    f"{shown(path)}: line 1 has a single column when split at {delimiter!r}, but "
                    f"{other!r} splits it into {len(first.split(other))}: set data.delimiter = {other!r}"
                ]
            )
        raise DataError([f"{shown(path)}: line 1 (the header) has a single column; a study needs a label and a feature"])
    unnamed = [i + 1 for i, h in enumerate(header) if not h]
    if unnamed:
        raise DataError([f"{shown(path)}: line 1 (the header): column {unnamed[0]} has no name"])
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError([f"{shown(path)}: line 1 (the header): column {dupes[0]!r} appears {header.count(dupes[0])} times"])
    for name, key in [(label, "data.label")] + [(f, "data.features") for f in features]:
        if name not in header:
            close = difflib.get_close_matches(name, header, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; columns: {shorten(', '.join(header))}"
            raise DataError([f"{shown(path)}: {key}: column {shorten(name)!r} is not in the header{hint}"])
    if label in features:
        raise DataError([f"{shown(path)}: data.features: {label!r} is the label column, it cannot be a feature too"])
    return [header.index(f) for f in features] if features else [i for i, h in enumerate(header) if h != label]


def _value_problem(text: str) -> str | None:
    """What is wrong with a feature value, or None when it is a finite number."""
    if text.lower() in MISSING:
        return f"missing value ({text!r})" if text else "missing value (empty field)"
    try:
        value = float(text)
    except ValueError:
        return f"{shorten(text)!r} is not a number"
    return None if math.isfinite(value) else f"infinite value ({text!r})"


def _rows(path: Path, reader, header: list[str], label_col: int, columns: list[int]) -> tuple[list[str], list[list[float]]]:
    """Every data row's label and feature values; the first bad value is reported with how many more there are."""
    labels, values, problems = [], [], []
    for row in reader:
        if not row:
            continue  # a blank line
        if len(row) != len(header):
            raise DataError(
                [
                    f"{shown(path)}: line {reader.line_num} has {len(row)} field{'s' if len(row) != 1 else ''}, "
                    f"the header has {len(header)}"
                ]
            )
        label = row[label_col].strip()
        if label.lower() in MISSING:
            problems.append(f"line {reader.line_num}, column {header[label_col]!r}: missing label ({label!r})")
        cells = [row[j].strip() for j in columns]
        for j, cell in zip(columns, cells):
            problem = _value_problem(cell)
            if problem:
                problems.append(f"line {reader.line_num}, column {header[j]!r}: {problem}")
        if not problems:
            labels.append(label)
            values.append([float(c) for c in cells])
    if problems:
        more = (
            f" (and {len(problems) - 1:,} more problem{'s' if len(problems) > 2 else ''} in this file)"
            if len(problems) > 1
            else ""
        )
        raise DataError([f"{shown(path)}: {problems[0]}{more}"])
    if not labels:
        raise DataError([f"{shown(path)}: the header has no data rows after it"])
    return labels, values


def _class_order(labels: list[str]) -> list[str]:
    """Class names in a natural order: numerically when every label is a number, else alphabetically."""
    names = sorted(set(labels))
    try:
        return sorted(names, key=float)
    except ValueError:
        return names


def _table(path: Path, header: list[str], columns: list[int], labels: list[str], values: list[list[float]]) -> Table:
    names = _class_order(labels)
    index = {name: k for k, name in enumerate(names)}
    return Table(
        np.array(values, np.float64),
        np.array([index[v] for v in labels], int),
        tuple(names),
        tuple(header[j] for j in columns),
        shown(path),
    )
