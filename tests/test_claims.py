"""Claims, verdicts and observations from hand-made per-replicate numbers, where the right verdict is known."""

import re

import numpy as np
import pandas as pd
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
    a = hand_made(
        {
            "baseline": {
                "test_accuracy": 0.92 + _noise(0, 0.005),
                "gap": 0.08 + _noise(1, 0.01),
                "boundary_length": 5 + _noise(2, 0.5),
                "val_roughness": 0.2 + _noise(3, 0.002),
            },
            "l1": {
                "test_accuracy": 0.85 + _noise(0, 0.005) + _noise(4, 0.002),
                "gap": 0.02 + _noise(1, 0.01),
                "boundary_length": 5 + _noise(5, 0.5),
                "val_roughness": 0.2 + _noise(3, 0.002) + _noise(6, 0.001),
            },
        },
        config,
    )
    claims = _claims(evaluate_claims(a))
    assert claims["less_overfitting:l1"].verdict == SUPPORTED
    assert claims["better_generalization:l1"].verdict == CONTRADICTED
    assert claims["simpler_boundary:l1"].verdict == INCONCLUSIVE  # independent noise of 10%: too wide to tell
    assert claims["stable_loss:l1"].verdict == NO_EFFECT  # tiny differences, well inside the 10% margin
    assert claims["overfits:baseline"].verdict == SUPPORTED
    inconclusive = claims["simpler_boundary:l1"].primary
    assert inconclusive.needed and f"about {inconclusive.needed:,} replicates" in inconclusive.sentence
    sentence = claims["better_generalization:l1"].primary.sentence
    assert "Test accuracy: 85.0% for l1 vs 92.0% for the baseline, a difference of -6.9 pp (12 replicates, 95% CI" in sentence
    family = claims["better_generalization:l1"].primary.family_size  # every primary test of the study, calibration's too
    assert family == sum(c.primary.family_size is not None for c in claims.values()) and family >= 6
    assert f"p < 0.0001, Holm-adjusted p < 0.0001 over {family} primary tests): the data show the opposite" in sentence


def test_primary_family_is_holm_corrected_and_the_tally_counts_claims():
    config = _config([{"name": "baseline"}, {"name": "l1", "l1": 0.001}, {"name": "l2", "l2": 0.001}])
    a = hand_made({}, config)
    v = evaluate_claims(a)
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
    named_claims, renamed_claims = (_claims(evaluate_claims(hand_made({}, cfg))) for cfg in (named, renamed))  # once each
    keys = lambda cfg, claims: sorted(
        k.split(":")[0] + ":" + str([v.name for v in cfg.variants].index(k.split(":")[1]) if ":" in k else "")  # noqa: E731
        for k in claims
    )
    assert keys(named, named_claims) == keys(renamed, renamed_claims)
    assert "sparsity:l1" not in renamed_claims  # 'l1' here is a dropout variant
    combined = _config(
        [{"name": "none"}, {"name": "l1+dropout", "l1": 0.001, "dropout": 0.2}, {"name": "es", "early_stopping": {"patience": 5}}]
    )
    got = _claims(evaluate_claims(hand_made({}, combined)))
    assert {"less_overfitting:l1+dropout", "sparsity:l1+dropout", "stable_loss:l1+dropout", "overfits:none"} <= set(got)
    assert "stable_loss:es" not in got and "less_overfitting:es" in got and "init_dependence:l1+dropout" not in got


def test_batchnorm_claim_compares_twin_disagreement_and_one_outlier_cannot_decide_it():
    config = _config([{"name": "baseline"}, {"name": "bn", "batchnorm": True}])
    twins = {"baseline": 0.04 + _noise(0, 0.005), "bn": 0.01 + _noise(1, 0.005)}  # disagreement share: bn's 3 pp lower
    claim = _claims(evaluate_claims(hand_made({}, config, twins)))["init_dependence:bn"]
    assert claim.verdict == SUPPORTED and claim.primary.measure.statistic == "disagreement"
    assert claim.primary.test.effect.mean == pytest.approx(np.mean(np.abs(twins["bn"]) - np.abs(twins["baseline"])))
    assert "Share of test points on which two initializations on the same data disagree" in claim.primary.sentence
    ratio = claim.secondary[0]
    assert ratio.test.kind == "ratio" and "F test" in ratio.sentence and "a variance ratio of ×" in ratio.sentence
    # one replicate whose twins differ wildly: the variance ratio follows it, the primary does not
    same = 0.02 + _noise(2, 0.004)
    outlier = same.copy()
    outlier[3] = 0.30
    claim = _claims(evaluate_claims(hand_made({}, config, {"baseline": same, "bn": outlier})))["init_dependence:bn"]
    assert claim.verdict == INCONCLUSIVE and claim.secondary[0].verdict == CONTRADICTED


