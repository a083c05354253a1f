"""Verdicts on replicate runs trained anywhere: a table of runs (one row per run: variant, replicate and whichever
measures the user has) and a study whose [[variants]] say what each variant does are judged by the same claims,
tests, Holm / Benjamini-Hochberg corrections and flip probabilities as a build's.

A claim whose primary measure is not in the table is left out (and named); a secondary measure that is not there is
left out of its claim. This judges main variants only (no strength sweeps, no initialization twins).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reportgen.config import StudyConfig
from reportgen.errors import ConfigError, shorten

REQUIRED = ("variant", "replicate", "train_accuracy", "test_accuracy")
UNAVAILABLE = "not in the table of runs"


@dataclass(frozen=True)
class Judged:
    """The verdicts on a table of runs: the claims as claims.csv has them, the verdicts themselves
    (reportgen.claims.Verdicts), and the claims left out for want of their primary measure."""

    claims: pd.DataFrame
    verdicts: object
    missing: list[str]

    def missing_sentence(self) -> str:
        """The claims left out, in one sentence ('' when none were)."""
        return missing_sentence(self.missing, "are not in the table of runs")


def missing_sentence(missing: list[str], why: str) -> str:
    """The claims left out for want of their primary measure, in one sentence ('' when none were): 'Not judged, their
    measures {why}: ...'. Both a table of runs (reportgen judge) and a build whose network offers nothing to measure
    some measures on (a factory's) say it so."""
    if not missing:
        return ""
    return f"Not judged, their measures {why}: {', '.join(missing)}."


def not_judged(analysis, given: set[str]) -> list[str]:
    """The claims (keys) an analysis brings whose primary measure is not among the measures given."""
    from reportgen.claims.measure import raw_claims

    return sorted({c.key for c in raw_claims(analysis) if c.primary.metric not in given})


def _checked(runs: pd.DataFrame, study: StudyConfig, source: str) -> pd.DataFrame:
    """The table with the columns the claims read (seed, init, failed, gap), or a one-line problem naming the source."""
    missing = [c for c in REQUIRED if c not in runs.columns]
    if missing:
        raise ConfigError(
            [f"{source}: missing required column(s) {', '.join(missing)} (a table of runs needs {', '.join(REQUIRED)})"]
        )
    if runs.empty:
        raise ConfigError([f"{source}: no runs (the table has a header and no rows)"])
    names = [v.name for v in study.variants]
    unknown = sorted({str(v) for v in runs["variant"]} - set(names))
    if unknown:
        raise ConfigError(
            [
                f"{source}: column 'variant': {shorten(', '.join(unknown))} not among the study's variants "
                f"({shorten(', '.join(names))})"
            ]
        )
    absent = [n for n in names if n not in set(runs["variant"].astype(str))]
    if absent:
        raise ConfigError([f"{source}: column 'variant': no runs of the study's variant(s) {shorten(', '.join(absent))}"])
    out = runs.copy()
    out["variant"] = out["variant"].astype(str)
    try:
        out["seed"] = pd.to_numeric(out["replicate"], errors="raise").astype(int)
    except (ValueError, TypeError):
        raise ConfigError([f"{source}: column 'replicate': every value must be a whole number"]) from None
    for column in out.columns.drop(["variant", "replicate", "seed"]):
        if column not in ("key", "failed"):
            out[column] = pd.to_numeric(out[column], errors="coerce")
    dupes = out[out.duplicated(["variant", "seed"])]
    if len(dupes):
        row = dupes.iloc[0]
        raise ConfigError([f"{source}: variant {row['variant']!r}, replicate {row['seed']}: more than one run"])
    out["init"] = 0
    out["failed"] = [[] for _ in range(len(out))]
    out["key"] = [f"{v}/seed{s}" for v, s in zip(out["variant"], out["seed"], strict=True)]
    if "gap" not in out:
        out["gap"] = out["train_accuracy"] - out["test_accuracy"]
    return out


def _analysis(runs: pd.DataFrame, study: StudyConfig):
    """A StudyAnalysis holding what the claims read (the runs, the design, the setup); the rest left empty."""
    from reportgen.analysis import DataInfo, Design, Setup, StudyAnalysis, reference_variant
    from reportgen.measures import Frame

    seeds = sorted(int(s) for s in runs["seed"].unique())
    empty = pd.DataFrame()
    data = DataInfo(
        bayes_note="" if "excess_error" in runs else UNAVAILABLE,
        boundary_note="" if "boundary_length" in runs else UNAVAILABLE,
    )
    no_sweeps = study.sweeps.model_copy(update={k: [] for k in study.sweeps.strengths()})
    design = Design(
        replicates=len(seeds), resample=True, twins=[], varies=["the runs given"], alpha=1 - study.analysis.confidence
    )
    return StudyAnalysis(
        variants=[v.name for v in study.variants],
        reference=reference_variant(study),
        seeds=seeds,
        design=design,
        runs=runs,
        main_runs=runs,
        layers=empty,
        summary=empty,
        paired=empty,
        sweeps=empty,
        sparsity_curves=empty,
        pruning=empty,
        histories={},
        loss_bands={},
        boundaries={},
        sweep_boundaries={},
        snapshots={},
        first_layer={},
        twins=pd.DataFrame(columns=["variant", "seed", "acc_diff", "disagreement"]),
        diverged=[],
        bayes={},
        bayes_grid=None,
        frame=Frame(np.empty(0), np.empty(0), np.empty((0, 0), bool)),  # no grid: nothing drawn from a table
        thresholds=list(study.analysis.sparsity_thresholds),
        confidence=study.analysis.confidence,
        test_predictions={},
        data=data,
        setup=Setup(tuple(study.variants), study.analysis.margins, study.data, study.model, study.training, no_sweeps),
    )


def judge(runs: pd.DataFrame, study: StudyConfig, source: str = "runs") -> Judged:
    """Judge every claim the study's variants bring on a table of runs trained anywhere (one row per run: variant,
    replicate, train_accuracy, test_accuracy and any other measure reportgen names, such as boundary_length,
    val_roughness or prunable). source names the table in problems (ConfigError, one line each)."""
    from reportgen import tables
    from reportgen.claims.judge import evaluate_claims
    from reportgen.claims.registry import CHECKS, REGISTRY
    from reportgen.results import claim

    table = _checked(runs, study, source)
    measures = [m.metric for d in REGISTRY for m in (d.primary, *d.secondary)] + [m.metric for m in CHECKS.values()]
    thresholds = [f"{t:g}" for t in study.analysis.sparsity_thresholds]
    wanted = {m.replace("{t}", t) for m in measures for t in (thresholds if "{t}" in m else [""])}
    given = {c for c in table.columns if table[c].notna().any()}
    for metric in wanted - set(table.columns):
        table[metric] = np.nan  # measured as missing, then left out (evaluate_claims' metrics)
    analysis = _analysis(table, study)
    missing = not_judged(analysis, given)
    verdicts = evaluate_claims(analysis, given)
    frame = tables.claims_table([claim(c) for c in verdicts.claims])
    return Judged(frame, verdicts, missing)


def read_runs(path) -> pd.DataFrame:
    """A CSV file of runs, or a one-line problem naming it."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{shorten(str(path), 120)}: table of runs not found"])
    try:
        return pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError([f"{shorten(str(path), 120)}: not a CSV table of runs ({shorten(first, 120)})"]) from None


def summary_markdown(judged: Judged, title: str) -> str:
    """The verdicts as Markdown: a table of every claim, and the claims left out in one sentence."""

    def cell(value) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "–"
        return f"{value:.3g}" if isinstance(value, float) else str(value).replace("|", "\\|")

    lines = [
        f"# {title}: verdicts on the runs given",
        "",
        "| claim | verdict | effect | interval | adjusted p | flip probability |",
    ]
    lines.append("|---|---|---|---|---|---|")
    for row in judged.claims.to_dict(orient="records"):
        interval = f"[{cell(row['ci_low'])}, {cell(row['ci_high'])}]"
        lines.append(
            f"| {cell(row['claim'])} | {row['verdict']} | {cell(row['effect'])} | {interval} | {cell(row['p_adjusted'])} "
            f"| {cell(row['flip_probability'])} |"
        )
    if judged.missing:
        lines += ["", judged.missing_sentence()]
    return "\n".join(lines) + "\n"


def write(out, judged: Judged, title: str, force: bool = False) -> list:
    """Write claims.csv and summary.md into an output folder (checked first by the caller), all or nothing."""
    from reportgen import outdir, tables

    outputs = {tables.CLAIMS_FILE: tables.csv_bytes(judged.claims), "summary.md": summary_markdown(judged, title).encode()}

    def fill(folder) -> None:
        for name, payload in outputs.items():
            (folder / name).write_bytes(payload)

    return outdir.replace_outputs(out, fill, force)
