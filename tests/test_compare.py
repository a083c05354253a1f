"""`reportgen compare` on hand-made results.json documents (no training): verdicts, noise, studies, the command line."""

import copy
import gc
import json
import os
import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

import reportgen.compare  # noqa: F401  (reportgen.compare is then the API's function; the module is in sys.modules)
from reportgen.cli import FAIL_CONDITIONS, main
from reportgen.compare import (
    change_groups,
    changed_verdicts,
    changes_json,
    choice_texts,
    regressions,
    render_markdown,
)
from reportgen.schema import Results

comparing = sys.modules["reportgen.compare"]
SEEDS = list(range(8))
WIGGLE = np.array([1, -1] * 4, float)  # mean exactly zero: a shift smaller than the wiggle stays within noise
BASE = {"test_accuracy": 0.90, "gap": 0.05, "test_loss": 0.30, "boundary_length": 4.0, "val_roughness": 0.1, "prunable": 0.6}
VARIANTS = {"baseline": {}, "l1": {"l1": 0.001}, "dropout": {"dropout": 0.2}}
CLAIMS = {
    "overfits:baseline": ("baseline", "gap"),
    "less_overfitting:l1": ("l1", "gap"),
    "less_overfitting:dropout": ("dropout", "gap"),
    "better_generalization:l1": ("l1", "test_accuracy"),
}


def _variant(name: str, **settings) -> dict:
    return {
        "name": name,
        "label": "",
        "l1": 0.0,
        "l2": 0.0,
        "dropout": 0.0,
        "batchnorm": False,
        "early_stopping": None,
        **settings,
    }


def _claim(key: str, verdict: str, seeds, contrasts=None, metric=None, variant=None) -> dict:
    """A claim whose primary effect is the mean of its per-replicate contrasts (None: a results.json made before
    they were recorded, effect -0.02)."""
    variant, metric = (variant, metric) if metric else CLAIMS[key]
    effect = float(np.mean(contrasts)) if contrasts is not None and len(contrasts) else -0.02
    primary = {
        "metric": metric,
        "effect": {"mean": effect, "ci_low": effect - 0.01, "ci_high": effect + 0.01, "n": len(seeds), "kind": "difference"},
    }
    if contrasts is not None:
        primary["per_replicate"] = {"seeds": list(seeds)[: len(contrasts)], "values": [float(x) for x in contrasts]}
    return {
        "key": key,
        "claim": f"{variant} claim {key.split(':')[0]}.",
        "variant": variant,
        "reference": "baseline",
        "verdict": verdict,
        "primary": primary,
    }


def _contrasts(runs: list[dict], key: str) -> list[float]:
    """A claim's per-replicate contrasts from the runs: variant − baseline per seed (overfits: the value itself)."""
    variant, metric = CLAIMS[key]
    of = lambda name: {r["seed"]: r[metric] for r in runs if r["variant"] == name}  # noqa: E731
    v, b = of(variant), of("baseline")
    return [v[s] - (0.0 if variant == "baseline" else b[s]) for s in sorted(v)]


def results(
    seeds=SEEDS, shift=None, verdicts=None, variants=None, noise=0.25, rng_seed=0, scale=0.01, per_replicate=True
) -> dict:
    """A results.json document: per-replicate metrics are BASE plus independent per-variant noise (sd: scale × the
    value), plus shift[(variant, metric)] (a number, or one number per replicate); claims carry the contrasts of these
    runs (per_replicate False: none, as a results.json made before they were recorded)."""
    variants = VARIANTS if variants is None else variants
    rng = np.random.default_rng(rng_seed)
    spread = {(n, m): rng.normal(0, scale * abs(v), len(seeds)) for n in variants for m, v in BASE.items()}
    moved = {k: np.broadcast_to(np.asarray(v, float), len(seeds)) for k, v in (shift or {}).items()}
    runs = [
        {
            "variant": name,
            "seed": s,
            "init": 0,
            "key": f"{name}/seed{s}",
            "diverged_at": None,
            **{m: float(BASE[m] + spread[(name, m)][i] + moved.get((name, m), np.zeros(len(seeds)))[i]) for m in BASE},
        }
        for name in variants
        for i, s in enumerate(seeds)
    ]
    claims = {k: "inconclusive" for k, (v, _) in CLAIMS.items() if v in variants} | (verdicts or {})
    return {
        "reportgen": "0.1.0",
        "study": {
            "title": "hand-made",
            "data": {
                "n_samples": 200,
                "noise": noise,
                "seed": 42,
                "resample": True,
                "validation_fraction": 0.2,
                "test_samples": 500,
            },
            "model": {"hidden_units": [64, 64], "learning_rate": 0.01},
            "training": {"epochs": 100, "batch_size": 32, "shuffle": True, "seeds": list(seeds), "engine": "fast"},
            "variants": [_variant(n, **s) for n, s in variants.items()],
            "sweeps": {"l1": [], "l2": [], "dropout": []},
            "analysis": {"confidence": 0.95},
            "output": {"dir": "/home/someone/out", "formats": ["html"]},
        },
        "design": {
            "replicates": len(seeds),
            "seeds": list(seeds),
            "resample_data": True,
            "test_sets": {str(s): {"draw_seed": 1000 + s, "labels": "AAAA"} for s in seeds},
        },
        "confidence": 0.95,
        "claims": [_claim(k, v, seeds, _contrasts(runs, k) if per_replicate else None) for k, v in claims.items()],
        "runs": runs,
    }


