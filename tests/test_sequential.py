"""An adaptive number of replicates keeps its error rates: simulated studies through the real stopping rule.

Stopping when verdicts look firm inflates false verdicts unless the tests are made for it (STATISTICS.md, rule 12).
Each simulated study draws per-replicate contrasts for ten claims from a cheap stand-in for training (normal noise
around a known true effect), and goes through what a build does at every look: decision.judge with the design's
alpha spending, stability.assess (flip probabilities and replicates to firm) and sequential.more_replicates.
"""

import numpy as np
import pandas as pd
import pytest

from reportgen import decision, sequential, stability
from reportgen.config import SeedBudget

STUDIES = 1000
NULL_STUDIES = 300  # with no effect the family-wise error is about 0.008 (10,000 simulated studies): more than 15
#                     errors in 300 (the test's failure) has a probability of about 3e-9 on other random numbers
CLAIMS = 10
MARGIN = 0.6  # in units of the contrasts' standard deviation: equivalence is within reach of 20 to 40 replicates
BUDGET = SeedBudget(min=20, max=40, step=10)
DRAWS = 30  # simulated reruns per look: fewer than a build's, which changes the flip estimates' precision, not the
#             error rate (the p-value combined over the looks is valid whatever the stopping rule): the rates below
#             were 0.007 and 0.030 with 60 draws, 0.008 and 0.031 with 30 (10,000 simulated studies each)


def _final_codes(effect: float, spend: bool, seed: int, budget: SeedBudget = BUDGET, studies: int = STUDIES) -> np.ndarray:
    """Verdict codes [studies, claims] at the look where each simulated study stopped."""
    rng = np.random.default_rng(seed)
    values = effect + rng.standard_normal((studies, CLAIMS, budget.max))
    planned, final = budget.looks(), np.full((studies, CLAIMS), -1)
    n, going = budget.min, np.arange(studies)
    while going.size:
        looks = tuple(k for k in planned if k <= n)
        weights = decision.spending_weights(looks, budget.max) if spend else (1.0,) * len(looks)  # naive: full alpha
        family = decision.Family(np.zeros(CLAIMS), np.full(CLAIMS, MARGIN), np.ones(CLAIMS), "holm", 0.05, weights)
        codes = decision.judge(family, [values[going, :, :k] for k in looks]).codes
        flips, firm = stability.assess(family, values[going, :, :n], looks, codes, draws=DRAWS, limit=budget.max)
        nxt = [sequential.more_replicates(budget, n, flips[i], firm[i]) for i in range(going.size)]
        stop = np.array([k is None for k in nxt])
        final[going[stop]] = codes[stop]
        going = going[~stop]
        n = min(n + budget.step, budget.max)
    return final


def test_null_effects_keep_the_family_wise_error_at_five_percent():
    """No claim has an effect: a supported or contradicted verdict anywhere in a study is a family-wise error."""
    false = [decision.SUPPORTED, decision.CONTRADICTED]
    errors = np.isin(_final_codes(0.0, spend=True, seed=1, studies=NULL_STUDIES), false).any(axis=1)
    assert errors.mean() <= 0.05, f"family-wise error {errors.mean():.3f} over {len(errors)} studies"


def test_the_combined_p_value_holds_whatever_the_stopping_rule():
    """Under no effect, the p-value combined over the looks is below 0.05 at most 5% of the time even for the worst
    stopping rule (look at every planned look and keep the smallest); the smallest raw p over the looks, which
    'adding replicates until it looks firm' amounts to, is not."""
    rng = np.random.default_rng(3)
    values = rng.standard_normal((20_000, 1, BUDGET.max))
    looks = BUDGET.looks()
    per_look = []
    for k in looks:
        mean, sd, n = decision.moments(values[..., :k])
        per_look.append(decision.t_p(mean, sd, n, 0.0)[:, 0])
    combined = decision.combine_looks(per_look, decision.spending_weights(looks, BUDGET.max))
    smallest = np.min(per_look, axis=0)
    tolerance = 2 * np.sqrt(0.05 * 0.95 / len(combined))
    assert (combined < 0.05).mean() <= 0.05 + tolerance
    assert (smallest < 0.05).mean() > 0.05 + 2 * tolerance  # about 0.09: optional stopping without a rule inflates


