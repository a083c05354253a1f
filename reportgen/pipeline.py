"""build(config): the stages in order, their timings and progress, and the only writer of the output folder."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen import outdir
from reportgen.config import StudyConfig, portable
from reportgen.memo import Memo, study_settings
from reportgen.memo import key as memo_key
from reportgen.plan import check_unique, plan_runs

if TYPE_CHECKING:
    from reportgen.analysis import StudyAnalysis
    from reportgen.datasets import Dataset
    from reportgen.schema import Results
from reportgen.results import Dumped, _clean, read_build, results_doc, results_json, run_lines, runs_of


@dataclass(frozen=True)
class Study:
    """What the report needs of a study beyond its analysis: its title, its file (shareable paths) and the formats."""

    title: str
    toml: str
    formats: tuple[str, ...]

    @classmethod
    def of(cls, config: StudyConfig) -> Study:
        """These of a study."""
        from reportgen.config import study_toml

        return cls(config.title, study_toml(portable(config)), tuple(config.output.formats))


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote, how long each stage took, and which runs failed ('key (reasons)')."""

    out_dir: Path
    files: list[Path]
    timings: list[tuple[str, float]]
    trained: int = 0  # runs trained in this build
    cached: int = 0  # runs taken from the run cache
    changes: object = None  # compare.Changes against --compare OLD, when given
    contradicted: list[str] = field(default_factory=list)  # keys of claims the data contradict
    failed: list[str] = field(default_factory=list)  # diverged, no lower training loss than at start, or one class


class _Stages:
    """Time named stages and show them on the terminal."""

    def __init__(self, console, quiet: bool, bar=None):
        self.timings: list[tuple[str, float]] = []
        self.console, self.quiet, self.bar = console, quiet, bar  # bar: training's progress bar, when not rich's
        self._open: list[list[float]] = []  # per stage under way: the seconds of the stages inside it

    @contextlib.contextmanager
    def __call__(self, name: str):
        """Time the block as stage `name`; the block may rename it (label["name"]) once it knows more. A stage begun
        inside another (the data, drawn when the analysis first needs them) is its own line, and not also the other's."""
        start, label, inner = time.perf_counter(), {"name": name}, [0.0]
        self._open.append(inner)
        try:
            yield label
        finally:
            self._open.pop()
        elapsed = time.perf_counter() - start
        if self._open:
            self._open[-1][0] += elapsed
        seconds, name = elapsed - inner[0], label["name"]
        self.timings.append((name, seconds))
        if not self.quiet:
            self.console.print(f"[green]✓[/] {name} [dim]{seconds:.1f} s[/]")


def _training_progress(console, quiet: bool, total: int, n_runs: int, bar=None):
    """A progress display of training (its context and task): bar(total, description) when given (a notebook's, see
    reportgen.notebook), else rich's on a terminal."""
    if bar is not None and not quiet:
        return bar(total, f"training {n_runs} models"), None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from reportgen.notebook import clock

    class Left(ProgressColumn):
        """'≈ 1:05 left' at the recent rate of run-epochs (it follows a busy machine and early stopping); nothing
        while the first graphs compile."""

        def render(self, task) -> Text:
            left = task.time_remaining
            return Text("" if left is None or task.finished else f"≈ {clock(left)} left", style="progress.remaining")

    progress = Progress(  # none in a log (CI, a pipe): it could not move there, and left a blank line behind
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("run-epochs"),
        TimeElapsedColumn(),
        Left(),
        TextColumn("[dim]{task.description}"),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    )
    return progress, progress.add_task(f"training {n_runs} models", total=total)