def read(doc: dict) -> Results:
    """A hand-made document as `compare` reads results.json: as JSON text, validated against the schema."""
    return Results.model_validate_json(json.dumps(doc), strict=True)


def compare(old: dict, new: dict, **names) -> comparing.Changes:
    """Compare two hand-made documents as `reportgen compare` compares two results.json files."""
    return comparing.compare(read(old), read(new), **names)


def _gate(changes, condition: str = "changed") -> str | None:
    """What `reportgen build --fail-on CONDITION` says of these changes (None: the condition does not hold)."""
    return FAIL_CONDITIONS[condition](SimpleNamespace(changes=changes))


def _doc_claim(doc: dict, key: str) -> dict:
    return next(c for c in doc["claims"] if c["key"] == key)


def _values(doc: dict, key: str) -> np.ndarray:
    """A claim's per-replicate contrasts as results.json has them."""
    return np.array(_doc_claim(doc, key)["primary"]["per_replicate"]["values"])


def _paired_p(d) -> float:
    """The two-sided paired t-test p of differences d, recomputed with scipy (constant differences: 0, or 1 at zero)."""
    d = np.asarray(d, float)
    if np.ptp(d) == 0:
        return 0.0 if d[0] else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant shift up to rounding: 'nearly identical data', p ≈ 0 all the same
        return float(stats.ttest_1samp(d, 0.0).pvalue)


def _pp(v: float) -> str:
    return f"{v * 100:+.1f} pp"


def test_training_noise_that_flips_a_borderline_verdict_passes_the_gate():
    # the same study twice: l1 lowers the gap by 0.5 pp in both, each build with its own per-replicate training noise
    # (in about one pair of such builds in ten, some effect or metric crosses by chance: two Holm families at 5% each;
    # this pair is one where nothing does, and the next test checks the rate)
    shift = {("l1", "gap"): -0.005}
    old = results(scale=0.1, shift=shift, rng_seed=2)
    new = results(scale=0.1, shift=shift, rng_seed=3, verdicts={"less_overfitting:l1": "supported"})
    changes = compare(old, new, old_name="main")
    # recomputed from the documents: a paired t-test of now − was over the shared replicates, Holm over the 4 claims
    ps = [_paired_p(_values(new, k) - _values(old, k)) for k in CLAIMS]
    holm = multipletests(ps, method="holm")[1]
    (c,) = changes.borderline
    assert c.key == "less_overfitting:l1" and c.old == "inconclusive" and c.new == "supported"
    assert c.shift.p == pytest.approx(ps[1]) and c.p_adjusted == pytest.approx(holm[1]) and c.p_adjusted >= 0.05
    assert changed_verdicts(changes) == [] and _gate(changes) is None and not changes.meaningful
    assert changes.metrics == () and _gate(changes, "regressed") is None
    d = _values(new, c.key) - _values(old, c.key)
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    row = (
        f"| l1 claim less\\_overfitting. (`less_overfitting:l1`) | inconclusive | **supported** | "
        f"{_pp(_values(old, c.key).mean())} → {_pp(_values(new, c.key).mean())} | {_pp(d.mean())}, 95% CI {_pp(low)} to "
        f"{_pp(high)}; p {ps[1]:.3g}, Holm-adjusted {holm[1]:.3g} |"
    )
    md = render_markdown(changes)
    assert "**Borderline changes** (the verdict changed but the effect did not move beyond noise" in md and row in md
    assert "No meaningful change: no verdict of the 4 claims changed beyond noise (1 changed within noise" in md
    assert (
        "*Beyond noise means a Holm-adjusted p below 0.05 for now − was: a paired t-test over the 8 replicates both "
        "builds share, Holm over the 4 claims compared (each claim's per-replicate primary contrasts) and separately over "
        "the 18 metric comparisons (per variant and metric); the 95% intervals shown are unadjusted.*"
    ) in md
    assert "Verdicts that changed" not in md
    groups = dict(change_groups(changes))
    (line,) = [g for h, g in groups.items() if h.startswith("Borderline changes")][0]
    assert line.startswith("l1 claim less_overfitting. (less_overfitting:l1): inconclusive → supported; effect ")


