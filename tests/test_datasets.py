"""Data beyond make_moons: the sources behind data.kind, the CSV reader, and every kind of bad data refused before
any training with one line naming the file (and line, column, value), exit 2, the previous report untouched."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

from reportgen import datasets, outdir
from reportgen.cli import main
from reportgen.config import load_config
from reportgen.datasets import csv_file, data_config
from tests.conftest import tiny_raw, write_study

HEADER = "sepal_length,sepal_width,petal_length,petal_width,species\n"
GOOD = [
    f"{5 + i % 7 / 10:g},{3 + i % 5 / 10:g},{1 + i % 9 / 10:g},{0.2 + i % 3 / 10:g},"
    f"{('setosa', 'versicolor', 'virginica')[i % 3]}\n"
    for i in range(30)
]


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(rows)).encode()


def _with(line: int, row: str) -> bytes:
    """The good file with its line `line` (1 = header) replaced."""
    rows = list(GOOD)
    rows[line - 2] = row
    return _csv(*rows)


ID = "sepal_width,petal_length,petal_width,tag,species\n"  # a column of identifiers: text, a different value per row
MISSING_HINT = '; data.missing = "drop" leaves rows with a missing cell out, "impute" fills the cells'

# name -> (file bytes, or None for no file; extra [data] keys; the message after '<file>: ')
CASES = {
    "missing file": (None, {}, "data file not found (data.path)"),
    "label column not in header": (
        _csv(*GOOD),
        {"label": "specie"},
        "data.label: column 'specie' is not in the header; did you mean 'species'?",
    ),
    "feature column not in header": (
        _csv(*GOOD),
        {"features": ["petal_lenght"]},
        "data.features: column 'petal_lenght' is not in the header; did you mean 'petal_length'?",
    ),
    "text in a feature column": (_with(7, "5.1,abc,1.4,0.2,setosa\n"), {}, "line 7, column 'sepal_width': 'abc' is not a number"),
    "empty field": (
        _with(4, "5.1,3.5,,0.2,setosa\n"),
        {},
        "line 4, column 'petal_length': missing value (empty field)" + MISSING_HINT,
    ),
    "NaN": (_with(5, "NaN,3.5,1.4,0.2,setosa\n"), {}, "line 5, column 'sepal_length': missing value ('NaN')" + MISSING_HINT),
    "infinity": (_with(6, "5.1,3.5,1.4,inf,setosa\n"), {}, "line 6, column 'petal_width': infinite value ('inf')"),
    "several bad values": (
        _csv(*GOOD[:3], "x,3,1,0.2,setosa\n", "5,3,,0.2,setosa\n", "5,3,1,-inf,setosa\n"),
        {},
        "line 5, column 'sepal_length': 'x' is not a number (and 2 more problems in this file)",
    ),
    "missing label": (
        _with(3, "5.1,3.5,1.4,0.2,\n"),
        {},
        "line 3, column 'species': missing label (''); data.missing = \"drop\" leaves rows without a label out",
    ),
    "too many categories": (
        _csv(*(f"{r.rsplit(',', 1)[0].split(',', 1)[1]},id{i},{r.rsplit(',', 1)[1]}" for i, r in enumerate(GOOD * 2)), header=ID),
        {},
        "column 'tag' holds text with 60 distinct values, more than the 50 a column can be one-hot encoded with; leave it "
        'out: data.features = ["sepal_width", "petal_length", "petal_width"]',
    ),
    "every row with a missing cell dropped": (
        _csv(*("NA," + r.split(",", 1)[1] for r in GOOD)),
        {"missing": "drop"},
        "every row has a missing cell or label, so data.missing = 'drop' leaves none",
    ),
    "a column with no values": (
        _csv(*("NA," + r.split(",", 1)[1] for r in GOOD)),
        {"missing": "impute"},
        "column 'sepal_length' has no values (every cell is missing); leave it out with data.features",
    ),
    "categorical column not in header": (
        _csv(*GOOD),
        {"categorical": ["spieces"]},
        "data.categorical: column 'spieces' is not in the header; did you mean 'species'?",
    ),
    "categorical label": (
        _csv(*GOOD),
        {"categorical": ["species"]},
        "data.categorical: 'species' is the label column, it cannot be a feature too",
    ),
    "categorical column not a feature": (
        _csv(*GOOD),
        {"features": ["sepal_length", "sepal_width"], "categorical": ["petal_width"]},
        "data.categorical: column 'petal_width' is not one of data.features",
    ),
    "single class": (
        _csv(*(r.rsplit(",", 1)[0] + ",setosa\n" for r in GOOD)),
        {},
        "label column 'species' has a single class ('setosa', 30 rows); a classifier needs two or more",
    ),
    "class too small for every split": (
        _csv(*GOOD, "5,3,1,0.2,rare\n", "5,3,1,0.3,rare\n"),
        {},
        "class 'rare' has 2 rows: too few to appear in the training, validation and "
        "test splits (test_fraction 0.2, validation_fraction 0.2: each class needs at "
        "least 8 rows)",
    ),
    "empty file": (b"", {}, "the file is empty"),
    "header without rows": (_csv(), {}, "the header has no data rows after it"),
    "not UTF-8": (
        _csv(*GOOD[:2]) + "5.1,3.5,1.4,0.2,caf\xe9\n".encode("latin-1"),
        {},
        "not valid UTF-8 text: byte 0xe9 on line 4; save the file as UTF-8",
    ),
    "undeclared delimiter": (
        _csv(*(r.replace(",", ";") for r in GOOD), header=HEADER.replace(",", ";")),
        {},
        "line 1 has a single column when split at ',', but ';' splits it into 5: set data.delimiter = ';'",
    ),
    "row with more fields": (_with(9, "5.1,3.5,1.4,0.2,setosa,extra\n"), {}, "line 9 has 6 fields, the header has 5"),
    "row with fewer fields": (_with(10, "5.1,3.5,1.4,setosa\n"), {}, "line 10 has 4 fields, the header has 5"),
    "duplicate column": (
        _csv(*GOOD, header=HEADER.replace("petal_width", "petal_length")),
        {},
        "line 1 (the header): column 'petal_length' appears 2 times",
    ),
    "label as a feature": (
        _csv(*GOOD),
        {"features": ["sepal_length", "species"]},
        "data.features: 'species' is the label column, it cannot be a feature too",
    ),
    "more points than rows": (
        _csv(*GOOD),
        {"n_samples": 100},
        "data.n_samples 100 is more than the 24 rows outside the test split (30 rows, test_fraction 0.2)",
    ),
}


@pytest.fixture
def previous(tmp_path) -> tuple[Path, dict]:
    """An output folder holding a previous report (written by reportgen's own swap, manifest included) and its bytes."""
    out = tmp_path / "out"

    def fill(folder: Path) -> None:
        for name, text in {"report.html": "<p>the previous report</p>", "results.json": "{}", "summary.md": "previous"}.items():
            (folder / name).write_text(text)

    outdir.replace_outputs(out, fill)
    return out, _snapshot(out)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _build(study: Path, out: Path, monkeypatch) -> tuple[int, list[str]]:
    """Run `reportgen build`; training must never start (it would raise)."""
    from reportgen import training

    def never(*args, **kwargs):
        raise AssertionError("training started on bad data")

    monkeypatch.setattr(training, "train_runs", never)
    err, saved = io.StringIO(), sys.stderr
    sys.stderr = err
    try:
        code = main(["build", "--config", str(study), "--out", str(out), "--quiet", "--no-cache"])
    finally:
        sys.stderr = saved
    return code, err.getvalue().splitlines()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_is_one_line_exit_2_and_the_report_stays(case, tmp_path, previous, monkeypatch):
    content, extra, message = CASES[case]
    csv = tmp_path / "data.csv"
    if content is not None:
        csv.write_bytes(content)
    study = write_study(tmp_path / "study.toml", {**tiny_raw(), "data": {"path": "data.csv", "label": "species", **extra}})
    out, before = previous
    code, lines = _build(study, out, monkeypatch)
    assert code == 2 and lines == [f"reportgen: error: {csv_file.shown(csv)}: {message}"], lines
    assert (
        _snapshot(out) == before
        and sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "out", "study.toml"][content is None :]
    )