def build(
    config: StudyConfig,
    quiet: bool = False,
    console=None,
    cancel=None,
    force: bool = False,
    compare_with: tuple[str, Results] | None = None,
    helper=None,
    bar=None,
) -> BuildResult:
    """Run every stage of a study and write the report; nothing is written unless every stage succeeds.

    cancel: a threading.Event that stops training when set (the CLI sets it on SIGINT / SIGTERM); force: replace
    report files in an output folder that reportgen did not write; compare_with: (name, its schema.Results) of an
    earlier build, whose differences from this one open the report and summary.md; helper: a reportgen.helper.Helper
    the caller started (the command line starts it before reading the study, so that it is ready sooner), else one is
    started here; bar: makes training's progress display, bar(total run-epochs, description) -> a context with
    update(task, advance=, description=) (reportgen.notebook.NotebookBar), instead of rich's on the terminal.
    """
    from rich.console import Console

    from reportgen.helper import Helper

    console = console or Console(stderr=True, soft_wrap=True)  # a line stays one line in a narrow log
    started = time.perf_counter()
    may_freeze = gc.get_freeze_count() == 0  # a caller that froze objects itself keeps its freeze
    try:
        # forked first: before TensorFlow, and while this process is small
        with contextlib.nullcontext(helper) if helper is not None else Helper() as helper:
            return _build(config, quiet, console, cancel, force, compare_with, started, helper, may_freeze, bar)
    finally:
        if may_freeze:
            gc.unfreeze()  # what _build froze can be collected again (a notebook builds many times)


@dataclass
class _Look:
    """What a build knows after one look: its study at that many replicates, the runs, their analysis and verdicts."""

    config: StudyConfig
    runs: list
    results: list
    trained: int  # runs this look trained (not from the cache, nor from an earlier look)
    digests: dict
    datasets: _Datasets
    memo: Memo
    settings: dict
    measured: StudyAnalysis
    first: Dataset
    data_blob: bytes
    verdicts: object
    notes: list


def _build(
    config: StudyConfig,
    quiet: bool,
    console,
    cancel,
    force: bool,
    compare_with,
    started: float,
    helper,
    may_freeze: bool,
    bar=None,
) -> BuildResult:
    from reportgen import store, tables

    stages = _Stages(console, quiet, bar)
    look, trained = _looks(config, stages, console, quiet, cancel, helper, may_freeze)
    config, runs, results, measured, verdicts, notes = (
        look.config,
        look.runs,
        look.results,
        look.measured,
        look.verdicts,
        look.notes,
    )
    memo, settings, digests, datasets = look.memo, look.settings, look.digests, look.datasets
    data_digest = hashlib.sha256(look.data_blob).hexdigest()
    lines = _Lines(memo, memo_key("runs", settings, data_digest, [digests.get(r.key) for r in runs]), results, measured)
    changes = None
    if compare_with is not None:
        from reportgen.compare import compare

        with stages("changes"):
            doc = results_doc(config, measured, verdicts, notes, [], datasets(), data_digest)
            changes = compare(compare_with[1], doc.model_copy(update={"runs": runs_of(lines())}), compare_with[0], "this build")
    figures_key = memo_key("figures", settings, data_digest)
    outputs = present(measured, Study.of(config), len(runs), stages, verdicts, notes, changes, helper, (memo, figures_key))
    # results.json comes last so that it carries every stage's time, the report's included (the report cannot);
    # it is made while the helper lays out the PDF: the stage "PDF" is only what is left of the layout after it.
    timings = _shown_timings(stages.timings + [("total before writing", time.perf_counter() - started)])
    # results.json names its data file by the file's SHA-256: render refuses a pair that was not written together
    doc = results_doc(config, measured, verdicts, notes, timings, datasets(), data_digest)
    outputs["results.json"] = results_json(doc, lines())
    outputs[store.FILE] = look.data_blob
    # the tidy tables: the same fields as results.json's runs (run_lines) and claims, so render writes the same bytes
    run_rows = [_clean(row) for row in measured.runs.drop(columns=["settings"]).to_dict(orient="records")]
    outputs[tables.RUNS_FILE] = tables.csv_bytes(tables.runs_table(run_rows))
    outputs[tables.CLAIMS_FILE] = tables.csv_bytes(tables.claims_table(doc.claims))
    outputs = settled(outputs, stages)
    files = write_outputs(config.output.dir, outputs, results if config.output.save_models else [], config, force, look.first)
    if not quiet:
        console.print(f"[green]✓[/] built in {time.perf_counter() - started:.1f} s")
    failed = [
        f"{key} ({', '.join(reasons)})"
        for key, reasons, _ in measured.failed
        if "diverged" in reasons or not measured.sweep_run(key)
    ]  # a strength too strong to train is a sweep's result
    return BuildResult(
        out_dir=config.output.dir,
        files=files,
        timings=stages.timings,
        failed=failed,
        trained=trained,
        cached=len(runs) - trained,
        changes=changes,
        contradicted=[c.key for c in verdicts.claims if c.verdict == "contradicted"],
    )


