"""Statistics over replicates: intervals, paired tests, equivalence (TOST), variance ratios, multiplicity, power.

scipy.stats and statsmodels do the mathematics; this module only fixes which test answers which question.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

POWER = 0.8  # the power behind "about N replicates would resolve this"
MAX_REPLICATES = 100_000  # beyond this, "replicates needed" is reported as "more than"


@dataclass(frozen=True)
class Estimate:
    """A mean over replicates with its confidence interval (low, high are NaN with fewer than two values)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def has_interval(self) -> bool:
        """Whether an interval could be computed (two or more finite values)."""
        return self.n >= 2 and math.isfinite(self.low)

    def as_dict(self) -> dict:
        """Return the estimate as plain JSON-ready values."""
        return {"mean": _json(self.mean), "ci_low": _json(self.low), "ci_high": _json(self.high), "n": self.n}


def _json(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def standard_error(sd, n, correction: float = 0.0):
    """The standard error of a mean over n replicates of spread sd: sd / √n, or with replicates that re-split the
    same rows, Nadeau and Bengio's (2003) corrected sd · √(1/n + n_test/n_train) (correction = n_test / n_train)."""
    return sd / np.sqrt(n) if correction == 0 else sd * np.sqrt(1.0 / n + correction)


def estimate(values, confidence: float, correction: float = 0.0) -> Estimate:
    """Mean and t confidence interval of the finite values (correction: see standard_error)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if v.size < 2:
        return Estimate(mean, math.nan, math.nan, 1)
    sem = float(stats.sem(v)) if correction == 0 else float(standard_error(np.std(v, ddof=1), v.size, correction))
    if sem == 0.0:
        return Estimate(mean, mean, mean, int(v.size))
    low, high = stats.t.interval(confidence, v.size - 1, loc=mean, scale=sem)
    return Estimate(mean, float(low), float(high), int(v.size))


def estimate_columns(values: np.ndarray, confidence: float, correction: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise mean, low and high over the rows (replicates) of a 2-D array, NaNs left out (correction: see
    standard_error)."""
    # scipy.stats.t.ppf computes this with stdtrit: the same values (checked bitwise, tests/test_stats.py) without
    # importing scipy.stats, which a build reading its analysis from the cache (the loss bands) otherwise needs only here
    from scipy.special import stdtrit

    finite = np.isfinite(values)
    n = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, values, 0.0).sum(axis=0) / n
        var = np.where(finite, (values - mean) ** 2, 0.0).sum(axis=0) / (n - 1)
        spread = np.sqrt(var / n) if correction == 0 else standard_error(np.sqrt(var), n, correction)
        half = stdtrit(n - 1, (1 + confidence) / 2) * spread  # NaN with fewer than two values
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class Test:
    """An effect with its interval, its test against no effect and its equivalence test against a margin.

    kind 'difference': effect = mean of (variant − reference) per replicate, or of the value itself; null 0 (or, for
    a claim that an effect exceeds the smallest effect of interest, the margin).
    kind 'ratio': effect = ratio of variances (variant / reference); null 1; margin r means [1/r, r].
    """

    effect: Estimate
    p_value: float  # two-sided, against the null
    p_equivalence: float  # TOST against the margin (small: the effect lies inside it)
    margin: float
    kind: str = "difference"
    sd: float = math.nan  # spread of the per-replicate differences (for the replicates-needed estimate)
    equivalence_interval: tuple[float, float] = (math.nan, math.nan)  # the 1 − 2α interval TOST compares with the margin
    seeds: tuple[int, ...] = ()  # the replicates behind the effect, in order (empty: not recorded)
    values: tuple[float, ...] = ()  # their per-replicate contrasts (a difference: variant − reference, or the value)
    null: float = 0.0  # the value the test is against: 0 (1 for a ratio), or the margin itself
    correction: float = 0.0  # Nadeau and Bengio's n_test / n_train when replicates re-split the same rows (else 0)

    @property
    def sign(self) -> int:
        """+1 if the estimate is above the null, -1 below, 0 if exactly at it or unknown."""
        d = self.effect.mean - self.null
        return 0 if not math.isfinite(d) or d == 0 else (1 if d > 0 else -1)


