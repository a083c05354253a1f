"""The report context, the Jinja environment and its filters, and the HTML, PDF, markdown and JSON renderers."""

from __future__ import annotations

import base64
import math
import platform
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from reportgen import __version__
from reportgen import config as config_module
from reportgen.analysis import metric_kind, metric_label, summarise
from reportgen.claims import Finding, Verdicts, fmt_p
from reportgen.stats import CI_METHOD, PAIRED_METHOD

def _templates_dir() -> Path:
    """The repository's templates/ folder, or the copy an installed wheel carries as reportgen/templates."""
    here = Path(__file__).resolve().parent
    repo = here.parent / "templates"
    return repo if (repo / "report.html").is_file() else here / "templates"


TEMPLATES = _templates_dir()
LIBRARIES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "scipy", "pandas", "scikit-learn", "matplotlib",
             "seaborn", "jinja2", "weasyprint", "pydantic")


def _help(text: str, **kw):
    return field(metadata={"help": text}, **kw)


@dataclass(frozen=True)
class Cell:
    """One summarised number: mean and interval over seeds."""

    mean: float = _help("Mean over seeds.")
    low: float = _help("Lower end of the confidence interval (NaN with one seed).")
    high: float = _help("Upper end of the confidence interval (NaN with one seed).")
    n: int = _help("Number of seeds behind the mean.")
    kind: str = _help("How to format it: 'pct' (share shown as percent), 'num' or 'int'.")


@dataclass(frozen=True)
class Table:
    """A table of variants (rows) by metrics (columns)."""

    caption: str = _help("What the table shows.")
    columns: list[str] = _help("Column headings after the variant name.")
    rows: list[tuple[str, list[Cell]]] = _help("Variant name and one cell per column.")


@dataclass(frozen=True)
class FindingRow:
    """One measure of a claim (or a sanity check) as shown in the report."""

    variant: str = _help("The variant the measure is about (empty for a comparison of sweeps).")
    measure: str = _help("How this build measured it.")
    verdict: str = _help("'supported', 'contradicted', 'no meaningful effect' or 'inconclusive'.")
    sentence: str = _help("The numbers behind the verdict, in one sentence.")


@dataclass(frozen=True)
class ClaimRow:
    """One claim as shown in the report: its primary finding decides the verdict."""

    claim: str = _help("The claim in words, naming the variant it is about.")
    source: str = _help("Where the seed study makes the claim.")
    measure: str = _help("The primary measurement, chosen before looking.")
    verdict: str = _help("The verdict of the primary measurement after Holm's correction.")
    sentence: str = _help("The numbers behind the verdict, in one sentence.")
    p_raw: float = _help("The primary test's p-value before correction.")
    p_adjusted: float = _help("The primary test's Holm-adjusted p-value, which the verdict uses.")
    n: int = _help("Replicates behind the primary measurement.")
    needed: int | None = _help("For an inconclusive claim: about how many replicates would detect the effect seen.")
    note: str = _help("What was compared, when it needs saying (for example the strengths matched).")
    secondary: list[FindingRow] = _help("Other measurements of the same claim (Benjamini-Hochberg family).")


@dataclass(frozen=True)
class FigureRef:
    """A figure embedded in the report."""

    key: str = _help("Stable id, also the HTML anchor.")
    title: str = _help("Heading.")
    caption: str = _help("What the figure shows and how to read it.")
    png: bytes = _help("The image, embedded as a data URI.")
    width_cm: float = _help("Display width.")


@dataclass(frozen=True)
class ReportContext:
    """Everything the templates may use; each field carries help text (tests enforce it)."""

    title: str = _help("Report title from the study file (escaped like all study text).")
    generated: str = _help("Build time, from SOURCE_DATE_EPOCH when set, in UTC.")
    version: str = _help("reportgen version.")
    n_seeds: int = _help("Replicates per variant.")
    seeds: list[int] = _help("The replicates' seeds.")
    confidence: float = _help("Confidence level of every interval.")
    ci_method: str = _help("How intervals are computed.")
    paired_method: str = _help("How variants are compared with the baseline.")
    dataset: dict = _help("Counts and settings of the dataset: n_train, n_val, n_test, noise, seed.")
    variants: list[tuple[str, str]] = _help("Variant name and the regularizers it adds.")
    training: dict = _help("Shared training settings: hidden, epochs, batch_size, learning_rate, engine.")
    tables: list[Table] = _help("Result tables (means with intervals).")
    layer_table: Table = _help("Per-layer weight statistics.")
    claims: list[ClaimRow] = _help("Every claim with its verdict, in registry order.")
    checks: list[FindingRow] = _help("Sanity checks: what a regularizer does by construction; shown, never counted.")
    verdict_counts: dict = _help("How many claims got each verdict.")
    design: str = _help("One sentence: what differs between replicates, so what every interval covers.")
    rules: str = _help("One or two sentences: how a verdict is reached, with the corrections used.")
    diverged: list[str] = _help("Runs that diverged ('key (epoch N)'), left out of every interval and verdict.")
    observations: list[str] = _help("Sentences computed from this build's numbers.")
    figures: dict[str, FigureRef] = _help("Figures by key.")
    study_toml: str = _help("The resolved study file.")
    libraries: list[tuple[str, str]] = _help("Library names and versions.")
    machine: str = _help("Platform and CPU count.")
    timings: list[tuple[str, float]] = _help("Seconds per build stage.")
    n_runs: int = _help("Models trained in this build (variants and sweep points times seeds).")