def test_a_detectable_difference_inside_the_margin_is_no_meaningful_effect():
    """Significant but smaller than the smallest effect of interest: not 'contradicted', and the sentence says why."""
    config = _config([{"name": "baseline"}, {"name": "l1", "l1": 0.001}])
    a = hand_made(
        {
            "baseline": {"test_accuracy": 0.90 + _noise(0, 0.01)},
            "l1": {"test_accuracy": 0.897 + _noise(0, 0.01) + _noise(1, 0.0003)},
        },
        config,
    )  # 0.3 pp lower, tight
    claim = _claims(evaluate_claims(a))["better_generalization:l1"].primary
    assert claim.p_adjusted < 0.05 and claim.verdict == NO_EFFECT
    assert "detectable" in claim.sentence and "equivalence test (TOST) against ±1.0 pp gives p" in claim.sentence


def test_the_baseline_overfits_only_beyond_the_margin():
    """Every fitted network has some gap: the claim is tested against the smallest effect of interest (1 pp)."""
    config = _config([{"name": "baseline"}, {"name": "l1", "l1": 0.001}])
    verdict = lambda gap: _claims(evaluate_claims(hand_made({"baseline": {"gap": gap}}, config)))["overfits:baseline"]  # noqa: E731
    small, large, ample = verdict(0.004 + _noise(0, 0.001)), verdict(0.05 + _noise(0, 0.01)), verdict(0.013 + _noise(0, 0.01))
    assert small.primary.test.p_value < 0.05 and small.verdict == NO_EFFECT  # far from zero, but inside the margin
    assert large.verdict == SUPPORTED and "against 1.0%" in large.primary.sentence
    assert ample.verdict == INCONCLUSIVE  # above the margin on average, but not clearly


def test_sweep_choice_takes_the_strongest_within_one_standard_error():
    from reportgen.analysis import choose_strength

    rng = np.random.default_rng(5)
    base = 0.3 + rng.normal(0, 0.05, 20)  # replicate-to-replicate spread shared by every strength (paired)
    wiggle = rng.normal(0, 0.01, 20)
    wiggle = (wiggle - wiggle.mean()) / wiggle.std(ddof=1) * 0.01  # the paired differences' sd: 0.01, SE 0.0022
    tie = pd.DataFrame({1e-3: base, 3e-3: base + 0.002 + wiggle, 1e-2: base + 0.1})
    choice = choose_strength("l1", tie)
    assert choice.strength == 3e-3 and choice.lowest == 1e-3 and choice.tied == (1e-3, 3e-3)
    clear = pd.DataFrame({1e-3: base, 3e-3: base + 0.003 + wiggle, 1e-2: base + 0.1})  # 0.003 > one SE: not a tie
    assert choose_strength("l1", clear).strength == 1e-3 and choose_strength("l1", clear).tied == (1e-3,)


def _sweep_config():
    variants = [{"name": "baseline"}, {"name": "l1", "l1": 0.001}, {"name": "l2a", "l2": 0.001}, {"name": "l2b", "l2": 0.01}]
    return tiny_config(
        variants=variants,
        analysis={"sparsity_thresholds": THRESHOLDS},
        sweeps={"l1": [0.001], "l2": [0.001, 0.01], "dropout": []},
    )


def test_l1_and_l2_are_matched_where_l2_reaches_l1s_validation_loss():
    config = _sweep_config()
    a = hand_made(
        {
            "l1": {"val_loss": 0.30 + _noise(0, 0.001), "prunable": 0.5 + _noise(1, 0.01)},
            "l2a": {"val_loss": 0.20 + _noise(0, 0.001), "prunable": 0.1 + _noise(2, 0.01)},
            "l2b": {"val_loss": 0.40 + _noise(0, 0.001), "prunable": 0.3 + _noise(3, 0.01)},
        },
        config,
    )
    claim = _claims(evaluate_claims(a))["l1_sparser_than_l2"]
    low, high = claim.matched
    assert low == 0.001 and high == pytest.approx(10**-2.5, rel=0.02)  # halfway between 0.001 and 0.01 on a log scale
    assert claim.primary.reference_value == pytest.approx(0.2, abs=0.01)  # the two L2 points' prunable shares, interpolated
    assert "L2 0.00316" in claim.primary.sentence and "interpolated between its sweep points 0.001 and 0.01" in claim.note
    far = hand_made(
        {
            "l1": {"val_loss": 0.30 + _noise(0, 0.001)},
            "l2a": {"val_loss": 0.50 + _noise(0, 0.001)},
            "l2b": {"val_loss": 0.60 + _noise(0, 0.001)},
        },
        config,
    )
    v = evaluate_claims(far)
    assert "l1_sparser_than_l2" not in _claims(v) and "more than the margin" in v.refused
    (unmatched,) = [o for o in observations(far, v) if o.kind == "unmatched"]
    assert "not compared for sparsity" in unmatched.text


