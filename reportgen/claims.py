"""The seed study's claims as a registry: one primary measure each, secondary measures, sanity checks; verdicts.

A claim finds its variants by what they do (their regularizers), never by their names. Primary measures of all
claims form one family corrected with Holm; secondary measures one family corrected with Benjamini-Hochberg;
sanity checks (what a regularizer does by construction) are shown with their raw test and never counted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

from reportgen import decision, stability
from reportgen.analysis import (
    Match,
    StudyAnalysis,
    benefit_slopes,
    failure_lines,
    matched_l1_l2,
    per_replicate,
    restricted,
    sweep_values,
)
from reportgen.config import VariantConfig
from reportgen.decision import Verdict
from reportgen.metrics import metric as metric_info
from reportgen.regularizers import REGULARIZERS, regularizer
from reportgen.stats import (
    Estimate,
    Test,
    difference_test,
    replicates_for_equivalence,
    replicates_to_detect,
    variance_ratio_test,
)

SUPPORTED, CONTRADICTED, NO_EFFECT, INCONCLUSIVE = (
    Verdict.SUPPORTED,
    Verdict.CONTRADICTED,
    Verdict.NO_EFFECT,
    Verdict.INCONCLUSIVE,
)
VERDICTS = tuple(Verdict)
PRIMARY, SECONDARY, CHECK = "primary", "secondary", "check"


@dataclass(frozen=True)
class Measure:
    """How one claim is measured: a metric, the direction the claim expects, and the comparison."""

    metric: str
    direction: int  # +1: the claim expects a larger value, -1: a smaller one
    how: str  # the measurement in words
    statistic: str = "paired"  # 'paired' (variant − reference by replicate), 'value' (the value itself),
    #                            'init_ratio' (initialization variances), 'disagreement' (twins), 'matched' (L1 vs L2),
    #                            'slope' (per-replicate slope of the paired difference across the data-size sweep)
    needs: str | None = None  # what the study must offer to measure it: 'bayes' (a generator's Bayes rule),
    #                           'boundary' (a 2-D input space), 'data_size' (a sweep of two or more training-set sizes)
    against_margin: bool = False  # tested against the smallest effect of interest instead of zero (a claim that an
    #                               effect is large enough to matter, which any nonzero effect would otherwise pass)


@dataclass(frozen=True)
class ClaimDef:
    """A claim of the seed study and how it is measured."""

    key: str
    statement: str  # with {who}: the variant's name and regularizers
    source: str  # where the seed study makes it
    subject: str  # 'reference' (the unregularized variant), 'variant' (each variant `applies` accepts), 'sweeps'
    primary: Measure
    secondary: tuple[Measure, ...] = ()
    why: str = ""  # why the primary measure is the one it is, when a reader may ask
    column: str = ""  # its column in page one's verdict matrix ("" : listed under the matrix)
    headline: int = 99  # its place among page one's findings (lower first)

    def applies(self, v: VariantConfig) -> bool:
        """Whether a variant gets this claim, by what it does (reportgen.regularizers): any regularizer, none that
        excludes the claim, and one that brings it when some regularizer's record does."""
        used = [regularizer(k) for k in v.regularizers()]
        bringers = [r for r in REGULARIZERS if self.key in r.claims]
        return bool(used) and not any(self.key in r.excludes for r in used) and (not bringers or any(r in bringers for r in used))


