"""The Python API (reportgen.load_study, build, load, render, compare, Result) and the tidy tables every build writes,
on the tiny study, its builds light (tests/conftest.py light: the fake trainer, stand-in figures, no helper process):
about files, tables and display, not learning or figures."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import reportgen
from reportgen import outdir, tables
from tests.conftest import light, tiny_raw, write_study

# two variants, three replicates, no sweep: claims to judge, in seconds
SMALL = dict(
    training={"epochs": 3, "seeds": [0, 1, 2], "batch_size": 16},
    variants=[{"name": "baseline"}, {"name": "l1", "l1": 0.001}],
    sweeps={"l1": []},
    analysis={"grid_resolution": 20},
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The small study built once through reportgen.build, light (HTML only, the default). Read-only: a test that
    changes the folder works on a copy (copied)."""
    root = tmp_path_factory.mktemp("api")
    study = write_study(root / "study.toml", tiny_raw(**SMALL))
    with pytest.MonkeyPatch.context() as patch, light(patch):
        return reportgen.build(reportgen.load_study(study), out=root / "out", quiet=True), study


def copied(result, tmp_path):
    """A copy of a build's folder, as a Result read back with reportgen.load."""
    shutil.copytree(result.out_dir, tmp_path / "copy")
    return reportgen.load(tmp_path / "copy")


def test_the_api_is_exported_and_typed():
    assert callable(reportgen.load_study) and callable(reportgen.build) and callable(reportgen.load)
    assert callable(reportgen.render) and callable(reportgen.compare)
    assert {"load_study", "build", "load", "render", "compare", "Result"} <= set(reportgen.__all__)
    assert Path(reportgen.__file__).with_name("py.typed").is_file()
    with pytest.raises(AttributeError):
        reportgen.no_such_name  # noqa: B018


def test_importing_reportgen_imports_no_api_until_used():
    probe = (
        "import sys, reportgen; print('reportgen.api' in sys.modules, 'pandas' in sys.modules); reportgen.build; "
        "print('reportgen.api' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True"]


def test_keywords_other_than_the_path_are_keyword_only():
    with pytest.raises(TypeError):
        reportgen.build(None, "out")  # type: ignore[misc]
    with pytest.raises(TypeError):
        reportgen.render("out", "elsewhere")  # type: ignore[misc]


def test_load_study_merges_sections_into_the_file(tmp_path):
    study = write_study(tmp_path / "study.toml", tiny_raw())
    config = reportgen.load_study(path=study, training={"epochs": 4}, title="Merged")
    assert config.training.epochs == 4 and config.title == "Merged"
    assert config.training.seeds == [0, 1] and config.training.batch_size == 16  # the file's other training keys stay
    assert [v.name for v in config.variants] == [v["name"] for v in tiny_raw()["variants"]]
    assert config.output.dir == tmp_path / "output"  # relative to the study file, as on the command line
    default = reportgen.load_study(training={"epochs": 20, "seeds": 3})
    assert default.training.epochs == 20 and default.training.seeds == [0, 1, 2] and default.training.budget is None


def test_load_study_problems_are_one_line_naming_the_keyword_key_and_value(tmp_path):
    with pytest.raises(reportgen.ConfigError) as err:
        reportgen.load_study(training={"epochs": -3, "epocs": 2})
    lines = err.value.lines
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    assert any(line.startswith("load_study(training=…): training.epochs:") and "(got -3)" in line for line in lines)
    assert any("training.epocs: unknown key; did you mean 'epochs'?" in line for line in lines)
    with pytest.raises(reportgen.ConfigError) as err:
        reportgen.load_study(tmp_path / "missing.toml")
    assert err.value.lines == [f"{tmp_path / 'missing.toml'}: study file not found"]
    assert err.value._render_traceback_() == [f"reportgen: error: {tmp_path / 'missing.toml'}: study file not found"]


def test_build_returns_a_result_with_its_files_and_tables(built):
    result, _ = built
    assert isinstance(result, reportgen.Result)
    assert result.html_path == result.out_dir / "report.html" and result.html_path.is_file()
    assert result.pdf_path is None  # formats default to HTML alone
    doc = result.results
    assert isinstance(result.claims, pd.DataFrame) and isinstance(result.runs, pd.DataFrame)
    assert list(result.claims.columns) == list(tables.CLAIM_COLUMNS)
    assert result.claims["key"].tolist() == [c.key for c in doc.claims]
    assert result.claims["verdict"].tolist() == [c.verdict for c in doc.claims]
    assert list(result.runs.columns[:5]) == list(tables.RUN_COLUMNS)
    assert result.runs["key"].tolist() == [r.key for r in doc.runs]
    assert result.runs["replicate"].tolist() == [r.seed for r in doc.runs]
    assert set(result.runs["replicate"]) == {0, 1, 2}
    assert result.trained == len(doc.runs) and result.cached == 0
    assert "claims" in repr(result) and str(len(doc.runs)) in repr(result)


