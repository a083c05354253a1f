"""Every kind of data builds end to end (a few epochs), and so does every example study in examples/.

Training is the fake trainer's throughout (none of this is about learning), and the reports are light (tests/conftest.py
light: stand-in figures, no helper process) except where a figure takes its own path on that data: drawn for real are
every figure whose drawing depends on the data (ON_THE_DATA) of a 2-D multi-class study with a Bayes boundary (blobs)
and of a 30-feature one seen through its principal components (classification), the data figure of wine and iris (its
caption names the plane shown), the first layer of the digits as pictures, the weight-decay sweep and the reliability
diagrams of the weight-decay example (with Adam) and the data-sweeps figure of the data-size example (no other build in
the suite draws it). A 2-D two-class study (xor, spirals, noisy_circles) draws what every make_moons build and
tests/test_figures.py draw; the first layer's weights (box plots, histograms, extremes, sparsity) are drawn alike
whatever the data."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest

from reportgen.cli import main
from tests.conftest import light, write_study

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
QUICK = [  # a few epochs, two replicates, a coarse grid, a narrow network (the examples' own are 32 to 128 units wide)
    "--set",
    "training.epochs=3",
    "--set",
    "model.hidden_units=[16, 16]",
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
# the figures whose drawing depends on the data (its plane, classes and Bayes boundary); a key ending in * stands for
# every key it begins
ON_THE_DATA = ("dataset", "boundaries", "snapshots@*", "loss_curves", "compare:*", "pruning", "reliability")


@contextlib.contextmanager
def drawn(mp: pytest.MonkeyPatch, *keys: str):
    """A light build (see tests/conftest.py light) whose figures with these keys are drawn for real, in this process,
    as the build would draw them: each figure's own drawing code on each kind of data, without the seconds of drawing
    what other builds draw already."""
    from reportgen import figures
    from reportgen.figures.common import Study, palette

    def real(key: str) -> bool:
        return any(key == k or (k.endswith("*") and key.startswith(k[:-1])) for k in keys)

    with light(mp):
        stand_ins = figures.make_figures

        def some(analysis, helper=None):
            study = Study(analysis, analysis.first, palette(analysis.variants))
            real_ones = {s.key: figures.draw(s, study) for s in figures.figure_specs(analysis) if real(s.key)}
            out = [real_ones[f.key] if real(f.key) else f for f in stand_ins(analysis)]
            return [f for f in out if f is not None]  # as make_figures leaves out a figure with nothing to draw

        mp.setattr("reportgen.figures.make_figures", some)
        yield


def _built(out: Path) -> tuple[dict, str]:
    return json.loads((out / "results.json").read_text()), (out / "report.html").read_text()


def _figures(html: str) -> set[str]:
    return set(re.findall(r'id="fig-([a-z0-9-]+)"', html))


@pytest.mark.parametrize(
    "data, features, classes, figures",
    [
        ({"kind": "xor"}, 2, 2, ()),  # 2-D, two classes, a Bayes boundary: as every make_moons build draws
        ({"kind": "spirals", "n_samples": 120}, 2, 2, ()),
        ({"kind": "blobs", "n_classes": 4}, 2, 4, ON_THE_DATA),  # multi-class boundaries and a Bayes boundary on the data
        ({"kind": "classification", "n_features": 30, "n_classes": 3, "test_samples": 300}, 30, 3, ON_THE_DATA),  # projected
        ({"kind": "wine"}, 13, 3, ("dataset",)),  # projected, several classes, as classification; a table of rows
        ({"kind": "iris"}, 4, 3, ("dataset",)),
    ],
)
def test_every_kind_of_data_builds(tmp_path, monkeypatch, data, features, classes, figures):
    """figures: the keys of the figures drawn for real; the data figure's caption names the plane shown."""
    study = write_study(tmp_path / "s.toml", {**SMALL, "data": data, "output": {"dir": "out", "formats": ["html"], "cache": ""}})
    with drawn(monkeypatch, *figures) if figures else light(monkeypatch):
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
def test_example_studies_build(tmp_path, monkeypatch, example):
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
    with drawn(monkeypatch, "weight_images") if example == "digits" else light(monkeypatch):  # the first layer as 8×8 pictures
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


def test_the_data_size_example_tests_the_scarce_data_claim(tmp_path, monkeypatch):
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
    with drawn(monkeypatch, "data_sweeps"):
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


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_weight_decay_example_tests_l2_against_decoupled_decay(tmp_path, monkeypatch, optimizer):
    """examples/weight_decay.toml: every new variant key trains and gets its claims, and the weight-decay variant is
    judged against the L2 variant of matched strength (l2 = weight_decay / 2), with the study's optimizer named."""
    args = ["build", "--config", str(EXAMPLES / "weight_decay.toml"), "--out", str(tmp_path / "out"), *QUICK]
    args += ["--set", "sweeps.weight_decay=[0.01]", "--set", f"model.optimizer='{optimizer}'"]
    # the new regularizers' sweep figures and the reliability diagrams drawn with Adam; SGD changes the text, not them
    figures = ("sweeps", "sweep_boundaries", "reliability") if optimizer == "adam" else ()
    with drawn(monkeypatch, *figures) if figures else light(monkeypatch):
        assert main(args) == 0
    doc, html = _built(tmp_path / "out")
    claim = next(c for c in doc["claims"] if c["key"].startswith("decoupled_decay"))
    assert claim["variant"] == "weight decay" and claim["reference"] == "l2"
    assert ("with Adam" if optimizer == "adam" else "plain SGD") in claim["claim"].split("trained here")[1]
    assert claim["primary"]["metric"] == "weights_distance" and claim["verdict"] in {
        "supported",
        "contradicted",
        "no meaningful effect",
        "inconclusive",
    }
    keys = {c["key"] for c in doc["claims"]}
    for name in ("weight decay", "label smoothing", "input noise", "max-norm"):
        assert f"better_generalization:{name}" in keys and f"better_calibration:{name}" in keys
    checks = {(c["variant"], c["metric"]) for c in doc["checks"]}
    assert {("weight decay", "kernel_l2"), ("max-norm", "max_unit_norm"), ("label smoothing", "confidence")} <= checks
    text = re.sub(r"\s+", " ", html)
    assert "label smoothing trains on smoothed targets (label smoothing); its accuracies and every loss" in text
    assert "scored on the true labels" in text and 'id="calibration"' in html and "reliability" in _figures(html)
    trained = "trained with Adam (learning rate" if optimizer == "adam" else "trained with SGD (learning rate"
    assert trained in text
