"""Verdicts on replicate runs trained anywhere: a table of runs (one row per run: variant, replicate and whichever
measures the user has) and a study whose [[variants]] say what each variant does are judged by the same claims,
tests, Holm / Benjamini-Hochberg corrections and flip probabilities as a build's.

A claim whose primary measure is not in the table is left out (and named); a secondary measure that is not there is
left out of its claim. This judges main variants only (no strength sweeps, no initialization twins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    verdicts: Any  # reportgen.claims.Verdicts
    missing: list[str]
    analysis: Any = None  # the StudyAnalysis the report is made from (reportgen.analysis)
    notes: list = field(default_factory=list)  # the observations written from the runs' numbers

    def missing_sentence(self) -> str:
        """The claims left out, in one sentence ('' when none were)."""
        from reportgen.claims import missing_sentence

        return missing_sentence(self.missing)


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


def _analysis(runs: pd.DataFrame, study: StudyConfig, source: str):
    """A StudyAnalysis holding what the claims and the report read of a table of runs (the runs, their summaries and
    paired differences, the design, the setup); what only training can give (boundaries, histories, weights) empty."""
    from reportgen.analysis import DataInfo, Design, Setup, StudyAnalysis, _paired_summary, reference_variant, summarise
    from reportgen.datasets.base import Dataset
    from reportgen.measures import Frame
    from reportgen.metrics import run_columns

    seeds = sorted(int(s) for s in runs["seed"].unique())
    names = [v.name for v in study.variants]
    empty = pd.DataFrame()
    data = DataInfo(
        kind="runs",
        title=source,
        bayes_note="" if "excess_error" in runs else UNAVAILABLE,
        boundary_note="" if "boundary_length" in runs else UNAVAILABLE,
    )
    no_sweeps = study.sweeps.model_copy(update={k: [] for k in study.sweeps.strengths()})
    alpha, confidence = 1 - study.analysis.confidence, study.analysis.confidence
    design = Design(replicates=len(seeds), resample=True, twins=[], varies=[], alpha=alpha, source=source)
    thresholds = list(study.analysis.sparsity_thresholds)
    measured = [c for c in run_columns(thresholds) if c in runs and runs[c].notna().any()]
    reference = reference_variant(study)
    nothing = np.empty((0, 2), np.float32)
    first = Dataset(nothing, np.empty(0, np.float32), nothing, np.empty(0, np.float32), nothing, np.empty(0, np.float32))
    return StudyAnalysis(
        variants=names,
        reference=reference,
        seeds=seeds,
        design=design,
        runs=runs,
        main_runs=runs,
        layers=empty,
        summary=summarise(runs, ["variant"], measured, confidence) if measured else empty,
        paired=_paired_summary(runs, reference, measured, confidence) if measured else empty,
        sweeps=empty,
        sparsity_curves=empty,
        pruning=empty,
        histories={v: {} for v in names},  # no per-epoch losses in a table of runs
        loss_bands={v: {} for v in names},
        boundaries={},
        sweep_boundaries={},
        snapshots={},
        first_layer={},
        twins=pd.DataFrame(columns=["variant", "seed", "acc_diff", "disagreement"]),
        diverged=[],
        bayes={},
        bayes_grid=None,
        frame=Frame(np.empty(0), np.empty(0), np.empty((0, 0), bool)),  # no grid: nothing drawn from a table
        thresholds=thresholds,
        confidence=confidence,
        test_predictions={},
        data=data,
        setup=Setup(tuple(study.variants), study.analysis.margins, study.data, study.model, study.training, no_sweeps),
        first=first,
    )


def judge(runs: pd.DataFrame, study: StudyConfig, source: str = "runs") -> Judged:
    """Judge every claim the study's variants bring on a table of runs trained anywhere (one row per run: variant,
    replicate, train_accuracy, test_accuracy and any other measure reportgen names, such as boundary_length,
    val_roughness or prunable). source names the table in problems (ConfigError, one line each) and in the report."""
    from reportgen import tables
    from reportgen.claims import evaluate_claims, given_measures, not_judged, observations
    from reportgen.claims.registry import CHECKS, REGISTRY
    from reportgen.results import claim

    table = _checked(runs, study, source)
    measures = [m.metric for d in REGISTRY for m in (d.primary, *d.secondary)] + [m.metric for m in CHECKS.values()]
    thresholds = [f"{t:g}" for t in study.analysis.sparsity_thresholds]
    wanted = {m.replace("{t}", t) for m in measures for t in (thresholds if "{t}" in m else [""])}
    for metric in sorted(wanted - set(table.columns)):
        table[metric] = np.nan  # measured as missing, then left out (evaluate_claims' metrics)
    analysis = _analysis(table, study, source)
    verdicts = evaluate_claims(analysis, given_measures(analysis))
    frame = tables.claims_table([claim(c) for c in verdicts.claims])
    return Judged(frame, verdicts, not_judged(analysis, verdicts), analysis, observations(analysis, verdicts))


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


def judged_study(study: StudyConfig, judged: Judged, formats) -> StudyConfig:
    """The study as the judged folder's results.json records it: its replicates those of the table (no adaptive
    budget), no strength sweeps (a table's runs are the variants'), its formats."""
    seeds = list(judged.analysis.seeds)
    return study.model_copy(
        update={
            "training": study.training.model_copy(update={"seeds": seeds, "budget": None}),
            "sweeps": judged.analysis.setup.sweeps,
            "output": study.output.model_copy(update={"formats": list(formats)}),
        }
    )


def outputs(judged: Judged, study: StudyConfig, formats=("html",), stages=None) -> dict[str, bytes]:
    """Every file of a judged folder, as a build writes them: the report (HTML and/or PDF) and summary.md through the
    same templates, results.json (the runs given, the claims; no per-epoch history, layers or test predictions) and
    report-data.npz, from which `reportgen render` and `reportgen.load` read the folder back, and the two tables."""
    import hashlib

    from rich.console import Console

    from reportgen import schema, store, tables
    from reportgen.config import portable, study_toml
    from reportgen.pipeline import Study, _Stages, present, settled
    from reportgen.results import results_doc, results_json

    config = judged_study(study, judged, formats)
    analysis = judged.analysis
    stages = stages or _Stages(Console(stderr=True), quiet=True)
    shown = Study(config.title, study_toml(portable(config)), tuple(formats))
    made = present(analysis, shown, len(analysis.runs), stages, judged.verdicts, judged.notes)
    blob = store.save(analysis, analysis.first)
    doc = results_doc(config, analysis, judged.verdicts, judged.notes, stages.timings, None, hashlib.sha256(blob).hexdigest())
    made["results.json"] = results_json(doc, run_texts(analysis))
    made[store.FILE] = blob
    # the tables from results.json as it reads back (what `render` writes too): the file is checked on the way
    made.update(tables.tables_of(schema.parse(made["results.json"], "results.json")))
    return settled(made, stages)


def run_texts(analysis) -> list[str]:
    """Each run of the table as results.json's JSON text: who it is, the study's settings of its variant, and the
    measures the table gave (the columns reportgen added as missing are left out)."""
    import json

    from reportgen.claims import given_measures
    from reportgen.results import _clean

    given = given_measures(analysis) or set()
    first = ("variant", "seed", "init", "key", "failed")
    measures = [c for c in analysis.runs.columns if c in given and c not in first and c != "replicate"]
    settings = {v.name: v.model_dump(mode="json") for v in analysis.setup.variants}
    texts = []
    for row in analysis.runs.to_dict(orient="records"):
        record = {k: row[k] for k in first} | {k: row[k] for k in measures} | {"settings": settings[row["variant"]]}
        texts.append(json.dumps(_clean(record), allow_nan=False))
    return texts


def write(out, judged: Judged, study: StudyConfig, formats=("html",), force: bool = False, stages=None) -> list:
    """Write a judged folder (outputs()) into an output folder checked and held by the caller: all or nothing, with
    reportgen's manifest (reportgen.outdir), as a build does."""
    from reportgen import outdir

    made = outputs(judged, study, formats, stages)

    def fill(folder) -> None:
        for name, payload in made.items():
            (folder / name).write_bytes(payload)

    return outdir.replace_outputs(out, fill, force)
