"""Verdicts on runs trained outside reportgen: scikit-learn's MLPClassifier at two alpha values over replicates
(reportgen judge, reportgen.judge), and tables missing what they need (exit 2, one line)."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest

import reportgen
from reportgen.cli import main
from reportgen.stats import difference_test
from tests.conftest import write_study

STUDY = {"title": "MLPClassifier, alpha", "variants": [{"name": "plain"}, {"name": "strong", "l2": 0.01}]}
SEEDS = range(6)


@pytest.fixture(scope="module")
def sklearn_runs() -> pd.DataFrame:
    """Replicates of MLPClassifier on make_moons (each its own draw and initialization), weak and strong alpha."""
    from sklearn.datasets import make_moons
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    rows = []
    for seed in SEEDS:
        x, y = make_moons(100, noise=0.3, random_state=seed)
        xt, yt = make_moons(500, noise=0.3, random_state=1000 + seed)
        for name, alpha in (("plain", 1e-5), ("strong", 3.0)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = MLPClassifier((32, 32), alpha=alpha, max_iter=200, random_state=seed).fit(x, y)
            rows.append(
                {"variant": name, "replicate": seed, "train_accuracy": model.score(x, y), "test_accuracy": model.score(xt, yt)}
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def judged(sklearn_runs, tmp_path_factory):
    """reportgen.judge of the scikit-learn runs, once (each judging simulates its verdicts' stability: about a second)."""
    study = reportgen.load_study(write_study(tmp_path_factory.mktemp("study") / "study.toml", STUDY))
    return reportgen.judge(sklearn_runs, study)


def test_judge_gives_the_verdicts_of_the_paired_tests(sklearn_runs, judged):
    claims = judged.claims.set_index("key")
    assert set(claims.index) == {"overfits:plain", "less_overfitting:strong", "better_generalization:strong"}
    # the effect is the paired mean difference of the given numbers, by construction
    by = {v: part.set_index("replicate") for v, part in sklearn_runs.groupby("variant")}
    gap = lambda d: d["train_accuracy"] - d["test_accuracy"]  # noqa: E731
    assert claims.loc["less_overfitting:strong", "effect"] == pytest.approx((gap(by["strong"]) - gap(by["plain"])).mean())
    diff = by["strong"]["test_accuracy"] - by["plain"]["test_accuracy"]
    assert claims.loc["better_generalization:strong", "effect"] == pytest.approx(diff.mean())
    test = difference_test(by["strong"]["test_accuracy"].to_numpy(), by["plain"]["test_accuracy"].to_numpy(), 0.95, 0.01)
    assert claims.loc["better_generalization:strong", "p_value"] == pytest.approx(test.p_value)
    assert claims["verdict"].isin(["supported", "contradicted", "no meaningful effect", "inconclusive"]).all()
    assert claims["flip_probability"].between(0, 1).all()
    # boundary and loss-curve claims need measures the table does not have: named, not judged
    assert judged.missing == ["better_calibration:strong", "simpler_boundary:strong", "stable_loss:strong"]
    assert judged.missing_sentence().count(".") == 1 and "simpler_boundary:strong" in judged.missing_sentence()


def test_a_measure_in_the_table_brings_its_claim(sklearn_runs, tmp_path):
    study = reportgen.load_study(write_study(tmp_path / "study.toml", STUDY))
    runs = sklearn_runs.assign(
        boundary_length=np.where(sklearn_runs["variant"] == "plain", 5.0, 4.0) + sklearn_runs["replicate"] * 0.01
    )
    judged = reportgen.judge(runs, study)
    row = judged.claims.set_index("key").loc["simpler_boundary:strong"]
    assert row["effect"] == pytest.approx(-1.0) and row["verdict"] == "supported"  # 1 shorter in every replicate
    assert judged.missing == ["better_calibration:strong", "stable_loss:strong"]


@pytest.fixture(scope="module")
def judged_folder(sklearn_runs, tmp_path_factory):
    """`reportgen judge --format html,pdf` once on the scikit-learn runs: (output folder, study file, runs file)."""
    root = tmp_path_factory.mktemp("judged")
    sklearn_runs.to_csv(root / "runs.csv", index=False)
    study = write_study(root / "study.toml", STUDY)
    args = ["judge", str(root / "runs.csv"), "--config", str(study), "--out", str(root / "out"), "--format", "html,pdf"]
    assert main([*args, "--quiet"]) == 0
    return root / "out", study, root / "runs.csv"


def test_the_command_writes_the_report_and_tables_as_a_build_does(judged_folder, sklearn_runs, judged):
    out, _, _ = judged_folder
    names = {"report.html", "report.pdf", "summary.md", "results.json", "report-data.npz", "runs.csv", "claims.csv"}
    manifest = json.loads((out / ".reportgen-manifest.json").read_text())
    assert {p.name for p in out.iterdir()} == names | {".reportgen-manifest.json"} and set(manifest["files"]) == names
    claims = pd.read_csv(out / "claims.csv")
    assert claims["key"].tolist() == judged.claims["key"].tolist()  # the API's, of the same runs and study
    runs = pd.read_csv(out / "runs.csv").set_index(["variant", "replicate"])
    given = sklearn_runs.set_index(["variant", "replicate"])
    assert len(runs) == len(sklearn_runs) and np.allclose(runs.loc[given.index, "test_accuracy"], given["test_accuracy"])
    summary = (out / "summary.md").read_text()
    assert all(verdict in summary for verdict in claims["verdict"]) and summary.count("Not judged, their measures") == 1
    assert "simpler\\_boundary:strong" in summary  # escaped as every string in summary.md


def test_the_report_shows_what_a_table_has_and_says_what_it_lacks(judged_folder, sklearn_runs):
    html = (judged_folder[0] / "report.html").read_text()
    sentence = (
        "Not judged, their measures are not in the table of runs: better_calibration:strong, simpler_boundary:strong, "
        "stable_loss:strong."
    )
    assert html.count(sentence) == 1 and "12 runs trained elsewhere, judged" in html and "models trained" not in html
    assert "<img" not in html  # no data, boundaries, losses per epoch or weights: no figure at all
    assert 'id="weights"' not in html and 'id="calibration"' not in html  # sections with nothing in them are left out
    assert "Keras Sequential" not in html and "reportgen did not train these runs" in html
    # each regularized variant's section has its claims and key numbers, computed from the given runs
    by = {v: part.set_index("replicate")["test_accuracy"] for v, part in sklearn_runs.groupby("variant")}
    assert f"{by['strong'].mean():.1%}" in html and f"{by['plain'].mean():.1%}" in html
    from pypdf import PdfReader

    text = " ".join(page.extract_text() for page in PdfReader(judged_folder[0] / "report.pdf").pages)
    assert "Not judged" in text and "The runs judged" in text


def test_render_and_load_read_a_judged_folder_back(judged_folder, tmp_path):
    out = judged_folder[0]
    result = reportgen.load(out)
    assert result.results.design.runs_from.endswith("runs.csv") and len(result.runs) == 12
    assert result.results.design.test_sets is None and all(r.history is None for r in result.results.runs)
    assert main(["render", str(out), "--out", str(tmp_path / "again"), "--format", "html", "--quiet"]) == 0
    for name in ("results.json", "report-data.npz", "runs.csv", "claims.csv", "summary.md"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name


def test_judge_holds_and_checks_its_folder_as_build_does(judged_folder, tmp_path, capsys):
    from reportgen import outdir

    _, study, runs = judged_folder
    out = tmp_path / "held"
    with outdir.hold(out, "test"):
        assert main(["judge", str(runs), "--config", str(study), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    held = f"another build (process {os.getpid()}) is writing into it; wait for it to finish"
    assert err == [f"reportgen: error: --out {out}: {held}"]
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("mine")
    assert main(["judge", str(runs), "--config", str(study), "--out", str(tmp_path / "theirs"), "--quiet"]) == 2
    assert "holds files reportgen did not write (notes.txt)" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "theirs").iterdir()] == ["notes.txt"]


def test_the_api_writes_the_folder_too(sklearn_runs, tmp_path):
    study = reportgen.load_study(write_study(tmp_path / "study.toml", STUDY))
    judged = reportgen.judge(sklearn_runs, study, out=tmp_path / "out")
    result = reportgen.load(tmp_path / "out")
    assert result.html_path is not None and result.pdf_path is None  # the API's default format, as build's
    assert result.claims["key"].tolist() == judged.claims["key"].tolist()
    assert "runs trained elsewhere" in result._repr_html_()


@pytest.mark.parametrize(
    "drop, line",
    [
        (["train_accuracy"], "missing required column(s) train_accuracy"),
        (["variant", "replicate"], "missing required column(s) variant, replicate"),
    ],
)
def test_a_table_missing_required_columns_exits_2_naming_them(sklearn_runs, tmp_path, capsys, drop, line):
    sklearn_runs.drop(columns=drop).to_csv(tmp_path / "runs.csv", index=False)
    study = write_study(tmp_path / "study.toml", STUDY)
    code = main(["judge", str(tmp_path / "runs.csv"), "--config", str(study), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(f"reportgen: error: {tmp_path / 'runs.csv'}: {line}")
    assert not (tmp_path / "out").exists()


def test_a_variant_the_study_does_not_know_is_named(sklearn_runs, tmp_path):
    study = reportgen.load_study(write_study(tmp_path / "study.toml", STUDY))
    runs = sklearn_runs.replace({"variant": {"strong": "stronk"}})
    with pytest.raises(reportgen.ConfigError) as err:
        reportgen.judge(runs, study)
    assert err.value.lines == ["runs: column 'variant': stronk not among the study's variants (plain, strong)"]