GAP = "generalization gap (train − test accuracy)"
REGISTRY: tuple[ClaimDef, ...] = (
    ClaimDef(
        "overfits",
        "The model without regularization ({who}) overfits the training data.",
        "notebook, Observations 1",
        "reference",
        Measure("gap", +1, f"{GAP}, above the smallest effect of interest", "value", against_margin=True),
        secondary=(
            Measure("test_rebound", +1, "test loss at the end minus at the epoch of lowest validation loss, above zero", "value"),
            Measure(
                "train_over_bayes",
                +1,
                "train accuracy minus the Bayes-optimal rule's on the same points, above zero",
                "value",
                needs="bayes",
            ),
            Measure("loss_gap", +1, "test loss minus train loss, above zero", "value"),
        ),
        why="tested against the margin, not against zero: every network that fits its training data has some gap",
        headline=0,
    ),
    ClaimDef(
        "less_overfitting",
        "{who} reduces overfitting.",
        "notebook, Observations 2 and Why use regularization",
        "variant",
        Measure("gap", -1, f"{GAP}, smaller than the baseline's"),
        secondary=(
            Measure("test_rebound", -1, "test-loss rebound after the best validation epoch, smaller than the baseline's"),
            Measure("loss_gap", -1, "test loss minus train loss, smaller than the baseline's"),
        ),
        column="Less overfitting",
        headline=2,
    ),
    ClaimDef(
        "better_generalization",
        "{who} improves generalization to unseen data.",
        "notebook, Why use regularization and Conclusion",
        "variant",
        Measure("test_accuracy", +1, "test accuracy on fresh points, higher than the baseline's"),
        secondary=(Measure("test_loss", -1, "test loss, lower than the baseline's"),),
        column="Higher test accuracy",
        headline=1,
    ),
    ClaimDef(
        "simpler_boundary",
        "{who} gives a simpler, smoother decision boundary.",
        "notebook, Observations 1 and 2",
        "variant",
        Measure(
            "boundary_length",
            -1,
            "length of the 0.5 contour inside the data region, shorter than the baseline's",
            needs="boundary",
        ),
        secondary=(
            Measure(
                "boundary_pieces",
                -1,
                "number of pieces of the 0.5 contour inside the data region, fewer than the baseline's",
                needs="boundary",
            ),
        ),
        column="Simpler boundary",
        headline=4,
    ),
    ClaimDef(
        "stable_loss",
        "{who} gives more stable loss curves.",
        "notebook, Observations 4",
        "variant",
        Measure(
            "val_roughness",
            -1,
            "roughness of the validation loss late in training, in loss units (RMS of "
            "its deviations from a local quadratic trend: an additive noise model), lower than the baseline's",
        ),
        column="Steadier loss",
        headline=6,
    ),
    ClaimDef(
        "sparsity",
        "{who} enforces sparsity: more of the network can be removed without harm.",
        "notebook, Observations 3 and Conclusion",
        "variant",
        Measure(
            "prunable",
            +1,
            "largest share of weights removable by magnitude before the first share that "
            "costs more than the tolerated accuracy on its evaluation points (or leaves one class), "
            "larger than the baseline's",
        ),
        column="Sparser network",
        headline=5,
    ),
    ClaimDef(
        "init_dependence",
        "{who} reduces dependence on initialization.",
        "notebook, What is regularization",
        "variant",
        Measure(
            "disagreement",
            -1,
            "share of test points on which two initializations on the same data disagree, smaller than the baseline's",
            "disagreement",
        ),
        secondary=(
            Measure(
                "test_accuracy",
                -1,
                "variance of test accuracy between two initializations on the same data, as a ratio to the baseline's (below 1)",
                "init_ratio",
            ),
        ),
        why="test-point disagreement is a paired share per replicate; the variance ratio of twin accuracies "
        "(secondary) can be carried by one replicate",
        column="Less init. dependence",
        headline=7,
    ),
    ClaimDef(
        "l1_sparser_than_l2",
        "L1 gives sparser networks than L2 at the same validation loss.",
        "textbook contrast the notebook's weight analysis invokes",
        "sweeps",
        Measure(
            "prunable",
            +1,
            "prunable share of L1 at its validation-chosen strength minus L2's at the strength matching that validation loss",
            "matched",
        ),
        secondary=(
            Measure(
                "first_below_{t}",
                +1,
                "share of first-layer weights with |w| < {t}, L1 minus L2 at matched validation loss",
                "matched",
            ),
        ),
        headline=8,
    ),
    ClaimDef(
        "scarce_data",
        "{who} helps more when data is scarce: its benefit over the baseline shrinks as the training set grows.",
        "a common expectation about regularization (not made by the notebook), tested when the study sweeps the data size",
        "variant",
        Measure(
            "benefit_slope",
            -1,
            "slope of the paired test-accuracy difference from the baseline on log2 of "
            "the training-set size, per replicate across the data-size sweep, below zero",
            "slope",
            needs="data_size",
        ),
        secondary=(
            Measure(
                "gap_benefit_slope",
                +1,
                "slope of the paired generalization-gap difference from the baseline "
                "on log2 of the training-set size, above zero",
                "slope",
                needs="data_size",
            ),
        ),
        column="Helps more with less data",
        headline=3,
    ),
)
SLOPE_OF = {"benefit_slope": "test_accuracy", "gap_benefit_slope": "gap"}  # a slope metric and the metric it differences
# Sanity checks: what a regularizer does by construction. Shown with their raw test, never counted as findings.
# Sanity checks: what a regularizer does by construction (its record's check). Shown with their raw test, never counted.
CHECKS = {r.key: Measure(r.check.metric, r.check.direction, r.check.how) for r in REGULARIZERS if r.check is not None}


