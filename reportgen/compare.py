"""Compare two builds' results.json: verdicts that changed, metrics beyond noise, claims and variants added or removed.

Pure: json, numpy and scipy, no TensorFlow and no training, so `reportgen compare` and the CI gates take a second.
Two builds of different studies (other data, network, training or variant settings) are not compared number by
number: the comparison says which settings differ, and keeps only what still matches.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from reportgen.errors import ConfigError
from reportgen.stats import estimate


@dataclass(frozen=True)
class Metric:
    """A headline metric compared between builds, and which direction of change is worse."""

    name: str
    label: str
    kind: str  # 'pct': a share (differences in percentage points), 'num': a plain number
    worse: int  # +1: larger is worse, -1: smaller is worse, 0: a change but not a regression


# The one table that defines a regression: lower test accuracy, a larger gap, a larger test loss.
METRICS = (
    Metric("test_accuracy", "test accuracy", "pct", -1),
    Metric("gap", "generalization gap", "pct", +1),
    Metric("test_loss", "test loss", "num", +1),
    Metric("boundary_length", "boundary length", "num", 0),
    Metric("val_roughness", "validation-loss roughness", "num", 0),
    Metric("prunable", "prunable share", "pct", 0),
)
STUDY_SECTIONS = ("data", "model", "training")  # what makes two builds the same study, with the variants' settings
NOT_THE_STUDY = ("training.seeds", "training.engine")  # they change the draw or the engine, not the study
IGNORED = ("title", "output.")  # never compared: a title or an output folder changes no number
DESIGN_KEYS = ("seeds", "resample_data", "test_sets")  # the replicate design that pairing needs to be identical
SHARES = {"train_accuracy", "val_accuracy", "excess_error", "train_over_bayes", "disagreement"}
DATA_SWEEP_METRICS = ("benefit_slope", "gap_benefit_slope")  # claims measured across a data sweep
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


@dataclass(frozen=True)
class Build:
    """The parts of one results.json a comparison reads, typed."""

    settings: dict[str, Any]  # the study flattened to dotted keys, variants and ignored keys left out
    variants: dict[str, dict[str, Any]]  # variant name -> its settings flattened (label left out)
    claims: dict[str, Claim]
    values: dict[tuple[str, str], dict[int, float]]  # (variant, metric) -> replicate seed -> value
    design: dict[str, Any]  # the DESIGN_KEYS of the design block
    confidence: float


@dataclass(frozen=True)
class SettingChange:
    """A setting that differs between the builds (None: the key is absent from that build)."""

    key: str
    old: Any
    new: Any


@dataclass(frozen=True)
class VerdictChange:
    """A claim whose verdict changed, with its primary effect in both builds."""

    key: str
    claim: str
    old: str
    new: str
    metric: str
    old_effect: float | None
    new_effect: float | None
    effect_kind: str


@dataclass(frozen=True)
class Interval:
    """A difference new − old with its confidence interval (NaN ends: no interval)."""

    difference: float
    low: float
    high: float
    n: int  # pairs (paired) or the smaller of the two samples (unpaired)

    @property
    def beyond_noise(self) -> bool:
        """Whether the interval excludes zero."""
        return math.isfinite(self.low) and math.isfinite(self.high) and (self.low > 0 or self.high < 0)


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


@dataclass(frozen=True)
class Scope:
    """What was compared, for the 'no meaningful change' line."""

    claims: int
    variants: tuple[str, ...]
    metrics: tuple[str, ...]
    paired: bool
    replicates: int
    confidence: float
    comparisons: int = 1  # metric comparisons made: intervals are Bonferroni-widened over them

    @property
    def level(self) -> float:
        """The confidence of each metric interval: the study's, spread over every comparison made (Bonferroni)."""
        return 1 - (1 - self.confidence) / max(self.comparisons, 1)


@dataclass(frozen=True)
class Changes:
    """Everything that differs between two builds."""

    old_name: str
    new_name: str
    study: tuple[SettingChange, ...]  # data, network, training or variant settings: different studies when any
    other_settings: tuple[SettingChange, ...]  # seeds, engine, sweeps, analysis: same study, other draw or judging
    verdicts: tuple[VerdictChange, ...]
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

    @property
    def meaningful(self) -> bool:
        """Whether anything changed beyond noise."""
        return bool(self.study or self.verdicts or self.claims_added or self.claims_removed or self.variants_added
                    or self.variants_removed or self.metrics)


