"""A CSV file as users bring it: text columns one-hot encoded and missing cells dropped or filled, each fitted on the
replicate's training split alone, exactly as scikit-learn's SimpleImputer and OneHotEncoder(handle_unknown="ignore")
would be; and the report saying what was encoded, dropped and filled."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reportgen import store
from reportgen.cli import main
from reportgen.datasets import data_config
from tests.conftest import write_study

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MARKERS = ["", "NA", "N/A", "NaN", "null"]


def _field_csv(path: Path, n: int = 90) -> Path:
    """Field measurements: a text column with a category that only two rows have, numbers with missing cells written
    every way the reader knows, numeric plot codes, and a text label."""
    rng = np.random.default_rng(5)
    lines = ["site,plot,height,width,species"]
    for i in range(n):
        site = "Quarry" if i in (7, 61) else ("North", "South", "East")[i % 3]
        height = MARKERS[i // 9 % 5] if i % 9 == 4 else f"{rng.normal(10 + i % 2, 1):.2f}"
        width = MARKERS[i % 5] if i % 13 == 6 else f"{rng.normal(3, 0.5):.2f}"
        lines.append(f"{site},{1 + i % 4},{height},{width},{('oak', 'ash')[i % 2]}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def field(tmp_path) -> Path:
    return _field_csv(tmp_path / "field.csv")


def _sklearn_inputs(raw: pd.DataFrame, train: np.ndarray, categorical: list[str]) -> tuple[np.ndarray, list[str]]:
    """The same columns through scikit-learn, fitted on the training rows: what reportgen must reproduce."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    numeric = [c for c in raw.columns if c not in categorical]
    encode = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    ct = ColumnTransformer([("text", encode, categorical), ("numbers", SimpleImputer(strategy="median"), numeric)])
    ct.fit(raw.iloc[train])
    names = [
        n.split("__", 1)[1].replace("_", "=", 1) if n.startswith("text__") else n.split("__", 1)[1]
        for n in ct.get_feature_names_out()
    ]
    return ct.transform(raw), names


@pytest.mark.parametrize("replicate", [0, 1, 2])
def test_encoding_and_imputing_match_scikit_learn_fitted_on_the_training_split(field, replicate):
    cfg = data_config(path=field, label="species", missing="impute", categorical=["plot"])
    d = cfg.load(replicate)
    raw = pd.read_csv(field, keep_default_na=False, na_values=MARKERS, dtype={"site": str, "plot": str})
    raw = raw.drop(columns="species")[["site", "plot", "height", "width"]]
    train, val, test = d.rows
    expected, names = _sklearn_inputs(raw, train, ["site", "plot"])
    ours = np.vstack([d.to_raw(d.x_train), d.to_raw(d.x_val), d.to_raw(d.x_test)])
    rows = np.concatenate([train, val, test])
    fitted = [d.feature_names.index(n) for n in names]  # the categories its training split has
    np.testing.assert_allclose(ours[:, fitted], expected[rows], atol=1e-4)
    unseen = [j for j, n in enumerate(d.feature_names) if n not in names]  # 'site=Quarry' when no training row has it
    assert np.all(ours[:, unseen] == 0)
    assert d.feature_names == (
        "site=East",
        "site=North",
        "site=Quarry",
        "site=South",
        *(f"plot={k}" for k in "1234"),
        "height",
        "width",
    )


def test_the_rare_category_is_absent_from_some_training_splits_and_then_ignored(field):
    cfg = data_config(path=field, label="species", missing="impute")
    quarry = [cfg.load(r) for r in range(12)]
    column = quarry[0].feature_names.index("site=Quarry")
    trained = [np.ptp(d.x_train[:, column]) > 0 for d in quarry]
    assert any(trained) and not all(trained)  # both cases happen: the test below is about the second
    for d, seen in zip(quarry, trained):
        if not seen:
            assert not d.x_val[:, column].any() and not d.x_test[:, column].any()


def test_numbers_stay_numbers_unless_named_categorical(field):
    plain = data_config(path=field, label="species", missing="drop").load(0)
    assert "plot" in plain.feature_names and "site=North" in plain.feature_names
    coded = data_config(path=field, label="species", missing="drop", categorical=["plot"]).load(0)
    assert "plot" not in coded.feature_names and "plot=4" in coded.feature_names


def test_drop_leaves_out_rows_with_a_missing_cell_and_says_how_they_were_written(field):
    d = data_config(path=field, label="species", missing="drop").load(0)
    notes = d.notes
    assert notes.rows == 90 and notes.dropped == 16 and notes.filled == 0 and notes.missing == "drop"
    assert sum(map(len, d.rows)) == 74 and notes.markers == ("", "NA", "null", "N/A", "NaN")  # in the order found
    assert notes.encoded == (("site", ("East", "North", "Quarry", "South")),)


def test_impute_fills_feature_cells_and_leaves_rows_without_a_label_out(tmp_path, field):
    text = field.read_text().splitlines()
    text[3] = text[3].rsplit(",", 1)[0] + ",NA"  # one row's label is missing: never imputed
    field.write_text("\n".join(text) + "\n")
    d = data_config(path=field, label="species", missing="impute").load(0)
    assert (d.notes.rows, d.notes.dropped, d.notes.filled) == (90, 1, 17) and sum(map(len, d.rows)) == 89


def test_a_csv_with_text_and_missing_cells_builds_and_the_report_says_what_was_done(tmp_path, light_build):
    """Light (tests/conftest.py light: fake training, stand-in figures): what is read is the report's text."""
    shutil.copy(EXAMPLES / "birds.csv", tmp_path / "birds.csv")
    study = {
        "data": {"path": "birds.csv", "label": "species", "missing": "drop"},
        "model": {"hidden_units": [8]},
        "training": {"epochs": 3, "seeds": 2},
        "variants": [{"name": "baseline"}, {"name": "l1", "l1": 0.001}],
        "sweeps": {"l1": [], "l2": [], "dropout": []},
        "output": {"dir": "out", "formats": ["html"], "cache": ""},
    }
    assert main(["build", "--config", str(write_study(tmp_path / "s.toml", study)), "--quiet"]) == 0
    html = re.sub(r"\s+", " ", (tmp_path / "out" / "report.html").read_text())
    assert "Text columns are one-hot encoded" in html and "site (Gull Rock, Kelp Point, Long Reef); sex (female, male)" in html
    dropped = "left out (data.missing = &#34;drop&#34;): 20 of the file&#39;s 316 rows, leaving 296"
    assert "rows with a missing feature or label are " + dropped in html
    assert "written &#39;NA&#39; or left empty" in html and "6 feature columns (site, sex, wing_mm," in html
    analysis, _ = store.load((tmp_path / "out" / "report-data.npz").read_bytes())  # what render and compare read back
    assert analysis.data.notes.encoded[1] == ("sex", ("female", "male")) and analysis.data.notes.dropped == 20