@dataclass(frozen=True)
class Finding:
    """One measure of one claim: its test, adjusted p-values, verdict and the sentence that reports it."""

    role: str
    variant: str | None
    measure: Measure
    metric: str
    value: float  # the variant's mean (or ratio numerator's variance)
    reference_value: float | None
    test: Test
    p_adjusted: float = math.nan
    p_equivalence_adjusted: float = math.nan
    verdict: Verdict = INCONCLUSIVE
    family_size: int = 0
    needed: int | None = None  # replicates that would detect an effect of the observed size
    needed_equivalence: int | None = None  # replicates that would show a true effect of zero inside the margin
    sentence: str = ""
    p_sequential: float = math.nan  # an adaptive design's p over its looks (min of p / alpha share); else the p-value
    p_equivalence_sequential: float = math.nan
    looks: tuple[int, ...] = ()  # replicates at each look of an adaptive design (empty: one fixed look)
    names: tuple[str, str] = ()  # how sentences name the two sides, when not the variant and the baseline

    def __post_init__(self):
        object.__setattr__(self, "verdict", Verdict(self.verdict))  # a verdict read back from JSON is its words


@dataclass(frozen=True)
class ClaimResult:
    """A claim about one variant (or about the sweeps), with its primary finding, secondary findings and checks."""

    definition: ClaimDef
    variant: str | None
    reference: str | None
    text: str
    primary: Finding
    secondary: list[Finding] = field(default_factory=list)
    note: str = ""  # e.g. which strengths were compared
    flip: float = math.nan  # probability that an independent rerun of the design gives another verdict
    firm_at: int | None = None  # replicates that would bring that probability under stability.BORDERLINE
    matched: tuple[float, float] | None = None  # the L1 and L2 strengths compared (the claim about the sweeps)

    @property
    def key(self) -> str:
        """A unique id such as 'less_overfitting:l1'."""
        return f"{self.definition.key}:{self.variant}" if self.variant else self.definition.key

    @property
    def verdict(self) -> Verdict:
        """The claim's verdict: its primary finding's."""
        return self.primary.verdict

    @property
    def borderline(self) -> bool:
        """Whether a rerun would change the verdict with a probability above stability.BORDERLINE."""
        return math.isfinite(self.flip) and self.flip > stability.BORDERLINE


@dataclass(frozen=True)
class Verdicts:
    """Every claim of this build with its verdict, and the sanity checks."""

    claims: list[ClaimResult]
    checks: list[Finding]
    alpha: float
    confidence: float
    looks: tuple[int, ...] = ()  # replicates at each look of an adaptive design (empty: one fixed look)
    refused: str = ""  # why the claim about the sweeps was not tested, when it was not

    def tally(self) -> dict[str, int]:
        """How many claims (primary findings) got each verdict."""
        return {v: sum(c.verdict == v for c in self.claims) for v in VERDICTS}

    def family_sizes(self) -> tuple[int, int]:
        """Tests in the primary (Holm) and secondary (BH) families."""
        prim = sum(math.isfinite(c.primary.test.p_value) for c in self.claims)
        sec = sum(math.isfinite(f.test.p_value) for c in self.claims for f in c.secondary)
        return prim, sec

    def borderline(self) -> list[ClaimResult]:
        """The claims whose verdict a rerun would change with a probability above stability.BORDERLINE."""
        return [c for c in self.claims if c.borderline]


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


