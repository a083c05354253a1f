"""build(config): the stages in order, their timings and progress, and the only writer of the output folder."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reportgen import outdir
from reportgen.config import StudyConfig
from reportgen.training.runs import check_unique


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote, how long each stage took, and which runs diverged (their keys)."""

    out_dir: Path
    files: list[Path]
    timings: list[tuple[str, float]]
    diverged: list[str] = field(default_factory=list)


class _Stages:
    """Time named stages and show them on the terminal."""

    def __init__(self, console, quiet: bool):
        self.timings: list[tuple[str, float]] = []
        self.console, self.quiet = console, quiet

    @contextlib.contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.timings.append((name, seconds))
        if not self.quiet:
            self.console.print(f"[green]✓[/] {name} [dim]{seconds:.1f} s[/]")


def _training_progress(console, quiet: bool, total: int, n_runs: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        BarColumn(), MofNCompleteColumn(), TextColumn("run-epochs"), TimeElapsedColumn(),
        TextColumn("[dim]{task.description}"), console=console, transient=True, disable=quiet,
    )
    return progress, progress.add_task(f"training {n_runs} models", total=total)


def build(config: StudyConfig, quiet: bool = False, console=None, cancel=None, force: bool = False) -> BuildResult:
    """Run every stage of a study and write the report; nothing is written unless every stage succeeds.

    cancel: a threading.Event that stops training when set (the CLI sets it on SIGINT / SIGTERM); force: replace
    report files in an output folder that reportgen did not write.
    """
    from rich.console import Console
    from rich.markup import escape

    console = console or Console(stderr=True)
    started = time.perf_counter()
    stages = _Stages(console, quiet)
    with stages("start-up (TensorFlow)"):
        from reportgen import analysis, claims, data, figures, report, training
    with stages("data"):
        datasets = data.make_datasets(config.data, config.training.seeds)
        runs = training.plan_runs(config)
        check_unique(runs, config.output.save_models)
    progress, task = _training_progress(console, quiet, len(runs) * config.training.epochs, len(runs))
    with stages(f"training ({len(runs)} models, {config.training.engine} engine)"), progress:
        results = training.train_runs(runs, datasets, config, lambda n, label: progress.update(task, advance=n, description=escape(label)),
                                      cancel=cancel)
    with stages("analysis"):
        dataset = datasets[config.training.seeds[0]]  # interim: analysis per replicate comes with the evidence work
        measured = analysis.analyse(results, dataset, config)
        verdicts = claims.evaluate_claims(measured)
        notes = claims.observations(measured, verdicts)
    with stages("figures"):
        drawn = figures.make_figures(measured, dataset, config)
    outputs: dict[str, bytes] = {}
    with stages("report"):
        ctx = report.build_context(config, measured, verdicts, notes, drawn, list(stages.timings), len(runs),
                                   os.environ.get("SOURCE_DATE_EPOCH"))
        html = report.render_html(ctx)
        if "html" in config.output.formats:
            outputs["report.html"] = html.encode("utf-8")
        if "pdf" in config.output.formats:
            outputs["report.pdf"] = report.render_pdf(html)
        outputs["summary.md"] = report.render_summary(ctx).encode("utf-8")
    # results.json comes last so that it carries every stage's time, the report's included (the report cannot).
    timings = stages.timings + [("total before writing", time.perf_counter() - started)]
    outputs["results.json"] = results_json(config, results, measured, verdicts, notes, timings).encode("utf-8")
    files = write_outputs(config.output.dir, outputs, results if config.output.save_models else [], config, force)
    if not quiet:
        console.print(f"[green]✓[/] built in {time.perf_counter() - started:.1f} s")
    diverged = [r.run.key for r in results if r.diverged_at is not None]
    return BuildResult(out_dir=config.output.dir, files=files, timings=timings, diverged=diverged)


def _clean(value):
    """JSON-ready values: NaN and infinities become null, numpy scalars become Python numbers."""
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


def results_json(config, results, measured, verdicts, notes, timings) -> str:
    """Everything a build measured: the resolved study, every run's metrics and history, summaries, claims."""
    from reportgen import __version__

    metrics = measured.runs.drop(columns=["settings"]).to_dict(orient="records")
    by_key = {(m["variant"], m["seed"]): m for m in metrics}
    layers = measured.layers.groupby(["variant", "seed"])
    runs = [{**by_key[(r.run.variant.name, r.run.seed)], "settings": r.run.variant.model_dump(mode="json"),
             "layers": layers.get_group((r.run.variant.name, r.run.seed)).drop(columns=["variant", "seed"]).to_dict(orient="records"),
             "history": dict(r.history)} for r in results]
    doc = {
        "reportgen": __version__,
        "study": config.model_dump(mode="json"),
        "confidence": measured.confidence,
        "summary": measured.summary.to_dict(orient="records"),
        "sweeps": measured.sweeps.to_dict(orient="records"),
        "claims": [c.as_dict() for c in verdicts],
        "observations": notes,
        "runs": runs,
        "timings_seconds": dict(timings),
    }
    return json.dumps(_clean(doc), indent=1, allow_nan=False)


def write_outputs(out_dir: Path, outputs: dict[str, bytes], results, config, force: bool = False) -> list[Path]:
    """Write every output into a fresh folder next to the output folder, then swap the whole set in at once."""
    def fill(folder: Path) -> None:
        for name, payload in outputs.items():
            (folder / name).write_bytes(payload)
        if results:
            _save_models(folder / "models", results, config)

    return outdir.replace_outputs(out_dir, fill, force)


def _save_models(folder: Path, results, config) -> None:
    """Save each run's trained model as a .keras file that keras.models.load_model reads without a warning."""
    from reportgen.models import build_model
    from reportgen.training.runs import model_file_name

    folder.mkdir()
    for r in results:
        model = r.extras.get("model") or build_model(r.run.variant, config.model)
        model.set_weights(r.weights)
        if not model.optimizer.built:  # an unbuilt optimizer makes load_model warn that it skips the saved one
            model.optimizer.build(model.trainable_variables)
        model.save(folder / model_file_name(r.run.key))
