"""`reportgen compare` on hand-made results.json documents (no training): verdicts, noise, studies, the command line."""

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from reportgen.cli import main
from reportgen.compare import changed_verdicts, changes_json, compare, regressions, render_markdown

SEEDS = list(range(8))
WIGGLE = np.array([1, -1] * 4, float)  # mean exactly zero: a shift smaller than the wiggle stays within noise
BASE = {"test_accuracy": 0.90, "gap": 0.05, "test_loss": 0.30, "boundary_length": 4.0, "val_roughness": 0.1, "prunable": 0.6}
VARIANTS = {"baseline": {}, "l1": {"l1": 0.001}, "dropout": {"dropout": 0.2}}
CLAIMS = {"overfits:baseline": ("baseline", "gap"), "less_overfitting:l1": ("l1", "gap"),
          "less_overfitting:dropout": ("dropout", "gap"), "better_generalization:l1": ("l1", "test_accuracy")}


def _variant(name: str, **settings) -> dict:
    return {"name": name, "label": "", "l1": 0.0, "l2": 0.0, "dropout": 0.0, "batchnorm": False, "early_stopping": None,
            **settings}


def _claim(key: str, verdict: str, effect: float = -0.02) -> dict:
    variant, metric = CLAIMS[key]
    return {"key": key, "claim": f"{variant} claim {key.split(':')[0]}.", "variant": variant, "reference": "baseline",
            "verdict": verdict, "primary": {"metric": metric, "effect": {"mean": effect, "ci_low": effect - 0.01,
                                                                         "ci_high": effect + 0.01, "n": 8, "kind": "difference"}}}


def results(seeds=SEEDS, shift=None, verdicts=None, variants=None, noise=0.25, rng_seed=0) -> dict:
    """A results.json document: per-replicate metrics are BASE plus a fixed per-seed spread, plus shift[(variant, metric)]
    (a number, or one number per replicate)."""
    variants = VARIANTS if variants is None else variants
    rng = np.random.default_rng(rng_seed)
    spread = {m: rng.normal(0, 0.01 * abs(v), len(seeds)) for m, v in BASE.items()}
    moved = {k: np.broadcast_to(np.asarray(v, float), len(seeds)) for k, v in (shift or {}).items()}
    runs = [{"variant": name, "seed": s, "init": 0, "key": f"{name}/seed{s}", "diverged_at": None,
             **{m: float(BASE[m] + spread[m][i] + moved.get((name, m), np.zeros(len(seeds)))[i]) for m in BASE}}
            for name in variants for i, s in enumerate(seeds)]
    claims = {k: "inconclusive" for k, (v, _) in CLAIMS.items() if v in variants} | (verdicts or {})
    return {
        "reportgen": "0.1.0",
        "study": {"title": "hand-made", "data": {"n_samples": 200, "noise": noise, "seed": 42, "resample": True,
                                                 "validation_fraction": 0.2, "test_samples": 500},
                  "model": {"hidden_units": [64, 64], "learning_rate": 0.01},
                  "training": {"epochs": 100, "batch_size": 32, "shuffle": True, "seeds": list(seeds), "engine": "fast"},
                  "variants": [_variant(n, **s) for n, s in variants.items()],
                  "sweeps": {"l1": [], "l2": [], "dropout": []},
                  "analysis": {"confidence": 0.95}, "output": {"dir": "/home/someone/out", "formats": ["html"]}},
        "design": {"replicates": len(seeds), "seeds": list(seeds), "resample_data": True,
                   "test_sets": {str(s): {"draw_seed": 1000 + s, "labels": "AAAA"} for s in seeds}},
        "confidence": 0.95,
        "claims": [_claim(k, v) for k, v in claims.items()],
        "runs": runs,
    }


def test_a_changed_verdict_is_named():
    old, new = results(), results(verdicts={"less_overfitting:l1": "supported"})
    changes = compare(old, new, old_name="main")
    assert changed_verdicts(changes) == ["less_overfitting:l1: inconclusive → supported"]
    md = render_markdown(changes)
    assert md.startswith("### Changes since main\n")
    assert "`less_overfitting:l1`" in md and "| inconclusive | **supported** |" in md
    assert "No meaningful change" not in md and "less_overfitting:dropout" not in md


def test_an_unchanged_pair_says_no_meaningful_change():
    doc = results()
    changes = compare(doc, copy.deepcopy(doc))
    assert not changes.meaningful and changed_verdicts(changes) == [] and regressions(changes) == []
    md = render_markdown(changes)
    assert "No meaningful change: the 4 claims have the same verdicts" in md
    assert "for the 3 variants (95% intervals spread over 18 comparisons, paired over 8 replicates)" in md


