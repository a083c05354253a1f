"""Claims, verdicts and observations from hand-made per-replicate numbers, where the right verdict is known."""

import re

import numpy as np
import pytest

from reportgen.claims import CONTRADICTED, INCONCLUSIVE, NO_EFFECT, SUPPORTED, evaluate_claims, observations, ranking
from tests.conftest import tiny_config
from tests.handmade import THRESHOLDS, _noise, hand_made


def _config(variants):
    return tiny_config(variants=variants, analysis={"sparsity_thresholds": THRESHOLDS})


def _claims(verdicts):
    return {c.key: c for c in verdicts.claims}


def test_four_verdicts_follow_the_numbers():
    config = _config([{"name": "baseline"}, {"name": "l1", "l1": 0.001}])
    a = hand_made({
        "baseline": {"test_accuracy": 0.92 + _noise(0, 0.005), "gap": 0.08 + _noise(1, 0.01),
                     "boundary_length": 5 + _noise(2, 0.5), "val_roughness": 0.2 + _noise(3, 0.002)},
        "l1": {"test_accuracy": 0.85 + _noise(0, 0.005) + _noise(4, 0.002), "gap": 0.02 + _noise(1, 0.01),
               "boundary_length": 5 + _noise(5, 0.5), "val_roughness": 0.2 + _noise(3, 0.002) + _noise(6, 0.001)},
    }, config)
    claims = _claims(evaluate_claims(a, config))
    assert claims["less_overfitting:l1"].verdict == SUPPORTED
    assert claims["better_generalization:l1"].verdict == CONTRADICTED
    assert claims["simpler_boundary:l1"].verdict == INCONCLUSIVE  # independent noise of 10%: too wide to tell
    assert claims["stable_loss:l1"].verdict == NO_EFFECT  # tiny differences, well inside the 10% margin
    assert claims["overfits:baseline"].verdict == SUPPORTED
    inconclusive = claims["simpler_boundary:l1"].primary
    assert inconclusive.needed and f"about {inconclusive.needed:,} replicates" in inconclusive.sentence
    sentence = claims["better_generalization:l1"].primary.sentence
    assert "Test accuracy: 85.0% for l1 vs 92.0% for the baseline, a difference of -6.9 pp (12 replicates, 95% CI" in sentence
    assert "p < 0.0001, Holm-adjusted p < 0.0001 over 6 primary tests): the data show the opposite of the claim." in sentence


def test_primary_family_is_holm_corrected_and_the_tally_counts_claims():
    config = _config([{"name": "baseline"}, {"name": "l1", "l1": 0.001}, {"name": "l2", "l2": 0.001}])
    a = hand_made({}, config)
    v = evaluate_claims(a, config)
    prim, sec = v.family_sizes()
    assert prim == len(v.claims) and sum(v.tally().values()) == len(v.claims)
    raw = sorted(c.primary.test.p_value for c in v.claims)
    adjusted = sorted(c.primary.p_adjusted for c in v.claims)
    assert adjusted[0] == pytest.approx(min(1.0, raw[0] * prim))  # Holm's first step is Bonferroni
    assert all(c.primary.family_size == prim for c in v.claims)
    assert sec > 0 and all(f.family_size == sec for c in v.claims for f in c.secondary)
    assert all(f.role == "check" for f in v.checks) and len(v.checks) == len(THRESHOLDS) + 1  # L1's shares, L2's norm


def test_claims_follow_what_a_variant_does_not_its_name():
    named = _config([{"name": "baseline"}, {"name": "l1", "l1": 0.001}, {"name": "dropout", "dropout": 0.2}])
    renamed = _config([{"name": "plain"}, {"name": "sparse", "l1": 0.001}, {"name": "l1", "dropout": 0.2}])
    keys = lambda cfg: sorted(k.split(":")[0] + ":" + str([v.name for v in cfg.variants].index(k.split(":")[1]) if ":" in k else "")  # noqa: E731
                              for k in _claims(evaluate_claims(hand_made({}, cfg), cfg)))
    assert keys(named) == keys(renamed)
    assert "sparsity:l1" not in _claims(evaluate_claims(hand_made({}, renamed), renamed))  # 'l1' here is a dropout variant
    combined = _config([{"name": "none"}, {"name": "l1+dropout", "l1": 0.001, "dropout": 0.2},
                        {"name": "es", "early_stopping": {"patience": 5}}])
    got = _claims(evaluate_claims(hand_made({}, combined), combined))
    assert {"less_overfitting:l1+dropout", "sparsity:l1+dropout", "stable_loss:l1+dropout", "overfits:none"} <= set(got)
    assert "stable_loss:es" not in got and "less_overfitting:es" in got and "init_dependence:l1+dropout" not in got


