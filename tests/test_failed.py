"""Training that failed quietly: runs that diverged, ended no better than they started, or predict one class are
marked, named with their reasons, and left out of every interval, verdict and sweep choice."""

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

from reportgen.analysis import analyse, failure_lines, failure_reasons, per_replicate, sweep_choices
from reportgen.cli import main
from tests.conftest import tiny_config, tiny_raw, write_study

TWO_CLASSES = np.array([True, False, True])


def test_the_rule_names_every_reason_a_run_failed():
    assert failure_reasons(None, 0.70, 0.30, TWO_CLASSES) == []
    assert failure_reasons(3, 0.70, 0.30, TWO_CLASSES) == ["diverged"]
    assert failure_reasons(None, 0.70, 0.70, TWO_CLASSES) == ["no_progress"]  # no lower is no better
    assert failure_reasons(None, 0.70, float("nan"), TWO_CLASSES) == ["no_progress"]
    assert failure_reasons(1, 0.70, 1e9, np.ones(3, bool)) == ["diverged", "no_progress", "one_class"]
    # a network crushed by its penalty onto the class prior: a little better than at the start, and useless
    assert failure_reasons(None, 0.70, 0.693, np.zeros(5, np.uint8)) == ["one_class"]
    assert failure_reasons(None, 0.70, 0.50, np.array([0, 2, 2], np.uint8)) == []  # two of three classes is not one
    assert failure_reasons(None, None, 5.0, TWO_CLASSES) == []  # no loss at initialization: not judged by it


def test_a_strength_at_which_some_runs_failed_is_not_chosen_on_its_survivors():
    """L2 0.1's surviving replicates have the lowest mean validation loss; one failed, so 0.01 is chosen."""
    from tests.handmade import REPS, hand_made

    variants = [{"name": "baseline"}, {"name": "l2a", "l2": 0.01}, {"name": "l2b", "l2": 0.1}]
    config = tiny_config(variants=variants, sweeps={"l1": [], "l2": [0.01, 0.1], "dropout": []})
    survivors = np.full(REPS, 0.30)
    survivors[2] = np.nan  # replicate 2's run failed: its metrics are NaN
    analysis = hand_made({"l2a": {"val_loss": np.full(REPS, 0.35)}, "l2b": {"val_loss": survivors}}, config)
    choice = sweep_choices(analysis)["l2"]
    assert (choice.strength, choice.n_strengths, choice.tied) == (0.01, 2, (0.01,))


@pytest.fixture(scope="module")
def partly_failed():
    """The tiny study's runs, trained by the fake trainer (tests/fake_training.py: these tests are about what the
    analysis does with failed runs, not about learning), and three ways of failing put in by hand: a run of l1 marked
    diverged, a run of l1+drop whose kernels are all zero (one class everywhere), a baseline run whose start is said to
    be a loss of 0.01 (it then ends no better than it started). The fake trainer's start of the crushed run has a loss
    (0.68) below that of its one-class predictions, which a trained start (Keras' draw) did not: it is said to have
    started at 1.0, so that it fails for its one class alone, as the trained run did."""
    from reportgen.data import make_datasets
    from reportgen.plan import plan_runs
    from tests.fake_training import fake_run

    config = tiny_config()
    runs = plan_runs(config)
    data = make_datasets(config.data, {r.data_key for r in runs})
    results = [fake_run(r, data[r.data_key], config) for r in runs]
    by_key = {r.run.key: r for r in results}
    crushed = by_key["l1+drop <i>/seed1"]
    broken = {
        "l1/seed0": dataclasses.replace(by_key["l1/seed0"], diverged_at=4),
        "l1+drop <i>/seed1": dataclasses.replace(
            crushed, weights=[w * 0 if w.ndim == 2 else w for w in crushed.weights], initial_loss=1.0
        ),
        "baseline/seed1": dataclasses.replace(by_key["baseline/seed1"], initial_loss=0.01),
    }
    return analyse(results, data, config), analyse([broken.get(r.run.key, r) for r in results], data, config)


def test_failed_runs_are_marked_with_their_reasons_and_named_by_variant(partly_failed):
    _, failed = partly_failed
    assert failed.failed == [
        ("baseline/seed1", ["no_progress"], None),
        ("l1/seed0", ["diverged"], 4),
        ("l1+drop <i>/seed1", ["one_class"], None),
    ]
    assert failure_lines(failed) == [
        "baseline: 1 of 2 replicates (seed 1): training loss no lower than at initialization (1)",
        "l1: 1 of 2 replicates (seed 0): diverged (1, epoch 4)",
        "l1+drop <i>: 1 of 2 replicates (seed 1): one class on all test points (1)",
    ]
    runs = failed.runs.set_index("key")
    assert runs.loc["baseline/seed0", "failed"] == [] and math.isfinite(runs.loc["baseline/seed0", "initial_loss"])