def _looks(config: StudyConfig, stages, console, quiet: bool, cancel, helper, may_freeze: bool) -> tuple[_Look, int]:
    """Train and judge the first look's replicates; with a budget (reportgen.sequential), add rounds while a borderline
    verdict could become firm. Returns the last look and how many runs this build trained."""
    from reportgen import sequential

    n, known, trained, measures = sequential.first_look(config), {}, 0, {}
    unstored = threading.Event()  # set once a store failed: later looks store nothing more (one warning per build)
    while True:
        look = _look(sequential.at_look(config, n), stages, console, quiet, cancel, helper, may_freeze, known, measures, unstored)
        trained += look.trained
        known.update({r.run.key: (r, look.digests.get(r.run.key)) for r in look.results})
        claims = look.verdicts.claims
        budget = config.training.budget
        flips, firm = [c.flip for c in claims], [c.firm_at or 0 for c in claims]
        following = sequential.more_replicates(budget, n, flips, firm)
        if following is None:
            return look, trained
        if not quiet:
            close = [c.key for c, near in zip(claims, sequential.reachable(budget, flips, firm), strict=True) if near]
            console.print(
                f"[green]✓[/] {n} replicates judged: {len(look.verdicts.borderline())} verdicts borderline, "
                f"{len(close)} of them could become firm within {budget.max} replicates ({', '.join(close[:3])}"
                f"{', …' if len(close) > 3 else ''}): adding {following - n}",
                soft_wrap=True,
            )
        n = following


def _look(
    config: StudyConfig,
    stages,
    console,
    quiet: bool,
    cancel,
    helper,
    may_freeze: bool,
    known: dict,
    measures: dict,
    unstored: threading.Event | None = None,
) -> _Look:
    """One look: train what the cache (or an earlier look of this build) does not hold, measure what an earlier look
    did not (measures: per-run measurements, kept across the looks), judge."""
    from reportgen.helper import warm_figures

    with stages("start-up"):
        from reportgen import analysis, store

        runs = plan_runs(config)
        check_unique(runs, config.output.save_models)
    datasets = _Datasets(config, runs, stages)
    results, cached, trained, digests = _cached_or_trained(
        config, runs, datasets, stages, console, quiet, cancel, helper, known, unstored
    )
    if may_freeze:
        if cached < len(runs):
            gc.collect()  # what training left behind, before the runs are frozen
        gc.freeze()  # they live to the end: later collections (statsmodels' Holm calls gc.collect) need not walk them
    # the analysis is kept under the entries' contents, not only their keys: a run trained again (its entry was
    # damaged) may differ in its last bits on another CPU or engine
    memo = Memo(config.output.cache if len(digests) == len(runs) else None)
    settings = study_settings(config)
    analysis_key = memo_key("analysis", settings, [digests.get(r.key) for r in runs])
    with stages("analysis") as stage:
        kept = _kept_analysis(memo, analysis_key)
        if kept:
            measured, first, data_blob = kept
            stage["name"] = "analysis (from the cache)"
        else:
            if cached == len(runs):  # else checked and given before training
                _check_memory(config, runs, datasets, helper)
                helper.submit(warm_figures)  # figures will be drawn: the helper imports what drawing needs meanwhile
            measured, first = analysis.analyse(results, datasets(), config, measures), datasets()[config.training.seeds[0]]
            data_blob = store.save(measured, first)
            memo.put("analysis", analysis_key, data_blob)
    data_digest = hashlib.sha256(data_blob).hexdigest()  # the analysis itself: claims and figures are made from it
    verdicts, notes = judge(measured, stages, (memo, memo_key("claims", settings, data_digest)))
    return _Look(config, runs, results, trained, digests, datasets, memo, settings, measured, first, data_blob, verdicts, notes)