def test_a_file_too_large_is_refused_from_its_size_before_reading(tmp_path, previous, monkeypatch):
    csv = tmp_path / "data.csv"
    with csv.open("wb") as f:  # a sparse file: 150 MB on paper, nothing on disk, never read
        f.truncate(150 * 2**20)
    read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the file was read") if self == csv else read(self))
    study = write_study(tmp_path / "study.toml", {**tiny_raw(), "data": {"path": "data.csv", "label": "species"}})
    out, before = previous
    code, lines = _build(study, out, monkeypatch)
    assert code == 2 and lines == [
        f"reportgen: error: {csv_file.shown(csv)}: the file is 150.0 MB, more than the "
        f"100.0 MB limit for a data file (it is read into memory whole); use a sample of its rows"
    ]
    assert _snapshot(out) == before


def test_settings_of_another_kind_of_data_are_refused(tmp_path):
    study = write_study(tmp_path / "s.toml", {**tiny_raw(), "data": {"kind": "iris", "noise": 0.1, "test_samples": 50}})
    with pytest.raises(Exception) as err:
        load_config(study)
    assert "data: noise, test_samples: not a setting of data.kind 'iris'" in str(err.value)
    study = write_study(tmp_path / "s.toml", {**tiny_raw(), "sweeps": {"noise": [0.1]}, "data": {"kind": "wine"}})
    with pytest.raises(Exception, match="sweeps.noise: data.kind 'wine' has no noise setting"):
        load_config(study)


