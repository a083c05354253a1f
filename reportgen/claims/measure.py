"""Measure every applicable claim on an analysis: its variants found by what they do, each measure's per-replicate
contrasts and test (not yet judged)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from reportgen.analysis import (
    Match,
    StudyAnalysis,
    benefit_slopes,
    matched_l1_l2,
    per_replicate,
    sweep_values,
)
from reportgen.claims.findings import ClaimResult, Finding
from reportgen.claims.registry import CHECK, CHECKS, PRIMARY, REGISTRY, SECONDARY, SLOPE_OF, ClaimDef, Measure
from reportgen.config import VariantConfig
from reportgen.metrics import metric as metric_info
from reportgen.stats import (
    Test,
    difference_test,
    variance_ratio_test,
)


def _expand(measure: Measure, thresholds: list[float]) -> list[tuple[Measure, str]]:
    """A measure for each sparsity threshold when its metric is a template ('first_below_{t}'), else itself."""
    if "{t}" not in measure.metric:
        return [(measure, measure.metric)]
    return [
        (replace(measure, how=measure.how.replace("{t}", f"{t:g}")), measure.metric.replace("{t}", f"{t:g}")) for t in thresholds
    ]


def _margin(analysis: StudyAnalysis, metric: str, reference_mean: float | None) -> float:
    """The smallest effect of interest of a metric, in its own units."""
    info = metric_info(metric)
    if info.margin is None:
        return math.nan
    m = getattr(analysis.setup.margins, info.margin)
    return m * abs(reference_mean) if info.relative and reference_mean is not None else m


def aligned(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Two per-replicate series on their common replicates."""
    common = a.index.intersection(b.index)
    return a.loc[common].to_numpy(float), b.loc[common].to_numpy(float)


def _paired(a, b, analysis: StudyAnalysis, margin_of) -> tuple[Test, float, float]:
    """The paired test of two per-replicate series on their common replicates (margin_of: the margin from the
    reference's mean), with both means."""
    common = a.index.intersection(b.index)
    x, y = a.loc[common].to_numpy(float), b.loc[common].to_numpy(float)
    test = difference_test(
        x, y, analysis.confidence, margin_of(mean_of(y)), common.to_numpy(), correction=analysis.design.correction
    )
    return test, mean_of(x), mean_of(y)


def _twin_series(analysis: StudyAnalysis, variant: str, column: str):
    t = analysis.twins
    return t[t["variant"] == variant].set_index("seed")[column].astype(float)


def _measure(
    analysis: StudyAnalysis,
    measure: Measure,
    metric: str,
    variant: str | None,
    reference: str | None,
    matched: Match | None = None,
) -> tuple[Test, float, float | None]:
    """Run one measure's test; return it with the variant's and the reference's mean (as shown in sentences)."""
    conf, stat = analysis.confidence, measure.statistic
    if stat in ("slope", "value"):
        s = (
            benefit_slopes(analysis, variant, SLOPE_OF[metric][1], SLOPE_OF[metric][0])
            if stat == "slope"
            else per_replicate(analysis, variant, metric)
        )
        a, margin = s.to_numpy(float), _margin(analysis, metric, None)
        null = margin if measure.against_margin else 0.0
        test = difference_test(a, None, conf, margin, s.index.to_numpy(), null, analysis.design.correction)
        return test, mean_of(a), None
    if stat == "init_ratio":
        a, b = (_twin_series(analysis, n, "acc_diff") for n in (variant, reference))
        test = variance_ratio_test(a.to_numpy(), b.to_numpy(), conf, analysis.setup.margins.init_variance)
        sd = lambda s: float(np.sqrt(mean_of(s.to_numpy() ** 2) / 2))  # noqa: E731  twin differences: var 2σ²
        return test, sd(a), sd(b)
    if stat == "disagreement":
        a, b = (_twin_series(analysis, n, "disagreement") for n in (variant, reference))
        return _paired(a, b, analysis, lambda _: analysis.setup.margins.accuracy)
    if stat == "pair":
        if variant is None or reference is None:
            raise ValueError(f"{metric}: a pair's distance needs two variants")
        a = pair_distances(analysis, variant, reference, metric)
        margin = _margin(analysis, metric, None)
        test = difference_test(a.to_numpy(float), None, conf, margin, a.index.to_numpy(), margin, analysis.design.correction)
        return test, mean_of(a.to_numpy(float)), None
    if stat == "matched":
        a, b = sweep_values(analysis, "l1", matched.l1.strength, metric), matched.values(analysis, metric)
    else:
        a, b = per_replicate(analysis, variant, metric), per_replicate(analysis, reference, metric)
    return _paired(a, b, analysis, lambda ref_mean: _margin(analysis, metric, ref_mean))