class _Datasets:
    """The study's data for every replicate and sweep point, made when first needed (as the stage "data"). A build
    whose runs, analysis and claims are all in its cache needs it only for results.json, once its report is with the
    helper: drawing it first would import scikit-learn and scipy (a second) before the report."""

    def __init__(self, config: StudyConfig, runs, stages):
        self.config, self.runs, self.stages, self.made = config, runs, stages, None

    def __call__(self) -> dict:
        if self.made is None:
            from reportgen import data

            with self.stages("data"):
                seeds = dict.fromkeys([*self.config.training.seeds, *(r.data_key for r in self.runs)])
                self.made = data.make_datasets(self.config.data, seeds)
        return self.made


class _Lines:
    """The runs' texts of results.json (run_lines), made once: taken from the cache when kept under key, else made and
    kept there (compressed: 14 MB of text is 4.6 MB)."""

    def __init__(self, memo: Memo, key: str, results, measured):
        self.memo, self.key, self.results, self.measured, self.texts = memo, key, results, measured, None

    def __call__(self) -> Dumped:
        if self.texts is None:
            kept = self.memo.get("runs", self.key)
            with contextlib.suppress(zlib.error, UnicodeDecodeError):
                texts = zlib.decompress(kept).decode("utf-8").split("\n") if kept is not None else None
                if texts is not None and len(texts) == len(self.results):
                    self.texts = Dumped(texts)
            if self.texts is None:
                self.texts = run_lines(self.results, self.measured)
                self.memo.put("runs", self.key, zlib.compress("\n".join(self.texts).encode("utf-8"), 1))
        return self.texts


def _kept_analysis(memo: Memo, key: str):
    """(analysis, first replicate's data, their stored bytes) from an earlier build with the same runs and settings, or
    None (reportgen.memo)."""
    from reportgen import store

    blob = memo.get("analysis", key)
    if blob is None:
        return None
    try:
        return (*store.load(blob), blob)
    except (ValueError, KeyError, OSError):  # unreadable all the same: measured again, and replaced
        return None


