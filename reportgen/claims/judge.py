"""Judge the claims: Holm over the primary measures, Benjamini-Hochberg over the secondary ones, alpha spent over an
adaptive design's looks (all through reportgen.decision), then each verdict's flip probability on a rerun."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from reportgen import decision, stability
from reportgen.analysis import (
    StudyAnalysis,
    restricted,
)
from reportgen.claims.findings import ClaimResult, Finding, Verdicts
from reportgen.claims.measure import match_of, raw_checks, raw_claims
from reportgen.claims.registry import INCONCLUSIVE
from reportgen.claims.sentences import sentence
from reportgen.stats import (
    replicates_for_equivalence,
    replicates_to_detect,
)


def _family(findings: list[Finding], method: str | None, alpha: float, design) -> decision.Family:
    """The decision rule of a family of findings in a design (its looks' alpha, its correction for re-split rows)."""
    return decision.Family(
        np.array([f.test.null for f in findings], float),
        np.array([f.test.margin for f in findings], float),
        np.array([f.measure.direction for f in findings], float),
        method,
        alpha,
        design.spending(),
        design.correction,
    )


def _judge(
    findings: list[Finding], looks: list[list[Finding]], method: str | None, alpha: float, analysis: StudyAnalysis
) -> list[Finding]:
    """Give a family its verdicts through decision.judge_p: each finding's p-values at every look (looks: the same
    findings measured on the replicates of each earlier look), combined over the looks, adjusted over the family."""
    if not findings:
        return []
    design = analysis.design
    family = _family(findings, method, alpha, design)
    every = [*looks, findings]
    tests = [np.array([f.test.p_value for f in look], float) for look in every]
    tosts = [np.array([f.test.p_equivalence for f in look], float) for look in every]
    n = np.array([f.test.effect.n if f.test.effect.has_interval else 0 for f in findings])
    judged = decision.judge_p(
        family,
        tests,
        tosts,
        np.array([f.test.effect.mean for f in findings], float),
        np.array([f.test.sd for f in findings], float),
        n,
    )
    size, out = int(np.isfinite(judged.p_seq).sum()), []
    sequential = design.look_sizes() if design.sequential else ()
    for k, f in enumerate(findings):
        f = replace(
            f,
            p_adjusted=float(judged.p_adj[k]),
            p_equivalence_adjusted=float(judged.p_eq_adj[k]),
            p_sequential=float(judged.p_seq[k]),
            p_equivalence_sequential=float(judged.p_eq_seq[k]),
            family_size=size,
            verdict=decision.CODES[judged.codes[k]],
            looks=sequential,
        )
        if f.verdict == INCONCLUSIVE and f.test.effect.has_interval:
            level = alpha / max(size, 1) if method == "holm" else alpha
            f = replace(
                f, needed=replicates_to_detect(f.test, level), needed_equivalence=replicates_for_equivalence(f.test, level)
            )
        out.append(replace(f, sentence=sentence(f, method, analysis)))
    return out


def _earlier_looks(analysis: StudyAnalysis, claims: list[ClaimResult]) -> list[list[ClaimResult]]:
    """The same claims measured on the replicates of each earlier look of an adaptive design (none in a fixed one):
    what the build saw when it decided to go on."""
    design, keys = analysis.design, [c.key for c in claims]
    out = []
    for size in design.look_sizes()[:-1]:
        earlier = {c.key: c for c in raw_claims(restricted(analysis, analysis.seeds[:size]))}
        out.append([earlier.get(k) for k in keys])
    return out


def _at_look(claims: list[ClaimResult | None], like: list[ClaimResult], part) -> list[Finding]:
    """Findings of an earlier look in the order of this build's (a claim missing then: untested at that look)."""
    out = []
    for c, now in zip(claims, like, strict=True):
        for k, f in enumerate(part(now)):
            was = part(c)[k] if c is not None and k < len(part(c)) else None
            out.append(was if was is not None else replace(f, test=replace(f.test, p_value=math.nan, p_equivalence=math.nan)))
    return out


def _given(claims: list[ClaimResult], metrics: set[str] | None) -> list[ClaimResult]:
    """The claims whose primary measure is among metrics, each with the secondary measures that are (all: None)."""
    if metrics is None:
        return claims
    return [replace(c, secondary=[f for f in c.secondary if f.metric in metrics]) for c in claims if c.primary.metric in metrics]


def evaluate_claims(analysis: StudyAnalysis, metrics: set[str] | None = None) -> Verdicts:
    """Measure every applicable claim and judge it: Holm over primary measures, BH over secondary ones (with an
    adaptive design, alpha spent over its looks); then each primary verdict's probability of changing on a rerun.
    metrics: the measures there are (runs trained elsewhere, reportgen.judging): a claim whose primary measure is not
    among them is left out, and so is a secondary measure or a sanity check that is not (None: every measure)."""
    alpha = 1 - analysis.confidence
    claims = _given(raw_claims(analysis), metrics)
    earlier = _earlier_looks(analysis, claims)
    primary = lambda c: [c.primary]  # noqa: E731
    secondary = lambda c: list(c.secondary)  # noqa: E731
    prim = iter(_judge([c.primary for c in claims], [_at_look(e, claims, primary) for e in earlier], "holm", alpha, analysis))
    sec = iter(
        _judge([f for c in claims for f in c.secondary], [_at_look(e, claims, secondary) for e in earlier], "bh", alpha, analysis)
    )
    judged = [replace(c, primary=next(prim), secondary=[next(sec) for _ in c.secondary]) for c in claims]
    judged = _with_stability(judged, analysis, alpha)
    checks = _judge(
        [f for f in raw_checks(analysis) if metrics is None or f.metric in metrics],
        [],
        None,
        alpha,
        replace(analysis, design=replace(analysis.design, looks=(), planned=0)),
    )
    matched = match_of(analysis)
    return Verdicts(
        judged,
        checks,
        alpha,
        analysis.confidence,
        analysis.design.looks if analysis.design.sequential else (),
        matched.refused if matched is not None else "",
    )


def contrast_matrix(claims: list[ClaimResult], seeds: list[int]) -> np.ndarray:
    """The primary per-replicate contrasts [claims, replicates] in the order of seeds (NaN where a claim has none)."""
    column = {s: j for j, s in enumerate(seeds)}
    out = np.full((len(claims), len(seeds)), np.nan)
    for i, c in enumerate(claims):
        for s, v in zip(c.primary.test.seeds, c.primary.test.values, strict=True):
            if s in column:
                out[i, column[s]] = v
    return out


def _with_stability(claims: list[ClaimResult], analysis: StudyAnalysis, alpha: float) -> list[ClaimResult]:
    """Each claim with its flip probability and, when borderline, about how many replicates would make it firm
    (stability.assess, through the same decision rule as the verdicts)."""
    judgeable = [c for c in claims if c.primary.test.values]
    if not judgeable:
        return claims
    findings = [c.primary for c in judgeable]
    family = _family(findings, "holm", alpha, analysis.design)
    codes = np.array([decision.CODES.index(f.verdict) for f in findings])
    flips, firm = stability.assess(family, contrast_matrix(judgeable, analysis.seeds), analysis.design.look_sizes(), codes)
    by_key = {
        c.key: replace(c, flip=float(flip), firm_at=int(at) or None) for c, flip, at in zip(judgeable, flips, firm, strict=True)
    }
    return [by_key.get(c.key, c) for c in claims]