def _ttest_p(diffs: np.ndarray, null: float = 0.0, correction: float = 0.0) -> float:
    """Two-sided one-sample t-test p against the null (0 or 1 for constant differences)."""
    from reportgen.decision import moments, t_p

    mean, sd, n = moments(np.asarray(diffs, float))
    return float(t_p(mean, sd, n, null, correction=correction))


def _tost_p(diffs: np.ndarray, margin: float, correction: float = 0.0) -> float:
    """TOST p of 'the mean difference lies inside (−margin, margin)': the larger of two one-sided t-tests."""
    from reportgen.decision import moments, tost_p

    mean, sd, n = moments(np.asarray(diffs, float))
    return float(tost_p(mean, sd, n, margin if margin == margin else -1.0, correction=correction))


def difference_test(
    values, reference, confidence: float, margin: float, seeds=None, null: float = 0.0, correction: float = 0.0
) -> Test:
    """Paired difference values − reference by replicate (reference None: the values themselves) against the null
    (0, or the margin for a claim that an effect exceeds it); seeds name the replicates of values, in order, to be
    kept with their contrasts; correction: Nadeau and Bengio's n_test / n_train when replicates re-split the same
    rows (see standard_error). The tests are decision.t_p and decision.tost_p, which every verdict uses."""
    a = np.asarray(values, float)
    b = np.zeros_like(a) if reference is None else np.asarray(reference, float)
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    sd = float(np.std(d, ddof=1)) if d.size > 1 else math.nan
    eq = estimate(d, 2 * confidence - 1, correction)
    kept = tuple(int(s) for s in np.asarray(seeds)[ok]) if seeds is not None else ()
    return Test(
        estimate(d, confidence, correction),
        _ttest_p(d, null, correction),
        _tost_p(d, margin, correction),
        margin,
        "difference",
        sd,
        (eq.low, eq.high),
        kept,
        tuple(float(x) for x in d) if seeds is not None else (),
        null,
        correction,
    )


def variance_ratio_test(twin_diffs, reference_twin_diffs, confidence: float, margin: float) -> Test:
    """Ratio of two variances, each estimated from twin differences d = x(init 0) − x(init 1) of one replicate.

    A twin difference has mean zero and variance 2σ², so mean(d²)/2 estimates σ² with n degrees of freedom and
    the ratio of two such estimates follows F(n_a, n_b) scaled by the true ratio: the interval and both tests
    are exact under normality at any n. Replicates share data across the two variants; a data draw that makes
    both more (or less) sensitive to initialization correlates them, which widens the true spread of the
    ratio less than independence assumes, so the interval errs on the wide side.
    """
    from scipy import stats

    a, b = (np.asarray(x, float) for x in (twin_diffs, reference_twin_diffs))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    na, nb = a.size, b.size
    if min(na, nb) < 2 or not (np.any(a) and np.any(b)):
        ratio = float(np.mean(a**2) / np.mean(b**2)) if na and nb and np.any(b) else math.nan
        return Test(Estimate(ratio, math.nan, math.nan, min(na, nb)), math.nan, math.nan, margin, "ratio", null=1.0)
    ratio = float(np.mean(a**2) / np.mean(b**2))
    f = stats.f(na, nb)
    tail = (1 - confidence) / 2
    low, high = ratio / f.ppf(1 - tail), ratio / f.ppf(tail)
    p = float(min(1.0, 2 * min(f.cdf(ratio), f.sf(ratio))))
    p_eq = float(max(f.sf(ratio * margin), f.cdf(ratio / margin)))  # H0: ratio <= 1/margin, H0: ratio >= margin
    eq = (float(ratio / f.ppf(confidence)), float(ratio / f.ppf(1 - confidence)))
    return Test(Estimate(ratio, float(low), float(high), min(na, nb)), p, p_eq, margin, "ratio", math.nan, eq, null=1.0)