def test_builds_that_differ_only_in_noise_fail_the_gate_at_most_at_the_stated_rate():
    """Every verdict label flipped: the gate then fails exactly when some claim's effect moved beyond noise, which
    under training noise alone is Holm's family-wise error, at most 5% (binomial(200, 0.05): mean 10, sd 3.1)."""
    flipped = {k: "supported" for k in CLAIMS}
    gc.freeze()  # statsmodels' Holm calls gc.collect, which would walk the test session's objects 400 times
    try:
        fails = [
            _gate(compare(results(scale=0.1, rng_seed=2 * i), results(scale=0.1, rng_seed=2 * i + 1, verdicts=flipped)))
            is not None
            for i in range(200)
        ]
    finally:
        gc.unfreeze()
    assert 1 <= sum(fails) <= 20  # never failing would be a gate that cannot fail


def test_a_really_changed_setting_fails_the_gate():
    # l1 0.001 → 0.01: its gap falls by 3.5 pp more, far beyond the builds' noise, and its verdict changed
    old = results(scale=0.1, shift={("l1", "gap"): -0.005})
    new = results(
        scale=0.1,
        rng_seed=1,
        variants={**VARIANTS, "l1": {"l1": 0.01}},
        shift={("l1", "gap"): -0.04},
        verdicts={"less_overfitting:l1": "supported"},
    )
    changes = compare(old, new, old_name="main")
    ps = [_paired_p(_values(new, k) - _values(old, k)) for k in CLAIMS]
    holm = multipletests(ps, method="holm")[1]
    (c,) = changes.verdicts
    assert c.key == "less_overfitting:l1" and c.status == "changed" and c.p_adjusted == pytest.approx(holm[1]) and holm[1] < 0.05
    line = _gate(changes)
    assert line.startswith(
        f"1 verdict(s) changed: less_overfitting:l1: inconclusive → supported (effect "
        f"{_pp(_values(old, c.key).mean())} → {_pp(_values(new, c.key).mean())}, moved beyond noise: "
    )
    assert f"Holm-adjusted {holm[1]:.3g})" in line or "Holm-adjusted < 0.001)" in line
    assert changes.scope.variants == ("baseline", "dropout")  # l1's metrics measure another setting now: not compared
    md = render_markdown(changes)
    assert "**Changed variants**" in md and "- `variants.l1.l1`: 0.001 → 0.01" in md
    assert "**Verdicts that changed** (the effect moved beyond noise, or could not be compared)" in md
    assert "| l1 claim less\\_overfitting. (`less_overfitting:l1`) | inconclusive | **supported** |" in md


def test_an_effect_that_moved_with_the_same_verdict_is_listed_and_does_not_fail():
    new = results(shift={("l1", "test_accuracy"): 0.05}, verdicts={"better_generalization:l1": "inconclusive"})
    changes = compare(results(), new)
    (c,) = changes.having("moved")
    assert c.key == "better_generalization:l1" and c.beyond_noise and changes.meaningful and _gate(changes) is None
    assert "**Effects that moved beyond noise** (with the same verdict)" in render_markdown(changes)