# ---- reading -----------------------------------------------------------------------------------------------

REQUIRED = {"reportgen": str, "study": dict, "design": dict, "claims": list, "runs": list}


def load_results(path: Path) -> dict:
    """Read a build's results.json (a folder or the file itself); bad input raises a one-line ConfigError."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise ConfigError([f"{file}: not found (give a build's output folder or its results.json)"])
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError([f"{file}: not valid JSON ({err})"]) from None
    problems = _shape_problems(doc)
    if problems:
        raise ConfigError([f"{file}: not a reportgen results.json: {problems[0]}"])
    try:
        parse_build(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as err:  # a field of the wrong kind deeper down
        raise ConfigError([f"{file}: not a reportgen results.json: unexpected {type(err).__name__} {err}"]) from None
    return doc


def _shape_problems(doc) -> list[str]:
    """What makes a parsed document something other than a reportgen results.json."""
    if not isinstance(doc, dict):
        return [f"top level is a {type(doc).__name__}, not an object"]
    out = [f"key '{k}' is missing" if k not in doc else f"key '{k}' is a {type(doc[k]).__name__}, not a {t.__name__}"
           for k, t in REQUIRED.items() if not isinstance(doc.get(k), t)]
    study = doc.get("study") if isinstance(doc.get("study"), dict) else {}
    out += [f"key 'study.{k}' is missing" for k in (*STUDY_SECTIONS, "variants") if k not in study]
    out += [f"key 'claims.{i}' has no 'key' and 'verdict'" for i, c in enumerate(doc.get("claims") or [])
            if not (isinstance(c, dict) and "key" in c and "verdict" in c)][:1]
    return out


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted keys: {'data': {'noise': 0.2}} -> {'data.noise': 0.2}."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out if out or not prefix else {prefix[:-1]: value}
    return {prefix[:-1]: value}


def _claim(c: dict) -> Claim:
    """Read one claim of results.json."""
    primary = c.get("primary") or {}
    effect = primary.get("effect") or {}
    return Claim(c["key"], c.get("claim", c["key"]), c.get("variant"), c.get("reference"), c["verdict"],
                 primary.get("metric", ""), effect.get("mean"), effect.get("kind", "difference"))


def _values(doc: dict, names: set[str]) -> dict[tuple[str, str], dict[int, float]]:
    """Per variant and metric, the value of each replicate's first-initialization run that did not diverge."""
    out: dict[tuple[str, str], dict[int, float]] = {}
    for r in doc["runs"]:
        if r.get("variant") not in names or r.get("init", 0) != 0 or r.get("diverged_at") is not None:
            continue
        for m in METRICS:
            v = r.get(m.name)
            if isinstance(v, (int, float)) and math.isfinite(v):
                out.setdefault((r["variant"], m.name), {})[int(r["seed"])] = float(v)
    return out


def _default_settings() -> dict[str, Any]:
    """The default study's settings as dotted keys: what a build of an older reportgen, which had no such key, used."""
    from reportgen.config import StudyConfig

    return _flatten({k: v for k, v in StudyConfig().model_dump(mode="json").items() if k != "variants"})


def parse_build(doc: dict) -> Build:
    """The typed parts of a parsed results.json that a comparison reads (a key an older build lacks: its default)."""
    study = doc["study"]
    flat = {**_default_settings(), **_flatten({k: v for k, v in study.items() if k != "variants"})}
    settings = {k: v for k, v in flat.items() if not any(k == i or k.startswith(i) for i in IGNORED)}
    variants = {v["name"]: _flatten({k: x for k, x in v.items() if k not in ("name", "label")})
                for v in study["variants"]}
    design = {k: doc["design"].get(k) for k in DESIGN_KEYS}
    confidence = float(study.get("analysis", {}).get("confidence", doc.get("confidence", 0.95)))
    claims = {c["key"]: _claim(c) for c in doc["claims"]}
    return Build(settings, variants, claims, _values(doc, set(variants)), design, confidence)


# ---- comparing ---------------------------------------------------------------------------------------------

def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[SettingChange]:
    """Keys whose values differ (absent on one side counts), sorted."""
    return [SettingChange(prefix + k, old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys())
            if old.get(k) != new.get(k)]


def _is_study(key: str) -> bool:
    """Whether a dotted setting belongs to what makes a study (data, network, training but seeds and engine)."""
    return key.split(".")[0] in STUDY_SECTIONS and key not in NOT_THE_STUDY


