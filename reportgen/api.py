"""reportgen from Python: load a study, build it, read a finished build, re-render it, compare two builds.

Everything here is keyword-only past its first argument and exported from `reportgen`:

    import reportgen
    study = reportgen.load_study(training={"epochs": 20, "seeds": 3})
    result = reportgen.build(study)      # in a notebook: a progress bar, then page one inline
    result.claims                        # a pandas DataFrame, one row per claim (claims.csv)
    result.runs                          # one row per run (runs.csv)

Problems with the input raise reportgen.ConfigError (a ReportgenError), whose message is the same one line per
problem the command line prints; a notebook shows those lines without a traceback.
"""

from __future__ import annotations

import contextlib
import html
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.config import StudyConfig
from reportgen.errors import ConfigError, shorten

if TYPE_CHECKING:
    import pandas as pd

    from reportgen.compare import Changes
    from reportgen.judging import Judged
    from reportgen.schema import Results

StrPath = str | os.PathLike[str]
FORMATS = ("html", "pdf")
IFRAME_HEIGHT = 900  # pixels of the report shown inline: page one's verdict matrix and findings


def load_study(path: StrPath | None = None, **sections: Any) -> StudyConfig:
    """Read a study file (None: the built-in default study) and merge sections into it, checked as a study file is.

    Each keyword is a top-level section of the study file: a dict merges into that table (``training={"epochs": 20}``
    keeps the file's other training keys), any other value replaces it (``variants=[{"name": "baseline"}, ...]``,
    ``title="..."``). Relative paths in the file are relative to its folder. Raises ConfigError with one line per
    problem, naming the file or the keyword, the key and the value.
    """
    from reportgen.config import load_config

    return load_config(Path(path) if path is not None else None, tables=sections, tables_label="load_study({key}=…)")


@dataclass
class Result:
    """A finished build's output folder: its report, tables and results, and page one shown inline in a notebook.

    claims and runs are pandas DataFrames (claims.csv and runs.csv); results is results.json's validated records
    (reportgen.schema.Results). trained, cached, failed and contradicted are known for a build made in this session
    (None for a folder read with reportgen.load)."""

    out_dir: Path
    trained: int | None = None
    cached: int | None = None
    failed: list[str] | None = None
    contradicted: list[str] | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def html_path(self) -> Path | None:
        """report.html, or None when the build wrote no HTML."""
        return self._file("report.html")

    @property
    def pdf_path(self) -> Path | None:
        """report.pdf, or None when the build wrote no PDF."""
        return self._file("report.pdf")

    @property
    def summary_path(self) -> Path:
        """summary.md: the verdict matrix, findings and every claim as Markdown."""
        return self.out_dir / "summary.md"

    @property
    def results_path(self) -> Path:
        """results.json."""
        return self.out_dir / "results.json"

    def _file(self, name: str) -> Path | None:
        path = self.out_dir / name
        return path if path.is_file() else None

    @cached_property
    def results(self) -> Results:
        """results.json, validated against the schema (reportgen.schema.Results)."""
        from reportgen import schema

        return schema.read(self.results_path)

    @cached_property
    def claims(self) -> pd.DataFrame:
        """One row per claim: key, variant, verdict, effect and interval, raw and adjusted p, flip probability, ..."""
        return self._table("claims.csv")

    @cached_property
    def runs(self) -> pd.DataFrame:
        """One row per run: variant, replicate, init, key, failed, then every scalar measure."""
        return self._table("runs.csv")

    def _table(self, name: str) -> pd.DataFrame:
        from reportgen import tables

        path = self.out_dir / name
        if path.is_file():
            return tables.read_table(path)
        # a build from before the tables were written: made from its results.json
        import io

        return tables.read_table(io.BytesIO(tables.tables_of(self.results)[name]))

    @property
    def summary(self) -> str:
        """summary.md's text."""
        return self.summary_path.read_text(encoding="utf-8")

    def _repr_html_(self) -> str:
        """The report, self-contained, in an <iframe srcdoc>: its styles and script stay inside it, and it needs no
        file or server (Colab and VS Code show it as Jupyter does). Without report.html: the claims table."""
        if self.html_path is None:
            return f"<p>reportgen build in <code>{html.escape(str(self.out_dir))}</code> (no report.html)</p>" + (
                self.claims.to_html(index=False)
            )
        page = self.html_path.read_text(encoding="utf-8")
        return (
            f'<iframe srcdoc="{html.escape(page, quote=True)}" title="reportgen report: {html.escape(self.out_dir.name)}" '
            f'style="width: 100%; height: {IFRAME_HEIGHT}px; border: 1px solid #ccc" '
            'sandbox="allow-scripts allow-popups"></iframe>'
        )

    def __repr__(self) -> str:
        verdicts = self.claims["verdict"].value_counts() if len(self.claims) else {}
        counted = ", ".join(f"{n} {v}" for v, n in verdicts.items()) or "no claims"
        return f"<reportgen.Result {self.out_dir}: {len(self.claims)} claims ({counted}), {len(self.runs)} runs>"