def test_other_replicates_are_compared_with_welch():
    old = results(scale=0.1)
    new = results(
        seeds=list(range(10, 20)),
        rng_seed=1,
        scale=0.1,
        shift={("l1", "gap"): 0.05},
        verdicts={"less_overfitting:l1": "contradicted", "less_overfitting:dropout": "supported"},
    )
    changes = compare(old, new)
    ps = [stats.ttest_ind(_values(new, k), _values(old, k), equal_var=False).pvalue for k in CLAIMS]
    holm = multipletests(ps, method="holm")[1]
    by = {c.key: c for c in changes.claims}
    assert [by[k].shift.p for k in CLAIMS] == pytest.approx(ps) and [by[k].p_adjusted for k in CLAIMS] == pytest.approx(holm)
    assert by["less_overfitting:l1"].status == "changed" and by["less_overfitting:dropout"].status == "borderline"
    ci = stats.ttest_ind(
        _values(new, "less_overfitting:l1"), _values(old, "less_overfitting:l1"), equal_var=False
    ).confidence_interval(0.95)
    assert (by["less_overfitting:l1"].shift.low, by["less_overfitting:l1"].shift.high) == pytest.approx((ci.low, ci.high))
    (gap,) = [m for m in changes.metrics if (m.variant, m.metric) == ("l1", "gap")]
    a, b = ([r["gap"] for r in d["runs"] if r["variant"] == "l1"] for d in (old, new))
    assert not gap.paired and gap.worse and gap.interval.p == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    md = render_markdown(changes)
    assert "Welch's t-test (the builds do not share their replicate seeds and data design)" in md and "`training.seeds`" in md


def test_builds_without_per_replicate_contrasts_compare_labels_and_say_so():
    old, new = results(per_replicate=False), results(verdicts={"less_overfitting:l1": "supported"})
    changes = compare(old, new, old_name="main")
    assert changes.scope.claims_compared == 0 and changes.borderline == ()
    why = "the old build's results.json has no per-replicate contrasts (it predates them)"
    assert changed_verdicts(changes) == [
        f"less_overfitting:l1: inconclusive → supported (cannot tell whether beyond noise: {why})"
    ]
    md = render_markdown(changes)
    assert f"| not compared: {why} |" in md
    assert (
        f"Claims' effects could not be compared: {why}. Their verdict labels are compared as they are, and a changed "
        "one, which cannot be told from noise, counts as changed."
    ) in md
    same = compare(old, results(per_replicate=False))
    assert not same.meaningful and "No meaningful change: the 4 claims have the same verdicts" in render_markdown(same)
    assert "no claim's effect" not in render_markdown(same) and "could not be compared" in render_markdown(same)


def test_a_verdict_whose_effect_has_no_contrasts_cannot_be_told_from_noise():
    old, new = results(), results()
    for doc, verdict in ((old, "inconclusive"), (new, "supported")):
        claim = _claim("init_dependence:l1", verdict, SEEDS, [], metric="test_accuracy", variant="l1")
        claim["primary"]["effect"]["kind"] = "ratio"  # variance ratios keep no per-replicate contrasts
        doc["claims"].append(claim)
    changes = compare(old, new)
    assert changes.scope.claims_compared == 4 and changes.scope.claims == 5
    assert changed_verdicts(changes) == [
        "init_dependence:l1: inconclusive → supported (cannot tell whether beyond noise: "
        "its primary measure keeps no per-replicate contrasts (a variance ratio))"
    ]


def test_a_changed_sweep_choice_or_matched_strength_is_reported_not_failed():
    old, new = results(), results()
    for doc, (l1, l2), verdict, prunable in ((old, (0.001, 0.1), "inconclusive", 0.0), (new, (0.003, 0.03), "supported", 0.2)):
        doc["sweep_choices"] = {
            "l1": {"strength": l1, "val_loss": 0.3, "n_strengths": 4},
            "l2": {"strength": l2, "val_loss": 0.3, "n_strengths": 4},
            "dropout": {"strength": 0.2, "val_loss": 0.3, "n_strengths": 4},
        }
        claim = _claim("l1_sparser_than_l2", verdict, SEEDS, prunable + 0.01 * WIGGLE, metric="prunable")
        doc["claims"].append({**claim, "matched": {"l1": l1, "l2": l2}})
    changes = compare(old, new)
    c = next(c for c in changes.claims if c.key == "l1_sparser_than_l2")
    assert c.beyond_noise and c.status == "choice"  # it moved, because it is measured at other strengths now
    assert changed_verdicts(changes) == [] and _gate(changes) is None
    assert choice_texts(changes) == [
        "L1 sweep choice 0.001 → 0.003",
        "L2 sweep choice 0.1 → 0.03",
        "l1_sparser_than_l2 matched strengths L1 0.001 and L2 0.1 → L1 0.003 and L2 0.03: its verdict inconclusive → "
        "supported follows the new strengths (effect +0.0 pp → +20.0 pp)",
    ]
    md = render_markdown(changes)
    assert "**Choices made on validation data that changed** (reported, not a failure)" in md
    assert "- L1 sweep choice 0.001 → 0.003" in md and "- `l1_sparser_than_l2` matched strengths L1 0.001" in md