def _aligned(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Two per-replicate series on their common replicates."""
    common = a.index.intersection(b.index)
    return a.loc[common].to_numpy(float), b.loc[common].to_numpy(float)


def _paired(a, b, analysis: StudyAnalysis, margin_of) -> tuple[Test, float, float]:
    """The paired test of two per-replicate series on their common replicates (margin_of: the margin from the
    reference's mean), with both means."""
    common = a.index.intersection(b.index)
    x, y = a.loc[common].to_numpy(float), b.loc[common].to_numpy(float)
    test = difference_test(
        x, y, analysis.confidence, margin_of(_mean(y)), common.to_numpy(), correction=analysis.design.correction
    )
    return test, _mean(x), _mean(y)


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
        s = benefit_slopes(analysis, variant, SLOPE_OF[metric]) if stat == "slope" else per_replicate(analysis, variant, metric)
        a, margin = s.to_numpy(float), _margin(analysis, metric, None)
        null = margin if measure.against_margin else 0.0
        test = difference_test(a, None, conf, margin, s.index.to_numpy(), null, analysis.design.correction)
        return test, _mean(a), None
    if stat == "init_ratio":
        a, b = (_twin_series(analysis, n, "acc_diff") for n in (variant, reference))
        test = variance_ratio_test(a.to_numpy(), b.to_numpy(), conf, analysis.setup.margins.init_variance)
        sd = lambda s: float(np.sqrt(_mean(s.to_numpy() ** 2) / 2))  # noqa: E731  twin differences: var 2σ²
        return test, sd(a), sd(b)
    if stat == "disagreement":
        a, b = (_twin_series(analysis, n, "disagreement") for n in (variant, reference))
        return _paired(a, b, analysis, lambda _: analysis.setup.margins.accuracy)
    if stat == "matched":
        a, b = sweep_values(analysis, "l1", matched.l1.strength, metric), matched.values(analysis, metric)
    else:
        a, b = per_replicate(analysis, variant, metric), per_replicate(analysis, reference, metric)
    return _paired(a, b, analysis, lambda ref_mean: _margin(analysis, metric, ref_mean))


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
    twinned = set(analysis.design.twins)
    needs_twins = d.primary.statistic in ("init_ratio", "disagreement")
    return [
        v for v in analysis.setup.variants if v.name != ref and d.applies(v) and (not needs_twins or {v.name, ref} <= twinned)
    ]


def _matched(analysis: StudyAnalysis) -> Match | None:
    return matched_l1_l2(analysis, analysis.setup.margins.loss)


def _who(v: VariantConfig | None) -> str:
    if v is None:
        return ""
    return v.name if not v.regularizers() and not v.label else f"{v.name} ({v.label or v.describe()})"


def _mean(values) -> float:
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


def _raw_claims(analysis: StudyAnalysis) -> list[ClaimResult]:
    """Every applicable claim with its findings measured but not yet judged."""
    out, ref, matched = [], analysis.reference, _matched(analysis)
    for d in REGISTRY:
        for v in _subjects(d, analysis, matched):
            name = v.name if v else None
            prim = _finding(PRIMARY, analysis, d.primary, d.primary.metric, name, ref, matched)
            sec = [
                _finding(SECONDARY, analysis, m, metric, name, ref, matched)
                for s in d.secondary
                if available(analysis, s.needs)
                for m, metric in _expand(s, analysis.thresholds)
            ]
            sweeps = d.subject == "sweeps"
            if sweeps:  # the sentences name the strengths compared
                names = (f"L1 {matched.l1.strength:g}", f"L2 {matched.l2_strength:.3g}")
                prim, sec = replace(prim, names=names), [replace(f, names=names) for f in sec]
            out.append(
                ClaimResult(
                    d,
                    name,
                    ref if not sweeps else "l2 sweep",
                    d.statement.format(who=_who(v)),
                    prim,
                    sec,
                    _match_note(matched) if sweeps else "",
                    matched=(matched.l1.strength, matched.l2_strength) if sweeps else None,
                )
            )
    return out


def _raw_checks(analysis: StudyAnalysis) -> list[Finding]:
    ref = analysis.reference
    return [
        _finding(CHECK, analysis, m, metric, v.name, ref)
        for v in analysis.setup.variants
        if ref and v.name != ref
        for reg in v.regularizers()
        if reg in CHECKS
        for m, metric in _expand(CHECKS[reg], analysis.thresholds)
    ]


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
        earlier = {c.key: c for c in _raw_claims(restricted(analysis, analysis.seeds[:size]))}
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


def evaluate_claims(analysis: StudyAnalysis) -> Verdicts:
    """Measure every applicable claim and judge it: Holm over primary measures, BH over secondary ones (with an
    adaptive design, alpha spent over its looks); then each primary verdict's probability of changing on a rerun."""
    alpha = 1 - analysis.confidence
    claims = _raw_claims(analysis)
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
        _raw_checks(analysis), [], None, alpha, replace(analysis, design=replace(analysis.design, looks=(), planned=0))
    )
    matched = _matched(analysis)
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


# ---- sentences: every number from this build, never more than the verdict behind it --------------------------

METHOD_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", None: "uncorrected"}


def fmt_number(v: float) -> str:
    """A plain number with three significant digits; 'n/a' when missing."""
    if v is None or not math.isfinite(v):
        return "n/a"
    if v == 0:
        return "0"
    return f"{v:.3g}" if abs(v) < 1e-2 or abs(v) >= 1e3 else f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1 else f"{v:.2f}"


def fmt_p(p: float) -> str:
    """A p-value: two significant digits, '< 0.0001' below that."""
    if p is None or not math.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}"


