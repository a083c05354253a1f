"""results.json: written from the schema's models (reportgen.schema), and read back with its data file for `render`.

The runs are the bulk of the file (13 of the default study's 14 MB) and of its making, so each run is written as its
JSON text (run_lines), which a build whose runs are unchanged takes from the cache; everything else goes through the
models, which check what is written against what readers expect.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reportgen.errors import ConfigError
from reportgen.schema import (
    Adaptive,
    Claim,
    Design,
    Diverged,
    Effect,
    Failed,
    Finding,
    Matched,
    PerReplicate,
    Results,
    Run,
    Study,
    SweepChoice,
    TestSet,
)

SPENDING = (
    "Lan-DeMets O'Brien-Fleming-type, a(t) = 2 - 2 Phi(z(1 - alpha/2) / sqrt(t)), t = replicates / planned_max; "
    "w_k = (a(t_k) - a(t_k-1)) / alpha; p combined over looks as min(p_k / w_k)"
)
BITS = (
    "per run: its replicate's test points in order, predicted class 1 as set bits "
    "(numpy.unpackbits of the base64 bytes, first n_test bits)"
)
BYTES = (
    "per run: its replicate's test points in order, the predicted class index as one byte "
    "each (numpy.frombuffer of the base64 bytes, dtype uint8)"
)


class Dumped(list):
    """results.json's runs as their JSON texts, one per run (run_lines), which results_json writes as they are."""


class _Ready(list):
    """A list already JSON-ready, which _clean passes through without visiting its values one by one."""


def _float32_values(values) -> _Ready:
    """Per-epoch values as the shortest decimals that give back their float32 (what both engines record): 0.027661493,
    not 0.027661493352178927; half the size of results.json for the same information. Non-finite values are null."""
    values = np.asarray(values, np.float32)
    texts, finite = values.astype(str).tolist(), np.isfinite(values)
    return _Ready(map(float, texts) if finite.all() else (float(t) if ok else None for t, ok in zip(texts, finite.tolist())))


def _clean(value):
    """JSON-ready values: NaN and infinities become null, numpy scalars become Python numbers."""
    if isinstance(value, (_Ready, Dumped)):
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _packed(bits: np.ndarray) -> str:
    """Booleans as base64 of their packed bits: 2,000 test predictions in 336 characters; class indices (more than
    two classes) as base64 of one byte each."""
    raw = np.packbits(np.asarray(bits, bool)) if np.asarray(bits).dtype == bool else np.asarray(bits, np.uint8)
    return base64.b64encode(raw.tobytes()).decode("ascii")


def run_lines(results, measured) -> Dumped:
    """Each run of results.json as its JSON text (a schema.Run): its metrics, settings, layers, per-epoch history and
    test predictions. About 3 s of the default study's build, so a build whose runs and analysis are unchanged takes
    these texts from the cache (reportgen.memo) instead."""
    metrics = measured.runs.drop(columns=["settings"]).to_dict(orient="records")
    by_key = {m["key"]: m for m in metrics}
    layers: dict[str, list] = {}
    for row in measured.layers.drop(columns=["variant", "seed", "init"]).to_dict(orient="records"):
        layers.setdefault(row.pop("key"), []).append(row)
    return Dumped(
        json.dumps(
            _clean(
                {
                    **by_key[r.run.key],
                    "settings": r.run.variant.model_dump(mode="json"),
                    "layers": layers.get(r.run.key, []),  # none: a factory's network without hidden kernels
                    "history": {k: _float32_values(v) for k, v in r.history.items()},
                    "test_predictions": _packed(measured.test_predictions[r.run.key]),
                }
            ),
            allow_nan=False,
        )
        for r in results
    )


def runs_of(lines: list[str]) -> list[Run]:
    """The runs' texts back as schema.Run records (what a comparison made during the build reads)."""
    from pydantic import TypeAdapter

    return TypeAdapter(list[Run]).validate_json("[" + ",".join(lines) + "]")