def test_regressions_are_holm_adjusted_over_the_metric_comparisons():
    old = results()
    # l1's test accuracy falls far beyond noise; dropout's by 0.2 pp, whose raw p is below 0.05 but not after Holm
    new = results(
        shift={
            ("l1", "test_accuracy"): -0.05 + 0.002 * WIGGLE,
            ("dropout", "test_accuracy"): -0.002 + 0.002 * WIGGLE,
            ("baseline", "boundary_length"): 0.5,
        }
    )
    changes = compare(old, new)
    run = {(d, r["variant"], r["seed"]): r for d, doc in (("old", old), ("new", new)) for r in doc["runs"]}
    pairs = [(v, m) for v in VARIANTS for m in BASE]
    ps = [_paired_p([run[("new", v, s)][m] - run[("old", v, s)][m] for s in SEEDS]) for v, m in pairs]
    holm = dict(zip(pairs, multipletests(ps, method="holm")[1]))
    raw = dict(zip(pairs, ps))
    assert raw[("dropout", "test_accuracy")] < 0.05 <= holm[("dropout", "test_accuracy")]
    moved = {(m.variant, m.metric): m for m in changes.metrics}
    assert set(moved) == {k for k, p in holm.items() if p < 0.05} == {("l1", "test_accuracy"), ("baseline", "boundary_length")}
    l1 = moved[("l1", "test_accuracy")]
    d = np.array([run[("new", "l1", s)]["test_accuracy"] - run[("old", "l1", s)]["test_accuracy"] for s in SEEDS])
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert l1.paired and (l1.interval.low, l1.interval.high) == pytest.approx((low, high))
    assert l1.p_adjusted == pytest.approx(holm[("l1", "test_accuracy")])
    assert l1.worse and not moved[("baseline", "boundary_length")].worse  # a longer boundary is a change, not a regression
    line = (
        f"l1 test accuracy: {l1.old_mean:.1%} → {l1.new_mean:.1%} (-5.0 pp, 95% CI {_pp(low)} to {_pp(high)}; "
        f"p < 0.001, Holm-adjusted < 0.001)"
    )
    assert regressions(changes) == [line] and _gate(changes, "regressed") == f"1 metric(s) worse beyond noise: {line}"
    md = render_markdown(changes)
    assert f"| l1 | test accuracy | {l1.old_mean:.1%} | {l1.new_mean:.1%} | -5.0 pp, 95% CI" in md and "(worse)" in md
    assert "| dropout |" not in md and "separately over the 18 metric comparisons" in md


def test_different_studies_list_the_differing_settings_and_compare_no_numbers():
    old = results()
    variants = {**VARIANTS, "l1": {"l1": 0.01}}
    new = results(
        noise=0.35,
        variants=variants,
        shift={("l1", "test_accuracy"): -0.2},
        verdicts={"overfits:baseline": "supported", "less_overfitting:l1": "supported"},
    )
    changes = compare(old, new)
    assert not changes.same_study and changes.metrics == () and changes.scope.claims_compared == 0
    assert [(d.key, d.old, d.new) for d in changes.study] == [("data.noise", 0.25, 0.35), ("variants.l1.l1", 0.001, 0.01)]
    # l1's settings changed too: its claims are not listed; the others' effects cannot be compared
    assert changed_verdicts(changes) == [
        "overfits:baseline: inconclusive → supported (cannot tell whether beyond noise: "
        "the data, network or training settings differ)"
    ]
    md = render_markdown(changes)
    assert "**Different studies**" in md and "- `data.noise`: 0.25 → 0.35" in md and "- `variants.l1.l1`: 0.001 → 0.01" in md
    assert "output.dir" not in md and "No meaningful change" not in md and "Beyond noise means" not in md