def test_failed_runs_are_left_out_of_every_interval_and_the_others_are_untouched(partly_failed):
    whole, failed = partly_failed
    for variant, seed in (("baseline", 1), ("l1", 0), ("l1+drop <i>", 1)):
        kept = per_replicate(failed, variant, "test_accuracy")
        assert math.isnan(kept[seed]) and kept.drop(seed).equals(per_replicate(whole, variant, "test_accuracy").drop(seed))
        s = failed.summary
        row = s[(s["variant"] == variant) & (s["metric"] == "test_accuracy")].iloc[0]
        assert row["n"] == 1 and row["mean"] == pytest.approx(kept.drop(seed).iloc[0])
        assert np.isnan(failed.histories[variant]["val_loss"][seed]).all()  # not in the loss bands either
        assert failed.boundaries[variant].seeds == [s for s in (0, 1) if s != seed]
    paired = failed.paired[(failed.paired["variant"] == "l1") & (failed.paired["metric"] == "test_accuracy")]
    assert paired.empty or paired["n"].iloc[0] == 0  # l1 lost replicate 0, the baseline replicate 1: no pair is left
    drop = failed.paired[(failed.paired["variant"] == "l1+drop <i>") & (failed.paired["metric"] == "test_accuracy")].iloc[0]
    a, b = per_replicate(failed, "l1+drop <i>", "test_accuracy"), per_replicate(failed, "baseline", "test_accuracy")
    assert drop["n"] == 1 and drop["mean"] == pytest.approx(a[0] - b[0])  # both lost replicate 1: replicate 0 pairs


def test_the_observations_count_and_name_the_variants_failed_runs_not_a_sweeps(partly_failed):
    """A strength too strong to train is named in the sweeps section: the observation about failed runs counts and names
    the variants' (it once counted a sweep's too, naming none of them: '2 runs failed …: .')."""
    from reportgen.claims import evaluate_claims, observations
    from reportgen.claims.observations import Seen

    clean, failed = partly_failed
    sweep_key = next(key for key in clean.runs["key"] if clean.sweep_run(key))
    runs = clean.runs.copy()
    runs.loc[runs["key"] == sweep_key, "failed"] = pd.Series([["one_class"]], index=runs.index[runs["key"] == sweep_key])
    only_sweep = dataclasses.replace(clean, runs=runs, failed=[(sweep_key, ["one_class"], None)])
    both = dataclasses.replace(failed, failed=[*failed.failed, (sweep_key, ["one_class"], None)])

    def said(analysis) -> list[str]:
        return [o.text for o in observations(analysis, evaluate_claims(analysis)) if o.kind == Seen.FAILED]

    assert said(only_sweep) == [] and failure_lines(only_sweep) == [] and failure_lines(only_sweep, sweeps=True)
    [text] = said(both)
    assert text.startswith("3 runs failed and are left out of every interval and verdict: baseline: 1 of 2"), text
    assert text.endswith("one class on all test points (1).") and ": ." not in text
    assert failure_lines(both, sweeps=True)[0] not in text


@pytest.mark.slow
def test_an_absurd_learning_rate_fails_every_run_and_the_build_says_why(tmp_path, capsys, monkeypatch):
    """Adam at 300 takes the training loss from about 0.7 before the first step to 1e10 within the first epoch: judged
    against the first epoch's loss (as before), none diverged and the report gave ordinary verdicts. (This machine's
    matmul peak, which the plan line's estimate measures without a cache, is taken as known; the figures are drawn,
    with their captions, but not rendered.)"""
    from tests.conftest import blank_pixels

    monkeypatch.setattr("reportgen.pace.matmul_peak", lambda: 100e9)
    monkeypatch.setattr("reportgen.pace.memory_bandwidth", lambda: 20e9)
    raw = tiny_raw(
        output={"dir": "out"}, model={"learning_rate": 300.0}, training={"epochs": 5, "seeds": [0, 1], "batch_size": 16}
    )
    study = write_study(tmp_path / "study.toml", raw)
    with blank_pixels(monkeypatch):
        assert main(["build", "--config", str(study), "--quiet", "--no-cache", "--format", "html", "--fail-on", "diverged"]) == 1
    assert "reportgen: --fail-on diverged: 8 run(s) failed: baseline/seed0 (diverged" in capsys.readouterr().err
    out = tmp_path / "out"
    doc = json.loads((out / "results.json").read_text())
    for run in doc["runs"]:
        assert 0.5 < run["initial_loss"] < 1.0 and run["diverged_at"] == 1 and run["failed"][:2] == ["diverged", "no_progress"]
        assert run["test_accuracy"] is None and run["prunable"] is None and run["history"]["train_loss"][0] > 1e6
    assert [f["run"] for f in doc["failed"]] == [r["key"] for r in doc["runs"]] and set(doc["failure_reasons"]) >= {"diverged"}
    assert all(row["n"] == 0 for row in doc["summary"])
    assert {c["verdict"] for c in doc["claims"]} == {"inconclusive"}
    html = (out / "report.html").read_text()
    assert "<strong>6 runs failed</strong>" in html  # the variants' runs; the sweep point's are named in its section
    assert (
        "l1=0.01: 2 of 2 replicates (seeds 0, 1): diverged (2, epoch 1), training loss no lower than at initialization (2)"
        in html
    )
    assert "**Warning: 6 runs failed**" in (out / "summary.md").read_text()