def _formats(formats: Iterable[str] | str) -> list[str]:
    listed = [formats] if isinstance(formats, str) else list(formats)
    unknown = [f for f in listed if f not in FORMATS]
    if unknown or not listed:
        raise ConfigError([f"build(formats={shorten(repr(formats))}): choose one or more of {', '.join(FORMATS)}"])
    return list(dict.fromkeys(listed))


def _study(study: StudyConfig | StrPath | None) -> StudyConfig:
    if study is None or isinstance(study, str | os.PathLike):
        return load_study(study)
    if not isinstance(study, StudyConfig):
        got = type(study).__name__
        raise ConfigError([f"build(study=…): expected a study from reportgen.load_study or a study file's path, got {got}"])
    return study


def build(
    study: StudyConfig | StrPath | None = None,
    /,
    *,
    out: StrPath | None = None,
    formats: Iterable[str] | str = ("html",),
    quiet: bool = False,
    force: bool = False,
    compare_with: StrPath | None = None,
) -> Result:
    """Train a study (reportgen.load_study's, a study file's path, or None: the default study), judge its claims and
    write its report; returns the output folder as a Result (shown inline in a notebook).

    out: the output folder (default: the study's output.dir); formats: "html" and/or "pdf" (the PDF takes longer, so
    a notebook's default is HTML alone); quiet: no progress display (in a notebook the progress is a bar in the cell);
    force: write into a folder that holds files reportgen did not write; compare_with: an earlier build's folder (or
    its results.json), whose differences from this one open the report. The same checks as `reportgen build` come
    first: nothing is trained when the study, the output folder or the data are wrong (ConfigError)."""
    from reportgen import notebook
    from reportgen.cli import preflight

    config = _study(study)
    output: dict[str, Any] = {"formats": _formats(formats)}
    if out is not None:
        output["dir"] = Path(os.path.abspath(out))
    config = config.model_copy(update={"output": config.output.model_copy(update=output)})
    source = str(config._file) if config._file else "default study"
    shown_out = shorten(str(config.output.dir), 100)
    label = f"build(out={shorten(str(out), 100)!r})" if out is not None else f"{source}: output.dir {shown_out}"
    old = None
    if compare_with is not None:
        from reportgen.compare import load_results
        from reportgen.outdir import recover

        if Path(compare_with).is_dir():
            recover(Path(compare_with).resolve())
        old = (str(compare_with), load_results(Path(compare_with)))
    with contextlib.ExitStack() as held:  # the output folder is held from its check until the report is written
        plan = preflight(config, config._file, force, label, source, held)
        in_notebook = notebook.in_notebook()
        console = None
        if not quiet:
            from rich.console import Console

            console = Console(stderr=not in_notebook)
            console.print(f"[green]✓[/] plan: {plan}", soft_wrap=True)
        from reportgen.pipeline import build as run_build
        from reportgen.plan import Cancel

        cancel = Cancel("SIGINT")  # an interrupted kernel (KeyboardInterrupt) stops training threads too
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library deprecation notes are noise to a report's reader, as on the command line
            try:
                built = run_build(
                    config,
                    quiet=quiet,
                    console=console,
                    cancel=cancel,
                    force=force,
                    compare_with=old,
                    bar=notebook.NotebookBar if in_notebook else None,
                )
            except KeyboardInterrupt:
                cancel.set()
                raise
    return Result(
        out_dir=Path(built.out_dir).resolve(),
        trained=built.trained,
        cached=built.cached,
        failed=list(built.failed),
        contradicted=list(built.contradicted),
        files=list(built.files),
    )


