"""Verdicts on runs trained outside reportgen: scikit-learn's MLPClassifier at two alpha values over replicates
(reportgen judge, reportgen.judge), and tables missing what they need (exit 2, one line)."""

from __future__ import annotations

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


def test_judge_gives_the_verdicts_of_the_paired_tests(sklearn_runs, tmp_path):
    study = reportgen.load_study(write_study(tmp_path / "study.toml", STUDY))
    judged = reportgen.judge(sklearn_runs, study)
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


def test_the_command_writes_claims_and_summary(sklearn_runs, tmp_path, capsys):
    sklearn_runs.to_csv(tmp_path / "runs.csv", index=False)
    study = write_study(tmp_path / "study.toml", STUDY)
    assert main(["judge", str(tmp_path / "runs.csv"), "--config", str(study), "--out", str(tmp_path / "out")]) == 0
    claims = pd.read_csv(tmp_path / "out" / "claims.csv")
    assert claims["key"].tolist() == reportgen.judge(sklearn_runs, reportgen.load_study(study)).claims["key"].tolist()
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert all(verdict in summary for verdict in claims["verdict"]) and "simpler_boundary:strong" in summary
    assert capsys.readouterr().err.strip().splitlines() == [
        "Not judged, their measures are not in the table of runs: better_calibration:strong, simpler_boundary:strong, "
        "stable_loss:strong."
    ]


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
