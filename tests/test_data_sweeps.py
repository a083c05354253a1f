"""Data-size and noise sweeps: the runs they plan, their keys, the benefit measures and the scarce-data claim."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reportgen.analysis import benefit_slopes
from reportgen.cache import _data_key, run_key, run_keys
from reportgen.claims import evaluate_claims
from reportgen.config import commented_study
from reportgen.plan import SweepPoint, check_unique, data_points, plan_runs
from tests.conftest import tiny_config
from tests.handmade import REPS, hand_made

SWEPT = {"sweeps": {"l1": [], "n_samples": [40, 60, 120], "noise": [0.1, 0.25]}}


def test_every_variant_is_planned_at_every_other_data_setting_with_its_own_key():
    config = tiny_config(**SWEPT)  # the tiny study has n_samples 60 and noise 0.25: those points are its own runs
    assert data_points(config) == [SweepPoint("n_samples", 40), SweepPoint("n_samples", 120), SweepPoint("noise", 0.1)]
    runs = plan_runs(config)
    swept = [r for r in runs if r.point is not None]
    assert len(swept) == 3 * len(config.variants) * len(config.training.seeds)
    assert {r.key for r in swept} >= {"baseline/seed0/n_samples=40", "l1/seed1/noise=0.1"}
    check_unique(runs)  # no two runs share a key or a saved-model file
    keys = run_keys(runs, config)
    assert len(set(keys.values())) == len(runs)  # the cache tells every data setting apart
    assert [r.key for r in plan_runs(tiny_config(sweeps={"l1": []}))] == [
        r.key for r in runs if r.point is None
    ]  # the rest as before


def test_a_data_point_changes_the_cache_key_and_moons_keys_are_as_before():
    config = tiny_config(**SWEPT)
    base = next(r for r in plan_runs(config) if r.point is None)
    at_40 = SweepPoint("n_samples", 40)
    point = next(r for r in plan_runs(config) if r.point == at_40 and r.variant == base.variant and r.seed == base.seed)
    assert run_key(base, config) != run_key(point, config)
    d = config.data
    assert set(_data_key(d, 0)) == {"generator", "n_samples", "noise", "draw", "validation_fraction"}  # the keys of before


def test_a_csv_file_is_in_the_cache_key(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    config = tiny_config(data={"path": str(csv), "label": "y", "n_samples": None, "test_samples": None})
    run = plan_runs(config)[0]
    before = run_key(run, config)
    csv.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{(i + 1) % 2}\n" for i in range(40)))
    assert run_key(run, config) != before


def _slope_study(slopes: dict[str, float]):
    """A hand-made analysis whose data_runs hold, per replicate, test-accuracy differences with known slopes."""
    config = tiny_config(
        variants=[{"name": "baseline"}, {"name": "l2", "l2": 0.001}, {"name": "drop", "dropout": 0.2}],
        sweeps={"l1": [], "l2": [], "n_samples": [100, 200, 400]},
    )
    analysis = hand_made({}, config)
    rng = np.random.default_rng(3)
    rows = []
    for seed in range(REPS):
        for n_train in (24, 48, 96, 192):
            base = 0.8 + rng.normal(0, 0.01)
            for variant, slope in (("baseline", 0.0), *slopes.items()):
                diff = slope * np.log2(n_train) + rng.normal(0, 0.002) if variant != "baseline" else 0.0
                rows.append(
                    {
                        "variant": variant,
                        "seed": seed,
                        "axis": "n_samples",
                        "setting": n_train * 1.25,
                        "n_train": n_train,
                        "test_accuracy": base + diff,
                        "gap": 0.1 - diff,
                    }
                )
    from dataclasses import replace

    return replace(analysis, data_runs=pd.DataFrame(rows)), config


def test_benefit_slope_measures_the_change_per_doubling():
    analysis, _ = _slope_study({"l2": -0.02, "drop": 0.0})
    slopes = benefit_slopes(analysis, "l2")
    assert len(slopes) == REPS and slopes.mean() == pytest.approx(-0.02, abs=0.002)
    assert benefit_slopes(analysis, "l2", "gap").mean() == pytest.approx(0.02, abs=0.002)


def test_the_scarce_data_claim_joins_the_primary_family_and_is_judged():
    analysis, config = _slope_study({"l2": -0.02, "drop": 0.0})
    verdicts = evaluate_claims(analysis)
    scarce = {c.variant: c for c in verdicts.claims if c.definition.key == "scarce_data"}
    assert set(scarce) == {"l2", "drop"}
    assert scarce["l2"].verdict == "supported" and scarce["drop"].verdict == "no meaningful effect"
    assert scarce["l2"].primary.family_size == verdicts.family_sizes()[0]  # one Holm family with the other claims
    assert "per doubling of the training set, l2: -2.0 pp on average" in scarce["l2"].primary.sentence
    without = evaluate_claims(hand_made({}, config))  # no data sweep measured: no such claim
    assert not [c for c in without.claims if c.definition.key == "scarce_data"]


def test_init_writes_the_new_keys_with_their_descriptions():
    text = commented_study()
    for key in (
        'kind = "moons"',
        '# path = "data.csv"',
        "# label = ",
        "# features = ",
        "# delimiter = ",
        "# n_features = 20",
        "# n_classes = 3",
        "# test_fraction = 0.2",
        "n_samples = []",
        "noise = []",
    ):
        assert key in text, key
    assert "at most 30, each 10 to 100,000" in text and "2 to 1,000" in text and "2 to 20" in text