def pair_distances(analysis: StudyAnalysis, variant: str, other: str, metric: str):
    """Per replicate, a distance between two variants' runs: 'weights_distance', the largest difference of their shares
    of first-layer weights below each sparsity threshold; 'accuracy_distance', the absolute difference of their test
    accuracies."""
    if metric == "accuracy_distance":
        a, b = aligned(per_replicate(analysis, variant, "test_accuracy"), per_replicate(analysis, other, "test_accuracy"))
        index = per_replicate(analysis, variant, "test_accuracy").index.intersection(
            per_replicate(analysis, other, "test_accuracy").index
        )
        return pd.Series(np.abs(a - b), index=index)
    columns = [f"first_below_{t:g}" for t in analysis.thresholds]
    parts = [per_replicate(analysis, variant, c) - per_replicate(analysis, other, c) for c in columns]
    return pd.concat(parts, axis=1).abs().max(axis=1).dropna()


def matched_l2(v: VariantConfig, variants) -> VariantConfig | None:
    """The variant that uses L2 of matched strength (l2 = weight_decay / 2) where v uses decoupled weight decay, and is
    otherwise v (None: the study has none)."""
    if not v.weight_decay or v.l2:
        return None
    want = v.model_copy(update={"weight_decay": 0.0, "l2": v.weight_decay / 2}).model_dump(exclude={"name", "label"})
    return next((u for u in variants if u.model_dump(exclude={"name", "label"}) == want), None)


def _finding(role, analysis, measure, metric, variant, reference, matched=None) -> Finding:
    test, value, ref = _measure(analysis, measure, metric, variant, reference, matched)
    return Finding(role, variant, measure, metric, value, ref, test)


def available(analysis: StudyAnalysis, needs: str | None) -> bool:
    """Whether a study offers what a measure needs (see Measure.needs)."""
    if needs == "bayes":
        return not analysis.data.bayes_note
    if needs == "boundary":
        return not analysis.data.boundary_note
    if needs == "data_size":
        d = analysis.data_runs
        return not d.empty and d[d["axis"] == "n_samples"]["n_train"].nunique() >= 2
    if needs == "width":
        d = analysis.data_runs
        return not d.empty and d[d["axis"] == "hidden_units"]["setting"].nunique() >= 2
    return True


def _subjects(d: ClaimDef, analysis: StudyAnalysis, matched: Match | None) -> list[VariantConfig | None]:
    """The variants a claim is about (None for a claim about the sweeps)."""
    ref = analysis.reference
    if ref is None or not available(analysis, d.primary.needs):
        return []
    if d.subject == "reference":
        return [v for v in analysis.setup.variants if v.name == ref]
    if d.subject == "sweeps":
        return [None] if matched is not None and not matched.refused else []
    if d.subject == "matched_l2":
        return [v for v in analysis.setup.variants if matched_l2(v, analysis.setup.variants) is not None]
    twinned = set(analysis.design.twins)
    needs_twins = d.primary.statistic in ("init_ratio", "disagreement")
    return [
        v for v in analysis.setup.variants if v.name != ref and d.applies(v) and (not needs_twins or {v.name, ref} <= twinned)
    ]


def match_of(analysis: StudyAnalysis) -> Match | None:
    return matched_l1_l2(analysis, analysis.setup.margins.loss)


def _who(v: VariantConfig | None) -> str:
    if v is None:
        return ""
    return v.name if not v.regularizers() and not v.label else f"{v.name} ({v.label or v.describe()})"


def _optimizer(analysis: StudyAnalysis) -> str:
    """The study's optimizer in words."""
    m = analysis.setup.model
    if m.optimizer == "sgd":
        return f"SGD with momentum {m.momentum:g}" if m.momentum else "plain SGD"
    return "Adam"