def test_only_a_variant_changed_keeps_comparing_the_others():
    new = results(variants={**VARIANTS, "l1": {"l1": 0.01}}, shift={("l1", "test_accuracy"): -0.2, ("dropout", "gap"): 0.05})
    changes = compare(results(), new)
    assert {(m.variant, m.metric) for m in changes.metrics} == {("dropout", "gap")}
    assert changes.scope.claims_compared == 4  # claims about l1 are compared by their effects all the same


def test_an_unchanged_pair_says_no_meaningful_change():
    doc = results()
    changes = compare(doc, copy.deepcopy(doc))
    assert not changes.meaningful and changed_verdicts(changes) == [] and regressions(changes) == []
    assert all(c.shift.p == 1 and c.status == "same" for c in changes.claims)
    md = render_markdown(changes)
    assert (
        "No meaningful change: the 4 claims have the same verdicts, no variant or claim was added or removed, and no "
        "claim's effect and none of test accuracy, generalization gap, test loss, boundary length, validation-loss "
        "roughness, prunable share moved beyond noise for the 3 variants."
    ) in md
    assert "paired t-test over the 8 replicates both builds share" in md and "Borderline" not in md


def test_added_and_removed_variants_and_claims_are_listed():
    new = results(variants={"baseline": {}, "l1": {"l1": 0.001}, "l2": {"l2": 0.001}})
    changes = compare(results(), new)
    assert changes.variants_added == ("l2",) and changes.variants_removed == ("dropout",)
    assert changes.claims_removed == ("less_overfitting:dropout",) and changes.same_study
    md = render_markdown(changes)
    assert "- Variants added: `l2`" in md and "- Claims removed: `less_overfitting:dropout`" in md


def test_diverged_and_twin_runs_are_left_out():
    new = results()
    for r in new["runs"]:
        if r["variant"] == "l1" and r["seed"] < 2:
            r.update(test_accuracy=0.5, diverged_at=3)
    new["runs"].append({**new["runs"][0], "init": 1, "test_loss": 99.0})
    assert compare(results(), new).metrics == ()


def test_json_output_is_strict_and_carries_the_gate_lines():
    new = results(verdicts={"less_overfitting:l1": "contradicted"})
    changes = compare(results(per_replicate=False), new)  # effects not compared: NaN p-values
    doc = json.loads(json.dumps(changes_json(changes)), parse_constant=lambda c: pytest.fail(f"non-standard JSON: {c}"))
    assert doc["changed_verdicts"] == changed_verdicts(changes) and doc["changed_verdicts"][0].startswith(
        "less_overfitting:l1: inconclusive → contradicted (cannot tell"
    )
    assert doc["meaningful"] and doc["same_study"] and doc["scope"]["paired"] and doc["claims"][1]["p_adjusted"] is None
    doc = changes_json(compare(results(), new))
    assert doc["borderline_changes"] == ["less_overfitting:l1"] and doc["changed_verdicts"] == [] and not doc["meaningful"]
    assert [c["status"] for c in doc["claims"]] == ["same", "borderline", "same", "same"]
    assert doc["method"].startswith("Beyond noise means a Holm-adjusted p below 0.05 for now − was: a paired t-test")


# ---- the command line ---------------------------------------------------------------------------------------------


def _write(folder, doc) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    return str(folder)


