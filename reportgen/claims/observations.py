"""Observations: sentences computed from this build's numbers (rankings only where separated, sweeps chosen on
validation data, what failed, the tally), each typed by what it is about."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from reportgen.analysis import (
    StudyAnalysis,
    failure_lines,
    per_replicate,
    sweep_values,
)
from reportgen.claims.findings import Verdicts
from reportgen.claims.measure import aligned, mean_of
from reportgen.claims.registry import CONTRADICTED, INCONCLUSIVE, NO_EFFECT, SUPPORTED
from reportgen.claims.sentences import formatters
from reportgen.stats import (
    difference_test,
)


def _tied(analysis: StudyAnalysis, metric: str, a: str, b: str) -> bool:
    """Whether the paired interval of a − b includes zero (or cannot be computed)."""
    x, y = aligned(per_replicate(analysis, a, metric), per_replicate(analysis, b, metric))
    e = difference_test(x, y, analysis.confidence, math.nan, correction=analysis.design.correction).effect
    return not e.has_interval or e.low <= 0 <= e.high


def ranking(analysis: StudyAnalysis, metric: str, higher: bool) -> list[str]:
    """The leading variant followed by every variant tied with it within uncertainty (rule 7: rank only what is separated)."""
    means = {v: mean_of(per_replicate(analysis, v, metric)) for v in analysis.variants}
    order = sorted((v for v, m in means.items() if math.isfinite(m)), key=lambda v: -means[v] if higher else means[v])
    return order[:1] + [v for v in order[1:] if _tied(analysis, metric, order[0], v)]


def _rank_sentence(analysis: StudyAnalysis, metric: str, higher: bool, what: str) -> str | None:
    """Name the leader only when paired intervals separate it from every other variant."""
    group = ranking(analysis, metric, higher)
    if len(group) == 0 or len(analysis.variants) < 2:
        return None
    val = formatters(metric)[0]
    mean = lambda v: mean_of(per_replicate(analysis, v, metric))  # noqa: E731
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
            a, b = aligned(
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
            acc = mean_of(per_replicate(analysis, best[0], "test_accuracy"))
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
        history = analysis.histories.get(v, {}).get("val_loss")  # none for runs trained elsewhere (reportgen judge)
        if len(e) and history is not None and e["epochs_run"].min() < history.shape[1]:
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
            accuracy = mean_of(rows["test_accuracy"][rows["boundary_pieces"] == 0])
            out.append(
                Observation(
                    Seen.ONE_CLASS,
                    f"{v} predicts a single class over the whole data region in {flat} of {len(rows)} replicates "
                    f"(no decision boundary at all, test accuracy {accuracy:.1%}): "
                    f"a shorter boundary there is a sign of underfitting, not of a smoother fit.",
                )
            )
    n = sum(1 for key, *_ in analysis.failed if not analysis.sweep_run(key))  # a sweep's are named in its section
    if n:
        lines = failure_lines(analysis)
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