def mean_of(values) -> float:
    """Mean of the finite values (NaN when there are none), without numpy's empty-slice warning."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def _match_note(m: Match) -> str:
    """Which strengths the claim about the sweeps compares, in words."""
    l1 = m.l1
    tie = f", tied with {', '.join(f'{s:g}' for s in l1.tied if s != l1.strength)}" if len(l1.tied) > 1 else ""
    where = (
        f"{m.l2_strength:.3g}, interpolated between its sweep points {m.below:g} and {m.above:g}"
        if m.weight
        else f"{m.l2_strength:g}"
    )
    return (
        f"L1 {l1.strength:g} (chosen on validation loss by the one-standard-error rule{tie}; mean validation loss "
        f"{l1.val_loss:.3f}) against L2 at {where}, where L2's mean validation loss is {m.l2_val_loss:.3f}"
    )


def _reference(d, v, analysis: StudyAnalysis) -> str | None:
    """What a claim compares its subject with: the study's reference, or for a matched claim v's L2 twin."""
    if d.subject != "matched_l2":
        return analysis.reference
    twin = matched_l2(v, analysis.setup.variants)
    if twin is None:  # _subjects yields only variants that have one
        raise ValueError(f"{v.name}: no variant with matched L2")
    return twin.name


def raw_claims(analysis: StudyAnalysis) -> list[ClaimResult]:
    """Every applicable claim with its findings measured but not yet judged."""
    out, matched = [], match_of(analysis)
    for d in REGISTRY:
        for v in _subjects(d, analysis, matched):
            name = v.name if v else None
            ref = _reference(d, v, analysis)
            prim = _finding(PRIMARY, analysis, d.primary, d.primary.metric, name, ref, matched)
            sec = [
                _finding(SECONDARY, analysis, m, metric, name, ref, matched)
                for s in d.secondary
                if available(analysis, s.needs)
                for m, metric in _expand(s, analysis.thresholds)
            ]
            if d.subject == "matched_l2" and v is not None and ref is not None:  # the sentences name both variants
                pair = (v.name, ref)
                prim, sec = replace(prim, names=pair), [replace(f, names=pair) for f in sec]
            sweeps = d.subject == "sweeps"
            if sweeps:  # the sentences name the strengths compared
                names = (f"L1 {matched.l1.strength:g}", f"L2 {matched.l2_strength:.3g}")
                prim, sec = replace(prim, names=names), [replace(f, names=names) for f in sec]
            out.append(
                ClaimResult(
                    d,
                    name,
                    ref if not sweeps else "l2 sweep",
                    d.statement.format(who=_who(v), optimizer=_optimizer(analysis)),
                    prim,
                    sec,
                    _match_note(matched) if sweeps else "",
                    matched=(matched.l1.strength, matched.l2_strength) if sweeps else None,
                )
            )
    return out


def raw_checks(analysis: StudyAnalysis) -> list[Finding]:
    ref = analysis.reference
    return [
        _finding(CHECK, analysis, m, metric, v.name, ref)
        for v in analysis.setup.variants
        if ref and v.name != ref
        for reg in v.regularizers()
        if reg in CHECKS
        for m, metric in _expand(CHECKS[reg], analysis.thresholds)
    ]


def given_measures(analysis: StudyAnalysis) -> set[str] | None:
    """The measures claims may be judged on (reportgen.claims.evaluate_claims' metrics): every one (None) for a build
    that measured all it could; for a judged table of runs, its columns with a number in them; for a build whose network
    offered nothing to measure some on (analysis.unmeasured: a factory's network without kernels), all but those and the
    distances made of them."""
    if analysis.design.source:
        return {c for c in analysis.runs.columns if analysis.runs[c].notna().any()}
    if not analysis.unmeasured:
        return None
    from reportgen.metrics import METRICS, run_columns

    gone = set(analysis.unmeasured)
    if any(m.startswith("first_below_") for m in gone):
        gone.add("weights_distance")
    return (set(run_columns(analysis.thresholds)) | {m.key for m in METRICS.values() if m.across}) - gone


def not_judged(analysis: StudyAnalysis, verdicts=None) -> list[str]:
    """The claims left out for want of their primary measure (see given_measures; [] for a build that measured
    everything), less any the verdicts judged after all."""
    given = given_measures(analysis)
    if given is None:
        return []
    judged = {c.key for c in verdicts.claims} if verdicts is not None else set()
    return sorted({c.key for c in raw_claims(analysis) if c.primary.metric not in given and c.key not in judged})


def missing_sentence(missing: list[str], why: str = "are not in the table of runs") -> str:
    """The claims left out for want of their primary measure, in one sentence ('' when none were): 'Not judged, their
    measures {why}: ...'. Both a table of runs (reportgen judge) and a build whose network offers nothing to measure
    some measures on (a factory's) say it so."""
    if not missing:
        return ""
    return f"Not judged, their measures {why}: {', '.join(missing)}."