def test_cli_prints_markdown_or_json_and_exits_0(tmp_path, capsys):
    old = _write(tmp_path / "old", results())
    new = _write(tmp_path / "new", results(verdicts={"less_overfitting:l1": "supported"}))
    assert main(["compare", old, str(tmp_path / "new" / "results.json")]) == 0
    out = capsys.readouterr().out
    assert "**Borderline changes**" in out and "`less_overfitting:l1`" in out
    assert main(["compare", old, new, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["borderline_changes"] == ["less_overfitting:l1"]


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda p: p, "bad: not found"),
        (lambda p: (p.mkdir(), p)[1], "results.json: not found"),
        (lambda p: (p.write_text("{not json"), p)[1], "not valid JSON"),
        (lambda p: (p.write_text('{"title": "x"}'), p)[1], "not a reportgen results.json: key 'reportgen' is missing"),
        (
            lambda p: (p.write_text(json.dumps({**results(), "runs": [{"variant": "l1", "seed": "x", "gap": 0.1}]})), p)[1],
            "not a reportgen results.json: key 'runs.0.seed': Input should be a valid integer",
        ),
    ],
)
def test_cli_bad_input_is_one_line_naming_the_path_and_exit_2(tmp_path, capsys, make, needle):
    good = _write(tmp_path / "good", results())
    bad = make(tmp_path / "bad")
    assert main(["compare", good, str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("reportgen: error: ") and str(bad) in err and needle in err


def test_cli_compare_imports_no_tensorflow(tmp_path):
    a, b = _write(tmp_path / "a", results()), _write(tmp_path / "b", results())
    code = (
        "import sys; from reportgen.cli import main; rc = main(['compare', sys.argv[1], sys.argv[2]]); "
        "heavy = [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules]; "
        "sys.exit(f'imported {heavy}' if heavy else rc)"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-c", code, a, b], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "No meaningful change" in proc.stdout


def test_results_json_records_sweep_choices_and_matched_strengths_as_fields():
    from reportgen.analysis import matched_l1_l2, sweep_choices
    from reportgen.claims import evaluate_claims
    from reportgen.compare import parse_build
    from reportgen.results import claim
    from reportgen.results import sweep_choices as choices
    from tests.test_report import hand_made_study

    config, analysis, _ = hand_made_study()
    chosen, matched = sweep_choices(analysis), matched_l1_l2(analysis)
    assert set(chosen) == {"l1", "l2"} and matched is not None
    doc = {
        **results(),
        "sweep_choices": {k: c.model_dump(mode="json") for k, c in choices(analysis).items()},
        "claims": [claim(c).model_dump(mode="json") for c in evaluate_claims(analysis).claims],
    }
    assert doc["sweep_choices"] == {
        k: {
            "strength": c.strength,
            "val_loss": c.val_loss,
            "n_strengths": c.n_strengths,
            "lowest": c.lowest,
            "tied": list(c.tied),
        }
        for k, c in chosen.items()
    }
    assert {c["key"]: c["matched"] for c in doc["claims"] if "matched" in c} == {
        "l1_sparser_than_l2": {"l1": matched.l1.strength, "l2": matched.l2_strength}
    }
    build = parse_build(read(doc))  # what a comparison reads back
    assert build.choices == {k: c.strength for k, c in chosen.items()}
    assert build.claims["l1_sparser_than_l2"].matched == {"l1": matched.l1.strength, "l2": matched.l2_strength}


def test_cli_compare_applies_the_gates(tmp_path, capsys):
    """`reportgen compare OLD NEW --fail-on changed` is the build's gate for two builds already made."""
    shift = {("l1", "gap"): -0.005}
    old = _write(tmp_path / "old", results(scale=0.1, shift=shift, rng_seed=2))
    noise = _write(tmp_path / "noise", results(scale=0.1, shift=shift, rng_seed=3, verdicts={"less_overfitting:l1": "supported"}))
    real = _write(
        tmp_path / "real",
        results(
            scale=0.1,
            rng_seed=1,
            variants={**VARIANTS, "l1": {"l1": 0.01}},
            shift={("l1", "gap"): -0.04},
            verdicts={"less_overfitting:l1": "supported"},
        ),
    )
    assert main(["compare", old, noise, "--fail-on", "changed,regressed"]) == 0
    assert "Borderline changes" in capsys.readouterr().out
    assert main(["compare", old, real, "--fail-on", "changed"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("reportgen: --fail-on changed: 1 verdict(s) changed: less_overfitting:l1")
    assert main(["compare", old, real, "--fail-on", "diverged"]) == 2  # a build's condition, not a comparison's
    assert "a condition of a build" in capsys.readouterr().err


def test_an_adaptive_design_with_other_replicates_is_the_same_study():
    """Two builds of an adaptive design numbered from other first seeds (disjoint replicates) measure the same study:
    their effects are compared (Welch), not refused as different studies."""
    old, new = results(), results(seeds=[s + 100 for s in SEEDS], rng_seed=5)
    old["study"]["training"]["budget"] = {"min": 4, "max": 8, "step": 2, "first": 0}
    new["study"]["training"]["budget"] = {"min": 4, "max": 8, "step": 2, "first": 100}
    changes = compare(old, new)
    assert changes.same_study and not changes.scope.paired and changes.scope.claims_compared == 4
    assert [d.key for d in changes.other_settings] == ["training.budget.first", "training.seeds"]
