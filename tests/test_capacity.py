"""The capacity sweep ([sweeps] hidden_units): its shapes checked, the runs it plans (their keys, cache keys, data and
engine groups), the work it adds to the plan line, the bigger-networks claim on hand-made slopes, the section and
figure of a build of examples/capacity.toml with the fake trainer, and one tiny real training in both engines."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure as MplFigure

from reportgen import budget, pace, schema, tables
from reportgen.analysis import benefit_slopes
from reportgen.cache import run_keys
from reportgen.claims import evaluate_claims
from reportgen.config import width
from reportgen.errors import ConfigError
from reportgen.plan import SweepPoint, check_unique, data_points, plan_runs, shapes, sweep_points
from reportgen.training.train import group_key, init_key
from tests.conftest import tiny_config, write_study
from tests.handmade import REPS, hand_made

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WIDER = {"sweeps": {"l1": [], "hidden_units": [[16, 16], [128, 128], [256]]}}  # the tiny study's own network: 128 × 128


@pytest.mark.parametrize(
    "shapes, line",
    [
        ([[16, 16], [0]], "tiny: sweeps.hidden_units.1.0: Input should be greater than or equal to 1 (got 0)"),
        ([[16, 16], [5000]], "tiny: sweeps.hidden_units.1.0: Input should be less than or equal to 4096 (got 5000)"),
        ([[16, 16], []], "tiny: sweeps.hidden_units.1: List should have at least 1 item after validation, not 0 (got [])"),
        (
            [8, 16],
            "tiny: sweeps.hidden_units: a list of network shapes, each a list of units per hidden layer: [[8, 16]] for "
            "one shape of 2 layers, or [[8], [16]] for 2 shapes of one layer (got [8, 16])",
        ),
        ([[16, 16], [16, 16]], "tiny: sweeps.hidden_units: values must be distinct (got [[16, 16], [16, 16]])"),
        (
            [[64], [64, 64]],
            "tiny: sweeps.hidden_units: [64, 64] and [64] have the same width, 64 units per hidden layer (their geometric "
            "mean); the capacity sweep needs one shape per width",
        ),
        (
            [[32, 512]],
            "tiny: sweeps.hidden_units: [32, 512] and [128, 128] (model.hidden_units) have the same width, 128 units per "
            "hidden layer (their geometric mean); the capacity sweep needs one shape per width",
        ),
    ],
)
def test_shapes_are_checked_in_one_line_naming_the_key_and_the_value(shapes, line):
    with pytest.raises(ConfigError) as err:
        tiny_config(sweeps={"hidden_units": shapes})
    assert err.value.lines == [line]


def test_a_bad_shape_stops_the_command_with_exit_2_and_one_line(tmp_path, capsys):
    from reportgen.cli import main

    study = write_study(tmp_path / "s.toml", {"sweeps": {"hidden_units": [[16], [16.5]]}})
    assert main(["build", "--config", str(study)]) == 2
    err = capsys.readouterr().err
    problem = "Input should be a valid integer (got 16.5)"
    assert err.splitlines() == [f"reportgen: error: {study}: sweeps.hidden_units.1.0: {problem}"]
    assert not (tmp_path / "output").exists()


def test_init_writes_the_capacity_sweep_commented_and_reads_it_back(tmp_path):
    from reportgen.config import commented_study, load_config

    text = commented_study()
    sweeps = text[text.index("\n[sweeps]") : text.index("\n[analysis]")]
    assert "\nhidden_units = []\n" in sweeps and "# Capacity sweep: every variant is trained" in sweeps
    assert "e.g. [[16, 16], [64, 64], [256, 256]]" in sweeps and "1 to 10 layers of 1 to 4,096 units" in sweeps
    study = tmp_path / "study.toml"
    study.write_text(text.replace("\nhidden_units = []\n", "\nhidden_units = [[16, 16], [64, 64]]\n"))
    assert load_config(study).sweeps.hidden_units == [[16, 16], [64, 64]]


def test_width_is_the_units_per_layer_and_the_geometric_mean_of_unequal_layers():
    assert width([64, 64]) == 64.0 and width([16]) == 16.0 and width([100, 100, 100]) == 100.0
    assert width([32, 128]) == pytest.approx(64.0) and width([16, 64, 256]) == pytest.approx(64.0)
    assert math.log2(width([8, 32])) == pytest.approx((3 + 5) / 2)  # log2 width: the mean of the layers' log2 units


def test_every_variant_is_planned_at_every_other_shape_on_its_replicate_s_own_data():
    config = tiny_config(**WIDER)
    assert sweep_points(config) == [SweepPoint("hidden_units", (16, 16)), SweepPoint("hidden_units", (256,))]
    assert data_points(config) == [] and shapes(config) == [(128, 128), (16, 16), (256,)]
    runs = plan_runs(config)
    swept = [r for r in runs if r.point is not None]
    assert len(swept) == 2 * len(config.variants) * len(config.training.seeds)  # 128 × 128 is the study's own runs
    assert {r.key for r in swept} >= {"baseline/seed0/hidden_units=16x16", "l1/seed1/hidden_units=256"}
    assert all(r.data_key == r.seed for r in runs)  # every width trains on the replicate's own data: paired
    assert {tuple(r.model(config.model).hidden_units) for r in swept} == {(16, 16), (256,)}
    check_unique(runs)
    keys = run_keys(runs, config)
    assert len(set(keys.values())) == len(runs)  # the cache tells every shape apart
    plain = tiny_config(sweeps={"l1": []})
    assert {k: v for k, v in keys.items() if "hidden_units" not in k} == run_keys(plan_runs(plain), plain)  # as before


def test_each_width_has_its_own_engine_group_and_initial_weights():
    config = tiny_config(**WIDER)
    runs = [r for r in plan_runs(config) if r.seed == 0 and not r.variant.regularizers()]
    data = type("Shape", (), {"n_features": 2, "n_classes": 2, "y_train": np.zeros(48), "y_val": np.zeros(12)})()
    groups = {group_key(r, data, config)[0].hidden for r in runs}
    assert groups == {(128, 128), (16, 16), (256,)}  # never one graph for two shapes
    assert {init_key(r, config) for r in runs} == {(0, (128, 128)), (0, (16, 16)), (0, (256,))}


def test_the_plan_line_counts_each_run_with_its_own_network():
    config = tiny_config(**WIDER)
    runs = plan_runs(config)
    per_run = {(128, 128): 2 * 128 + 128 + 128 * 128 + 128 + 129, (16, 16): 48 + 272 + 17, (256,): 768 + 257}
    n_train, n_val, _ = config.data.sizes()
    work = sum(per_run[tuple(r.model(config.model).hidden_units)] for r in runs)
    est = budget.estimate(config, runs)
    assert est.flops == work * config.training.epochs * (6 * n_train + 2 * n_val)
    assert (est.smallest, est.weights) == (337, per_run[(128, 128)]) and " × 337 to 17k weights" in est.size()
    assert budget.network_weights(config) == per_run[(128, 128)]  # the largest network sizes the cache's entries
    assert pace.shape_key(config) == "fast:128x128+16x16+256:b16"  # a kept rate is for this mix of shapes
    plain = tiny_config(sweeps={"l1": []})
    assert budget.estimate(plain, plan_runs(plain)).line() == budget.estimate(plain, len(plan_runs(plain))).line()


def _width_study(slopes: dict[str, float], widths=(16, 64, 256)):
    """A hand-made analysis whose data_runs hold, per replicate, test-accuracy and gap differences with known slopes on
    log2 of the width (the gap's the opposite)."""
    config = tiny_config(
        variants=[
            {"name": "baseline"},
            {"name": "l2", "l2": 0.001},
            {"name": "drop", "dropout": 0.2},
            {"name": "l1", "l1": 0.01},
        ],
        model={"hidden_units": [64, 64]},
        sweeps={"l1": [], "l2": [], "hidden_units": [[16, 16], [256, 256]]},
    )
    analysis = hand_made({}, config)
    rng = np.random.default_rng(5)
    rows = []
    for seed in range(REPS):
        for w in widths:
            base = 0.8 + rng.normal(0, 0.01)
            for variant, slope in (("baseline", 0.0), *slopes.items()):
                diff = slope * np.log2(w) + rng.normal(0, 0.002) if variant != "baseline" else 0.0
                row = {"variant": variant, "seed": seed, "axis": "hidden_units", "setting": float(w), "n_train": 48}
                rows.append({**row, "test_accuracy": base + diff, "gap": 0.1 - diff})
    return replace(analysis, data_runs=pd.DataFrame(rows)), config


def test_the_benefit_slope_is_the_change_per_doubling_of_the_width():
    analysis, _ = _width_study({"l2": 0.02, "drop": 0.0, "l1": -0.015})
    slopes = benefit_slopes(analysis, "l2", axis="hidden_units")
    assert len(slopes) == REPS and slopes.mean() == pytest.approx(0.02, abs=0.002)
    assert benefit_slopes(analysis, "l2", "gap", "hidden_units").mean() == pytest.approx(-0.02, abs=0.002)
    assert benefit_slopes(analysis, "l2").empty  # no data-size sweep: nothing on that axis
    unequal, _ = _width_study({"l2": 0.02}, widths=(width([8, 32]), width([32, 128])))  # 16 and 64: two doublings
    assert benefit_slopes(unequal, "l2", axis="hidden_units").mean() == pytest.approx(0.02, abs=0.003)


def test_the_bigger_networks_claim_joins_the_primary_family_and_is_judged():
    from reportgen.arrange import verdict_matrix

    analysis, config = _width_study({"l2": 0.02, "drop": 0.0, "l1": -0.015})
    verdicts = evaluate_claims(analysis)
    bigger = {c.variant: c for c in verdicts.claims if c.definition.key == "bigger_networks"}
    assert {v: c.verdict for v, c in bigger.items()} == {
        "l2": "supported",
        "drop": "no meaningful effect",
        "l1": "contradicted",
    }
    assert bigger["l2"].primary.family_size == verdicts.family_sizes()[0]  # one Holm family with the other claims
    assert "per doubling of the network's width, l2: +2.0 pp on average" in bigger["l2"].primary.sentence
    assert "Holm-adjusted" in bigger["l2"].primary.sentence and "TOST) against ±1.0 pp" in bigger["drop"].primary.sentence
    assert [f.metric for f in bigger["l2"].secondary] == ["width_gap_benefit_slope"]
    assert bigger["l2"].secondary[0].verdict == "supported"  # the gap's difference falls as the width grows
    assert "Helps more in bigger networks" in verdict_matrix(verdicts, analysis.setup.variants).columns
    without = evaluate_claims(hand_made({}, config))  # no capacity sweep measured: no such claim
    assert not [c for c in without.claims if c.definition.key == "bigger_networks"]
    one = replace(analysis, data_runs=analysis.data_runs[analysis.data_runs["setting"] == 16.0])
    assert not [c for c in evaluate_claims(one).claims if c.definition.key == "bigger_networks"]  # one width: no slope


QUICK = [  # one epoch (no snapshot frames to draw), two replicates, two variants: the fewest figures a report has
    *("--set", "training.epochs=1", "--set", "training.seeds=[0, 1]", "--set", "analysis.grid_resolution=20"),
    *("--set", "variants=[{name='baseline'}, {name='l2', l2=0.001}]"),
]


@pytest.fixture(scope="module")
def capacity_build(tmp_path_factory):
    """examples/capacity.toml built with the fake trainer on one epoch, two replicates and two of its variants (HTML
    only, no cache; this machine's matmul peak, which the plan line's estimate measures without a cache, taken as
    known; its figures drawn, with their captions, but not rendered: the figure test below draws its own)."""
    from reportgen.cli import main
    from tests.conftest import blank_pixels
    from tests.fake_training import fake_train

    out = tmp_path_factory.mktemp("capacity") / "out"
    with pytest.MonkeyPatch.context() as mp, blank_pixels(mp):
        mp.setattr("reportgen.executor.train", fake_train)
        mp.setattr("reportgen.pace.matmul_peak", lambda: 100e9)
        mp.setattr("reportgen.pace.memory_bandwidth", lambda: 20e9)
        args = ["build", "--config", str(EXAMPLES / "capacity.toml"), "--out", str(out), *QUICK]
        assert main([*args, "--format", "html", "--quiet", "--no-cache"]) == 0
    return out


def test_the_capacity_example_trains_every_variant_at_every_width_and_tests_the_claim(capacity_build):
    doc = json.loads((capacity_build / "results.json").read_text())
    names = {"baseline", "l2"}
    assert {r["variant"] for r in doc["runs"]} == names | {f"{n} @ hidden_units={s}" for n in names for s in ("16x16", "256x256")}
    for run in doc["runs"]:  # a sweep point's record says its shape (null: the study's own), and its layers have it
        units = run["hidden_units"] or [64, 64]
        assert (run["hidden_units"] is None) == ("@" not in run["variant"])
        assert [layer["weights"] for layer in run["layers"]] == [2 * units[0], units[0] * units[1]]
    widths = {r["setting"] for r in doc["data_sweeps"] if r["axis"] == "hidden_units"}
    assert widths == {16.0, 64.0, 256.0}  # the study's own 64 × 64 among them
    claims = {c["key"]: c for c in doc["claims"] if c["key"].startswith("bigger_networks:")}
    assert set(claims) == {"bigger_networks:l2"}
    runs = pd.read_csv(capacity_build / "runs.csv")
    assert sorted(runs["hidden_units"].fillna("own").unique()) == ["16x16", "256x256", "own"]
    again = tables.tables_of(schema.parse((capacity_build / "results.json").read_bytes(), "results.json"))
    assert again[tables.RUNS_FILE] == (capacity_build / "runs.csv").read_bytes()  # as `render` writes it
    primary = claims["bigger_networks:l2"]["primary"]
    assert primary["statistic"] == "slope" and primary["metric"] == "width_benefit_slope" and primary["effect"]["n"] == 2
    assert len(primary["per_replicate"]["values"]) == 2


def test_the_capacity_section_says_what_was_trained_and_how_it_is_judged(capacity_build):
    html = (capacity_build / "report.html").read_text()
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))
    assert 'id="fig-capacity"' in html and 'id="data-sweeps"' in html and 'id="fig-data-sweeps"' not in html
    assert "and every variant again at 3 network widths (16×16 to 256×256 hidden units)" in text
    assert "hidden layers of 16×16, 64×64 and 256×256 units (the study's own network, 64×64, among them)" in text
    assert "within ±1 pp per doubling" in text and "Holm-adjusted over the primary tests at 0.05" in text
    assert "Test accuracy against the network width (hidden units per layer)" in text
    assert "Helps more in bigger networks" in text  # its column of page one's matrix