def p_is(p: float) -> str:
    """'= 0.03' or '< 0.0001', to follow a 'p'."""
    text = fmt_p(p)
    return text if text.startswith("<") else f"= {text}"


def formatters(metric: str, kind: str = "difference"):
    """(value, difference) formatters: shares as percent and percentage points, ratios with ×, the rest plain."""
    if kind == "ratio":
        return fmt_number, (lambda r: f"×{r:.3g}" if math.isfinite(r) else "n/a")
    if metric_info(metric).kind == "pct":
        return (lambda v: f"{v:.1%}" if math.isfinite(v) else "n/a"), (
            lambda d: f"{d * 100:+.1f} pp" if math.isfinite(d) else "n/a"
        )
    return fmt_number, (lambda d: ("+" if d > 0 else "") + fmt_number(d))


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


# ---- observations: rankings only where separated, sweeps chosen on validation, what diverged ------------------


def _tied(analysis: StudyAnalysis, metric: str, a: str, b: str) -> bool:
    """Whether the paired interval of a − b includes zero (or cannot be computed)."""
    x, y = _aligned(per_replicate(analysis, a, metric), per_replicate(analysis, b, metric))
    e = difference_test(x, y, analysis.confidence, math.nan, correction=analysis.design.correction).effect
    return not e.has_interval or e.low <= 0 <= e.high


def ranking(analysis: StudyAnalysis, metric: str, higher: bool) -> list[str]:
    """The leading variant followed by every variant tied with it within uncertainty (rule 7: rank only what is separated)."""
    means = {v: _mean(per_replicate(analysis, v, metric)) for v in analysis.variants}
    order = sorted((v for v, m in means.items() if math.isfinite(m)), key=lambda v: -means[v] if higher else means[v])
    return order[:1] + [v for v in order[1:] if _tied(analysis, metric, order[0], v)]


def _rank_sentence(analysis: StudyAnalysis, metric: str, higher: bool, what: str) -> str | None:
    """Name the leader only when paired intervals separate it from every other variant."""
    group = ranking(analysis, metric, higher)
    if len(group) == 0 or len(analysis.variants) < 2:
        return None
    val = formatters(metric)[0]
    mean = lambda v: _mean(per_replicate(analysis, v, metric))  # noqa: E731
    conf = f"{analysis.confidence:.0%}"
    if len(group) == 1:
        return f"{group[0]} has the {what} ({val(mean(group[0]))}); paired {conf} intervals separate it from every other variant."
    listed = ", ".join(f"{v} ({val(mean(v))})" for v in group)
    return (
        f"No single variant has the {what}: {listed} are tied within uncertainty (the paired {conf} interval of "
        f"each against {group[0]} includes zero)."
    )