# ---- the CSV reader and the splits ---------------------------------------------------------------------------------


def test_csv_with_text_labels_splits_stratified_and_standardises_on_training_rows(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_bytes(_csv(*GOOD) + b"\n")  # a trailing blank line is not a row
    cfg = data_config(path=csv, label="species", delimiter=",")
    a, b = datasets.load(cfg, 0), datasets.load(cfg, 1)
    assert a.class_names == ("setosa", "versicolor", "virginica") and a.feature_names[0] == "sepal_length"
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (19, 5, 6) and a.n_classes == 3 and not a.has_generator
    for split in ("train", "val", "test"):  # stratified: every class in every split
        assert set(getattr(a, f"y_{split}")) == {0, 1, 2}
    np.testing.assert_allclose(a.x_train.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(a.x_train.std(axis=0), 1, atol=1e-5)
    raw = np.vstack([a.to_raw(a.x_train), a.to_raw(a.x_val), a.to_raw(a.x_test)])
    expected = np.array([[float(v) for v in r.split(",")[:4]] for r in GOOD])
    assert sorted(map(tuple, np.round(raw, 4))) == sorted(map(tuple, np.round(expected, 4)))  # every row once
    assert not np.array_equal(a.to_raw(a.x_test), b.to_raw(b.x_test))  # a replicate draws its own test rows
    fixed = cfg.model_copy(update={"resample": False})
    assert np.array_equal(datasets.load(fixed, 0).x_test, datasets.load(fixed, 5).x_test)


def test_numeric_labels_sort_as_numbers_and_tabs_are_a_delimiter(tmp_path):
    csv = tmp_path / "d.tsv"
    rows = "".join(f"{i}\t{i % 4}\t{(2, 10, 9)[i % 3]}\n" for i in range(36))
    csv.write_text("a\tb\tclass\n" + rows)
    d = datasets.load(data_config(path=csv, label="class", delimiter="\t"), 0)
    assert d.class_names == ("2", "9", "10") and d.feature_names == ("a", "b")


@pytest.mark.parametrize("kind", ["moons", "circles", "xor", "spirals", "blobs"])
def test_each_generator_draws_balanced_classes_its_bayes_rule_beats_a_network_and_is_calibrated(kind):
    cfg = data_config(kind=kind, test_samples=20000)
    d = datasets.load(cfg, 0)
    p = datasets.toys.bayes_proba(datasets.generator(cfg), cfg.noise, d.x_test)
    counts = np.bincount(d.y_test.astype(int))
    assert counts.min() >= counts.max() - 1 and len(counts) == d.n_classes
    assert np.allclose(p.sum(axis=1), 1) and np.mean(p.argmax(axis=1) == d.y_test) > 1 / d.n_classes + 0.2
    sure = p.max(axis=1)
    band = (sure > 0.7) & (sure < 0.9)  # calibrated: where the posterior says ~80%, ~80% are right
    assert np.mean(p.argmax(axis=1)[band] == d.y_test[band]) == pytest.approx(np.mean(sure[band]), abs=0.04)


def test_make_classification_draws_a_new_problem_per_replicate_with_thirty_features():
    cfg = data_config(kind="classification", n_features=30, n_classes=3)
    a, b = datasets.load(cfg, 0), datasets.load(cfg, 1)
    assert a.n_features == 30 and a.n_classes == 3 and not a.has_generator and datasets.generator(cfg) is None
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (160, 40, 2000)
    assert not np.allclose(a.x_train[:5], b.x_train[:5])


def test_bundled_tables_need_no_download():
    for kind, shape in (("breast_cancer", (569, 30, 2)), ("wine", (178, 13, 3)), ("iris", (150, 4, 3))):
        d = datasets.load(data_config(kind=kind), 0)
        assert (len(d.y_train) + len(d.y_val) + len(d.y_test), d.n_features, d.n_classes) == shape
