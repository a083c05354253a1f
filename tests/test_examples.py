"""Every kind of data builds end to end (a few epochs), and so does every example study in examples/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reportgen.cli import main
from tests.conftest import write_study

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
QUICK = [
    "--set",
    "training.epochs=3",
    "--set",
    "training.seeds=[0, 1]",
    "--set",
    "analysis.grid_resolution=20",
    "--format",
    "html",
    "--quiet",
    "--no-cache",
]
SMALL = {
    "training": {"epochs": 3, "seeds": [0, 1], "batch_size": 32},
    "model": {"hidden_units": [16, 16]},
    "variants": [{"name": "baseline"}, {"name": "l2", "l2": 0.01}],
    "sweeps": {"l1": [], "l2": [], "dropout": []},
    "analysis": {"grid_resolution": 20},
}


def _built(out: Path) -> tuple[dict, str]:
    return json.loads((out / "results.json").read_text()), (out / "report.html").read_text()


def _figures(html: str) -> set[str]:
    return set(re.findall(r'id="fig-([a-z0-9-]+)"', html))


@pytest.mark.parametrize(
    "data, features, classes",
    [
        ({"kind": "xor"}, 2, 2),
        ({"kind": "spirals", "n_samples": 120}, 2, 2),
        ({"kind": "blobs", "n_classes": 4}, 2, 4),
        ({"kind": "classification", "n_features": 30, "n_classes": 3, "test_samples": 300}, 30, 3),
        ({"kind": "wine"}, 13, 3),
        ({"kind": "iris"}, 4, 3),
    ],
)
def test_every_kind_of_data_builds(tmp_path, fake_training, data, features, classes):
    study = write_study(tmp_path / "s.toml", {**SMALL, "data": data, "output": {"dir": "out", "formats": ["html"], "cache": ""}})
    assert main(["build", "--config", str(study), "--quiet"]) == 0
    doc, html = _built(tmp_path / "out")
    run = doc["runs"][0]
    assert len(run["layers"]) == 2 and 0 <= run["test_accuracy"] <= 1
    assert {"dataset", "boundaries", "loss-curves", "compare-l2"} <= _figures(html)
    generated = data["kind"] in ("xor", "spirals", "blobs")
    assert bool(doc["bayes"]) == generated and ("no Bayes-optimal reference" in html) != generated
    keys = {c["key"].split(":")[0] for c in doc["claims"]}
    assert ("simpler_boundary" in keys) == (features == 2)  # boundary length needs a 2-D input space
    assert f"input {features} → Dense 16 → 16 (ReLU) → {1 if classes == 2 else classes} (" in html
    if features > 2:
        assert "principal components" in html and "boundary length and pieces are not measured" in html


@pytest.mark.parametrize("example", ["noisy_circles", "breast_cancer", "iris_csv", "birds_csv", "digits"])
def test_example_studies_build(tmp_path, fake_training, example):
    args = [
        "build",
        "--config",
        str(EXAMPLES / f"{example}.toml"),
        "--out",
        str(tmp_path / "out"),
        *QUICK,
        "--set",
        "sweeps.l1=[0.001]",
        "--set",
        "sweeps.l2=[]",
        "--set",
        "sweeps.dropout=[]",
        "--set",
        "variants=[{name='baseline'}, {name='l1', l1=0.001}, {name='dropout', dropout=0.2}]",
    ]  # one graph
    assert main(args) == 0
    doc, html = _built(tmp_path / "out")
    assert doc["claims"] and "What this build found" in html
    if example == "iris_csv":
        assert doc["design"]["test_sets"]["0"] and "setosa" in html and "categorical cross-entropy" in html
        assert "stratified split of the rows" in doc["design"]["sentence"] and "150 rows of iris.csv" in doc["design"]["sentence"]
    if example == "digits":  # the first layer as 8×8 pictures
        assert "weight-images" in _figures(html) and "as 8×8 images" in html and "10 classes" in html
    if example == "birds_csv":  # the README's worked example: text columns encoded, missing cells filled
        text = re.sub(r"\s+", " ", html)
        assert "site (Gull Rock, Kelp Point, Long Reef); sex (female, male)" in text and "20 feature cells are filled" in text
        assert "316 rows of birds.csv" in doc["design"]["sentence"]


def test_the_data_size_example_tests_the_scarce_data_claim(tmp_path, fake_training):
    args = [
        "build",
        "--config",
        str(EXAMPLES / "data_size.toml"),
        "--out",
        str(tmp_path / "out"),
        *QUICK,
        "--set",
        "sweeps.n_samples=[50, 200, 800]",
        "--set",
        "sweeps.noise=[0.1]",
        "--set",
        "variants=[{name='baseline'}, {name='l2', l2=0.001}]",
    ]
    assert main(args) == 0
    doc, html = _built(tmp_path / "out")
    claim = next(c for c in doc["claims"] if c["key"] == "scarce_data:l2")
    assert claim["primary"]["statistic"] == "slope" and claim["primary"]["effect"]["n"] == 2
    assert {r["n_train"] for r in doc["data_sweeps"] if r["axis"] == "n_samples"} == {40, 160, 640}
    assert {r["variant"] for r in doc["runs"]} == {
        "baseline",
        "l2",
        "baseline @ n_samples=50",
        "l2 @ n_samples=50",
        "baseline @ n_samples=800",
        "l2 @ n_samples=800",
        "baseline @ noise=0.1",
        "l2 @ noise=0.1",
    }
    assert {r["setting"] for r in doc["data_sweeps"] if r["axis"] == "noise"} == {0.1, 0.25}  # the study's own noise too
    assert "data-sweeps" in _figures(html) and 'id="data-sweeps"' in html and "640 train" in html and "noise 0.1" in html