def test_batchnorm_claim_compares_initialization_variances_from_twins():
    config = _config([{"name": "baseline"}, {"name": "bn", "batchnorm": True}])
    twins = {"baseline": _noise(0, 0.02), "bn": _noise(1, 0.005)}  # bn's init differences 4x smaller: variance 1/16
    claim = _claims(evaluate_claims(hand_made({}, config, twins), config))["init_dependence:bn"]
    assert claim.verdict == SUPPORTED and claim.primary.test.kind == "ratio"
    assert claim.primary.test.effect.mean == pytest.approx(np.mean(twins["bn"] ** 2) / np.mean(twins["baseline"] ** 2))
    assert "a variance ratio of ×0." in claim.primary.sentence and "F test" in claim.primary.sentence


def test_rankings_tie_within_uncertainty():
    config = _config([{"name": "baseline"}, {"name": "a", "l2": 0.001}, {"name": "b", "l2": 0.01}])
    a = hand_made({"baseline": {"test_accuracy": 0.90 + _noise(0, 0.01)},
                   "a": {"test_accuracy": 0.93 + _noise(0, 0.01) + _noise(1, 0.01)},
                   "b": {"test_accuracy": 0.9302 + _noise(0, 0.01) + _noise(2, 0.01)}}, config)
    assert ranking(a, "test_accuracy", higher=True)[0] == "b" and set(ranking(a, "test_accuracy", True)) == {"a", "b"}
    text = " ".join(observations(a, evaluate_claims(a, config)))
    assert "No single variant has the highest mean test accuracy" in text and "tied within uncertainty" in text
    clear = hand_made({"baseline": {"test_accuracy": 0.90 + _noise(0, 0.01)},
                       "a": {"test_accuracy": 0.95 + _noise(0, 0.01)}, "b": {"test_accuracy": 0.85 + _noise(0, 0.01)}}, config)
    assert ranking(clear, "test_accuracy", True) == ["a"]
    text = " ".join(observations(clear, evaluate_claims(clear, config)))
    assert re.search(r"a has the highest mean test accuracy \(9[45]\.\d%\); paired 95% intervals separate it", text)


def test_one_replicate_gives_no_verdict():
    config = _config([{"name": "baseline"}, {"name": "l1", "l1": 0.001}])
    a = hand_made({}, config)
    one = a.runs[a.runs["seed"] == 0]
    from dataclasses import replace

    a = replace(a, runs=one, main_runs=one, seeds=[0])
    v = evaluate_claims(a, config)
    assert v.claims and all(c.verdict == INCONCLUSIVE and "no interval" in c.primary.sentence for c in v.claims)


def test_kept_verdicts_come_back_equal_and_anything_else_is_a_miss():
    """Verdicts kept in the cache (reportgen.memo) must give back the very objects a build would judge again: every
    field, NaNs, tuples and the claim definitions (with their rules) included."""
    import json

    from reportgen.claims import REGISTRY, dump_verdicts, load_verdicts

    config = _config([{"name": "baseline"}, {"name": "l1", "l1": 0.001}, {"name": "bn", "batchnorm": True}])
    a = hand_made({"l1": {"test_accuracy": 0.9 + _noise(4, 0.01)}}, config, twins={"baseline": _noise(7, 0.01), "bn": _noise(8, 0.002)})
    verdicts = evaluate_claims(a, config)
    notes = observations(a, verdicts)
    back, notes_back = load_verdicts(dump_verdicts(verdicts, notes))
    assert repr(back) == repr(verdicts) and notes_back == notes  # repr: NaN fields compare unequal to themselves
    assert {type(c.primary.test.equivalence_interval) for c in back.claims} == {tuple}
    assert all(any(c.definition is d for d in REGISTRY) for c in back.claims)
    assert len(back.checks) == len(verdicts.checks) > 0 and any(c.definition.key == "init_dependence" for c in back.claims)
    doc = json.loads(dump_verdicts(verdicts, notes))
    doc["verdicts"]["fields"]["claims"][0]["fields"]["definition"]["claim"] = "a claim this reportgen lacks"
    for damaged in (b"", b"{", json.dumps(doc).encode(), json.dumps({"verdicts": 1, "notes": []}).encode()):
        assert load_verdicts(damaged) is None