def test_the_capacity_figure_is_readable_without_the_code(capacity_build):
    from reportgen import store
    from reportgen.figures import curves
    from reportgen.figures.common import Study, palette, style

    analysis, first = store.load((capacity_build / "report-data.npz").read_bytes())
    with style():
        fig = MplFigure(layout="constrained")
        caption = curves.draw_capacity(fig, Study(analysis, first, palette(analysis.variants)))
    top, bottom = fig.axes
    assert top.get_xscale() == bottom.get_xscale() == "log"
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["16×16", "64×64", "256×256"]
    assert bottom.get_xlabel() == "network width: units per hidden layer (log scale)"
    assert top.get_ylabel() == "test accuracy:\nvariant − baseline (pp)"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["l2", "no difference", "95% interval\nover 2 replicates"]
    assert "bands their 95% confidence interval (Student's t)" in caption and "16×16, 64×64 and 256×256" in caption
    assert "per doubling of the width" in caption


@pytest.mark.slow
def test_both_engines_train_a_capacity_sweep_of_mixed_widths_and_depths_alike():
    """Both engines train a study of two shapes (8 units in one layer, 4 × 4 in two), each run with its own shape and
    its own initial weights for it: the fast engine's weights are stock fit's within the parity tests' tolerance."""
    from reportgen.data import make_datasets
    from reportgen.training import train_runs

    base = dict(
        training={"epochs": 2, "seeds": [3], "batch_size": 20, "shuffle": False},
        variants=[{"name": "baseline"}],
        sweeps={"l1": [], "hidden_units": [[4, 4]]},
        model={"hidden_units": [8]},
    )
    fast, ref = tiny_config(**base), tiny_config(**{**base, "training": {**base["training"], "engine": "keras"}})
    datasets = make_datasets(fast.data, fast.training.seeds)
    runs = plan_runs(fast)
    ours, theirs = train_runs(runs, datasets, fast), train_runs(runs, datasets, ref)
    assert [r.run.key for r in ours] == [r.run.key for r in theirs] == ["baseline/seed3", "baseline/seed3/hidden_units=4x4"]
    for a, b in zip(ours, theirs, strict=True):
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights]
        assert [w.shape for w in a.weights[::2]] == ([(2, 8), (8, 1)] if a.run.point is None else [(2, 4), (4, 4), (4, 1)])
        for wa, wb in zip(a.weights, b.weights, strict=True):
            np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5, err_msg=a.run.key)
