"""Small statistics over seeds: means with t confidence intervals and paired comparisons (scipy.stats)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

CI_METHOD = "Student's t interval over seeds (mean ± t(n−1) · s / √n)"
PAIRED_METHOD = "paired t-test over seeds (same seed = same data, initial weights and batch order)"


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its confidence interval (low, high are NaN with fewer than two seeds)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def has_interval(self) -> bool:
        """Whether an interval could be computed (two or more finite values)."""
        return self.n >= 2 and math.isfinite(self.low)

    def excludes_zero(self) -> int:
        """Return +1 if the interval lies above zero, -1 if below, 0 if it contains zero or is missing."""
        if not self.has_interval:
            return 0
        return 1 if self.low > 0 else -1 if self.high < 0 else 0

    def as_dict(self) -> dict:
        """Return the estimate as plain JSON-ready values."""
        clean = lambda v: None if not math.isfinite(v) else float(v)  # noqa: E731
        return {"mean": clean(self.mean), "ci_low": clean(self.low), "ci_high": clean(self.high), "n": self.n}


def estimate(values, confidence: float) -> Estimate:
    """Mean and t confidence interval of the finite values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if v.size < 2:
        return Estimate(mean, math.nan, math.nan, 1)
    sem = float(stats.sem(v))
    if sem == 0.0:
        return Estimate(mean, mean, mean, int(v.size))
    low, high = stats.t.interval(confidence, v.size - 1, loc=mean, scale=sem)
    return Estimate(mean, float(low), float(high), int(v.size))


def estimate_columns(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise mean, low and high over the rows (seeds) of a 2-D array."""
    cols = [estimate(values[:, j], confidence) for j in range(values.shape[1])]
    return tuple(np.array([getattr(c, f) for c in cols]) for f in ("mean", "low", "high"))


@dataclass(frozen=True)
class Comparison:
    """A paired difference (variant minus reference) over seeds, with its test."""

    diff: Estimate
    p_value: float
    reference_mean: float

    @property
    def relative(self) -> float:
        """The mean difference as a share of the reference's mean (NaN when the reference is ~0)."""
        return self.diff.mean / abs(self.reference_mean) if abs(self.reference_mean) > 1e-12 else math.nan


def paired(values, reference, confidence: float) -> Comparison:
    """Compare two per-seed arrays paired by seed."""
    a, b = np.asarray(values, float), np.asarray(reference, float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    diff = estimate(a - b, confidence)
    if a.size >= 2 and np.ptp(a - b) > 0:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # near-constant differences make scipy warn; the p-value is still right
            p = float(stats.ttest_rel(a, b).pvalue)
    elif a.size >= 2:
        p = 0.0 if np.any(a != b) else 1.0
    else:
        p = math.nan
    return Comparison(diff=diff, p_value=p, reference_mean=float(b.mean()) if b.size else math.nan)


SPREAD_METHOD = "difference of seed-to-seed standard deviations, percentile bootstrap interval, Levene's test"


def spread(values, reference, confidence: float) -> Comparison:
    """Compare seed-to-seed standard deviations (values minus reference), not paired."""
    a, b = np.asarray(values, float), np.asarray(reference, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    sd_a, sd_b = (float(np.std(v, ddof=1)) if v.size > 1 else math.nan for v in (a, b))
    if min(a.size, b.size) < 3:
        return Comparison(Estimate(sd_a - sd_b, math.nan, math.nan, min(a.size, b.size)), math.nan, sd_b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny samples make scipy warn about degenerate resamples
        ci = stats.bootstrap((a, b), lambda x, y, axis: np.std(x, ddof=1, axis=axis) - np.std(y, ddof=1, axis=axis),
                             paired=False, vectorized=True, confidence_level=confidence, n_resamples=2000,
                             method="percentile", rng=np.random.default_rng(0)).confidence_interval
        p = float(stats.levene(a, b).pvalue)
    return Comparison(Estimate(sd_a - sd_b, float(ci.low), float(ci.high), min(a.size, b.size)), p, sd_b)