def _sweep_sentences(analysis: StudyAnalysis) -> list[str]:
    """Per sweep: the strength chosen on validation loss, its test accuracy against the baseline (Bonferroni)."""
    from reportgen.analysis import sweep_choices

    out, ref = [], analysis.reference
    for kind, choice in sweep_choices(analysis).items():
        others = [f"{t:g}" for t in choice.tied if t != choice.strength]
        text = (
            f"{kind.upper() if kind != 'dropout' else 'Dropout'} sweep: {choice.strength:g} is chosen on validation data "
            f"(of {choice.n_strengths} strengths tried) by the one-standard-error rule, the strongest setting whose mean "
            f"validation loss is within one standard error of the lowest (paired over replicates)"
        )
        if others:
            text += (
                f"; it is a tie: {', '.join(others)} {'is' if len(others) == 1 else 'are'} within that too, and the "
                f"lowest mean is at {choice.lowest:g}"
            )
        if ref is not None:
            a, b = _aligned(
                sweep_values(analysis, kind, choice.strength, "test_accuracy"), per_replicate(analysis, ref, "test_accuracy")
            )
            level = 1 - (1 - analysis.confidence) / choice.n_strengths
            e = difference_test(a, b, level, math.nan, correction=analysis.design.correction).effect
            _, diff = formatters("test_accuracy")
            verdict = (
                ("higher than" if e.low > 0 else "lower than" if e.high < 0 else "not distinguishable from")
                if e.has_interval
                else "not comparable with"
            )
            text += (
                f"; its test accuracy, {np.nanmean(a):.1%}, is {verdict} the baseline's {np.nanmean(b):.1%}: "
                f"{diff(e.mean)}, {level:.2%} CI {diff(e.low)} to {diff(e.high)} (Bonferroni over {choice.n_strengths})"
            )
        out.append(text + ".")
    return out


class Seen(StrEnum):
    """What an observation is about: where the report puts it (never found from its wording)."""

    DESIGN = "design"  # what the intervals cover ("How to read this report")
    RANKING = "ranking"  # a variant ahead of the others, or a tie
    BAYES = "bayes"  # the best variant against the generator's Bayes-optimal rule
    STOPPED = "stopped"  # when early stopping stopped (the overfitting section)
    ONE_CLASS = "one_class"  # a variant that predicts one class over the data region
    FAILED = "failed"  # runs left out of every interval and verdict
    SWEEP = "sweep"  # a strength chosen on validation data (the sweeps section)
    UNMATCHED = "unmatched"  # L1 and L2 could not be matched at one validation loss
    TALLY = "tally"  # how many claims got each verdict ("How to read this report")


@dataclass(frozen=True)
class Observation:
    """A sentence computed from this build's numbers, and what it is about."""

    kind: Seen
    text: str

    def __post_init__(self):
        object.__setattr__(self, "kind", Seen(self.kind))  # read back from JSON as its words


def observations(analysis: StudyAnalysis, verdicts: Verdicts) -> list[Observation]:
    """Sentences computed from this build's numbers: design, rankings, Bayes reference, sweeps, tallies."""
    out = [Observation(Seen.DESIGN, analysis.design.sentence())]
    out += [
        Observation(Seen.RANKING, s)
        for s in (
            _rank_sentence(analysis, "test_accuracy", True, "highest mean test accuracy"),
            _rank_sentence(analysis, "gap", False, "smallest generalization gap"),
        )
        if s
    ]
    if analysis.bayes:
        best = ranking(analysis, "test_accuracy", True)[:1]
        if best:
            acc = _mean(per_replicate(analysis, best[0], "test_accuracy"))
            out.append(
                Observation(
                    Seen.BAYES,
                    f"The Bayes-optimal rule of the data generator scores {analysis.bayes['test_accuracy']:.1%} on the "
                    f"same test points, {(analysis.bayes['test_accuracy'] - acc) * 100:.1f} percentage points above "
                    f"{best[0]} ({acc:.1%}); its decision boundary is {analysis.bayes['boundary_length']:.2f} long in the "
                    f"data region, in {analysis.bayes['boundary_pieces']} "
                    f"piece{'s' if analysis.bayes['boundary_pieces'] != 1 else ''}.",
                )
            )
    for v in analysis.variants:
        e = analysis.main_runs[analysis.main_runs["variant"] == v]
        if len(e) and e["epochs_run"].min() < analysis.histories[v]["val_loss"].shape[1]:
            out.append(
                Observation(
                    Seen.STOPPED,
                    f"{v} stopped after {int(e['epochs_run'].min())}–{int(e['epochs_run'].max())} epochs "
                    f"(best validation epoch {int(e['best_epoch'].min())}–{int(e['best_epoch'].max())}).",
                )
            )
    for v in analysis.variants:  # a network that predicts one class has the shortest boundary of all: say so
        rows = analysis.main_runs[analysis.main_runs["variant"] == v]
        flat = int((rows["boundary_pieces"] == 0).sum())
        if flat:
            accuracy = _mean(rows["test_accuracy"][rows["boundary_pieces"] == 0])
            out.append(
                Observation(
                    Seen.ONE_CLASS,
                    f"{v} predicts a single class over the whole data region in {flat} of {len(rows)} replicates "
                    f"(no decision boundary at all, test accuracy {accuracy:.1%}): "
                    f"a shorter boundary there is a sign of underfitting, not of a smoother fit.",
                )
            )
    if analysis.failed:
        lines = failure_lines(analysis)
        n = len(analysis.failed)
        out.append(
            Observation(
                Seen.FAILED,
                f"{n} run{'s' if n != 1 else ''} failed and {'are' if n != 1 else 'is'} left out of every interval and "
                f"verdict: {'; '.join(lines[:8])}{' …' if len(lines) > 8 else ''}.",
            )
        )
    out += [Observation(Seen.SWEEP, text) for text in _sweep_sentences(analysis)]
    if verdicts.refused:
        out.append(
            Observation(
                Seen.UNMATCHED, f"L1 and L2 are not compared for sparsity at matched validation loss: {verdicts.refused}."
            )
        )
    if verdicts.claims:
        out.append(Observation(Seen.TALLY, tally_sentence(verdicts)))
    return out