def adjust(p_values: list[float], method: str) -> list[float]:
    """Adjust a family of p-values: 'holm' (family-wise) or 'bh' (false discovery rate); NaNs stay out of the family."""
    from reportgen.decision import adjust as adjust_array

    return adjust_array(np.asarray(p_values, float), method).tolist()


def replicates_to_detect(test: Test, alpha: float) -> int | None:
    """About how many replicates would give an effect of the observed size POWER to be detected at level alpha."""
    if test.kind == "ratio":
        return _ratio_replicates(test.effect.mean, alpha)
    if not (math.isfinite(test.sd) and test.sd > 0 and math.isfinite(test.effect.mean)) or test.effect.mean == 0:
        return None
    if test.correction:
        return _corrected_replicates(abs(test.effect.mean), test.sd, test.correction, alpha)
    import statsmodels.tools.sm_exceptions  # noqa: F401  its import sets ConvergenceWarning to "always": before ours
    from statsmodels.stats.power import TTestPower

    size = abs(test.effect.mean) / test.sd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            n = TTestPower().solve_power(effect_size=size, alpha=alpha, power=POWER, alternative="two-sided")
        except (ValueError, RuntimeError):
            return None
    return None if not np.isfinite(n) else min(int(math.ceil(float(np.atleast_1d(n)[0]))), MAX_REPLICATES)


def replicates_for_equivalence(test: Test, alpha: float) -> int | None:
    """About how many replicates would show, with POWER, that the effect lies inside the margin if its true value is
    zero (planned at no effect, not at the observed one: an observed effect near the margin would ask for thousands)."""
    from scipy import stats

    if test.kind == "ratio" or not (math.isfinite(test.sd) and test.sd > 0 and test.margin > 0):
        return None
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(1 - (1 - POWER) / 2)
    room = (test.margin / (z * test.sd)) ** 2 - test.correction  # 1/n must fit in what the corrected variance leaves
    if room <= 0:
        return None  # re-split rows: no number of replicates makes the interval that narrow, only more rows would
    return min(int(math.ceil(1 / room)) + 1, MAX_REPLICATES)


def _corrected_replicates(effect: float, sd: float, correction: float, alpha: float) -> int | None:
    """Smallest n whose corrected t-test detects the effect with POWER (noncentral t); None when even infinitely many
    replicates of the same rows could not (the corrected variance keeps sd² · n_test / n_train)."""
    from scipy import stats

    def power(n: int) -> float:
        ncp = effect / float(standard_error(sd, n, correction))
        crit = stats.t.ppf(1 - alpha / 2, n - 1)
        return float(stats.nct.sf(crit, n - 1, ncp) + stats.nct.cdf(-crit, n - 1, ncp))

    if power(MAX_REPLICATES) < POWER:
        return None
    low, high = 2, MAX_REPLICATES
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if power(mid) < POWER else (low, mid)
    return high


def _ratio_replicates(ratio: float, alpha: float) -> int | None:
    """Smallest n whose F(n, n) test rejects ratio = 1 with POWER when the true ratio is the observed one."""
    from scipy import stats

    if not (math.isfinite(ratio) and ratio > 0) or ratio == 1:
        return None
    r = max(ratio, 1 / ratio)

    def power(n: int) -> float:
        crit = stats.f.ppf(1 - alpha / 2, n, n)
        return float(stats.f.sf(crit / r, n, n))

    n = 2
    while power(n) < POWER:
        n *= 2
        if n > MAX_REPLICATES:
            return MAX_REPLICATES
    low, high = n // 2, n
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if power(mid) < POWER else (low, mid)
    return high