def test_a_large_shift_is_reported_with_its_interval_and_a_small_one_is_not():
    old = results()
    new = results(shift={("l1", "test_accuracy"): -0.05 + 0.002 * WIGGLE, ("dropout", "test_accuracy"): 0.0005 + 0.002 * WIGGLE,
                         ("baseline", "boundary_length"): 0.5})
    changes = compare(old, new)
    moved = {(m.variant, m.metric): m for m in changes.metrics}
    assert set(moved) == {("l1", "test_accuracy"), ("baseline", "boundary_length")}
    l1 = moved[("l1", "test_accuracy")]
    d = np.array([n["test_accuracy"] - o["test_accuracy"] for o, n in zip(old["runs"], new["runs"]) if o["variant"] == "l1"])
    level = changes.scope.level  # 95% spread over every variant-metric comparison made (Bonferroni)
    assert level == pytest.approx(1 - 0.05 / changes.scope.comparisons) and changes.scope.comparisons >= 10
    low, high = stats.t.interval(level, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert l1.paired and l1.interval.low == pytest.approx(low) and l1.interval.high == pytest.approx(high)
    assert l1.worse and not moved[("baseline", "boundary_length")].worse  # a longer boundary is a change, not a regression
    line = (f"l1 test accuracy: {l1.old_mean:.1%} → {l1.new_mean:.1%} (-5.0 pp, {level * 100:.3g}% CI "
            f"{l1.interval.low * 100:+.1f} pp to {l1.interval.high * 100:+.1f} pp)")
    assert regressions(changes) == [line]
    md = render_markdown(changes)
    assert f"| l1 | test accuracy | {l1.old_mean:.1%} | {l1.new_mean:.1%} | -5.0 pp, {level * 100:.3g}% CI" in md and "(worse)" in md
    assert "| dropout |" not in md


def test_other_replicates_are_compared_unpaired_with_welch():
    old = results()
    new = results(seeds=list(range(10, 20)), rng_seed=1, shift={("l1", "gap"): 0.05})
    changes = compare(old, new)
    (gap,) = [m for m in changes.metrics if (m.variant, m.metric) == ("l1", "gap")]
    a = [r["gap"] for r in old["runs"] if r["variant"] == "l1"]
    b = [r["gap"] for r in new["runs"] if r["variant"] == "l1"]
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(changes.scope.level)
    assert not gap.paired and gap.worse and (gap.interval.low, gap.interval.high) == pytest.approx((ci.low, ci.high))
    md = render_markdown(changes)
    assert "Welch interval" in md and "`training.seeds`" in md  # other replicates: the same study, noted


def test_different_studies_list_the_differing_settings_and_compare_no_numbers():
    old = results()
    variants = {**VARIANTS, "l1": {"l1": 0.01}}
    new = results(noise=0.35, variants=variants, shift={("l1", "test_accuracy"): -0.2},
                  verdicts={"overfits:baseline": "supported", "less_overfitting:l1": "supported"})
    changes = compare(old, new)
    assert not changes.same_study and changes.metrics == ()
    assert [(d.key, d.old, d.new) for d in changes.study] == [("data.noise", 0.25, 0.35), ("variants.l1.l1", 0.001, 0.01)]
    assert changed_verdicts(changes) == ["overfits:baseline: inconclusive → supported"]  # l1's settings changed: not listed
    md = render_markdown(changes)
    assert "**Different studies**" in md and "- `data.noise`: 0.25 → 0.35" in md and "- `variants.l1.l1`: 0.001 → 0.01" in md
    assert "output.dir" not in md and "No meaningful change" not in md


def test_only_a_variant_changed_keeps_comparing_the_others():
    new = results(variants={**VARIANTS, "l1": {"l1": 0.01}}, shift={("l1", "test_accuracy"): -0.2, ("dropout", "gap"): 0.05})
    changes = compare(results(), new)
    assert {(m.variant, m.metric) for m in changes.metrics} == {("dropout", "gap")}


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
    changes = compare(results(), results(verdicts={"less_overfitting:l1": "contradicted"}))
    doc = json.loads(json.dumps(changes_json(changes)), parse_constant=lambda c: pytest.fail(f"non-standard JSON: {c}"))
    assert doc["changed_verdicts"] == ["less_overfitting:l1: inconclusive → contradicted"]
    assert doc["meaningful"] and doc["same_study"] and doc["scope"]["paired"]


# ---- the command line ---------------------------------------------------------------------------------------------

def _write(folder, doc) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    return str(folder)


def test_cli_prints_markdown_or_json_and_exits_0(tmp_path, capsys):
    old = _write(tmp_path / "old", results())
    new = _write(tmp_path / "new", results(verdicts={"less_overfitting:l1": "supported"}))
    assert main(["compare", old, str(tmp_path / "new" / "results.json")]) == 0
    assert "`less_overfitting:l1`" in capsys.readouterr().out
    assert main(["compare", old, new, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed_verdicts"] == ["less_overfitting:l1: inconclusive → supported"]


@pytest.mark.parametrize("make, needle", [
    (lambda p: p, "bad: not found"),
    (lambda p: (p.mkdir(), p)[1], "results.json: not found"),
    (lambda p: (p.write_text("{not json"), p)[1], "not valid JSON"),
    (lambda p: (p.write_text('{"title": "x"}'), p)[1], "not a reportgen results.json: key 'reportgen' is missing"),
    (lambda p: (p.write_text(json.dumps({**results(), "runs": [{"variant": "l1", "seed": "x", "gap": 0.1}]})), p)[1],
     "not a reportgen results.json: unexpected ValueError"),
])
def test_cli_bad_input_is_one_line_naming_the_path_and_exit_2(tmp_path, capsys, make, needle):
    good = _write(tmp_path / "good", results())
    bad = make(tmp_path / "bad")
    assert main(["compare", good, str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("reportgen: error: ") and str(bad) in err and needle in err


def test_cli_compare_imports_no_tensorflow(tmp_path):
    a, b = _write(tmp_path / "a", results()), _write(tmp_path / "b", results())
    code = ("import sys; from reportgen.cli import main; rc = main(['compare', sys.argv[1], sys.argv[2]]); "
            "heavy = [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules]; "
            "sys.exit(f'imported {heavy}' if heavy else rc)")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-c", code, a, b], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "No meaningful change" in proc.stdout