def _design(config, measured, datasets) -> Design:
    """The replicate design: seeds, what varies, an adaptive design's looks, the test sets and their encoding."""
    from reportgen.datasets import test_draw_seed

    d, binary = measured.design, measured.data.n_classes == 2
    if d.source:  # runs trained elsewhere (reportgen judge): no test sets or predictions of reportgen's
        return Design(replicates=d.replicates, seeds=measured.seeds, runs_from=d.source, sentence=d.sentence())
    labels = (lambda y: _packed(y > 0.5)) if binary else (lambda y: _packed(y.astype(np.uint8)))  # noqa: E731
    adaptive = Adaptive(looks=list(d.looks), planned_max=d.planned, alpha_spent=list(d.spending()), spending=SPENDING)
    return Design(
        replicates=d.replicates,
        seeds=measured.seeds,
        resample_data=d.resample,
        adaptive=adaptive if d.sequential else None,
        varies=d.varies,
        init_twins=d.twins,
        sentence=d.sentence(),
        test_sets={
            str(s): TestSet(draw_seed=test_draw_seed(config.data, s), labels=labels(datasets[s].y_test))
            for s in config.training.seeds
        },
        test_predictions=BITS if binary else BYTES,
    )


def results_doc(config, measured, verdicts, notes, timings, datasets, data_sha256: str | None = None) -> Results:
    """Everything a build measured but its runs (run_lines, which results_json writes in their place): the study, the
    replicate design, summaries, claims, the failed runs; data_sha256: the digest of the data file written with it.
    datasets: every replicate's data (None for a table of runs judged by reportgen judge, which has none)."""
    from reportgen import __version__
    from reportgen.analysis import FAILURES
    from reportgen.config import portable

    rows = lambda df: _clean(df.to_dict(orient="records"))  # noqa: E731
    return Results(
        reportgen=__version__,
        data_sha256=data_sha256,
        study=Study.model_validate(portable(config).model_dump(mode="json")),
        design=_design(config, measured, datasets),
        confidence=measured.confidence,
        bayes=_clean(measured.bayes),
        diverged=[Diverged(run=k, epoch=e) for k, e in measured.diverged],
        failed=[Failed(run=k, reasons=reasons, diverged_at=e) for k, reasons, e in measured.failed],
        failure_reasons=dict(FAILURES),
        summary=rows(measured.summary),
        sweeps=rows(measured.sweeps),
        data_sweeps=rows(measured.data_sweeps) if len(measured.data_sweeps) else None,
        sweep_choices=sweep_choices(measured),
        claims=[claim(c) for c in verdicts.claims],
        checks=[finding(f) for f in verdicts.checks],
        observations=[o.text for o in notes],
        runs=[],
        timings_seconds=stage_times(timings) or None,  # None in a reproducible build (SOURCE_DATE_EPOCH set)
    )


def stage_times(timings: list[tuple[str, float]]) -> dict[str, float]:
    """Stage times by name, in order; a stage run again (every look of an adaptive build has its own analysis and
    claims) is named with its count, 'analysis (2)', instead of replacing the first one's time."""
    out: dict[str, float] = {}
    for name, seconds in timings:
        key, n = name, 1
        while key in out:
            n += 1
            key = f"{name} ({n})"
        out[key] = seconds
    return out


def finding(f) -> Finding:
    """A finding of claims.py as its record."""
    t = f.test
    return Finding(
        role=f.role,
        variant=f.variant,
        metric=f.metric,
        measure=f.measure.how,
        statistic=f.measure.statistic,
        expected_direction=f.measure.direction,
        variant_mean=f.value,
        reference_mean=f.reference_value,
        effect=Effect(**t.effect.as_dict(), kind=t.kind),
        null=t.null,
        p_value=t.p_value,
        p_sequential=f.p_sequential,
        p_adjusted=f.p_adjusted,
        family_size=f.family_size,
        margin=t.margin,
        p_equivalence=t.p_equivalence,
        p_equivalence_sequential=f.p_equivalence_sequential,
        p_equivalence_adjusted=f.p_equivalence_adjusted,
        verdict=f.verdict,
        replicates_to_detect=f.needed,
        replicates_for_equivalence=f.needed_equivalence,
        sentence=f.sentence,
        per_replicate=PerReplicate(seeds=list(t.seeds), values=list(t.values)),
    )