# ---- filters: every number in the templates goes through one of these --------------------------------

def fmt_num(v: float, digits: int = 3) -> str:
    """Format a number with a few significant digits; NaN as an en dash."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:,.{max(digits - 1 - int(math.floor(math.log10(abs(v)))), 0)}f}"


def fmt_setting(v) -> str:
    """Format a setting as written in a study file (0.01, not 0.0100)."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def fmt_pct(v: float, digits: int = 1) -> str:
    """Format a share as a percentage."""
    return "–" if v is None or not math.isfinite(v) else f"{v * 100:.{digits}f}%"


def fmt_cell(c: Cell) -> str:
    """Format a cell's mean."""
    return {"pct": fmt_pct, "int": lambda v: f"{v:.0f}" if math.isfinite(v) else "–"}.get(c.kind, fmt_num)(c.mean)


def fmt_interval(c: Cell) -> str:
    """Format a cell's confidence interval as [low, high] (empty with one seed)."""
    if not math.isfinite(c.low):
        return ""
    f = {"pct": fmt_pct, "int": lambda v: f"{v:.0f}"}.get(c.kind, fmt_num)
    return f"[{f(c.low)}, {f(c.high)}]"


def data_uri(png: bytes) -> str:
    """Embed PNG bytes as a data URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def md_cell(text: str) -> str:
    """Make text safe inside a markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def environment() -> Environment:
    """The Jinja environment: autoescaping for HTML, strict undefined, the number filters."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(p=fmt_p, setting=fmt_setting, num=fmt_num, pct=fmt_pct, cell=fmt_cell, interval=fmt_interval, data_uri=data_uri, md=md_cell)
    return env


def build_time(epoch: str | None) -> str:
    """Build time from SOURCE_DATE_EPOCH (reproducible builds) or now, in UTC."""
    from datetime import timezone

    when = datetime.fromtimestamp(int(epoch), tz=timezone.utc) if epoch else datetime.now(timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def library_versions() -> list[tuple[str, str]]:
    """Versions of the libraries that shape the results."""
    out = []
    for name in LIBRARIES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return out


def machine() -> str:
    """Describe the machine the build ran on."""
    import os

    return f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPU cores"


def render_html(ctx: ReportContext) -> str:
    """Render the self-contained HTML report."""
    return environment().get_template("report.html").render(ctx=ctx, __version__=__version__)


def render_summary(ctx: ReportContext) -> str:
    """Render the markdown summary for a CI step summary or a pull-request comment."""
    return environment().get_template("summary.md.j2").render(ctx=ctx)


def url_fetcher():
    """WeasyPrint fetcher that allows only the embedded data: URIs: no file:, no network."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)


def render_pdf(html: str) -> bytes:
    """Render the HTML report to PDF with WeasyPrint, fetching nothing but embedded figures."""
    import logging

    from weasyprint import HTML

    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return HTML(string=html, url_fetcher=url_fetcher(), base_url=None).write_pdf()


def _cell(summary, variant: str, metric: str) -> Cell:
    row = summary[(summary["variant"] == variant) & (summary["metric"] == metric)].iloc[0]
    return Cell(mean=float(row["mean"]), low=float(row["low"]), high=float(row["high"]), n=int(row["n"]), kind=metric_kind(metric))


def _table(analysis, caption: str, metrics: list[str]) -> Table:
    rows = [(v, [_cell(analysis.summary, v, m) for m in metrics]) for v in analysis.variants]
    return Table(caption=caption, columns=[metric_label(m) for m in metrics], rows=rows)