def load(out_dir: StrPath, /) -> Result:
    """A finished build's output folder (or its results.json) as a Result; its results.json is checked against the
    schema first (ConfigError naming the file and the key)."""
    from reportgen import schema
    from reportgen.outdir import recover

    path = Path(out_dir)
    folder = path.parent if path.is_file() else path
    if folder.is_dir():
        recover(folder.resolve())  # a build killed while replacing its files: the previous ones back first
    file = schema.locate(path)
    result = Result(out_dir=file.parent.resolve())
    result.__dict__["results"] = schema.parse(schema.read_bytes(file), str(file))
    return result


def render(
    results_dir: StrPath, /, *, out: StrPath | None = None, formats: Iterable[str] | str | None = None, quiet: bool = False
) -> Result:
    """Re-render a finished build's report from its folder alone (no training, no TensorFlow), into out (default: the
    same folder), in formats (default: the build's)."""
    from reportgen.pipeline import render as run_render

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done = run_render(
            Path(results_dir),
            Path(os.path.abspath(out)) if out is not None else None,
            _formats(formats) if formats is not None else None,
            quiet=quiet,
        )
    return Result(out_dir=Path(done.out_dir).resolve(), trained=0, cached=0, files=list(done.files))


@dataclass(frozen=True)
class Comparison:
    """What changed between two builds: changes (reportgen.compare.Changes), as Markdown (shown in a notebook) and
    as the JSON `reportgen compare --format json` prints (data)."""

    changes: Changes
    markdown: str
    data: Mapping[str, Any]

    @property
    def changed_verdicts(self) -> list[str]:
        """One line per verdict that changed beyond noise (what --fail-on changed reports)."""
        from reportgen.compare import changed_verdicts

        return changed_verdicts(self.changes)

    @property
    def regressions(self) -> list[str]:
        """One line per metric worse beyond noise (what --fail-on regressed reports)."""
        from reportgen.compare import regressions

        return regressions(self.changes)

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __str__(self) -> str:
        return self.markdown


def compare(old: StrPath | Result, new: StrPath | Result, /) -> Comparison:
    """Say what changed between two builds (output folders, results.json files or Results); reads results.json only."""
    from reportgen.compare import changes_json, load_results, render_markdown
    from reportgen.compare import compare as compared

    paths = [x.out_dir if isinstance(x, Result) else Path(x) for x in (old, new)]
    before, after = (load_results(p) for p in paths)
    changes = compared(before, after, old_name=str(paths[0]), new_name=str(paths[1]))
    return Comparison(changes, render_markdown(changes), changes_json(changes))


def judge(
    runs: pd.DataFrame | StrPath,
    /,
    study: StudyConfig | StrPath,
    *,
    out: StrPath | None = None,
    formats: Iterable[str] | str = ("html",),
    force: bool = False,
) -> Judged:
    """Verdicts on replicate runs trained anywhere: runs is a DataFrame (or a CSV file) with one row per run (variant,
    replicate, train_accuracy, test_accuracy and any other measure reportgen names), study a study (or its file) whose
    [[variants]] say what each variant does; the variant without a regularizer is the baseline. Returns the claims
    (.claims, as claims.csv), the verdicts and the claims left out for want of their measure (.missing).

    out: also write the report there as `reportgen judge` does (formats: "html" and/or "pdf"; summary.md,
    results.json, report-data.npz, runs.csv, claims.csv), which reportgen.load and reportgen.render read back; the
    folder is checked and held as a build's is (force: write into a folder that holds files reportgen did not write)."""
    from reportgen.judging import judge as judged
    from reportgen.judging import read_runs

    config = _study(study)
    source = "runs"
    if isinstance(runs, str | os.PathLike):
        source, runs = shorten(str(runs), 120), read_runs(runs)
    chosen = _formats(formats) if out is not None else []
    with contextlib.ExitStack() as held:
        folder = None
        if out is not None:
            from reportgen import outdir

            folder = Path(os.path.abspath(out))
            label = f"judge(out={shorten(str(out), 100)!r})"
            outdir.check(folder, config._file, force, label)
            held.enter_context(outdir.hold(folder, label))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = judged(runs, config, source)
            if folder is not None:
                from reportgen.judging import write

                write(folder, result, config, chosen, force)
    return result
