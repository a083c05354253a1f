"""The seed study's claims: a registry (one entry per claim), measured on a build's analysis, judged through one
decision rule (Holm over primary measures, Benjamini-Hochberg over secondary ones, alpha spent over an adaptive design's
looks), each verdict with its flip probability, the sentences behind them, and the build's observations.

A claim finds its variants by what they do (their regularizers), never by their names. Sanity checks (what a
regularizer does by construction) are shown with their raw test and never counted.
"""

from reportgen.claims.findings import ClaimResult, Finding, Verdicts
from reportgen.claims.judge import contrast_matrix, evaluate_claims
from reportgen.claims.keep import dump_verdicts, load_verdicts
from reportgen.claims.measure import available, judged_metrics
from reportgen.claims.observations import Observation, Seen, observations, ranking, tally_sentence
from reportgen.claims.registry import (
    CHECK,
    CHECKS,
    CONTRADICTED,
    INCONCLUSIVE,
    NO_EFFECT,
    PRIMARY,
    REGISTRY,
    SECONDARY,
    SUPPORTED,
    VERDICTS,
    ClaimDef,
    Measure,
)
from reportgen.claims.sentences import fmt_number, fmt_p, formatters, p_is, sentence, stability_text

__all__ = [
    "CHECK",
    "CHECKS",
    "CONTRADICTED",
    "INCONCLUSIVE",
    "NO_EFFECT",
    "PRIMARY",
    "REGISTRY",
    "SECONDARY",
    "SUPPORTED",
    "VERDICTS",
    "ClaimDef",
    "ClaimResult",
    "Finding",
    "Measure",
    "Observation",
    "Seen",
    "Verdicts",
    "available",
    "contrast_matrix",
    "dump_verdicts",
    "evaluate_claims",
    "judged_metrics",
    "fmt_number",
    "fmt_p",
    "formatters",
    "load_verdicts",
    "observations",
    "p_is",
    "ranking",
    "sentence",
    "stability_text",
    "tally_sentence",
]