def _layer_table(analysis) -> Table:
    cols = [f"below_{t:g}" for t in analysis.thresholds] + ["min", "max", "mean_abs", "l2_norm"]
    layers = analysis.layers.copy()
    layers["variant"] = layers["variant"].astype(str) + " · layer " + layers["layer"].astype(str)
    summary = summarise(layers, ["variant"], cols, analysis.confidence)
    names = list(dict.fromkeys(layers["variant"]))
    order = [n for v in analysis.variants for n in names if n.startswith(v + " · layer ")]
    rows = [(n, [_cell(summary, n, m) for m in cols]) for n in order]
    columns = [f"|w| < {t:g}" for t in analysis.thresholds] + ["min w", "max w", "mean |w|", "L2 norm"]
    n = len(analysis.seeds)
    return Table(caption=f"Hidden-layer kernels, per layer: share of near-zero weights, extremes and magnitudes; "
                         f"mean over {n} seed{'s' if n != 1 else ''}, {analysis.confidence:.0%} interval below.",
                 columns=columns, rows=rows)


def _finding_row(f: Finding) -> FindingRow:
    return FindingRow(f.variant or "", f.measure.how, f.verdict, f.sentence)


def _claim_row(c) -> ClaimRow:
    p = c.primary
    return ClaimRow(c.text, c.definition.source, p.measure.how, p.verdict, p.sentence, p.test.p_value, p.p_adjusted,
                    p.test.effect.n, p.needed, c.note, [_finding_row(f) for f in c.secondary])


def rules_sentence(verdicts: Verdicts) -> str:
    """How verdicts are reached, in words a non-statistician can follow."""
    prim, sec = verdicts.family_sizes()
    return (f"A claim is supported (or contradicted) when its one primary measurement, chosen before looking, differs "
            f"from the baseline in the claimed (or the opposite) direction after Holm's correction for the {prim} primary "
            f"tests; it shows no meaningful effect when a {2 * verdicts.confidence - 1:.0%} interval lies inside the "
            f"smallest effect of interest fixed in the study file, and is inconclusive otherwise. Other measurements of "
            f"the same claims ({sec}) are corrected with Benjamini-Hochberg; sanity checks are shown, not counted.")


def build_context(config, analysis, verdicts: Verdicts, observations, figures, timings, n_runs: int,
                  source_date_epoch: str | None) -> ReportContext:
    """Arrange the analysis, claims and figures into the template context."""
    n = len(analysis.seeds)
    conf = f"{analysis.confidence:.0%}"
    tables = [
        _table(analysis, f"Accuracy and overfitting: mean over {n} replicates, {conf} interval below.",
               ["test_accuracy", "train_accuracy", "gap", "test_loss", "test_rebound", "min_val_epoch", "epochs_run"]),
        _table(analysis, f"Weights, decision boundary and loss curves: mean over {n} replicates, {conf} interval below.",
               [f"first_below_{t:g}" for t in analysis.thresholds] + ["prunable", "kernel_l2", "boundary_length",
                                                                      "boundary_pieces", "val_roughness"]),
    ]
    d = config.data
    return ReportContext(
        title=config.title, generated=build_time(source_date_epoch), version=__version__, n_seeds=n, seeds=analysis.seeds,
        confidence=analysis.confidence, ci_method=CI_METHOD, paired_method=PAIRED_METHOD,
        dataset={"n_train": config.n_train, "n_val": d.n_samples - config.n_train, "n_test": d.test_samples, "noise": d.noise,
                 "seed": d.seed, "resample": d.resample},
        variants=[(v.name, v.label or v.describe()) for v in config.variants],
        training={"hidden": " → ".join(str(u) for u in config.model.hidden_units), "epochs": config.training.epochs,
                  "batch_size": config.training.batch_size, "learning_rate": config.model.learning_rate, "engine": config.training.engine},
        tables=tables, layer_table=_layer_table(analysis),
        claims=[_claim_row(c) for c in verdicts.claims], checks=[_finding_row(f) for f in verdicts.checks],
        verdict_counts=verdicts.tally(), design=analysis.design.sentence(), rules=rules_sentence(verdicts),
        diverged=[f"{k} (epoch {e})" for k, e in analysis.diverged],
        observations=observations,
        figures={f.key: FigureRef(f.key, f.title, f.caption, f.png, f.width_cm) for f in figures},
        study_toml=config_module.study_toml(config), libraries=library_versions(), machine=machine(), timings=timings, n_runs=n_runs,
    )
