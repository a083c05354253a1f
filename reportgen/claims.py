"""The seed study's claims turned into measurements with computed verdicts, and the observations text."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reportgen.analysis import StudyAnalysis, metric_kind, metric_label, per_seed, summary_value
from reportgen.stats import Comparison, paired, spread

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"


@dataclass(frozen=True)
class ClaimSpec:
    """A claim and the measurement that tests it: variant vs reference (or vs zero) on one metric."""

    key: str
    claim: str
    variant: str
    reference: str | None  # None: the claim is about the variant's own value being above / below zero
    metric: str
    direction: int  # +1: the claim expects a larger value, -1: a smaller one
    measure: str
    statistic: str = "mean"  # "mean": paired by seed; "spread": seed-to-seed standard deviations compared


def _sparsity_metric(analysis: StudyAnalysis) -> str:
    return f"below_{max(analysis.thresholds):g}"


REGULARIZERS = ("l1", "l2", "dropout", "batchnorm", "early_stopping")


def claim_specs(analysis: StudyAnalysis) -> list[ClaimSpec]:
    """The claims of the seed study and the usual claims for every regularizer, each with its measurement."""
    gap = "generalization gap (train − test accuracy)"
    overfits = "The baseline model, without regularization, overfits the training data."
    specs = [
        ClaimSpec("baseline_overfits", overfits, "baseline", None, "gap", +1, f"{gap} of the baseline, above zero"),
        ClaimSpec("baseline_overfits_loss", overfits, "baseline", None, "loss_gap", +1,
                  "test loss minus train loss of the baseline, above zero"),
        ClaimSpec("baseline_val_loss_rises", overfits, "baseline", None, "val_loss_slope", +1,
                  "least-squares trend of the validation loss over the late part of training, rising (above zero)"),
        ClaimSpec("l2_small_weights", "L2 regularization (weight decay) keeps weights small.",
                  "l2", "baseline", "kernel_l2", -1, "L2 norm of the hidden kernels, smaller than the baseline's"),
        ClaimSpec("batchnorm_less_init_dependence", "Batch normalization reduces dependence on initialization.",
                  "batchnorm", "baseline", "test_accuracy", -1,
                  "seed-to-seed standard deviation of test accuracy (seeds set the initial weights), smaller than the baseline's",
                  statistic="spread"),
    ]
    for t in sorted(analysis.thresholds):  # every configured threshold, so no single cut-off is cherry-picked
        below = f"share of hidden-layer weights with |w| < {t:g}"
        specs.append(ClaimSpec(f"l1_sparsity_{t:g}", "L1 regularization pushes many weights towards zero (sparsity).",
                               "l1", "baseline", f"below_{t:g}", +1, f"{below}, larger than the baseline's"))
        specs.append(ClaimSpec(f"l1_sparser_than_l2_{t:g}", "L1 gives sparser weights than L2 (the textbook difference between them).",
                               "l1", "l2", f"below_{t:g}", +1, f"{below}, larger than L2's"))
    for name in REGULARIZERS:
        who = _pretty(name)
        specs += [
            ClaimSpec(f"{name}_smaller_gap", f"{who} reduces overfitting.", name, "baseline", "gap", -1, f"{gap}, smaller than the baseline's"),
            ClaimSpec(f"{name}_test_accuracy", f"{who} improves generalization to unseen data.", name, "baseline",
                      "test_accuracy", +1, "test accuracy on fresh points, higher than the baseline's"),
            ClaimSpec(f"{name}_simpler_boundary", f"{who} gives a simpler (smoother) decision boundary.", name, "baseline",
                      "boundary_length", -1, "length of the 0.5 probability contour, shorter than the baseline's"),
        ]
        if name != "early_stopping":  # its "late training" is the early phase of everyone else's: not comparable
            specs.append(ClaimSpec(f"{name}_stable_loss", f"{who} gives more stable loss curves.", name, "baseline", "val_loss_tv", -1,
                                   "mean absolute epoch-to-epoch change of the validation loss late in training, smaller than the baseline's"))
    return [s for s in specs if s.variant in analysis.variants and (s.reference is None or s.reference in analysis.variants)]


def _pretty(name: str) -> str:
    return {"l1": "L1 regularization", "l2": "L2 regularization", "dropout": "Dropout",
            "batchnorm": "Batch normalization", "early_stopping": "Early stopping"}.get(name, name)


@dataclass(frozen=True)
class ClaimResult:
    """A measured claim: effect (variant − reference, or the value itself), its interval, test and verdict."""

    spec: ClaimSpec
    value: float
    reference_value: float | None
    comparison: Comparison
    verdict: str
    sentence: str

    def as_dict(self) -> dict:
        """Return the claim as JSON-ready values."""
        c = self.comparison
        return {
            "key": self.spec.key, "claim": self.spec.claim, "measure": self.spec.measure, "variant": self.spec.variant,
            "reference": self.spec.reference, "metric": self.spec.metric, "expected_direction": self.spec.direction,
            "variant_mean": self.value, "reference_mean": self.reference_value, "effect": c.diff.as_dict(),
            "relative_effect": None if math.isnan(c.relative) else c.relative,
            "p_value": None if math.isnan(c.p_value) else c.p_value, "verdict": self.verdict, "sentence": self.sentence,
        }


def _verdict(comparison: Comparison, direction: int) -> str:
    sign = comparison.diff.excludes_zero()
    return INCONCLUSIVE if sign == 0 else SUPPORTED if sign == direction else NOT_SUPPORTED


def _num(v: float) -> str:
    if not math.isfinite(v):
        return "n/a"
    return f"{v:.3g}" if abs(v) < 1e-2 or abs(v) >= 1e3 else f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1 else f"{v:.2f}"


def _formatters(metric: str):
    """(value, difference) formatters: shares as percent and percentage points, the rest as plain numbers."""
    if metric_kind(metric) == "pct":
        return (lambda v: f"{v:.1%}" if math.isfinite(v) else "n/a"), (lambda d: f"{d * 100:+.1f} pp" if math.isfinite(d) else "n/a")
    return _num, (lambda d: ("+" if d > 0 else "") + _num(d))


def _sentence(spec: ClaimSpec, comp: Comparison, verdict: str, value: float, ref: float | None, confidence: float) -> str:
    d, label, n = comp.diff, metric_label(spec.metric), comp.diff.n
    if spec.statistic == "spread":
        label = f"Seed-to-seed standard deviation of {label.lower()}"
    val, diff = _formatters(spec.metric)
    if spec.reference is None:
        head = f"{label}: {val(value)} for {spec.variant}"
    else:
        head = f"{label}: {val(value)} for {spec.variant} vs {val(ref)} for {spec.reference}, a difference of {diff(d.mean)}"
        if math.isfinite(comp.relative) and metric_kind(spec.metric) != "pct":
            head += f" ({comp.relative:+.0%})"
    if not d.has_interval:
        need = 3 if spec.statistic == "spread" else 2
        return f"{head}; {n} seed{'s' if n != 1 else ''} give no interval, so no verdict (run at least {need} seeds)."
    bound = val if spec.reference is None else diff  # an interval of the value itself, or of a difference
    test = "bootstrap CI, Levene's test" if spec.statistic == "spread" else "paired t-test" if spec.reference else "t-test"
    ci = f"{confidence:.0%} CI {bound(d.low)} to {bound(d.high)}, {test} p = {comp.p_value:.2g}, {n} seeds"
    tail = {
        SUPPORTED: "the data support the claim",
        NOT_SUPPORTED: "the data show the opposite of the claim",
        INCONCLUSIVE: "the interval includes zero, so these seeds cannot tell",
    }[verdict]
    if verdict == INCONCLUSIVE and d.excludes_zero():
        tail = "the test is not significant, so these seeds cannot tell"
    return f"{head} ({ci}): {tail}."


def evaluate_claims(analysis: StudyAnalysis) -> list[ClaimResult]:
    """Measure every applicable claim with a paired comparison across seeds."""
    out = []
    for spec in claim_specs(analysis):
        values = per_seed(analysis, spec.variant, spec.metric)
        ref = per_seed(analysis, spec.reference, spec.metric) if spec.reference else np.zeros_like(values)
        if spec.statistic == "spread":
            comp = spread(values, ref, analysis.confidence)
            value, ref_value = comp.diff.mean + comp.reference_mean, comp.reference_mean
        else:
            comp = paired(values, ref, analysis.confidence)
            value, ref_value = float(np.nanmean(values)), (float(np.nanmean(ref)) if spec.reference else None)
        verdict = _verdict(comp, spec.direction) if comp.diff.has_interval else INCONCLUSIVE
        if spec.statistic == "spread" and not comp.p_value < 1 - analysis.confidence:
            verdict = INCONCLUSIVE  # a bootstrap over a handful of seeds is optimistic: Levene's test must agree
        out.append(ClaimResult(spec, value, ref_value, comp, verdict,
                               _sentence(spec, comp, verdict, value, ref_value, analysis.confidence)))
    return out


def observations(analysis: StudyAnalysis, claims: list[ClaimResult]) -> list[str]:
    """Plain sentences computed from this build's numbers: rankings, sparsity, stopping, and claim tallies."""
    mean = lambda v, m: summary_value(analysis, v, m)["mean"]  # noqa: E731
    names = analysis.variants
    n = len(analysis.seeds)
    acc = sorted(names, key=lambda v: -mean(v, "test_accuracy"))
    gap = sorted(names, key=lambda v: mean(v, "gap"))
    out = [
        f"Highest mean test accuracy: {acc[0]} ({mean(acc[0], 'test_accuracy'):.1%}); lowest: {acc[-1]} "
        f"({mean(acc[-1], 'test_accuracy'):.1%}); a spread of "
        f"{(mean(acc[0], 'test_accuracy') - mean(acc[-1], 'test_accuracy')) * 100:.1f} percentage points between variants, means over {n} seed{'s' if n != 1 else ''}.",
        f"Smallest generalization gap: {gap[0]} ({mean(gap[0], 'gap'):+.1%}); largest: {gap[-1]} ({mean(gap[-1], 'gap'):+.1%}).",
    ]
    sparse = _sparsity_metric(analysis)
    if "baseline" in names:
        base_row = summary_value(analysis, "baseline", sparse)
        base = base_row["mean"]
        for v in (v for v in names if v != "baseline"):
            row = summary_value(analysis, v, sparse)
            s = row["mean"]
            if row["low"] > base_row["high"]:  # only where the intervals separate
                layers = analysis.layers[analysis.layers["variant"] == v]
                zeros, total = int(layers["exact_zeros"].sum()), int(layers["weights"].sum())
                out.append(f"{v} has {s:.1%} of its hidden-layer weights below {max(analysis.thresholds):g} in magnitude, "
                           f"against {base:.1%} for the baseline ({s / max(base, 1e-12):.1f}×); "
                           f"{zeros:,} of its {total:,} hidden-layer weights (all seeds) are exactly zero.")
    for v in names:
        e = analysis.main_runs[analysis.main_runs["variant"] == v]
        if e["epochs_run"].min() < analysis.histories[v]["val_loss"].shape[1]:
            out.append(f"{v} stopped after {int(e['epochs_run'].min())}–{int(e['epochs_run'].max())} epochs "
                       f"(best validation epoch {int(e['best_epoch'].min())}–{int(e['best_epoch'].max())}).")
    out += _sweep_observations(analysis)
    tally = {k: sum(c.verdict == k for c in claims) for k in (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)}
    if claims:
        out.append(f"Of {len(claims)} measured claims, {tally[SUPPORTED]} are supported, {tally[NOT_SUPPORTED]} are contradicted "
                   f"and {tally[INCONCLUSIVE]} are inconclusive at {analysis.confidence:.0%} confidence.")
    return out