def tally_sentence(verdicts: Verdicts) -> str:
    """How many claims got each verdict, in one sentence."""
    tally, (prim, _) = verdicts.tally(), verdicts.family_sizes()
    return (
        f"Of {len(verdicts.claims)} claims, {tally[SUPPORTED]} are supported, {tally[CONTRADICTED]} contradicted, "
        f"{tally[NO_EFFECT]} show no meaningful effect and {tally[INCONCLUSIVE]} are inconclusive, after Holm's "
        f"correction over the {prim} primary tests."
    )


# ---- verdicts kept in the cache (reportgen.memo): a JSON form that gives back equal objects ------------------------

_KEPT_TYPES = {cls.__name__: cls for cls in (Verdicts, ClaimResult, Finding, Measure, Test, Estimate, Observation)}


def dump_verdicts(verdicts: Verdicts, notes: list[Observation]) -> bytes:
    """Verdicts and observations as JSON: every dataclass by type name and fields, a claim's definition by its key in
    REGISTRY (its `applies` rule is code), tuples marked as such, floats as repr (NaN and infinities included)."""

    def enc(value):
        if isinstance(value, ClaimDef):
            return {"claim": value.key}
        if type(value).__name__ in _KEPT_TYPES and type(value) is _KEPT_TYPES[type(value).__name__]:
            return {"type": type(value).__name__, "fields": {f: enc(getattr(value, f)) for f in value.__dataclass_fields__}}
        if isinstance(value, tuple):
            return {"tuple": [enc(v) for v in value]}
        if isinstance(value, list):
            return [enc(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, (str, int, float)):
            return value
        raise TypeError(f"cannot keep a {type(value).__name__} of the verdicts")

    return json.dumps({"verdicts": enc(verdicts), "notes": enc(notes)}).encode("utf-8")


def load_verdicts(payload: bytes) -> tuple[Verdicts, list[Observation]] | None:
    """dump_verdicts' verdicts and observations back, or None when the payload is not what it wrote (a claim no longer
    in REGISTRY, a field that changed)."""
    definitions = {d.key: d for d in REGISTRY}

    def dec(value):
        if isinstance(value, list):
            return [dec(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "claim" in value:
            return definitions[value["claim"]]
        if "tuple" in value:
            return tuple(dec(v) for v in value["tuple"])
        return _KEPT_TYPES[value["type"]](**{k: dec(v) for k, v in value["fields"].items()})

    try:
        doc = json.loads(payload)
        verdicts, notes = dec(doc["verdicts"]), dec(doc["notes"])
    except (ValueError, KeyError, TypeError):
        return None
    ok = isinstance(verdicts, Verdicts) and isinstance(notes, list) and all(isinstance(n, Observation) for n in notes)
    return (verdicts, notes) if ok else None