def test_the_tables_hold_results_json_numbers(built):
    result, _ = built
    raw = json.loads(result.results_path.read_text())
    runs = pd.read_csv(result.out_dir / "runs.csv")  # plain pandas reads it as it is documented
    for name in ("test_accuracy", "train_accuracy", "gap"):
        assert runs[name].tolist() == pytest.approx([r[name] for r in raw["runs"]], rel=0, abs=0)
    claims = pd.read_csv(result.out_dir / "claims.csv")
    assert len(claims) == len(raw["claims"]) > 0
    for row, c in zip(claims.to_dict(orient="records"), raw["claims"], strict=True):
        assert (row["key"], row["verdict"], row["metric"]) == (c["key"], c["verdict"], c["primary"]["metric"])
        for column, value in [
            ("effect", c["primary"]["effect"]["mean"]),
            ("ci_low", c["primary"]["effect"]["ci_low"]),
            ("p_adjusted", c["primary"]["p_adjusted"]),
            ("flip_probability", c["flip_probability"]),
        ]:
            assert (pd.isna(row[column]) and value is None) or row[column] == value, (c["key"], column)
    assert claims["effect"].notna().any() and claims["flip_probability"].notna().any()


def test_the_tables_are_in_the_manifest_and_render_writes_the_same_bytes(built, tmp_path, light_build):
    result, _ = built
    assert {"runs.csv", "claims.csv"} <= set(outdir.read_manifest(result.out_dir)["files"])
    again = reportgen.render(result.out_dir, out=tmp_path / "again", quiet=True)
    for name in ("runs.csv", "claims.csv"):
        assert (again.out_dir / name).read_bytes() == (result.out_dir / name).read_bytes()
    assert again.html_path is not None and again.pdf_path is None


def test_a_build_from_before_the_tables_is_read_from_its_results_json(built, tmp_path):
    expected_runs, expected_claims = built[0].runs, built[0].claims
    result = copied(built[0], tmp_path)
    (result.out_dir / "runs.csv").unlink()
    (result.out_dir / "claims.csv").unlink()
    loaded = reportgen.load(result.out_dir)
    pd.testing.assert_frame_equal(loaded.runs, expected_runs)
    pd.testing.assert_frame_equal(loaded.claims, expected_claims)


def test_load_reads_a_finished_build(built):
    result, _ = built
    loaded = reportgen.load(result.out_dir)
    assert loaded.out_dir == result.out_dir and loaded.trained is None
    pd.testing.assert_frame_equal(loaded.claims, result.claims)
    pd.testing.assert_frame_equal(loaded.runs, result.runs)
    assert reportgen.load(result.results_path).out_dir == result.out_dir


def test_load_refuses_a_folder_that_is_not_a_build(tmp_path):
    with pytest.raises(reportgen.ConfigError) as err:
        reportgen.load(tmp_path)
    assert err.value.lines == [f"{tmp_path / 'results.json'}: not found (give a build's output folder or its results.json)"]


def test_the_result_shows_the_report_in_an_iframe_srcdoc(built, tmp_path):
    result = copied(built[0], tmp_path)
    shown = result._repr_html_()
    match = re.fullmatch(r'<iframe srcdoc="([^"]*)" title="[^"]*" style="[^"]*" sandbox="[^"]*"></iframe>', shown)
    assert match is not None  # nothing outside the frame: the report's styles cannot reach the notebook
    assert html.unescape(match.group(1)) == result.html_path.read_text(encoding="utf-8")
    result.html_path.unlink()  # no HTML: the claims as a table instead
    assert "<iframe" not in result._repr_html_() and "<table" in result._repr_html_()


def test_build_refuses_bad_formats_and_folders_before_training(tmp_path, fake_training, monkeypatch):
    study = reportgen.load_study(write_study(tmp_path / "study.toml", tiny_raw()))
    trained = []
    monkeypatch.setattr("reportgen.executor.train", lambda *a, **k: trained.append(1))
    with pytest.raises(reportgen.ConfigError) as err:
        reportgen.build(study, out=tmp_path / "out", formats="docx")
    assert err.value.lines == ["build(formats='docx'): choose one or more of html, pdf"]
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("mine")
    with pytest.raises(reportgen.ConfigError) as err:
        reportgen.build(study, out=tmp_path / "theirs", quiet=True)
    assert err.value.lines[0].startswith(f"build(out='{tmp_path / 'theirs'}'): holds files reportgen did not write")
    assert trained == [] and not (tmp_path / "out").exists()


def test_build_takes_a_study_path_and_compares(built, tmp_path, light_build):
    result, study = built
    again = reportgen.build(study, out=tmp_path / "again", quiet=True, compare_with=result.out_dir)
    assert again.cached == len(result.runs) and again.trained == 0  # the same runs, from the run cache
    comparison = reportgen.compare(result, again.out_dir)
    assert isinstance(comparison, reportgen.Comparison)
    assert comparison.changed_verdicts == [] and comparison.regressions == []
    assert comparison._repr_markdown_() == comparison.markdown and comparison.markdown.strip()
    assert str(result.out_dir) in again.summary  # summary.md opens with what changed since that build
    first = reportgen.load(result.out_dir).summary
    assert str(result.out_dir) not in first  # ... which a build without compare_with does not have
