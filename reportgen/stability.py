"""Would a rerun say the same? The probability that each verdict changes on an independent rerun of the design.

A rerun of the same study with new replicate seeds (or on another CPU, whose last bits of a reduction grow over
thousands of steps into another network, as a new seed would) draws new replicates from the same population. The
build's own replicates are all we know of that population, so a rerun is simulated in two steps (a posterior
predictive draw with Rubin's (1981) Bayesian bootstrap): a plausible population is drawn as Dirichlet weights over
the build's replicates, then a rerun of as many replicates is drawn from it, every claim's contrast from the same
replicate (so claims that move together still do). Each simulated rerun goes through the same decision rule as the
build (decision.judge: the same tests, margins, Holm's correction and looks), and a verdict's flip probability is
the share of reruns that give it another verdict: the reproducibility probability of Shao and Chow (2002), counted
for every verdict rather than only for 'significant'. The population's spread enters twice (once in this build's
estimate, once in the rerun's), so an effect that sits exactly on a threshold flips about half the time.
"""

from __future__ import annotations

import math

import numpy as np

from reportgen import decision

BORDERLINE = 0.10  # a verdict more likely than this to change on a rerun is marked borderline
DRAWS = 2000  # simulated reruns (the Monte Carlo error of a flip probability near 0.1 is about 0.007)
SEED = 20_260_101  # fixed, so that a build and its results.json give the same probabilities every time
FIRM_LIMIT = 100_000  # replicates beyond which "would make it firm" is reported as "more than"


def rerun_codes(
    family: decision.Family, values: np.ndarray, looks: tuple[int, ...], draws: int = DRAWS, seed: int = SEED
) -> np.ndarray:
    """Verdict codes [..., draws, claims] of simulated reruns of builds whose contrasts are values [..., claims,
    replicates] (NaN where a replicate has none; leading dimensions: independent builds), judged at the same looks."""
    rng = np.random.default_rng(seed)
    n = values.shape[-1]
    weights = rng.dirichlet(np.ones(n), size=draws)  # a plausible population per rerun
    cumulative = np.cumsum(weights, axis=1)
    picks = np.minimum((cumulative[:, None, :] < rng.random((draws, n, 1))).sum(axis=2), n - 1)  # n replicates from it
    rerun = np.moveaxis(values[..., picks], -3, -2)  # [..., draws, claims, n]
    return decision.judge(family, [rerun[..., :k] for k in looks], decision.tabled_student_cdf).codes


def flip_probabilities(
    family: decision.Family,
    values: np.ndarray,
    looks: tuple[int, ...],
    observed: np.ndarray,
    draws: int = DRAWS,
    seed: int = SEED,
) -> np.ndarray:
    """Per claim [..., claims], the share of simulated reruns whose verdict differs from the observed codes."""
    if values.shape[-2] == 0:
        return np.zeros(values.shape[:-1])
    return (rerun_codes(family, values, looks, draws, seed) != np.asarray(observed)[..., None, :]).mean(axis=-2)


def _population(values: np.ndarray, draws: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Plausible populations [..., draws, claims]: the mean and standard deviation of each claim's contrast under
    Dirichlet weights over the build's replicates (shared by every claim; a replicate a claim has no value for
    weighs nothing)."""
    finite = np.isfinite(values)[..., None, :, :]
    x = np.where(finite, values[..., None, :, :], 0.0)
    w = rng.dirichlet(np.ones(values.shape[-1]), size=draws)[:, None, :] * finite  # [..., draws, claims, n]
    w = w / np.maximum(w.sum(axis=-1, keepdims=True), 1e-300)
    mu = (w * x).sum(axis=-1)
    count = finite.sum(axis=-1)
    sd = np.sqrt((w * (x - mu[..., None]) ** 2).sum(axis=-1) * count / np.maximum(count - 1, 1))
    return mu, sd


def _build_codes(family: decision.Family, mu, sd, n: int, rng) -> np.ndarray:
    """Verdict codes of simulated builds of n replicates from the populations (their mean normal around the
    population's, their spread a scaled chi-square): the family's tests and adjustment, all alpha at one look."""
    c = family.correction  # replicates that re-split the same rows: their mean varies by the corrected variance
    mean = mu + rng.standard_normal(mu.shape) * (sd / np.sqrt(n) if c == 0 else sd * np.sqrt(1 / n + c))
    s = sd * np.sqrt(rng.chisquare(n - 1, mu.shape) / (n - 1))
    count = np.full(mu.shape, n)
    fixed = decision.Family(family.nulls, family.margins, family.directions, family.method, family.alpha, correction=c)
    cdf = decision.normal_cdf if n > 100 else decision.tabled_student_cdf
    tests = [decision.t_p(mean, s, count, family.nulls, cdf, c)]
    tosts = [decision.tost_p(mean, s, count, family.margins, cdf, c)]
    return decision.judge_p(fixed, tests, tosts, mean, s, count).codes


def replicates_to_firm(
    family: decision.Family, values: np.ndarray, which: np.ndarray, draws: int = DRAWS, seed: int = SEED, limit: int = FIRM_LIMIT
) -> np.ndarray:
    """For the claims marked in `which` [..., claims]: about how many replicates would make the verdict firm, the
    smallest n on a grid 10% apart at which two independent builds of n replicates from the populations the build's
    replicates suggest agree on it with probability above 1 − BORDERLINE (all claims at n, one look); 0 where not
    within `limit` (an effect that sits on a threshold is never firm) or not asked."""
    out = np.zeros(np.shape(which), int)
    if not np.any(which):
        return out
    rng = np.random.default_rng(seed)
    mu, sd = _population(values, draws, rng)
    n = values.shape[-1] + 1
    while n <= limit and np.any(which & (out == 0)):
        flips = (_build_codes(family, mu, sd, n, rng) != _build_codes(family, mu, sd, n, rng)).mean(axis=-2)
        out = np.where(which & (out == 0) & (flips < BORDERLINE), n, out)
        n = max(n + 1, math.ceil(n * 1.1))
    return out


def assess(
    family: decision.Family,
    values: np.ndarray,
    looks: tuple[int, ...],
    codes: np.ndarray,
    draws: int = DRAWS,
    seed: int = SEED,
    limit: int = FIRM_LIMIT,
) -> tuple[np.ndarray, np.ndarray]:
    """Each claim's flip probability and, for a borderline one, about how many replicates would make it firm (0: not
    within `limit`): what a report shows next to a verdict and what an adaptive design's stopping rule reads
    (sequential.more_replicates). codes: the verdicts observed; arrays may carry leading dimensions (builds)."""
    flips = flip_probabilities(family, values, looks, codes, draws, seed)
    return flips, replicates_to_firm(family, values, flips > BORDERLINE, draws, seed, limit)