def study_differences(a: Build, b: Build) -> tuple[list[SettingChange], list[SettingChange]]:
    """Settings that make the builds different studies, and the other settings that changed."""
    top = _differences(a.settings, b.settings)
    variants = [d for name in sorted(a.variants.keys() & b.variants.keys())
                for d in _differences(a.variants[name], b.variants[name], f"variants.{name}.")]
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
    if claim.metric in DATA_SWEEP_METRICS:  # measured across the data sweep: its sizes are part of the measurement
        return sweeps(a) == sweeps(b) and involved <= unchanged
    return involved <= unchanged


def verdict_changes(a: Build, b: Build, unchanged: set[str]) -> list[VerdictChange]:
    """Claims in both builds, measuring the same thing, whose verdict differs."""
    out = []
    for key in (k for k in b.claims if k in a.claims):
        old, new = a.claims[key], b.claims[key]
        if old.verdict != new.verdict and _claim_matches(new, a, b, unchanged):
            out.append(VerdictChange(key, new.text, old.verdict, new.verdict, new.metric, old.effect, new.effect,
                                     new.effect_kind))
    return out


def pairable(a: Build, b: Build) -> bool:
    """Whether replicates can be paired: same seeds and the same data design in both builds."""
    data = lambda s: {k: v for k, v in s.settings.items() if k.startswith("data.")}  # noqa: E731
    return a.design == b.design and data(a) == data(b)


def paired_interval(old: dict[int, float], new: dict[int, float], confidence: float) -> Interval:
    """Paired t interval of new − old over the replicates both builds have."""
    seeds = sorted(old.keys() & new.keys())
    e = estimate([new[s] - old[s] for s in seeds], confidence)
    return Interval(e.mean, e.low, e.high, e.n)


def welch_interval(old: list[float], new: list[float], confidence: float) -> Interval:
    """Welch's unpaired t interval of mean(new) − mean(old)."""
    a, b = np.asarray(old, float), np.asarray(new, float)
    if min(a.size, b.size) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    diff = float(b.mean() - a.mean())
    if min(a.size, b.size) < 2:
        return Interval(diff, math.nan, math.nan, min(a.size, b.size))
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread at all: the difference is exact
        return Interval(diff, diff, diff, min(a.size, b.size))
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(confidence_level=confidence)
    return Interval(diff, float(ci.low), float(ci.high), min(a.size, b.size))


def _metric_change(a: Build, b: Build, variant: str, m: Metric, paired: bool, confidence: float) -> MetricChange | None:
    """The change of one metric of one variant, when it is beyond noise."""
    old, new = a.values.get((variant, m.name), {}), b.values.get((variant, m.name), {})
    if not old or not new:
        return None
    iv = (paired_interval(old, new, confidence) if paired
          else welch_interval(list(old.values()), list(new.values()), confidence))
    if not iv.beyond_noise:
        return None
    worse = m.worse != 0 and np.sign(iv.difference) == m.worse
    return MetricChange(variant, m.name, m.label, m.kind, float(np.mean(list(old.values()))),
                        float(np.mean(list(new.values()))), iv, paired, bool(worse))


def compare(old: dict, new: dict, old_name: str = "old", new_name: str = "new") -> Changes:
    """Compare two parsed results.json documents: what changed from old to new, beyond noise."""
    a, b = parse_build(old), parse_build(new)
    study, other = study_differences(a, b)
    unchanged = _unchanged_variants(a, b)
    # numbers are compared only where they measure the same thing: same data, network and training, same variant
    measured = [] if _setup_differs(study) else [v for v in b.variants if v in unchanged]
    paired = pairable(a, b)
    # One comparison per variant and metric with numbers in both builds; with ~20 of them, 95% intervals would flag
    # one by chance most of the time, so each interval is widened to 1 - alpha / comparisons (Bonferroni).
    pairs = [(v, m) for v in measured for m in METRICS if a.values.get((v, m.name)) and b.values.get((v, m.name))]
    replicates = len(set(a.design.get("seeds") or []) & set(b.design.get("seeds") or [])) if paired else 0
    scope = Scope(len(a.claims.keys() & b.claims.keys()), tuple(measured), tuple(m.name for m in METRICS), paired,
                  replicates, b.confidence, len(pairs))
    metrics = [c for v, m in pairs if (c := _metric_change(a, b, v, m, paired, scope.level))]
    return Changes(old_name, new_name, tuple(study), tuple(other), tuple(verdict_changes(a, b, unchanged)),
                   tuple(k for k in b.claims if k not in a.claims), tuple(k for k in a.claims if k not in b.claims),
                   tuple(v for v in b.variants if v not in a.variants), tuple(v for v in a.variants if v not in b.variants),
                   tuple(metrics), scope)


