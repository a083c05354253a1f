"""The decision rule of the claims as array arithmetic: tests, families, looks and verdicts.

One place decides a verdict, for one build or for thousands of simulated ones: the claims of a build (claims.py),
the stability of each verdict (a rerun simulated from the build's own replicates, stability.py), the stopping rule
of an adaptive number of replicates (sequential.py) and the simulation test of that rule all call `judge`. Arrays
carry any leading batch dimensions (simulated builds), then one row per claim, then one column per replicate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Verdict(StrEnum):
    """What the data say about a claim (a string, so that it reads and compares as its words)."""

    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    NO_EFFECT = "no meaningful effect"
    INCONCLUSIVE = "inconclusive"

    @property
    def css(self) -> str:
        """Its CSS class: the words joined by hyphens."""
        return self.value.replace(" ", "-")


CODES = (Verdict.SUPPORTED, Verdict.CONTRADICTED, Verdict.NO_EFFECT, Verdict.INCONCLUSIVE)  # index = verdict code
SUPPORTED, CONTRADICTED, NO_EFFECT, INCONCLUSIVE = range(4)


@dataclass(frozen=True)
class Family:
    """A family of tests judged together: per claim its null value, margin and claimed direction; the adjustment;
    and, for an adaptive design, the share of alpha spent at each look (one look with all of it otherwise)."""

    nulls: np.ndarray  # [claims] the value of 'no effect' the significance test is against (0, or a margin)
    margins: np.ndarray  # [claims] the smallest effect of interest: |effect| < margin is 'no meaningful effect'
    directions: np.ndarray  # [claims] +1: the claim expects a larger value, -1 a smaller one
    method: str | None  # 'holm' (family-wise), 'bh' (false discovery rate) or None (uncorrected)
    alpha: float
    weights: tuple[float, ...] = (1.0,)  # alpha spending: the share of alpha at look k (they sum to at most 1)
    correction: float = 0.0  # n_test / n_train when replicates re-split the same rows (Nadeau and Bengio, 2003)


@dataclass(frozen=True)
class Judged:
    """A family's tests at its last look: raw and sequential p-values, adjusted ones, verdict codes."""

    mean: np.ndarray
    sd: np.ndarray
    n: np.ndarray
    p: np.ndarray  # two-sided t-test against the null, at the last look
    p_eq: np.ndarray  # TOST against the margin, at the last look
    p_seq: np.ndarray  # combined over the looks (min over looks of p / weight); equals p in a fixed design
    p_eq_seq: np.ndarray
    p_adj: np.ndarray  # p_seq adjusted over the family
    p_eq_adj: np.ndarray
    codes: np.ndarray  # index into CODES


def moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation (n − 1) and count of the finite values along the last axis (NaN below two)."""
    finite = np.isfinite(values)
    n = finite.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, values, 0.0).sum(axis=-1) / n
        dev = np.where(finite, values - mean[..., None], 0.0)
        sd = np.sqrt((dev**2).sum(axis=-1) / (n - 1))
    return mean, np.where(n >= 2, sd, np.nan), n


def student_cdf(df, x):
    """The t distribution function (scipy's stdtr)."""
    from scipy.special import stdtr

    return stdtr(df, x)


@functools.lru_cache(maxsize=64)
def _lower_tail_table(df: float) -> np.ndarray:
    """log of the t distribution function at −t for t on TABLE_T (one distribution's table, made once)."""
    from scipy.special import stdtr

    with np.errstate(divide="ignore"):
        return np.log(stdtr(df, -TABLE_T))


TABLE_T = np.linspace(0.0, 60.0, 12_001)


def tabled_student_cdf(df, x):
    """The t distribution function read off a fine table per distinct number of degrees of freedom (log scale, linear
    interpolation: within 1e-5 of stdtr relative to the value): for simulated builds, millions of values of a few
    distributions, where evaluating stdtr at each is what takes the time."""
    x = np.asarray(x, float)
    df = np.broadcast_to(np.asarray(df, float), x.shape)
    out = np.full(x.shape, np.nan)
    step = TABLE_T[1]
    for d in np.unique(df[np.isfinite(df) & (df > 0)]):
        at = df == d if df.ndim and not (df == d).all() else slice(None)
        position = np.nan_to_num(np.minimum(np.abs(x[at]) / step, TABLE_T.size - 1.0))  # an even grid: no search
        low = np.minimum(position.astype(int), TABLE_T.size - 2)
        table = _lower_tail_table(float(d))
        with np.errstate(invalid="ignore"):
            tail = np.exp(table[low] + (position - low) * (table[low + 1] - table[low]))
        out[at] = np.where(x[at] < 0, tail, 1 - tail)
    return np.where(np.isnan(x), np.nan, out)


def normal_cdf(df, x):
    """The normal distribution function, which the t's approaches with many degrees of freedom (within 0.3% of it
    in the tails that matter beyond 100): for simulated builds of hundreds of replicates, where stdtr is slow."""
    from scipy.special import ndtr

    return ndtr(x)


def _se(sd, n, correction: float):
    """sd / √n, or Nadeau and Bengio's corrected sd · √(1/n + correction) for replicates that re-split the same rows."""
    return sd / np.sqrt(n) if correction == 0 else sd * np.sqrt(1.0 / n + correction)


def t_p(mean, sd, n, null, cdf=student_cdf, correction: float = 0.0) -> np.ndarray:
    """Two-sided one-sample t-test p of mean = null (0 or 1 when every value is the same; NaN below two values);
    correction: n_test / n_train when replicates re-split the same rows (the corrected resampled t-test)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (mean - null) / _se(sd, n, correction)
        p = 2 * cdf(n - 1, -np.abs(t))
    p = np.where(sd == 0, np.where(mean != null, 0.0, 1.0), p)
    return np.where(n >= 2, p, np.nan)


def tost_p(mean, sd, n, margin, cdf=student_cdf, correction: float = 0.0) -> np.ndarray:
    """TOST p of 'the mean lies inside (−margin, margin)': the larger of two one-sided t-tests (NaN without a margin;
    correction as for t_p)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        se = _se(sd, n, correction)
        p = np.maximum(cdf(n - 1, -(mean + margin) / se), cdf(n - 1, (mean - margin) / se))
    p = np.where(sd == 0, np.where(np.abs(mean) < margin, 0.0, 1.0), p)
    return np.where((n >= 2) & (margin > 0), p, np.nan)


def adjust(p: np.ndarray, method: str | None) -> np.ndarray:
    """Adjust p-values along the last axis: 'holm' (family-wise) or 'bh' (false discovery rate); NaNs stay out of
    the family (the same numbers as statsmodels' multipletests, tested)."""
    p = np.asarray(p, float)
    if method is None or p.shape[-1] == 0:
        return p.copy()
    finite = np.isfinite(p)
    m = finite.sum(axis=-1, keepdims=True)
    order = np.argsort(np.where(finite, p, np.inf), axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    rank = np.arange(1, p.shape[-1] + 1)
    if method == "holm":
        scaled = np.where(rank <= m, ranked * (m - rank + 1), np.nan)
        scaled = np.fmax.accumulate(np.where(np.isfinite(scaled), scaled, -np.inf), axis=-1)
    elif method == "bh":
        scaled = np.where(rank <= m, ranked * m / rank, np.inf)
        scaled = np.flip(np.minimum.accumulate(np.flip(scaled, -1), axis=-1), -1)
    else:
        raise ValueError(f"unknown adjustment {method!r}")
    out = np.empty_like(p)
    np.put_along_axis(out, order, np.minimum(scaled, 1.0), axis=-1)
    return np.where(finite, out, np.nan)


def combine_looks(per_look: list[np.ndarray], weights: tuple[float, ...]) -> np.ndarray:
    """A p-value valid whatever the stopping rule: the smallest p / w_k over the looks reached (weighted Bonferroni
    over the looks; the weights are the alpha-spending shares). With one look of weight 1 it is that look's p."""
    out = np.full(np.shape(per_look[-1]), np.inf)
    for p, w in zip(per_look, weights, strict=False):
        out = np.fmin(out, np.asarray(p, float) / w)
    out = np.where(np.isfinite(per_look[-1]) | np.isfinite(out), out, np.nan)
    return np.minimum(out, 1.0)


def codes(p_adj, p_eq_adj, mean, null, direction, n, alpha: float) -> np.ndarray:
    """Verdict codes: no meaningful effect when the equivalence test passes (even if the effect is detectable: it is
    then smaller than the smallest effect of interest); else supported or contradicted when the test against the
    null passes, by the effect's side of it; else inconclusive."""
    eq = p_eq_adj < alpha
    sig = p_adj < alpha
    side = np.sign(mean - null)
    out = np.full(np.shape(p_adj), INCONCLUSIVE)
    out = np.where(sig & (side == direction), SUPPORTED, out)
    out = np.where(sig & (side == -direction), CONTRADICTED, out)
    out = np.where(eq, NO_EFFECT, out)
    return np.where(n >= 2, out, INCONCLUSIVE)


def judge(family: Family, per_look: list[np.ndarray], cdf=student_cdf) -> Judged:
    """Judge a family from its values at each look reached ([..., claims, replicates] each, the last one the build's);
    cdf: the t distribution function (a tabled one for simulated builds)."""
    tests, tosts = [], []
    for values in per_look:
        mean, sd, n = moments(values)
        tests.append(t_p(mean, sd, n, family.nulls, cdf, family.correction))
        tosts.append(tost_p(mean, sd, n, family.margins, cdf, family.correction))
    return judge_p(family, tests, tosts, mean, sd, n)


def judge_p(family: Family, tests: list[np.ndarray], tosts: list[np.ndarray], mean, sd, n) -> Judged:
    """Judge a family from its p-values at each look (tests against the null, TOSTs) and its last look's effects."""
    p_seq, p_eq_seq = combine_looks(tests, family.weights), combine_looks(tosts, family.weights)
    p_adj, p_eq_adj = adjust(p_seq, family.method), adjust(p_eq_seq, family.method)
    verdicts = codes(p_adj, p_eq_adj, mean, family.nulls, family.directions, n, family.alpha)
    return Judged(
        np.asarray(mean, float),
        np.asarray(sd, float),
        np.asarray(n),
        np.asarray(tests[-1], float),
        np.asarray(tosts[-1], float),
        p_seq,
        p_eq_seq,
        p_adj,
        p_eq_adj,
        verdicts,
    )


def spending_weights(looks: tuple[int, ...], planned_max: int, alpha: float = 0.05) -> tuple[float, ...]:
    """The share of alpha spent at each look of an adaptive design: Lan and DeMets' (1983) O'Brien-Fleming-type spending
    function a(t) = 2 − 2 Φ(z(1 − α/2) / √t), t = replicates at the look / the maximum, which keeps most of alpha for
    the last look (where most replicates are) and little for the first; a fixed design spends all of it at once."""
    from scipy.special import ndtr, ndtri

    t = np.minimum(np.asarray(looks, float) / planned_max, 1.0)
    spent = 2 - 2 * ndtr(ndtri(1 - alpha / 2) / np.sqrt(np.append(t, 1.0)))  # and at t = 1: alpha, up to rounding
    return tuple(float(w) for w in np.diff(np.concatenate([[0.0], spent[:-1]])) / spent[-1])
