"""The sentence behind every finding: every number from this build, never more than the verdict behind it."""

from __future__ import annotations

import math
from functools import partial

from reportgen import numbers, stability
from reportgen.analysis import (
    StudyAnalysis,
)
from reportgen.claims.findings import ClaimResult, Finding
from reportgen.claims.registry import CONTRADICTED, NO_EFFECT, SUPPORTED
from reportgen.metrics import metric as metric_info

METHOD_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", None: "uncorrected"}


fmt_number, fmt_p = numbers.prose, numbers.p_value


def p_is(p: float) -> str:
    """'= 0.03' or '< 0.0001', to follow a 'p'."""
    text = fmt_p(p)
    return text if text.startswith("<") else f"= {text}"


def formatters(metric: str, kind: str = "difference"):
    """(value, difference) formatters: shares as percent and percentage points, ratios with ×, the rest plain."""
    if kind == "ratio":
        return numbers.prose, partial(numbers.ratio, missing=numbers.NA)
    if metric_info(metric).kind == "pct":
        return partial(numbers.percent, missing=numbers.NA), partial(numbers.points, missing=numbers.NA)
    return numbers.prose, partial(numbers.signed, plain=numbers.prose, missing=numbers.NA)


def _head(f: Finding) -> str:
    """What was compared, with the means (or the ratio)."""
    val, diff = formatters(f.metric, f.test.kind)
    label = metric_info(f.metric).label
    st = f.measure.statistic
    if st == "value":
        return f"{label} of {f.variant}: {val(f.value)}"
    if st == "slope":
        return f"{label}, {f.variant}: {diff(f.value)} on average"
    if st == "init_ratio":
        return (
            f"Seed-to-seed standard deviation of test accuracy between two initializations on the same data: "
            f"{f.value:.2%} for {f.variant} vs {f.reference_value:.2%} for the baseline, "
            f"a variance ratio of {diff(f.test.effect.mean)}"
        )
    if st == "disagreement":
        label, val, diff = (
            "Share of test points on which two initializations on the same data disagree",
            *formatters("test_accuracy"),
        )
    who, ref = f.names or (f.variant, "the baseline")
    text = f"{label}: {val(f.value)} for {who} vs {val(f.reference_value)} for {ref}, a difference of {diff(f.test.effect.mean)}"
    if metric_info(f.metric).kind != "pct" and st != "disagreement" and f.reference_value and math.isfinite(f.reference_value):
        text += f" ({f.test.effect.mean / abs(f.reference_value):+.0%})"
    return text


def _bound(f: Finding):
    """How the ends of a finding's interval are written: values for a value, differences (or ×r) otherwise."""
    return formatters(f.metric)[0] if f.measure.statistic == "value" else formatters(f.metric, f.test.kind)[1]


def _evidence(f: Finding, method: str | None, conf: float) -> str:
    """The interval and the tests: raw, combined over an adaptive design's looks, adjusted."""
    e, t = f.test.effect, f.test
    test = {"ratio": "F test"}.get(t.kind, "t-test" if f.measure.statistic in ("value", "slope") else "paired t-test")
    if t.correction:  # replicates re-split one table's rows
        test = f"corrected resampled {test} (Nadeau-Bengio)"
    against = f" against {_bound(f)(t.null)}" if f.measure.against_margin else ""
    text = f"{e.n} replicates, {conf:.0%} CI {_bound(f)(e.low)} to {_bound(f)(e.high)}, {test}{against} p {p_is(t.p_value)}"
    if len(f.looks) > 1:
        text += f", over the looks at {', '.join(map(str, f.looks))} replicates p {p_is(f.p_sequential)}"
    if method:
        text += f", {METHOD_NAMES[method]}-adjusted p {p_is(f.p_adjusted)} over {f.family_size} {f.role} tests"
    return text


def _margin_text(f: Finding) -> str:
    if f.test.kind == "ratio":
        return f"1/{fmt_number(f.test.margin)} to {fmt_number(f.test.margin)}"
    return f"±{formatters(f.metric)[1](f.test.margin).lstrip('+')}"


def _equivalence(f: Finding, method: str | None) -> str:
    """The equivalence test behind 'no meaningful effect', as applied: TOST against the margin, adjusted like the
    family's other tests."""
    how = f", {METHOD_NAMES[method]}-adjusted" if method else ""
    return f"the equivalence test (TOST) against {_margin_text(f)} gives p {p_is(f.p_equivalence_adjusted)}{how}"


def _conclusion(f: Finding, method: str | None, conf: float) -> str:
    e, t = f.test.effect, f.test
    alpha = 1 - conf
    if not e.has_interval:
        return f"with {e.n} replicate{'s' if e.n != 1 else ''} there is no interval, so no verdict (run at least two)"
    if f.verdict == SUPPORTED:
        return "the data support the claim" + (
            f", an effect beyond the margin of {_bound(f)(t.null)}" if f.measure.against_margin else ""
        )
    if f.verdict == CONTRADICTED:
        return "the data show the opposite of the claim"
    if f.verdict == NO_EFFECT:
        detectable = (
            f"the difference is detectable ({METHOD_NAMES[method]}-adjusted p {p_is(f.p_adjusted)}) but smaller "
            f"than the smallest effect of interest: "
            if f.p_adjusted < alpha
            else ""
        )
        return f"no meaningful effect: {detectable}{_equivalence(f, method)}, below {alpha:g}"
    null = "1" if t.kind == "ratio" else _bound(f)(t.null) if f.measure.against_margin else "zero"
    why = (
        f"the {conf:.0%} interval includes {null}"
        if not t.p_value < alpha
        else f"the {conf:.0%} interval excludes {null}, but the effect does not survive "
        + (f"{METHOD_NAMES[method]}'s correction for {f.family_size} tests" if method else "the looks' alpha spending")
        + (" with alpha spent over the looks" if len(f.looks) > 1 and method else "")
    )
    more = []
    if f.needed:
        more.append(f"about {f.needed:,} replicates would detect an effect of this size (80% power)")
    if f.needed_equivalence:
        more.append(f"about {f.needed_equivalence:,} would show a true effect of zero lies within {_margin_text(f)}")
    if t.correction and not (f.needed and f.needed_equivalence):  # the corrected variance keeps s² n_test / n_train
        more.append("re-splitting the same rows more often cannot settle it, only more rows can")
    return f"inconclusive: {why}" + (f"; {' and '.join(more)}" if more else "")


def sentence(f: Finding, method: str | None, analysis: StudyAnalysis) -> str:
    """One sentence with every number behind a finding's verdict."""
    conf = analysis.confidence
    return f"{_head(f)} ({_evidence(f, method, conf)}): {_conclusion(f, method, conf)}."


def stability_text(c: ClaimResult) -> str:
    """How likely a rerun is to change the claim's verdict, and what would make it firm."""
    if not math.isfinite(c.flip):
        return ""
    text = f"A rerun with new replicates changes this verdict with probability {c.flip:.0%}"
    if not c.borderline:
        return text + "."
    firm = (
        f"about {c.firm_at:,} replicates would make it firm, if the effect stays as measured"
        if c.firm_at
        else f"the effect sits so close to a threshold that even {stability.FIRM_LIMIT:,} replicates would not make it firm"
    )
    return f"{text}: borderline; {firm}."