# ---- gates ---------------------------------------------------------------------------------------------------

def changed_verdicts(changes: Changes) -> list[str]:
    """One line per claim whose verdict changed (for --fail-on changed)."""
    return [f"{v.key}: {v.old} → {v.new}" for v in changes.verdicts]


def regressions(changes: Changes) -> list[str]:
    """One line per metric that got worse beyond noise (for --fail-on regressed)."""
    return [f"{m.variant} {m.label}: {_value(m.old_mean, m.kind)} → {_value(m.new_mean, m.kind)} "
            f"({_interval_text(m.interval, m.kind, changes.scope.level)})" for m in changes.metrics if m.worse]


# ---- rendering -------------------------------------------------------------------------------------------------

def _value(v: float | None, kind: str) -> str:
    """A metric's value: shares as percentages, other numbers with three significant digits."""
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v:.1%}" if kind == "pct" else f"{v:.3g}"


def _diff(v: float | None, kind: str) -> str:
    """A difference: shares in percentage points, ratios as ×r, other numbers signed."""
    if v is None or not math.isfinite(v):
        return "–"
    return {"pct": f"{v * 100:+.1f} pp", "ratio": f"×{v:.3g}"}.get(kind, f"{v:+.3g}")


def _interval_text(iv: Interval, kind: str, confidence: float) -> str:
    """Write a difference with its interval: '-2.0 pp, 95% CI -2.4 pp to -1.6 pp'."""
    return f"{_diff(iv.difference, kind)}, {confidence:.4g} CI {_diff(iv.low, kind)} to {_diff(iv.high, kind)}".replace(
        f"{confidence:.4g} CI", f"{confidence * 100:.3g}% CI")


def _effect_kind(v: VerdictChange) -> str:
    """Choose how a claim's effect is written: percentage points for shares, ×r for ratios, else a number."""
    if v.effect_kind == "ratio":
        return "ratio"
    shares = {m.name for m in METRICS if m.kind == "pct"} | SHARES
    return "pct" if v.metric in shares or v.metric.startswith("first_below_") else "num"