@pytest.mark.slow
def test_an_effect_on_the_margin_is_rarely_called_no_meaningful_effect():
    """Every claim's true effect sits on the margin: 'no meaningful effect' anywhere is a family-wise error. Its rate is
    about 0.031 (10,000 simulated studies): more than 50 in 1,000 (the test's failure) has a probability of about 7e-4
    on other random numbers, and the naive design (full alpha at every look, a rate of about 0.074) fails it almost
    always."""
    codes = _final_codes(MARGIN, spend=True, seed=2)
    assert (codes == decision.NO_EFFECT).any(axis=1).mean() <= 0.05


def test_the_design_spends_alpha_over_its_looks():
    weights = decision.spending_weights(BUDGET.looks(), BUDGET.max)
    assert BUDGET.looks() == (20, 30, 40) and sum(weights) == pytest.approx(1.0)
    assert weights[0] < weights[1] < weights[2]  # O'Brien-Fleming-type: little at the first look
    assert decision.spending_weights((20,), 20) == pytest.approx((1.0,))
    p = [np.array([0.001, 0.5]), np.array([0.2, 0.04])]  # each claim's p at two looks
    combined = decision.combine_looks(p, (0.25, 0.75))
    assert combined == pytest.approx([0.004, 0.04 / 0.75])


def test_the_stopping_rule_adds_rounds_only_where_they_could_decide():
    assert sequential.more_replicates(BUDGET, 20, [0.3, 0.0], [35, 0]) == 30  # borderline, firm within 40
    assert sequential.more_replicates(BUDGET, 20, [0.3, 0.0], [400, 0]) is None  # firm only far beyond the budget
    assert sequential.more_replicates(BUDGET, 20, [0.3, 0.0], [0, 0]) is None  # sits on a threshold
    assert sequential.more_replicates(BUDGET, 40, [0.3], [35]) is None  # at the maximum
    assert sequential.more_replicates(None, 20, [0.3], [25]) is None  # a fixed design


def test_an_analysis_that_reuses_an_earlier_look_equals_one_made_afresh(tiny_runs):
    """What one look of an adaptive build measured (per-run rows, pruning curves, the first replicates' grids for the
    figures) is taken at the next look as it is: the analysis is the same as one that measures everything again."""
    from reportgen import analysis, data
    from reportgen.analysis import analyse
    from reportgen.sequential import at_look

    config, datasets, results = tiny_runs
    first = config.training.seeds[0]
    known: dict = {}
    analyse([r for r in results if r.run.seed == first], datasets, at_look(config, 1), known)
    assert {"whole grid", "snapshot grids", "pruning curve"} <= {k[0] for k in known if isinstance(k, tuple)}
    carried, fresh = analyse(results, datasets, config, known), analyse(results, datasets, config)
    assert fresh.snapshots and len(fresh.boundaries) > 1
    pd.testing.assert_frame_equal(carried.runs, fresh.runs)
    pd.testing.assert_frame_equal(carried.pruning, fresh.pruning)
    assert carried.boundaries.keys() == fresh.boundaries.keys() and carried.snapshots.keys() == fresh.snapshots.keys()
    view, frame = data.reference_view(config.data, datasets[first])
    uncached = analysis._Evaluator(frame, view, datasets, datasets[first], config)
    runs = {r.run.variant.name: r for r in results if r.run.seed == first and r.run.init == 0 and r.run.point is None}
    for name, b in fresh.boundaries.items():
        np.testing.assert_array_equal(carried.boundaries[name].background, b.background)
        # each variant's own run drawn, not another's kept under the same key
        with analysis._one_blas_thread():  # as the analysis computes it
            np.testing.assert_array_equal(b.background, uncached._full_grid(runs[name], None, None))
        np.testing.assert_array_equal(carried.boundaries[name].probs, b.probs)
    for name, frames in fresh.snapshots.items():
        assert frames.keys() == carried.snapshots[name].keys()
        for epoch, grid in frames.items():
            np.testing.assert_array_equal(carried.snapshots[name][epoch], grid)
