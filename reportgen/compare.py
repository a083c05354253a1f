"""Compare two builds' results.json: verdicts and effects that changed beyond noise, metrics beyond noise, choices made
on validation data, claims and variants added or removed.

Pure: json, numpy and scipy, no TensorFlow and no training, so `reportgen compare` and the CI gates take a second.
Training noise moves effects between builds (STATISTICS.md, rule 11), so a verdict label that changed is not by itself
a change: each claim's per-replicate primary contrasts are compared between the builds (paired t-test where the builds
share replicate seeds and data design, Welch's otherwise), Holm-adjusted over the claims compared, and a changed label
whose effect stayed within noise is a borderline change, not a failure. Two builds of different data, network or
training settings are not compared number by number: the comparison says which settings differ.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from reportgen import markdown, numbers, schema
from reportgen.errors import ConfigError
from reportgen.metrics import METRICS as ALL_METRICS
from reportgen.metrics import Metric as RunMetric
from reportgen.metrics import compared
from reportgen.schema import Results
from reportgen.stats import adjust

# The metrics compared between builds, and which direction of change is a regression: reportgen.metrics' records
# (compared, worse): lower test accuracy, a larger gap, a larger test loss.
METRICS = tuple(compared())
STUDY_SECTIONS = ("data", "model", "training")  # what makes two builds the same study, with the variants' settings
# they change the draw, the engine or how many replicates an adaptive design may take, not the study
NOT_THE_STUDY = ("training.seeds", "training.engine", "training.budget")
IGNORED = ("title", "output.")  # never compared: a title or an output folder changes no number
DESIGN_KEYS = ("seeds", "resample_data", "test_sets")  # the replicate design that pairing needs to be identical
# measured across a data or capacity sweep: its points are part of the measurement
DATA_SWEEP_METRICS = tuple(m.key for m in ALL_METRICS.values() if m.across in ("data_size", "width"))
MAX_ROWS = 40  # rows per markdown table: the section goes into summary.md, which has a size limit


@dataclass(frozen=True)
class Claim:
    """A claim of one build as a comparison reads it."""

    key: str
    text: str
    variant: str | None
    reference: str | None
    verdict: str
    metric: str
    effect: float | None
    effect_kind: str  # 'difference' or 'ratio'
    contrasts: dict[int, float] | None = None  # replicate seed -> primary contrast; None: results.json predates them
    matched: dict[str, float] | None = None  # strengths a claim compares at (l1_sparser_than_l2: {'l1': .., 'l2': ..})


@dataclass(frozen=True)
class Build:
    """The parts of one results.json a comparison reads, typed."""

    settings: dict[str, Any]  # the study flattened to dotted keys, variants and ignored keys left out
    variants: dict[str, dict[str, Any]]  # variant name -> its settings flattened (label left out)
    claims: dict[str, Claim]
    values: dict[tuple[str, str], dict[int, float]]  # (variant, metric) -> replicate seed -> value
    design: dict[str, Any]  # the DESIGN_KEYS of the design block
    confidence: float
    choices: dict[str, float] | None = None  # sweep kind -> strength chosen on validation data; None: not recorded


@dataclass(frozen=True)
class SettingChange:
    """A setting that differs between the builds (None: the key is absent from that build)."""

    key: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Interval:
    """A difference new − old with its confidence interval and its two-sided p of no difference (NaN: none)."""

    difference: float
    low: float
    high: float
    n: int  # pairs (paired) or the smaller of the two samples (unpaired)
    p: float = math.nan


@dataclass(frozen=True)
class ClaimComparison:
    """A claim present in both builds: its verdicts, its primary effect in each, and whether the effect moved.

    status: 'same'; 'moved' (same verdict, effect beyond noise); 'changed' (another verdict, effect beyond noise);
    'untold' (another verdict, effects not comparable: see untested); 'borderline' (another verdict, effect within
    noise); 'choice' (its matched strengths changed, so it measures at other strengths: reported with the choices)."""

    key: str
    claim: str
    old: str
    new: str
    metric: str
    old_effect: float | None
    new_effect: float | None
    effect_kind: str
    shift: Interval | None  # new − old of the mean per-replicate contrast; None: not compared (see untested)
    p_adjusted: float  # Holm over the claims compared (NaN: not compared)
    beyond_noise: bool
    untested: str  # why the effects were not compared ('' when they were)
    old_matched: dict[str, float] | None = None
    new_matched: dict[str, float] | None = None

    @property
    def status(self) -> str:
        """What the comparison says about this claim (see the class)."""
        if self.old_matched and self.new_matched and self.old_matched != self.new_matched:
            return "choice"
        if self.old == self.new:
            return "moved" if self.beyond_noise else "same"
        if self.untested:
            return "untold"
        return "changed" if self.beyond_noise else "borderline"


@dataclass(frozen=True)
class ChoiceChange:
    """A strength chosen on validation data that differs between the builds: a sweep's choice (name: its kind) or a
    claim's matched strengths (name: the claim key)."""

    name: str
    old: dict[str, float]
    new: dict[str, float]