def _md(text: Any) -> str:
    """Make text safe inside a markdown table cell or bullet."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


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


def _verdict_lines(changes: Changes) -> list[str]:
    """Write the table of verdicts that changed."""
    if not changes.verdicts:
        return []
    rows = [f"| {_md(v.claim)} (`{_md(v.key)}`) | {v.old} | **{v.new}** | {_diff(v.old_effect, _effect_kind(v))} → "
            f"{_diff(v.new_effect, _effect_kind(v))} |" for v in changes.verdicts]
    return ["**Verdicts that changed**", "", "| Claim | Was | Now | Effect (was → now) |", "|---|---|---|---|",
            *_cut(rows, "verdicts"), ""]


def _metric_lines(changes: Changes) -> list[str]:
    """Write the table of metrics that moved beyond noise, saying which interval was used."""
    if not changes.metrics:
        return []
    s = changes.scope
    how = (f"paired t interval over the {s.replicates} replicates both builds share" if s.paired
           else "Welch interval; the builds do not share their replicates")
    rows = [f"| {_md(m.variant)} | {m.label} | {_value(m.old_mean, m.kind)} | {_value(m.new_mean, m.kind)} | "
            f"{_interval_text(m.interval, m.kind, s.level)}{' (worse)' if m.worse else ''} |" for m in changes.metrics]
    return [f"**Metrics that moved beyond noise** (now − was, {s.level:.2%} {how}: {s.confidence:.0%} spread over "
            f"{s.comparisons} comparisons (Bonferroni); the interval excludes zero)", "",
            "| Variant | Metric | Was | Now | Difference |", "|---|---|---:|---:|---|", *_cut(rows, "metrics"), ""]


def _setting_lines(title: str, diffs: tuple[SettingChange, ...]) -> list[str]:
    """Write a list of settings that differ under a title."""
    if not diffs:
        return []
    rows = [f"- `{_md(d.key)}`: {_setting(d.old)} → {_setting(d.new)}" for d in diffs]
    return [title, "", *_cut(rows, "settings"), ""]


def _added_removed_lines(changes: Changes) -> list[str]:
    """Write one bullet per kind of thing added or removed."""
    pairs = (("Variants added", changes.variants_added), ("Variants removed", changes.variants_removed),
             ("Claims added", changes.claims_added), ("Claims removed", changes.claims_removed))
    lines = [f"- {label}: {', '.join(f'`{_md(n)}`' for n in names[:MAX_ROWS])}"
             + (f" and {len(names) - MAX_ROWS} more" if len(names) > MAX_ROWS else "") for label, names in pairs if names]
    return [*lines, ""] if lines else []


def _nothing_line(changes: Changes) -> str:
    """Write the one line for two builds that do not differ, saying what was compared."""
    s = changes.scope
    how = (f"paired over {s.replicates} replicates" if s.paired else "unpaired (Welch)")
    variants = f"{len(s.variants)} variant{'s' if len(s.variants) != 1 else ''}"
    return (f"No meaningful change: the {s.claims} claims have the same verdicts, no variant or claim was added or "
            f"removed, and none of {', '.join(m.label for m in METRICS)} moved beyond noise for the {variants} "
            f"({s.confidence:.0%} intervals spread over {s.comparisons} comparisons, {how}).")


STUDY_TITLES = {
    True: "**Different studies**: the settings below differ, so no numbers are compared; verdict changes are listed "
          "only for claims whose variants have the same settings in both builds.",
    False: "**Different studies**: the variant settings below differ; numbers and verdicts are compared only for the "
           "variants whose settings did not change.",
}


def render_markdown(changes: Changes) -> str:
    """The changes as a short markdown section: a title line, then bullets and tables."""
    lines = [f"### Changes since {_md(changes.old_name)}", ""]
    if not changes.same_study:
        lines += _setting_lines(STUDY_TITLES[_setup_differs(changes.study)], changes.study)
    if not changes.meaningful:
        lines += [_nothing_line(changes), ""]
    lines += _verdict_lines(changes) + _added_removed_lines(changes) + _metric_lines(changes)
    lines += _setting_lines("Other settings that changed (they change the replicates, the engine or how claims are "
                            "judged, not the experiment):", changes.other_settings)
    return "\n".join(lines).rstrip() + "\n"


def change_groups(changes: Changes) -> list[tuple[str, list[str]]]:
    """The changes as (heading, plain sentences) groups, for the HTML report's Changes section."""
    s, groups = changes.scope, []
    settings = lambda diffs: [f"{d.key}: {d.old!r} → {d.new!r}" for d in diffs]  # noqa: E731
    if not changes.same_study:
        groups.append(("Different studies: these settings differ", settings(changes.study)))
    if not changes.meaningful:
        groups.append(("", [_nothing_line(changes)]))
    if changes.verdicts:
        groups.append(("Verdicts that changed", [f"{v.claim} ({v.key}): {v.old} → {v.new} (effect {_diff(v.old_effect, _effect_kind(v))} → "
                                                 f"{_diff(v.new_effect, _effect_kind(v))})" for v in changes.verdicts]))
    added = [f"{label}: {', '.join(names)}" for label, names in (
        ("Variants added", changes.variants_added), ("Variants removed", changes.variants_removed),
        ("Claims added", changes.claims_added), ("Claims removed", changes.claims_removed)) if names]
    if added:
        groups.append(("Added and removed", added))
    if changes.metrics:
        how = "paired over the replicates both builds share" if s.paired else "unpaired (Welch), the builds share no replicates"
        groups.append((f"Metrics that moved beyond noise ({how}; {s.confidence:.0%} spread over {s.comparisons} comparisons)",
                       [f"{m.variant}, {m.label}: {_value(m.old_mean, m.kind)} → {_value(m.new_mean, m.kind)} "
                        f"({_interval_text(m.interval, m.kind, s.level)}){', worse' if m.worse else ''}" for m in changes.metrics]))
    if changes.other_settings:
        groups.append(("Other settings that changed (replicates, engine or judging, not the experiment)", settings(changes.other_settings)))
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
    for m, row in zip(changes.metrics, doc["metrics"]):
        row["interval"]["beyond_noise"] = m.interval.beyond_noise
    doc.update(same_study=changes.same_study, meaningful=changes.meaningful,
               changed_verdicts=changed_verdicts(changes), regressions=regressions(changes))
    return _json_ready(doc)
