"""Your CSV file as a kind of data: its settings, and a reader that checks everything before any training (each problem
is one line naming the file and, where it applies, the line, the column and the value: DataError, exit 2)."""

from __future__ import annotations

import csv
import difflib
import io
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from reportgen.datasets.base import DataError
from reportgen.datasets.cells import MAX_CATEGORIES, Columns, Row, text_columns, to_table
from reportgen.datasets.settings import MAX_FEATURES, MAX_TEXT, kind_field
from reportgen.datasets.tables import Table, TableSettings, check_classes
from reportgen.errors import shorten

MAX_BYTES = 100 * 2**20  # the file is read into memory whole, and parsed values take several times its size
OTHER_DELIMITERS = (",", ";", "\t", "|")


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

    missing: Literal["error", "drop", "impute"] = Field(
        "error",
        json_schema_extra={"example": "drop"},
        description="'csv' only: what to do with missing cells (empty, NA, N/A, NaN, null): 'error' (refuse the file), "
        "'drop' (leave rows with a missing feature or label out) or 'impute' (fill a feature from each replicate's "
        "training split: the median of a number, the most frequent text; rows without a label are left out).",
    )
    categorical: list[Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]] = Field(
        [],
        max_length=MAX_FEATURES,
        json_schema_extra={"example": ["site"]},
        description="'csv' only: feature columns of numeric codes to one-hot encode as categories (a column of text is "
        f"encoded without being named; at most {MAX_CATEGORIES} distinct values).",
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


@dataclass(frozen=True)
class Reading:
    """How a file is read (the settings of CsvData that shape its table), hashable: parsed tables are kept by it."""

    label: str
    features: tuple[str, ...]
    delimiter: str
    categorical: tuple[str, ...]
    missing: str


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
    reading = Reading(cfg.label, tuple(cfg.features or ()), cfg.delimiter, tuple(cfg.categorical), cfg.missing)
    return _parse(str(path), stat.st_size, stat.st_mtime_ns, reading)


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
def _parse(name: str, size: int, mtime: int, cfg: Reading) -> Table:
    """Parse and check a CSV file (the size and time only make a changed file a new cache entry)."""
    path = Path(name)
    text = _text(path, size)
    if not text.strip():
        raise DataError([f"{shown(path)}: the file is empty"])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=cfg.delimiter)
    header = [h.strip() for h in next(reader)]
    columns = _columns(path, header, text.splitlines()[0], cfg)
    rows = _rows(path, reader, header, header.index(cfg.label), columns)
    names = tuple(header[j] for j in columns)
    cols = Columns(names, text_columns(rows, names, tuple(cfg.categorical)), cfg.label)
    return to_table(shown(path), rows, cols, cfg.missing)


def _columns(path: Path, header: list[str], first: str, cfg: Reading) -> list[int]:
    """Positions of the feature columns, after checking the header (delimiter, names, label, features, categorical)."""
    if len(header) < 2:
        other = next((d for d in OTHER_DELIMITERS if d != cfg.delimiter and len(first.split(d)) > 1), None)
        if other:
            raise DataError(
                [
                    f"{shown(path)}: line 1 has a single column when split at {cfg.delimiter!r}, but "
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
    label, features = cfg.label, cfg.features
    named = [(label, "data.label"), *((f, "data.features") for f in features)]
    for name, key in named + [(c, "data.categorical") for c in cfg.categorical]:
        if name not in header:
            close = difflib.get_close_matches(name, header, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; columns: {shorten(', '.join(header))}"
            raise DataError([f"{shown(path)}: {key}: column {shorten(name)!r} is not in the header{hint}"])
    for key, names in (("data.features", features), ("data.categorical", cfg.categorical)):
        if label in names:
            raise DataError([f"{shown(path)}: {key}: {label!r} is the label column, it cannot be a feature too"])
    outside = [c for c in cfg.categorical if features and c not in features]
    if outside:
        raise DataError([f"{shown(path)}: data.categorical: column {shorten(outside[0])!r} is not one of data.features"])
    return [header.index(f) for f in features] if features else [i for i, h in enumerate(header) if h != label]


def _rows(path: Path, reader, header: list[str], label_col: int, columns: list[int]) -> list[Row]:
    """Every data row's label and feature cells, as text (blank lines skipped)."""
    rows = []
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
        rows.append(Row(reader.line_num, row[label_col].strip(), tuple(row[j].strip() for j in columns)))
    if not rows:
        raise DataError([f"{shown(path)}: the header has no data rows after it"])
    return rows