@dataclass(frozen=True)
class MetricChange:
    """A metric of one variant whose difference between the builds is beyond noise."""

    variant: str
    metric: str
    label: str
    kind: str
    old_mean: float
    new_mean: float
    interval: Interval
    paired: bool
    worse: bool
    p_adjusted: float  # Holm over the metric comparisons made


@dataclass(frozen=True)
class Scope:
    """What was compared and how, for the method sentence and the 'no meaningful change' line."""

    claims: int  # claims in both builds
    variants: tuple[str, ...]
    metrics: tuple[str, ...]
    paired: bool
    replicates: int  # replicate seeds both builds share (paired)
    confidence: float
    comparisons: int = 0  # metric comparisons made (variant × metric): the Holm family of the metrics
    claims_compared: int = 0  # claims whose effects were compared: the Holm family of the claims
    not_compared: str = ""  # why no claim's effects could be compared, when none could

    @property
    def alpha(self) -> float:
        """The level an adjusted p must fall below to count as beyond noise."""
        return 1 - self.confidence


@dataclass(frozen=True)
class Changes:
    """Everything that differs between two builds."""

    old_name: str
    new_name: str
    study: tuple[SettingChange, ...]  # data, network, training or variant settings: different studies when any
    other_settings: tuple[SettingChange, ...]  # seeds, engine, sweeps, analysis: same study, other draw or judging
    claims: tuple[ClaimComparison, ...]  # every claim of both builds whose verdicts are compared
    choices: tuple[ChoiceChange, ...]  # strengths chosen on validation data that changed
    claims_added: tuple[str, ...]
    claims_removed: tuple[str, ...]
    variants_added: tuple[str, ...]
    variants_removed: tuple[str, ...]
    metrics: tuple[MetricChange, ...]
    scope: Scope

    @property
    def same_study(self) -> bool:
        """Whether both builds are of the same study (their numbers measure the same thing)."""
        return not self.study

    def having(self, *status: str) -> tuple[ClaimComparison, ...]:
        """The claims whose comparison has one of these statuses (ClaimComparison.status)."""
        return tuple(c for c in self.claims if c.status in status)

    @property
    def verdicts(self) -> tuple[ClaimComparison, ...]:
        """Verdicts that changed and count as a change: the effect moved beyond noise, or could not be compared."""
        return self.having("changed", "untold")

    @property
    def borderline(self) -> tuple[ClaimComparison, ...]:
        """Verdicts that changed while their effects stayed within noise."""
        return self.having("borderline")

    @property
    def meaningful(self) -> bool:
        """Whether anything changed beyond noise."""
        return bool(
            self.study
            or self.verdicts
            or self.having("moved")
            or self.claims_added
            or self.claims_removed
            or self.variants_added
            or self.variants_removed
            or self.metrics
        )


# ---- reading -----------------------------------------------------------------------------------------------


def load_results(path: Path) -> Results:
    """Read a build's results.json (a folder or the file itself), checked against the schema (reportgen.schema) and
    read as a comparison reads it; bad input raises a one-line ConfigError naming the file and the key."""
    doc = schema.read(path)
    try:
        parse_build(doc)
    except ValueError as err:  # what the schema cannot say: per-replicate seeds and values of different lengths
        raise ConfigError([f"{schema.locate(path)}: not a reportgen results.json: {err}"]) from None
    return doc


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted keys: {'data': {'noise': 0.2}} -> {'data.noise': 0.2}."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out if out or not prefix else {prefix[:-1]: value}
    return {prefix[:-1]: value}


def _contrasts(finding: schema.Finding) -> dict[int, float] | None:
    """A finding's per-replicate contrasts by replicate seed (None: a results.json made before they were recorded)."""
    per = finding.per_replicate
    if per is None:
        return None
    if len(per.seeds) != len(per.values):
        raise ValueError(f"per_replicate has {len(per.seeds)} seeds and {len(per.values)} values")
    return {s: float(v) for s, v in zip(per.seeds, per.values) if v is not None and math.isfinite(v)}


def _claim(c: schema.Claim) -> Claim:
    """Read one claim of results.json."""
    primary = c.primary or schema.Finding()
    effect = primary.effect or schema.Effect()
    return Claim(
        c.key,
        c.claim if c.claim is not None else c.key,
        c.variant,
        c.reference,
        c.verdict,
        primary.metric or "",
        effect.mean,
        effect.kind,
        _contrasts(primary),
        {"l1": c.matched.l1, "l2": c.matched.l2} if c.matched else None,
    )


