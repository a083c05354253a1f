"""Claims and observations from hand-made per-seed numbers, where the right verdict is known."""

import numpy as np
import pandas as pd

from reportgen.analysis import METRICS, StudyAnalysis, summarise
from reportgen.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, evaluate_claims, observations

THRESHOLDS = [1e-3, 1e-2]
NOISE = np.array([0.01, -0.02, 0.015, -0.005, 0.0])  # five seeds


def _analysis(values: dict[str, dict[str, np.ndarray]], seeds=5) -> StudyAnalysis:
    """A StudyAnalysis whose per-seed metrics are exactly `values[variant][metric]` (others filled neutrally)."""
    metrics = list(METRICS) + [f"below_{t:g}" for t in THRESHOLDS]
    rows = []
    for v, given in values.items():
        for s in range(seeds):
            row = {"variant": v, "seed": s, "epochs_run": 100, "best_epoch": None}
            for m in metrics:
                row.setdefault(m, float(given[m][s]) if m in given else 0.5 + NOISE[s] * (1 + len(rows) % 3))
            rows.append(row)
    runs = pd.DataFrame(rows)
    names = list(values)
    empty = pd.DataFrame()
    return StudyAnalysis(
        variants=names, seeds=list(range(seeds)), runs=runs, main_runs=runs,
        layers=pd.DataFrame({"variant": names, "seed": 0, "layer": 1, "weights": 100, "exact_zeros": 0}),
        summary=summarise(runs, ["variant"], metrics, 0.95), sweeps=empty, sparsity_curves=empty, pruning=empty,
        histories={v: {"val_loss": np.ones((seeds, 100))} for v in names}, boundaries={}, sweep_boundaries={},
        first_layer={}, thresholds=THRESHOLDS, confidence=0.95, chance=0.5,
    )


def _by_key(claims):
    return {c.spec.key: c for c in claims}


def test_verdicts_follow_the_numbers():
    base = 0.04 + NOISE[:5] / 10
    a = _analysis({
        "baseline": {"below_0.01": base, "test_accuracy": 0.92 + NOISE, "boundary_length": 10 + NOISE * 100},
        "l1": {"below_0.01": base + 0.9, "test_accuracy": 0.85 + NOISE, "boundary_length": 10 - NOISE[::-1] * 100},
    })
    claims = _by_key(evaluate_claims(a))
    assert claims["l1_sparsity_0.01"].verdict == SUPPORTED
    assert claims["l1_test_accuracy"].verdict == NOT_SUPPORTED
    assert claims["l1_simpler_boundary"].verdict == INCONCLUSIVE
    assert "85.0% for l1 vs 92.0% for baseline, a difference of -7.0 pp" in claims["l1_test_accuracy"].sentence
    assert "the data show the opposite of the claim" in claims["l1_test_accuracy"].sentence
    assert "l2_small_weights" not in claims  # no l2 variant, so no l2 claim


def test_one_seed_gives_no_verdict():
    a = _analysis({"baseline": {}, "l1": {}}, seeds=1)
    claims = evaluate_claims(a)
    assert claims and all(c.verdict == INCONCLUSIVE and "no interval" in c.sentence for c in claims)


def test_spread_claim_compares_seed_to_seed_variation():
    a = _analysis({"baseline": {"test_accuracy": 0.9 + NOISE * 5}, "batchnorm": {"test_accuracy": 0.9 + NOISE / 20}})
    claim = _by_key(evaluate_claims(a))["batchnorm_less_init_dependence"]
    assert claim.verdict == SUPPORTED and "Levene" in claim.sentence
    assert claim.value < claim.reference_value


def test_observations_quote_this_builds_numbers():
    a = _analysis({"baseline": {"test_accuracy": 0.91 + NOISE, "below_0.01": 0.04 + NOISE / 10},
                   "l1": {"test_accuracy": 0.93 + NOISE, "below_0.01": 0.99 + NOISE / 10}})
    text = " ".join(observations(a, evaluate_claims(a)))
    assert "Highest mean test accuracy: l1 (93.0%)" in text and "lowest: baseline (91.0%)" in text
    assert "l1 has 99.0% of its hidden-layer weights below 0.01" in text and "0 of its 100" in text