def sweep_choices(measured) -> dict[str, SweepChoice]:
    """Each sweep's strength chosen on validation data, as fields (a comparison of builds reads them, not the sentences)."""
    from reportgen.analysis import sweep_choices as chosen

    return {
        kind: SweepChoice(strength=c.strength, val_loss=c.val_loss, n_strengths=c.n_strengths, lowest=c.lowest, tied=list(c.tied))
        for kind, c in chosen(measured).items()
    }


def claim(c) -> Claim:
    """A claim with its primary and secondary findings as its record (a claim measured at matched strengths records
    them)."""
    return Claim(
        key=c.key,
        claim=c.text,
        source=c.definition.source,
        variant=c.variant,
        reference=c.reference,
        verdict=c.verdict,
        flip_probability=c.flip,
        borderline=c.borderline,
        replicates_to_firm=c.firm_at,
        note=c.note,
        matched=Matched(l1=c.matched[0], l2=c.matched[1]) if c.matched else None,
        primary=finding(c.primary),
        secondary=[finding(f) for f in c.secondary],
    )


def results_json(doc: Results, runs: list[str]) -> bytes:
    """results.json's bytes: a top-level key per line and each element of a top-level list on a line of its own (one
    run, one claim, one summary row), so a diff shows which run or claim changed; runs: run_lines' texts, written in
    place of doc.runs. Lines are written by json's C encoder, three times faster than an indented dump, which falls
    back to Python for the whole document."""

    def dump(value) -> str:
        return json.dumps(value, allow_nan=False)

    def member(key: str, value) -> str:
        if isinstance(value, list) and value:
            texts = value if isinstance(value, Dumped) else map(dump, value)
            return f"{dump(key)}: [\n" + ",\n".join(f"  {text}" for text in texts) + "\n ]"
        return f"{dump(key)}: {dump(value)}"

    data = doc.model_dump(mode="json")
    data["runs"] = Dumped(runs)
    return ("{\n " + ",\n ".join(member(k, v) for k, v in data.items()) + "\n}\n").encode("utf-8")


@dataclass(frozen=True)
class SavedBuild:
    """A finished build's results.json (validated, and its bytes) and its data file's bytes."""

    results: Results
    text: bytes
    data: bytes


def read_build(folder: Path) -> SavedBuild:
    """A finished build's results.json and its data file, checked to belong together: what `render` reads. Refuses
    (one line, exit 2) a results.json that fails the schema or lacks what render needs, and a data file that is
    missing or is not the one written with it (a folder mixed by a build killed while replacing it, or damaged)."""
    from reportgen import schema, store

    if not folder.is_dir():
        raise ConfigError([f"{folder}: not a folder (give the output folder of a previous build)"])
    file, data = folder / "results.json", folder / store.FILE
    if not file.is_file():
        raise ConfigError([f"{folder}: not a reportgen output folder (it has no results.json)"])
    text = schema.read_bytes(file)
    doc = schema.parse(text, str(file))
    if doc.data_sha256 is None:
        raise ConfigError(
            [f"{file}: key 'data_sha256' is missing (written before results.json named its data file): build it again"]
        )
    blob = schema.read_bytes(data)
    digest = hashlib.sha256(blob).hexdigest()
    if digest != doc.data_sha256:
        raise ConfigError(
            [
                f"{data}: not the data file of {file} (its SHA-256 is {digest[:12]}…, the key 'data_sha256' says "
                f"{doc.data_sha256[:12]}…): the folder mixes two builds or the file is damaged; build it again"
            ]
        )
    return SavedBuild(doc, text, blob)