def _choices(doc: Results) -> dict[str, float] | None:
    """Each sweep's strength chosen on validation data (None: a results.json made before they were recorded)."""
    return {k: v.strength for k, v in doc.sweep_choices.items()} if doc.sweep_choices is not None else None


def _values(doc: Results, names: set[str]) -> dict[tuple[str, str], dict[int, float]]:
    """Per variant and metric, the value of each replicate's first-initialization run that did not diverge."""
    out: dict[tuple[str, str], dict[int, float]] = {}
    for r in doc.runs:
        if r.variant not in names or r.init != 0 or r.diverged_at is not None:
            continue
        for m in METRICS:
            v = (r.model_extra or {}).get(m.key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out.setdefault((r.variant, m.key), {})[r.seed] = float(v)
    return out


def _default_settings() -> dict[str, Any]:
    """The default study's settings as dotted keys: what a build of an older reportgen, which had no such key, used."""
    from reportgen.config import StudyConfig

    return _flatten({k: v for k, v in StudyConfig().model_dump(mode="json").items() if k != "variants"})


def parse_build(doc: Results) -> Build:
    """The typed parts of a results.json that a comparison reads (a key an older build lacks: its default)."""
    study = doc.study.model_dump(mode="json")
    flat = {**_default_settings(), **_flatten({k: v for k, v in study.items() if k != "variants"})}
    settings = {k: v for k, v in flat.items() if not any(k == i or k.startswith(i) for i in IGNORED)}
    variants = {v["name"]: _flatten({k: x for k, x in v.items() if k not in ("name", "label")}) for v in study["variants"]}
    design = doc.design.model_dump(mode="json")
    analysis = doc.study.analysis
    confidence = next(c for c in (analysis and analysis.confidence, doc.confidence, 0.95) if c)
    claims = {c.key: _claim(c) for c in doc.claims}
    values, design = _values(doc, set(variants)), {k: design.get(k) for k in DESIGN_KEYS}
    return Build(settings, variants, claims, values, design, confidence, _choices(doc))


# ---- comparing ---------------------------------------------------------------------------------------------


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[SettingChange]:
    """Keys whose values differ (absent on one side counts), sorted."""
    return [
        SettingChange(prefix + k, old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)
    ]


def _is_study(key: str) -> bool:
    """Whether a dotted setting belongs to what makes a study (data, network, training but seeds and engine)."""
    return key.split(".")[0] in STUDY_SECTIONS and not any(key == k or key.startswith(k + ".") for k in NOT_THE_STUDY)


def study_differences(a: Build, b: Build) -> tuple[list[SettingChange], list[SettingChange]]:
    """Settings that make the builds different studies, and the other settings that changed."""
    top = _differences(a.settings, b.settings)
    variants = [
        d
        for name in sorted(a.variants.keys() & b.variants.keys())
        for d in _differences(a.variants[name], b.variants[name], f"variants.{name}.")
    ]
    return [d for d in top if _is_study(d.key)] + variants, [d for d in top if not _is_study(d.key)]


def _setup_differs(study: list[SettingChange] | tuple[SettingChange, ...]) -> bool:
    """Whether data, network or training differ (not just some variants' settings)."""
    return any(d.key.split(".")[0] in STUDY_SECTIONS for d in study)


def _unchanged_variants(a: Build, b: Build) -> set[str]:
    """Variants present in both builds with identical settings."""
    return {n for n in a.variants.keys() & b.variants.keys() if a.variants[n] == b.variants[n]}


def _claim_matches(claim: Claim, a: Build, b: Build, unchanged: set[str]) -> bool:
    """Whether a claim measures the same thing in both builds: its variants' (or the sweeps') settings are identical."""
    names = set(a.variants) | set(b.variants)
    involved = {n for n in (claim.variant, claim.reference) if n in names}
    sweeps = lambda s: {k: v for k, v in s.settings.items() if k.startswith("sweeps.")}  # noqa: E731
    if claim.variant is None:  # a claim about the sweeps
        return sweeps(a) == sweeps(b) and involved <= unchanged
    if claim.metric in DATA_SWEEP_METRICS:  # measured across a sweep: its sizes or shapes are part of the measurement
        return sweeps(a) == sweeps(b) and involved <= unchanged
    return involved <= unchanged


def pairable(a: Build, b: Build) -> bool:
    """Whether replicates can be paired: same seeds and the same data design in both builds."""
    data = lambda s: {k: v for k, v in s.settings.items() if k.startswith("data.")}  # noqa: E731
    return a.design == b.design and data(a) == data(b)


def paired_interval(old: dict[int, float], new: dict[int, float], confidence: float) -> Interval:
    """Paired t interval and test of new − old over the replicates both builds have."""
    seeds = sorted(old.keys() & new.keys())
    return _t_interval(np.array([new[s] - old[s] for s in seeds], float), None, confidence)


def welch_interval(old: list[float], new: list[float], confidence: float) -> Interval:
    """Welch's unpaired t interval and test of mean(new) − mean(old)."""
    return _t_interval(np.asarray(new, float), np.asarray(old, float), confidence)


def _t_interval(a: np.ndarray, b: np.ndarray | None, confidence: float) -> Interval:
    """t interval and two-sided test of mean(a) (b None: one sample, the paired differences) or mean(a) − mean(b)
    (Welch); no spread at all makes the difference exact (p 0, or 1 at zero)."""
    sizes = (a.size,) if b is None else (a.size, b.size)
    if min(sizes) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    diff, n = float(a.mean() - (0.0 if b is None else b.mean())), min(sizes)
    if n < 2:
        return Interval(diff, math.nan, math.nan, n)
    if np.ptp(a) == 0 and (b is None or np.ptp(b) == 0):
        return Interval(diff, diff, diff, n, 0.0 if diff != 0 else 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'nearly identical data': a constant shift up to rounding, p ≈ 0 all the same
        test = stats.ttest_1samp(a, 0.0) if b is None else stats.ttest_ind(a, b, equal_var=False)
        ci = test.confidence_interval(confidence_level=confidence)
    return Interval(diff, float(ci.low), float(ci.high), n, float(test.pvalue))


def shift(old: dict[int, float], new: dict[int, float], paired: bool, confidence: float) -> Interval:
    """new − old of per-replicate values: paired over their common replicates when the builds pair, else Welch's."""
    if paired:
        return paired_interval(old, new, confidence)
    return welch_interval(list(old.values()), list(new.values()), confidence)


OLDER = "results.json has no per-replicate contrasts (it predates them)"
SETUP = "the data, network or training settings differ"


def _untested(old: Claim, new: Claim, setup_differs: bool) -> str:
    """Why a claim's effects in the two builds cannot be compared ('' when they can)."""
    if setup_differs:
        return SETUP
    missing = [name for name, c in (("old", old), ("new", new)) if c.contrasts is None]
    if missing:
        return f"the {missing[0]} build's {OLDER}"
    if old.metric != new.metric:
        return f"its primary measure changed ({old.metric} → {new.metric})"
    if not (old.contrasts and new.contrasts):
        return "its primary measure keeps no per-replicate contrasts" + (
            " (a variance ratio)" if "ratio" in (old.effect_kind, new.effect_kind) else ""
        )
    return ""


def claim_comparisons(a: Build, b: Build, paired: bool, setup_differs: bool, unchanged: set[str]) -> list[ClaimComparison]:
    """Every claim of both builds compared: its verdicts, and whether its primary effect moved beyond noise (Holm over
    the claims whose effects could be compared). A claim whose variant's settings changed is compared all the same
    (the change is what a gate must catch); a changed setup leaves only the claims of unchanged variants, untested."""
    confidence = b.confidence
    keys = [k for k in b.claims if k in a.claims and (not setup_differs or _claim_matches(b.claims[k], a, b, unchanged))]
    tests: dict[str, tuple[Interval | None, str]] = {}
    for k in keys:
        why = _untested(a.claims[k], b.claims[k], setup_differs)
        iv = None if why else shift(a.claims[k].contrasts, b.claims[k].contrasts, paired, confidence)
        tests[k] = (None, "fewer than two replicates to compare") if iv is not None and not math.isfinite(iv.p) else (iv, why)
    tested = [k for k in keys if tests[k][0] is not None]
    adjusted = dict(zip(tested, adjust([tests[k][0].p for k in tested], "holm")))
    out = []
    for k in keys:
        old, new, (iv, why) = a.claims[k], b.claims[k], tests[k]
        p = adjusted.get(k, math.nan)
        out.append(
            ClaimComparison(
                k,
                new.text,
                old.verdict,
                new.verdict,
                new.metric,
                old.effect,
                new.effect,
                new.effect_kind,
                iv,
                p,
                bool(p < 1 - confidence),
                why,
                old.matched,
                new.matched,
            )
        )
    return out


def choice_changes(a: Build, b: Build, claims: list[ClaimComparison]) -> list[ChoiceChange]:
    """Sweep choices, then claims' matched strengths, that differ between the builds (both recorded)."""
    sweeps = (
        []
        if a.choices is None or b.choices is None
        else [
            ChoiceChange(k, {k: a.choices[k]}, {k: b.choices[k]})
            for k in b.choices
            if a.choices.get(k, b.choices[k]) != b.choices[k]
        ]
    )
    return sweeps + [ChoiceChange(c.key, c.old_matched, c.new_matched) for c in claims if c.status == "choice"]


def metric_changes(a: Build, b: Build, pairs: list[tuple[str, RunMetric]], paired: bool, confidence: float) -> list[MetricChange]:
    """The metrics (per variant) that moved beyond noise: Holm-adjusted p below 1 − confidence over every pair given."""
    tests = [(v, m, shift(a.values[(v, m.key)], b.values[(v, m.key)], paired, confidence)) for v, m in pairs]
    out = []
    for (v, m, iv), p in zip(tests, adjust([iv.p for *_, iv in tests], "holm")):
        if p < 1 - confidence:
            worse = m.worse != 0 and np.sign(iv.difference) == m.worse
            out.append(
                MetricChange(
                    v,
                    m.key,
                    m.compared,
                    m.kind,
                    float(np.mean(list(a.values[(v, m.key)].values()))),
                    float(np.mean(list(b.values[(v, m.key)].values()))),
                    iv,
                    paired,
                    bool(worse),
                    p,
                )
            )
    return out


def _not_compared(a: Build, b: Build, setup_differs: bool) -> str:
    """Why no claim's effects could be compared at all ('' when some could, or there are no claims)."""
    if setup_differs:
        return SETUP
    for name, build in (("old", a), ("new", b)):
        if build.claims and all(c.contrasts is None for c in build.claims.values()):
            return f"the {name} build's {OLDER}"
    return ""


def compare(old: Results, new: Results, old_name: str = "old", new_name: str = "new") -> Changes:
    """Compare two builds' results.json (reportgen.schema.Results): what changed from old to new, beyond noise."""
    a, b = parse_build(old), parse_build(new)
    study, other = study_differences(a, b)
    unchanged, setup = _unchanged_variants(a, b), _setup_differs(study)
    # metrics are compared only where they measure the same thing: same data, network and training, same variant
    measured = [] if setup else [v for v in b.variants if v in unchanged]
    paired = pairable(a, b)
    # One test per variant and metric with numbers in both builds; with ~20 of them, unadjusted 95% tests would flag
    # one by chance most of the time, so their p-values are Holm-adjusted over all of them, as the claims' are.
    pairs = [(v, m) for v in measured for m in METRICS if a.values.get((v, m.key)) and b.values.get((v, m.key))]
    replicates = len(set(a.design.get("seeds") or []) & set(b.design.get("seeds") or [])) if paired else 0
    claims = claim_comparisons(a, b, paired, setup, unchanged)
    scope = Scope(
        len(a.claims.keys() & b.claims.keys()),
        tuple(measured),
        tuple(m.key for m in METRICS),
        paired,
        replicates,
        b.confidence,
        len(pairs),
        sum(c.shift is not None for c in claims),
        _not_compared(a, b, setup),
    )
    return Changes(
        old_name,
        new_name,
        tuple(study),
        tuple(other),
        tuple(claims),
        tuple(choice_changes(a, b, claims)),
        tuple(k for k in b.claims if k not in a.claims),
        tuple(k for k in a.claims if k not in b.claims),
        tuple(v for v in b.variants if v not in a.variants),
        tuple(v for v in a.variants if v not in b.variants),
        tuple(metric_changes(a, b, pairs, paired, b.confidence)),
        scope,
    )


# ---- gates ---------------------------------------------------------------------------------------------------


def changed_verdicts(changes: Changes) -> list[str]:
    """One line per claim whose verdict changed while its effect moved beyond noise or could not be compared (for
    --fail-on changed); a verdict that changed within noise is a borderline change and not listed."""
    return [f"{c.key}: {c.old} → {c.new} ({_why(c, changes.scope)})" for c in changes.verdicts]


def _why(c: ClaimComparison, scope: Scope) -> str:
    """Why a changed verdict counts: its effect moved beyond noise, or nobody can tell."""
    if c.shift is None:
        return f"cannot tell whether beyond noise: {c.untested}"
    kind = _effect_kind(c)
    return (
        f"effect {_diff(c.old_effect, kind)} → {_diff(c.new_effect, kind)}, moved beyond noise: "
        f"{_shift_text(c, scope.confidence)}"
    )


def regressions(changes: Changes) -> list[str]:
    """One line per metric that got worse beyond noise (for --fail-on regressed)."""
    return [
        f"{m.variant} {m.label}: {_value(m.old_mean, m.kind)} → {_value(m.new_mean, m.kind)} "
        f"({_interval_text(m.interval, m.kind, changes.scope.confidence)}; {_p_text(m.interval.p, m.p_adjusted)})"
        for m in changes.metrics
        if m.worse
    ]


# ---- rendering -------------------------------------------------------------------------------------------------


def _value(v: float | None, kind: str) -> str:
    """A metric's value: shares as percentages, other numbers with three significant digits."""
    return numbers.percent(v) if kind == "pct" else numbers.DASH if v is None or not math.isfinite(v) else f"{v:.3g}"


def _diff(v: float | None, kind: str) -> str:
    """A difference: shares in percentage points, ratios as ×r, other numbers signed."""
    if kind in ("pct", "ratio"):
        return numbers.points(v) if kind == "pct" else numbers.ratio(v)
    return numbers.DASH if v is None or not math.isfinite(v) else f"{v:+.3g}"


def _interval_text(iv: Interval, kind: str, confidence: float) -> str:
    """Write a difference with its interval: '-2.0 pp, 95% CI -2.4 pp to -1.6 pp'."""
    return f"{_diff(iv.difference, kind)}, {confidence * 100:.3g}% CI {_diff(iv.low, kind)} to {_diff(iv.high, kind)}"


def _p(p: float) -> str:
    """A p-value with three significant digits ('< 0.001' below that)."""
    return numbers.p_value(p, floor=0.001, digits=3, missing=numbers.DASH)


def _p_text(raw: float, adjusted: float) -> str:
    """A raw and a Holm-adjusted p: 'p 0.004, Holm-adjusted 0.031'."""
    return f"p {_p(raw)}, Holm-adjusted {_p(adjusted)}"


def _effect_kind(c: ClaimComparison) -> str:
    """Choose how a claim's effect is written: percentage points for shares, ×r for ratios, else a number."""
    if c.effect_kind == "ratio":
        return "ratio"
    shares = {k for k, m in ALL_METRICS.items() if m.kind == "pct"}
    return "pct" if c.metric in shares or c.metric.startswith("first_below_") else "num"


def _effects(c: ClaimComparison) -> str:
    """A claim's primary effect in both builds: '-3.4 pp → -6.1 pp'."""
    return f"{_diff(c.old_effect, _effect_kind(c))} → {_diff(c.new_effect, _effect_kind(c))}"


def _shift_text(c: ClaimComparison, confidence: float) -> str:
    """The difference of a claim's effects (now − was) with its interval and p-values, or why it was not compared."""
    if c.shift is None:
        return f"not compared: {c.untested}"
    return f"{_interval_text(c.shift, _effect_kind(c), confidence)}; {_p_text(c.shift.p, c.p_adjusted)}"


def _md(text: Any) -> str:
    """Text safe anywhere in the markdown (reportgen.markdown: the same escape as summary.md's)."""
    return markdown.escape(text)


def _code(text: Any, table: bool = False) -> str:
    """A name as inline code that nothing inside can break out of."""
    return markdown.code(text, table)


def _setting(v: Any) -> str:
    """A setting as written in a study file: 0.01, [0, 1], "fast", true; 'unset' when absent."""
    if v is None:
        return "unset"
    return _md(f"{v:g}" if isinstance(v, float) else json.dumps(v, ensure_ascii=False))


def _cut(rows: list[str], what: str) -> list[str]:
    """At most MAX_ROWS rows, then a line saying how many were left out."""
    if len(rows) <= MAX_ROWS:
        return rows
    return rows[:MAX_ROWS] + [f"\n… {len(rows) - MAX_ROWS} more {what}: see `reportgen compare --format json`"]


CLAIM_TITLES = {  # status -> the heading of its list and what it means: the same words in summary.md and the report
    "changed": ("Verdicts that changed", "the effect moved beyond noise, or could not be compared"),
    "borderline": (
        "Borderline changes",
        "the verdict changed but the effect did not move beyond noise, as training noise alone can do; not a failure",
    ),
    "moved": ("Effects that moved beyond noise", "with the same verdict"),
}
CHOICES_TITLE = ("Choices made on validation data that changed", "reported, not a failure")


def _claim_lines(changes: Changes) -> list[str]:
    """Write the tables of changed verdicts, borderline changes and effects that moved with the same verdict."""
    conf, lines = changes.scope.confidence, []
    for status, claims in (("changed", changes.verdicts), ("borderline", changes.borderline), ("moved", changes.having("moved"))):
        if claims:
            rows = [
                f"| {_md(c.claim)} ({_code(c.key, table=True)}) | {_md(c.old)} | "
                f"{f'**{_md(c.new)}**' if c.new != c.old else _md(c.new)} | "
                f"{_effects(c)} | {_md(_shift_text(c, conf))} |"
                for c in claims
            ]
            lines += [
                _title(CLAIM_TITLES[status]),
                "",
                "| Claim | Was | Now | Effect (was → now) | Difference (now − was) |",
                "|---|---|---|---|---|",
                *_cut(rows, "claims"),
                "",
            ]
    return lines


def _regularizer(kind: str) -> str:
    """A sweep's regularizer as written in a sentence: 'L1', 'L2', 'dropout'."""
    return kind if kind == "dropout" else kind.upper()


def _strengths(chosen: dict[str, float]) -> str:
    """Strengths by regularizer: 'L1 0.001 and L2 0.1'."""
    return " and ".join(f"{_regularizer(k)} {v:g}" for k, v in chosen.items())


def choice_texts(changes: Changes, code=lambda s: s, text=lambda s: s) -> list[str]:
    """One sentence per choice made on validation data that changed ('L1 sweep choice 0.001 → 0.003'); code: how a
    claim key is written; text: how the other words read from results.json are (markdown escapes both)."""
    claims, out = {c.key: c for c in changes.claims}, []
    for ch in changes.choices:
        if ch.name not in claims:
            out.append(f"{text(_regularizer(ch.name))} sweep choice {ch.old[ch.name]:g} → {ch.new[ch.name]:g}")
            continue
        c = claims[ch.name]
        old, new = text(c.old), text(c.new)
        verdict = f"its verdict {old} → {new} follows the new strengths" if c.old != c.new else f"its verdict stays {new}"
        strengths = f"{text(_strengths(ch.old))} → {text(_strengths(ch.new))}"
        out.append(f"{code(ch.name)} matched strengths {strengths}: {verdict} (effect {_effects(c)})")
    return out


def _choice_lines(changes: Changes) -> list[str]:
    """Write the list of strengths chosen on validation data that changed."""
    if not changes.choices:
        return []
    return [_title(CHOICES_TITLE), "", *[f"- {t}" for t in choice_texts(changes, _code, _md)], ""]


def _title(title: tuple[str, str], bold: str = "**") -> str:
    """A list's heading with what it means: '**Borderline changes** (the verdict changed …)'."""
    return f"{bold}{title[0]}{bold} ({title[1]})"


def _metric_lines(changes: Changes) -> list[str]:
    """Write the table of metrics that moved beyond noise."""
    if not changes.metrics:
        return []
    conf = changes.scope.confidence
    rows = [
        f"| {_md(m.variant)} | {_md(m.label)} | {_value(m.old_mean, m.kind)} | {_value(m.new_mean, m.kind)} | "
        f"{_interval_text(m.interval, m.kind, conf)}; {_p_text(m.interval.p, m.p_adjusted)}{' (worse)' if m.worse else ''} |"
        for m in changes.metrics
    ]
    return [
        "**Metrics that moved beyond noise** (now − was)",
        "",
        "| Variant | Metric | Was | Now | Difference |",
        "|---|---|---:|---:|---|",
        *_cut(rows, "metrics"),
        "",
    ]


def method_sentence(changes: Changes) -> str:
    """The one sentence that says how 'beyond noise' was decided (README, 'Publishing from CI', says the same), and,
    when no effect could be compared, what that means for a changed verdict."""
    s = changes.scope
    if _setup_differs(changes.study):
        return ""  # no numbers compared: the study's heading says so, each changed verdict says why
    test = (
        f"a paired t-test over the {s.replicates} replicates both builds share"
        if s.paired
        else "Welch's t-test (the builds do not share their replicate seeds and data design)"
    )
    families = (
        [f"the {s.claims_compared} claims compared (each claim's per-replicate primary contrasts)"] if s.claims_compared else []
    )
    families += [f"the {s.comparisons} metric comparisons (per variant and metric)"] if s.comparisons else []
    text = (
        (
            f"Beyond noise means a Holm-adjusted p below {s.alpha:.2g} for now − was: {test}, Holm over "
            f"{' and separately over '.join(families)}; the {s.confidence:.0%} intervals shown are unadjusted."
        )
        if families
        else ""
    )
    if s.not_compared:
        text += (
            f" Claims' effects could not be compared: {s.not_compared}. Their verdict labels are compared as they "
            f"are, and a changed one, which cannot be told from noise, counts as changed."
        )
    return text.strip()


def _setting_lines(title: str, diffs: tuple[SettingChange, ...]) -> list[str]:
    """Write a list of settings that differ under a title."""
    if not diffs:
        return []
    rows = [f"- {_code(d.key)}: {_setting(d.old)} → {_setting(d.new)}" for d in diffs]
    return [title, "", *_cut(rows, "settings"), ""]


def _added_removed_lines(changes: Changes) -> list[str]:
    """Write one bullet per kind of thing added or removed."""
    pairs = (
        ("Variants added", changes.variants_added),
        ("Variants removed", changes.variants_removed),
        ("Claims added", changes.claims_added),
        ("Claims removed", changes.claims_removed),
    )
    lines = [
        f"- {label}: {', '.join(_code(n) for n in names[:MAX_ROWS])}"
        + (f" and {len(names) - MAX_ROWS} more" if len(names) > MAX_ROWS else "")
        for label, names in pairs
        if names
    ]
    return [*lines, ""] if lines else []


def _nothing_line(changes: Changes) -> str:
    """Write the one line for two builds with nothing beyond noise, saying what was compared."""
    s = changes.scope
    labels = sum(c.old != c.new for c in changes.claims)
    verdicts = (
        f"the {s.claims} claims have the same verdicts"
        if not labels
        else f"no verdict of the {s.claims} claims changed beyond noise ({labels} changed within noise or with a "
        f"choice made on validation data: below)"
    )
    effects = "no claim's effect and " if s.claims_compared else ""
    variants = f"{len(s.variants)} variant{'s' if len(s.variants) != 1 else ''}"
    return (
        f"No meaningful change: {verdicts}, no variant or claim was added or removed, and {effects}none of "
        f"{', '.join(m.compared for m in METRICS)} moved beyond noise for the {variants}."
    )


STUDY_TITLES = {
    True: "**Different studies**: the settings below differ, so no numbers are compared; verdict changes are listed "
    "only for claims whose variants have the same settings in both builds.",
    False: "**Changed variants**: the variant settings below differ; every claim's effect is compared (a changed "
    "setting is a real change), metrics only for the variants whose settings did not change.",
}


def render_markdown(changes: Changes) -> str:
    """The changes as a short markdown section: a title line, then bullets and tables."""
    lines = [f"### Changes since {_md(changes.old_name)}", ""]
    if not changes.same_study:
        lines += _setting_lines(STUDY_TITLES[_setup_differs(changes.study)], changes.study)
    if not changes.meaningful:
        lines += [_nothing_line(changes), ""]
    lines += _claim_lines(changes) + _choice_lines(changes) + _added_removed_lines(changes) + _metric_lines(changes)
    method = method_sentence(changes)
    lines += [f"*{_md(method)}*", ""] if method else []
    lines += _setting_lines(
        "Other settings that changed (they change the replicates, the engine or how claims are judged, not the experiment):",
        changes.other_settings,
    )
    return "\n".join(lines).rstrip() + "\n"


def change_groups(changes: Changes) -> list[tuple[str, list[str]]]:
    """The changes as (heading, plain sentences) groups, for the HTML report's Changes section."""
    conf, groups = changes.scope.confidence, []
    settings = lambda diffs: [f"{d.key}: {d.old!r} → {d.new!r}" for d in diffs]  # noqa: E731
    if not changes.same_study:
        groups.append(
            (
                STUDY_TITLES[_setup_differs(changes.study)].replace("**", "").split(":")[0] + ": these settings differ",
                settings(changes.study),
            )
        )
    if not changes.meaningful:
        groups.append(("", [_nothing_line(changes)]))
    for status, claims in (("changed", changes.verdicts), ("borderline", changes.borderline), ("moved", changes.having("moved"))):
        if claims:
            groups.append(
                (
                    _title(CLAIM_TITLES[status], ""),
                    [
                        f"{c.claim} ({c.key}): {c.old} → {c.new}; effect {_effects(c)}; difference {_shift_text(c, conf)}"
                        for c in claims
                    ],
                )
            )
    if changes.choices:
        groups.append((_title(CHOICES_TITLE, ""), choice_texts(changes)))
    added = [
        f"{label}: {', '.join(names)}"
        for label, names in (
            ("Variants added", changes.variants_added),
            ("Variants removed", changes.variants_removed),
            ("Claims added", changes.claims_added),
            ("Claims removed", changes.claims_removed),
        )
        if names
    ]
    if added:
        groups.append(("Added and removed", added))
    if changes.metrics:
        groups.append(
            (
                "Metrics that moved beyond noise (now − was)",
                [
                    f"{m.variant}, {m.label}: {_value(m.old_mean, m.kind)} → {_value(m.new_mean, m.kind)} "
                    f"({_interval_text(m.interval, m.kind, conf)}; {_p_text(m.interval.p, m.p_adjusted)})"
                    f"{', worse' if m.worse else ''}"
                    for m in changes.metrics
                ],
            )
        )
    if method := method_sentence(changes):
        groups.append(("", [method]))
    if changes.other_settings:
        groups.append(
            ("Other settings that changed (replicates, engine or judging, not the experiment)", settings(changes.other_settings))
        )
    return groups


def _json_ready(value: Any) -> Any:
    """NaN and infinities as null, tuples as lists: strict JSON."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def changes_json(changes: Changes) -> dict:
    """The changes as plain JSON-ready data, with the gates' lines."""
    doc = asdict(changes)
    for c, row in zip(changes.claims, doc["claims"]):
        row["status"] = c.status
    doc.update(
        same_study=changes.same_study,
        meaningful=changes.meaningful,
        method=method_sentence(changes),
        changed_verdicts=changed_verdicts(changes),
        borderline_changes=[c.key for c in changes.borderline],
        choices_changed=choice_texts(changes),
        regressions=regressions(changes),
    )
    return _json_ready(doc)