def _shown_timings(timings: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Stage times for the shared outputs; none in a reproducible build (SOURCE_DATE_EPOCH set), whose bytes must not vary."""
    return [] if os.environ.get("SOURCE_DATE_EPOCH") else timings


def judge(measured, stages, memo: tuple[Memo, str] | None = None):
    """Give every claim its verdict and write the observations. memo: where the verdicts of this analysis and study
    settings are kept (reportgen.memo), and their key; a build that finds them there imports no scipy.stats."""
    from reportgen import claims

    with stages("claims") as stage:
        kept = memo[0].get("claims", memo[1]) if memo else None
        judged = claims.load_verdicts(kept) if kept is not None else None
        if judged is not None:
            stage["name"] = "claims (from the cache)"
            return judged
        verdicts = claims.evaluate_claims(measured, claims.given_measures(measured))  # a judged table: only the measures it has
        notes = claims.observations(measured, verdicts)
        if memo:
            memo[0].put("claims", memo[1], claims.dump_verdicts(verdicts, notes))
        return verdicts, notes


def present(
    measured,
    study: Study,
    n_runs: int,
    stages,
    verdicts=None,
    notes=None,
    changes=None,
    helper=None,
    memo: tuple[Memo, str] | None = None,
) -> dict:
    """Draw the figures and render the report files from an analysis and its verdicts: what build and render share.

    With a live helper (reportgen.helper), half the figures are drawn there and the PDF is laid out there; the PDF is
    then a function that waits for it (settled() gives every output's bytes). memo: where figures drawn from this
    analysis before are kept, and their key.
    """
    from reportgen import arrange, report
    from reportgen.memo import unpack_figures

    if verdicts is None:
        verdicts, notes = judge(measured, stages)
    kept = memo[0].get("figures", memo[1]) if memo else None
    drawn = unpack_figures(kept) if kept is not None else None
    split = drawn is None and helper is not None and helper.ready()  # a helper still importing its libraries draws nothing
    with stages("figures (from the cache)" if drawn is not None else "figures (in 2 processes)" if split else "figures"):
        if drawn is None:
            from reportgen import figures
            from reportgen.memo import pack_figures

            drawn = figures.make_figures(measured, helper if split else None)
            if memo:
                memo[0].put("figures", memo[1], pack_figures(drawn))
    outputs: dict = {}
    with stages("report"):
        shown = arrange.Shown(
            study.title,
            study.toml,
            report.build_time(os.environ.get("SOURCE_DATE_EPOCH")),
            report.library_versions(),
            report.machine(),
            _shown_timings(list(stages.timings)),
        )
        ctx = arrange.build_context(measured, verdicts, notes, drawn, shown, n_runs, changes)
        html = report.render_html(ctx)
        if "html" in study.formats:
            outputs["report.html"] = html.encode("utf-8")
        if "pdf" in study.formats:
            if helper is not None and helper.alive:
                helper.submit(report.render_pdf, html)
                outputs["report.pdf"] = lambda: helper.result(report.render_pdf, html)
            else:
                outputs["report.pdf"] = report.render_pdf(html)
        outputs["summary.md"] = report.render_summary_with_changes(ctx, changes).encode("utf-8")
    return outputs


def settled(outputs: dict, stages) -> dict[str, bytes]:
    """Every output's bytes, waiting (as the stage "PDF") for the one still being made in the helper."""
    if not any(callable(payload) for payload in outputs.values()):
        return outputs
    with stages("PDF (laid out in parallel)"):
        return {name: payload() if callable(payload) else payload for name, payload in outputs.items()}


def render(
    results_dir: Path, out_dir: Path | None = None, formats: list[str] | None = None, quiet: bool = False, console=None
) -> BuildResult:
    """Re-render a previous build's report from its results.json and report data alone: no training, no TensorFlow."""
    from rich.console import Console

    from reportgen.helper import Helper

    console = console or Console(stderr=True, soft_wrap=True)  # a line stays one line in a narrow log
    with Helper() as helper:
        return _render(results_dir, out_dir, formats, quiet, console, helper)


def _study_of(doc, file: Path) -> StudyConfig:
    """The study a results.json was built from, validated as a study file is; its first problem as one line."""
    from reportgen.config import validate
    from reportgen.errors import ConfigError

    try:
        return validate(doc.study.model_dump(mode="json"), f"{file}: study")
    except ConfigError as err:
        more = f" (and {len(err.lines) - 1} more problems)" if len(err.lines) > 1 else ""
        raise ConfigError([err.lines[0] + more]) from None


def _render(results_dir: Path, out_dir: Path | None, formats: list[str] | None, quiet: bool, console, helper) -> BuildResult:
    from reportgen import store, tables
    from reportgen.errors import ConfigError
    from reportgen.helper import warm_figures

    stages = _Stages(console, quiet)
    helper.submit(warm_figures)
    with stages("reading the build"):
        outdir.recover(results_dir.resolve())  # a build killed while replacing these files: its previous ones back
        saved = read_build(results_dir)
        config = _study_of(saved.results, results_dir / "results.json")
        output = config.output.model_copy(update={"dir": out_dir or results_dir, **({"formats": formats} if formats else {})})
        config = config.model_copy(update={"output": output})
        try:
            measured, first = store.load(saved.data)
        except store.DataFileError as err:
            raise ConfigError([f"{results_dir / store.FILE}: {err}"]) from None
    outputs = present(measured, Study.of(config), len(saved.results.runs), stages, helper=helper)
    outputs["results.json"], outputs[store.FILE] = saved.text, saved.data
    outputs.update(tables.tables_of(saved.results))
    outputs = settled(outputs, stages)
    files = write_outputs(config.output.dir, outputs, [], config)
    return BuildResult(out_dir=config.output.dir, files=files, timings=stages.timings, trained=0, cached=0)


def _cached_or_trained(config, runs, datasets, stages, console, quiet: bool, cancel=None, helper=None, known=None, unstored=None):
    """Take every run an earlier look of this build (known: key -> (result, its entry's digest)) or the cache holds,
    and train the rest (importing TensorFlow only then); store what was trained. Returns the results in the order of
    runs, how many came from the cache, how many were trained, and the SHA-256 of every run's cache entry (none
    without a cache). helper: told to import the drawing libraries while training runs (the figures of runs trained
    now are drawn afresh); unstored: set when a store failed (in this look or an earlier one of the build)."""
    from rich.markup import escape

    from reportgen import executor
    from reportgen.cache import RunCache, run_keys

    known = known or {}
    store = RunCache(config.output.cache)
    keys = run_keys(runs, config)
    new = [r for r in runs if r.key not in known]
    with stages("cache"):
        found = store.lookup(new, {r.key: keys[r.key] for r in new})
    for line in found.damaged:
        console.print(f"[yellow]![/] {escape(' '.join(line.split()))}", soft_wrap=True)  # one line, however narrow
    missing = [r for r in new if r.key not in found.hits]
    trained = []
    if missing:
        from reportgen.helper import warm_figures

        if helper is not None:
            helper.submit(warm_figures)

        _check_memory(config, runs, datasets, helper)
        if config.model.factory is not None:
            _check_factory(config, missing, datasets()[config.training.seeds[0]], console)
        progress, task = _training_progress(console, quiet, len(missing) * config.training.epochs, len(missing), stages.bar)
        how = f"{config.training.engine} engine" if config.model.factory is None else "model.factory's network, model.fit"
        label = f"training ({len(missing)} models, {how}" + (
            f"; {len(runs) - len(missing)} from the cache)" if found.hits else ")"
        )
        saver = _Saver(store, keys, console, unstored)
        with stages(label), progress, _graph_cache_failures():
            trained = executor.train(
                missing,
                datasets(),
                config,
                lambda n, text: progress.update(task, advance=n, description=escape(text)),
                cancel=cancel,
                done=saver,  # each block as it finishes: a build killed later keeps what was trained
            )
        found.digests.update(saver.digests)
        if config.execution.scheduler is None and not saver.failed.is_set() and not (cancel is not None and cancel.is_set()):
            _record_pace(config, missing, datasets(), stages.timings[-1][1])
    elif not quiet and new:
        console.print(f"[green]✓[/] all {len(new)} models from the cache [dim]({escape(str(config.output.cache))})[/]")
    digests = {**{k: d for k, (_, d) in known.items() if d is not None}, **found.digests}
    by_key = {**{k: r for k, (r, _) in known.items()}, **found.hits, **{r.run.key: r for r in trained}}
    return [by_key[r.key] for r in runs], len(found.hits), len(trained), digests


def _check_factory(config: StudyConfig, runs, first, console) -> None:
    """Build every network a factory will train once before training (reportgen.factory.check: a network that does
    not show its variant's regularizers is refused, naming the variant); say in one line each which variants cannot
    start from the reference network's initial weights (their kernels differ in shape)."""
    from rich.markup import escape

    from reportgen import factory

    checked = factory.check(config, first.n_features, first.n_classes, [r.variant for r in runs])
    for name in checked.unpaired:
        console.print(
            f"[yellow]![/] variant {escape(repr(name))}: its network's kernels differ in shape from the reference "
            "network's, so it draws its own initial weights (its comparisons stay paired by data and batch order)",
            soft_wrap=True,
        )


@contextlib.contextmanager
def _graph_cache_failures():
    """Turn an error of the compiled-graph cache (reportgen.xla) into one line without a traceback."""
    try:
        yield
    except Exception as err:
        from reportgen import xla
        from reportgen.errors import ReportgenError

        line = xla.cache_failure(err)
        if line is None:
            raise
        raise ReportgenError(line) from None


class _Saver:
    """Store each block of trained runs in the run cache as it finishes (from the training threads). A store that fails
    in any way (a full disk or quota, a folder made read-only or taken away, a file where a folder should be) is one
    warning, and the build goes on without storing more: the cache saves time, the report is the product."""

    def __init__(self, store, keys: dict[str, str], console, failed: threading.Event | None = None):
        self.store, self.keys, self.console = store, keys, console
        self.digests: dict[str, str] = {}  # run key -> SHA-256 of its stored entry
        self.failed = failed if failed is not None else threading.Event()  # shared by the looks of a build
        self._lock = threading.Lock()

    def __call__(self, results) -> None:
        from rich.markup import escape

        with self._lock:
            if self.failed.is_set():
                return
            try:
                self.digests.update(self.store.store(results, self.keys))
            except OSError as err:
                self.failed.set()
                self.console.print(
                    f"[yellow]![/] run cache {escape(str(self.store.folder))}: cannot store the trained runs "
                    f"({escape(err.strerror or str(err))}); the report is written, and the next build trains them again",
                    soft_wrap=True,
                )


def _record_pace(config, trained, datasets: dict, seconds: float) -> None:
    """Keep the rate this machine trained at in the cache folder, for the next plan line's time (reportgen.pace)."""
    from reportgen import budget, pace
    from reportgen.datasets import DataShape

    flops = budget.estimate(config, trained, DataShape.of(datasets[config.training.seeds[0]])).flops
    pace.record(config, config.output.cache, flops, seconds)


def _check_memory(config, runs, datasets, helper) -> None:
    """Refuse, before training or measuring, a build this machine's memory cannot hold (reportgen.budget). The command
    line checked it before starting unless every run and the analysis were in the cache; this is for a run whose entry
    turned out damaged, and for builds called from Python. What this process and its helper already hold is part of
    the estimate, so it counts as available."""
    from reportgen import budget
    from reportgen.datasets import DataShape

    shape = DataShape.of(datasets()[config.training.seeds[0]])
    pids = [os.getpid()] + ([helper.pid] if helper is not None and helper.pid else [])
    budget.check_fits_now(budget.estimate(config, runs, shape), pids)


def kept_throughout(config: StudyConfig, runs) -> bool:
    """Whether every run of generated data has a cache entry and the analysis of those entries is kept as well
    (reportgen.memo), judged by the digests the entries carry (lookup() checks them when the build reads them). Such a
    build trains and measures nothing, so the command line skips its data and memory checks (reportgen.cli)."""
    from reportgen.cache import RunCache, run_keys
    from reportgen.sequential import at_look

    if config.data.file is not None:  # a file's key is its bytes, which the data check refuses to read when too large
        return False
    config = at_look(config, len({r.seed for r in runs}))  # the look these runs are (the first of an adaptive design)
    digests = RunCache(config.output.cache).claimed_digests(runs, run_keys(runs, config))
    return digests is not None and Memo(config.output.cache).has(
        "analysis", memo_key("analysis", study_settings(config), digests)
    )


def write_outputs(out_dir: Path, outputs: dict[str, bytes], results, config, force: bool = False, data=None) -> list[Path]:
    """Write every output into a fresh folder next to the output folder, then swap the whole set in at once."""

    def fill(folder: Path) -> None:
        for name, payload in outputs.items():
            (folder / name).write_bytes(payload)
        if results:
            _save_models(folder / "models", results, config, data)

    return outdir.replace_outputs(out_dir, fill, force)


def _save_models(folder: Path, results, config, data=None) -> None:
    """Save each run's trained model as a .keras file that keras.models.load_model reads without a warning."""
    from reportgen.models import build_model
    from reportgen.plan import model_file_name

    folder.mkdir()
    for r in results:
        model = r.extras.get("model") or (
            build_model(r.run.variant, r.run.model(config.model), data)  # data: its inputs and classes
            if config.model.factory is None
            else _factory_model(r, config, data)
        )
        model.set_weights(r.weights)
        if not model.optimizer.built:  # an unbuilt optimizer makes load_model warn that it skips the saved one
            model.optimizer.build(model.trainable_variables)
        model.save(folder / model_file_name(r.run.key))


def _factory_model(result, config, data):
    """A cached run's compiled Keras model from the study's factory (its weights are set by the caller)."""
    from reportgen import factory
    from reportgen.models import compile_model

    model = factory.build(factory.source(config), result.run.variant, data.n_features, data.n_classes)
    kernels = [model.weights[i] for i in factory.kernel_positions(model)]
    return compile_model(model, result.run.variant, config.model, data.n_classes == 2, kernels[:-1])