def test_flip_probability_is_near_zero_for_a_clear_effect_and_near_half_on_the_threshold():
    from scipy import stats

    from reportgen import decision, stability

    family = decision.Family(np.zeros(1), np.full(1, 0.01), np.ones(1), "holm", 0.05)
    z = (_noise(0, 1.0) - _noise(0, 1.0).mean()) / _noise(0, 1.0).std(ddof=1)  # mean 0, sd 1 exactly
    edge = z + stats.t.ppf(0.975, z.size - 1) / np.sqrt(z.size)  # its t-test p is exactly 0.05
    for values, low, high in ((z + 3.0, 0.0, 0.01), (edge, 0.35, 0.65)):
        codes = decision.judge(family, [values[None, :]]).codes
        flip = stability.flip_probabilities(family, values[None, :], (z.size,), codes)[0]
        assert low <= flip <= high
    firm = [stability.replicates_to_firm(family, (z + effect)[None, :], np.array([True]))[0] for effect in (0.7, 0.5, 0.35)]
    assert z.size < firm[0] < firm[1] < firm[2] < 300  # the nearer an effect sits to the threshold, the more it takes
    assert stability.replicates_to_firm(family, (z + 0.35)[None, :], np.array([True]), limit=firm[2] - 1)[0] == 0


def test_every_claim_carries_its_flip_probability():
    config = _config([{"name": "baseline"}, {"name": "l1", "l1": 0.001}])
    v = evaluate_claims(hand_made({"l1": {"gap": 0.0 + _noise(0, 0.01)}}, config))
    assert all(0 <= c.flip <= 1 for c in v.claims)
    assert {c.key for c in v.borderline()} == {c.key for c in v.claims if c.flip > 0.10}
    assert all(c.firm_at is None or c.firm_at > 12 for c in v.claims)


def test_rankings_tie_within_uncertainty():
    config = _config([{"name": "baseline"}, {"name": "a", "l2": 0.001}, {"name": "b", "l2": 0.01}])
    a = hand_made(
        {
            "baseline": {"test_accuracy": 0.90 + _noise(0, 0.01)},
            "a": {"test_accuracy": 0.93 + _noise(0, 0.01) + _noise(1, 0.01)},
            "b": {"test_accuracy": 0.9302 + _noise(0, 0.01) + _noise(2, 0.01)},
        },
        config,
    )
    assert ranking(a, "test_accuracy", higher=True)[0] == "b" and set(ranking(a, "test_accuracy", True)) == {"a", "b"}
    text = " ".join(o.text for o in observations(a, evaluate_claims(a)) if o.kind == "ranking")
    assert "No single variant has the highest mean test accuracy" in text and "tied within uncertainty" in text
    clear = hand_made(
        {
            "baseline": {"test_accuracy": 0.90 + _noise(0, 0.01)},
            "a": {"test_accuracy": 0.95 + _noise(0, 0.01)},
            "b": {"test_accuracy": 0.85 + _noise(0, 0.01)},
        },
        config,
    )
    assert ranking(clear, "test_accuracy", True) == ["a"]
    text = " ".join(o.text for o in observations(clear, evaluate_claims(clear)) if o.kind == "ranking")
    assert re.search(r"a has the highest mean test accuracy \(9[45]\.\d%\); paired 95% intervals separate it", text)


def test_one_replicate_gives_no_verdict():
    config = _config([{"name": "baseline"}, {"name": "l1", "l1": 0.001}])
    a = hand_made({}, config)
    one = a.runs[a.runs["seed"] == 0]
    from dataclasses import replace

    a = replace(a, runs=one, main_runs=one, seeds=[0])
    v = evaluate_claims(a)
    assert v.claims and all(c.verdict == INCONCLUSIVE and "no interval" in c.primary.sentence for c in v.claims)


def test_kept_verdicts_come_back_equal_and_anything_else_is_a_miss():
    """Verdicts kept in the cache (reportgen.memo) must give back the very objects a build would judge again: every
    field, NaNs, tuples and the claim definitions (with their rules) included."""
    import json

    from reportgen.claims import REGISTRY, dump_verdicts, load_verdicts

    config = _config([{"name": "baseline"}, {"name": "l1", "l1": 0.001}, {"name": "bn", "batchnorm": True}])
    a = hand_made(
        {"l1": {"test_accuracy": 0.9 + _noise(4, 0.01)}}, config, twins={"baseline": _noise(7, 0.01), "bn": _noise(8, 0.002)}
    )
    verdicts = evaluate_claims(a)
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
