"""Statistics on hand-made numbers where the answer is known: intervals, corrections, equivalence, ratios, power."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from reportgen.stats import (
    adjust,
    difference_test,
    estimate,
    replicates_for_equivalence,
    replicates_to_detect,
    variance_ratio_test,
)

# Benjamini & Hochberg (1995), section 4.1: fifteen p-values from a clinical trial.
BH_1995 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0]


def test_holm_and_bh_on_the_textbook_example():
    holm, bh = adjust(BH_1995, "holm"), adjust(BH_1995, "bh")
    assert sum(p < 0.05 for p in holm) == 3  # Holm rejects 0.0001, 0.0004, 0.0019 (0.0095 * 12 = 0.114)
    assert sum(p < 0.05 for p in bh) == 4  # BH rejects the first four, as in the paper
    assert holm[:4] == pytest.approx([0.0015, 0.0056, 0.0247, 0.114])
    assert bh[3] == pytest.approx(0.0095 * 15 / 4)


def test_adjust_keeps_missing_p_values_out_of_the_family():
    out = adjust([0.01, math.nan, 0.04], "holm")
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)


def test_estimate_matches_scipy_t_interval():
    v = np.array([0.9, 0.92, 0.95, 0.91, 0.94])
    e = estimate(v, 0.95)
    low, high = sps.t.interval(0.95, 4, loc=v.mean(), scale=sps.sem(v))
    assert (e.mean, e.low, e.high, e.n) == pytest.approx((v.mean(), low, high, 5))
    one = estimate([0.5], 0.95)
    assert one.n == 1 and not one.has_interval


def test_tost_at_the_edge_of_the_margin():
    from statsmodels.stats.weightstats import ttost_paired

    d = np.array([0.002, -0.004, 0.006, 0.001, -0.002, 0.003, 0.0, 0.004])
    edge = difference_test(d, None, 0.95, 1.0).equivalence_interval[1]  # upper end of the 90% interval
    # margin exactly at the 90% interval's far end: TOST p is 0.05; a little wider passes, a little narrower fails
    assert difference_test(d, None, 0.95, edge).p_equivalence == pytest.approx(0.05, abs=1e-9)
    assert (
        difference_test(d, None, 0.95, edge * 1.01).p_equivalence
        < 0.05
        < difference_test(d, None, 0.95, edge * 0.99).p_equivalence
    )
    ours = difference_test(d + 1, np.ones_like(d), 0.95, 0.005).p_equivalence
    assert ours == pytest.approx(ttost_paired(d + 1, np.ones_like(d), -0.005, 0.005)[0])


def test_paired_difference_and_its_p_value():
    ref = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    t = difference_test(ref - 0.5 + np.array([0.01, -0.02, 0.0, 0.02, -0.01]), ref, 0.95, 0.1)
    assert t.effect.mean == pytest.approx(-0.5) and t.p_value < 1e-4 and t.sign == -1
    assert t.p_value == pytest.approx(sps.ttest_rel(ref - 0.5 + np.array([0.01, -0.02, 0.0, 0.02, -0.01]), ref).pvalue)


def test_variance_ratio_interval_is_the_f_interval():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 12), rng.normal(0, 2, 15)
    t = variance_ratio_test(a, b, 0.95, 2.0)
    ratio = np.mean(a**2) / np.mean(b**2)
    assert t.effect.mean == pytest.approx(ratio)
    assert t.effect.low == pytest.approx(ratio / sps.f.ppf(0.975, 12, 15))
    assert t.effect.high == pytest.approx(ratio / sps.f.ppf(0.025, 12, 15))
    assert t.kind == "ratio" and t.null == 1.0


def test_variance_ratio_covers_the_truth_at_small_n():
    """An exact interval at n = 5: over many made-up studies it covers the true ratio about 95% of the time."""
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(2000):
        t = variance_ratio_test(rng.normal(0, 1, 5), rng.normal(0, 2, 5), 0.95, 2.0)
        hits += t.effect.low <= 0.25 <= t.effect.high
    assert 0.93 < hits / 2000 < 0.97


def test_replicates_to_detect_matches_the_power_formula():
    d = np.array([0.3, -0.1, 0.5, 0.2, 0.0, 0.4])  # mean 0.2167, sd 0.227
    t = difference_test(d, None, 0.95, 0.1)
    n = replicates_to_detect(t, 0.05)
    z = (sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * t.sd / t.effect.mean
    assert z**2 <= n <= z**2 + 4  # the t-based answer needs a few more than the normal approximation
    # equivalence is planned at a true effect of zero, whatever effect was seen: n = ((z(1-a) + z(0.9)) sd / margin)^2 + 1
    small, large = difference_test(d * 0.1, None, 0.95, 0.2), difference_test(d * 0.1 + 0.15, None, 0.95, 0.2)
    expected = math.ceil(((sps.norm.ppf(0.95) + sps.norm.ppf(0.9)) * small.sd / 0.2) ** 2) + 1
    assert replicates_for_equivalence(small, 0.05) == replicates_for_equivalence(large, 0.05) == expected


def test_replicates_needed_is_quiet_when_the_solver_gives_up(recwarn, capfd):
    """A huge effect makes statsmodels' power solver fail; the terminal must not see its ConvergenceWarning (recwarn
    records every warning issued, each time, whatever an earlier test showed once)."""
    from reportgen.stats import Estimate, Test

    t = Test(effect=Estimate(3.0, 2.9, 3.1, 10), p_value=1e-9, p_equivalence=1.0, margin=0.01, sd=0.1)
    assert replicates_to_detect(t, 0.002) is None
    assert [str(w.message) for w in recwarn] == []
    assert "ConvergenceWarning" not in capfd.readouterr().err


def test_column_intervals_are_scipy_stats_t_intervals_bit_for_bit():
    """estimate_columns takes its t quantiles from scipy.special.stdtrit (no scipy.stats import): the same numbers as
    scipy.stats.t, column by column, with NaN where a column has fewer than two values."""
    from scipy.special import stdtrit

    from reportgen.stats import estimate_columns

    rng = np.random.default_rng(3)
    values = rng.normal(1.0, 0.3, (40, 9))
    values[5:, 0] = np.nan  # five values
    values[1:, 1] = np.nan  # one value: no interval
    values[:, 2] = np.nan  # none
    values[::3, 3] = np.inf  # non-finite values are left out
    for confidence in (0.5, 0.9, 0.95, 0.99, 0.9999):
        mean, low, high = estimate_columns(values, confidence)
        for j in range(values.shape[1]):
            v = values[:, j][np.isfinite(values[:, j])]
            if v.size < 2:
                assert math.isnan(low[j]) and math.isnan(high[j])
                continue
            half = sps.t.ppf((1 + confidence) / 2, v.size - 1) * np.sqrt(np.var(v, ddof=1) / v.size)
            assert mean[j] == pytest.approx(v.mean(), rel=1e-15)
            assert (low[j], high[j]) == pytest.approx((mean[j] - half, mean[j] + half), rel=1e-13)
            assert sps.t.ppf((1 + confidence) / 2, v.size - 1) == stdtrit(v.size - 1, (1 + confidence) / 2)


def test_one_vectorised_rule_gives_scipy_and_statsmodels_numbers(monkeypatch):
    """decision.py decides every verdict (and every simulated one): its t-test, TOST and Holm/BH agree with scipy's
    and statsmodels' on random families, NaNs left out."""
    import gc

    # statsmodels' Holm calls gc.collect() every time: 400 full collections of a test session's heap (TensorFlow and
    # every earlier test's objects) took four minutes. Collecting changes no number.
    monkeypatch.setattr(gc, "collect", lambda generation=2: 0)
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.weightstats import ttost_paired

    from reportgen import decision

    rng = np.random.default_rng(11)
    x = rng.normal(0.1, 1.0, (300, 12))
    mean, sd, n = decision.moments(x)
    assert decision.t_p(mean, sd, n, 0.0) == pytest.approx(sps.ttest_1samp(x, 0.0, axis=1).pvalue, rel=1e-9)
    assert decision.t_p(mean, sd, n, 0.3) == pytest.approx(sps.ttest_1samp(x, 0.3, axis=1).pvalue, rel=1e-9)
    tost = decision.tost_p(mean, sd, n, 0.5)
    assert tost[:20] == pytest.approx([ttost_paired(row, np.zeros_like(row), -0.5, 0.5)[0] for row in x[:20]], rel=1e-9)
    for _ in range(200):
        p = rng.uniform(0, 1, rng.integers(1, 25)) ** 3
        p[rng.uniform(size=p.size) < 0.15] = np.nan
        ok = np.isfinite(p)
        for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
            got = decision.adjust(p, ours)
            if ok.any():
                assert got[ok] == pytest.approx(multipletests(p[ok], method=theirs)[1], abs=1e-15)
            assert np.isnan(got[~ok]).all()
    table = decision.tabled_student_cdf(19, np.linspace(-8, 8, 2001))
    assert table == pytest.approx(sps.t.cdf(np.linspace(-8, 8, 2001), 19), rel=1e-4)