def _sweep_observations(analysis: StudyAnalysis) -> list[str]:
    """Per sweep: the best and the worst strength by test accuracy, against the baseline and chance."""
    if analysis.sweeps.empty:
        return []
    acc = analysis.sweeps[analysis.sweeps["metric"] == "test_accuracy"]
    base = summary_value(analysis, "baseline", "test_accuracy") if "baseline" in analysis.variants else None
    out = []
    for kind, part in acc.groupby("kind", sort=False):
        best = part.loc[part["mean"].idxmax()]
        text = (f"{_pretty(kind)} sweep: the best mean test accuracy is {best['mean']:.1%} at {kind} = {best['strength']:g}"
                f" ({analysis.confidence:.0%} CI {best['low']:.1%} to {best['high']:.1%})")
        if base is not None:
            overlap = best["low"] <= base["high"] and base["low"] <= best["high"]
            text += (f", against {base['mean']:.1%} for the baseline; the intervals {'overlap' if overlap else 'do not overlap'}"
                     f" (the best of {len(part)} strengths, picked after the fact: an optimistic estimate)")
        worst = part.loc[part["mean"].idxmin()]
        text += (f". The lowest is {worst['mean']:.1%} at {kind} = {worst['strength']:g}; always predicting the majority class"
                 f" scores {analysis.chance:.1%}")
        out.append(text + ".")
    return out
