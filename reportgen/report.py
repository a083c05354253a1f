"""The Jinja environment and its filters, and the HTML, PDF and markdown renderers of a ReportContext."""

from __future__ import annotations

import base64
import hashlib
import math
import platform
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from reportgen import __version__, markdown, numbers
from reportgen.claims import fmt_p
from reportgen.context import Cell, ReportContext
from reportgen.pdf import render_pdf, url_fetcher  # noqa: F401  the renderers of one report, in one place
from reportgen.versions import installed


def _templates_dir() -> Path:
    """The repository's templates/ folder, or the copy an installed wheel carries as reportgen/templates."""
    here = Path(__file__).resolve().parent
    repo = here.parent / "templates"
    return repo if (repo / "report.html").is_file() else here / "templates"


TEMPLATES = _templates_dir()
LIBRARIES = (
    "tensorflow-cpu",
    "tensorflow",
    "keras",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "matplotlib",
    "seaborn",
    "jinja2",
    "weasyprint",
    "pydantic",
)


# ---- filters: every number in the templates goes through one of these --------------------------------


fmt_num, fmt_setting, fmt_pct, fmt_chance = numbers.table, numbers.setting, numbers.percent, numbers.chance


def _cell_formatter(kind: str):
    return {"pct": numbers.percent, "int": numbers.count, "pp": numbers.points, "diff": numbers.signed}.get(kind, numbers.table)


def fmt_cell(c: Cell) -> str:
    """Format a cell's mean by its kind (percent, percentage points, signed difference, count or number)."""
    return _cell_formatter(c.kind)(c.mean)


def fmt_interval(c: Cell) -> str:
    """Format a cell's confidence interval as [low, high] (empty without an interval)."""
    if not (math.isfinite(c.low) and math.isfinite(c.high)):
        return ""
    f = _cell_formatter(c.kind)
    return f"[{f(c.low)}, {f(c.high)}]"


def anchor(text: str) -> str:
    """An HTML id from any text (claim keys hold colons, plus signs and spaces)."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def breakable(text: str) -> Markup:
    """Escaped text that may wrap after an underscore, a plus or a slash (a variant's name in a narrow table column:
    'early_stopping' breaks as 'early_ / stopping', not 'early_stoppi / ng')."""
    return Markup(re.sub(r"([_+/])", r"\1<wbr>", str(escape(text))))


def data_uri(png: bytes) -> str:
    """Embed PNG bytes as a data URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def environment() -> Environment:
    """The Jinja environment: autoescaping for HTML, strict undefined, the number filters."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        anchor=anchor,
        breakable=breakable,
        p=fmt_p,
        setting=fmt_setting,
        num=fmt_num,
        pct=fmt_pct,
        pct0=fmt_chance,
        cell=fmt_cell,
        interval=fmt_interval,
        data_uri=data_uri,
        md=markdown.escape,  # summary.md is a pull-request comment: what users wrote starts no markup
    )
    return env


def build_time(epoch: str | None) -> str:
    """Build time from SOURCE_DATE_EPOCH (reproducible builds) or now, in UTC."""

    when = datetime.fromtimestamp(int(epoch), tz=UTC) if epoch else datetime.now(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def library_versions() -> list[tuple[str, str]]:
    """Versions of the libraries that shape the results."""
    return list(installed(LIBRARIES).items())


def machine() -> str:
    """Describe the machine the build ran on."""
    import os

    return f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPU cores"


SCRIPT = "js/report.js"


def render_html(ctx: ReportContext) -> str:
    """Render the self-contained HTML report, with its one inline script and a content security policy that lets that
    script run (by its SHA-256) and nothing be fetched."""
    script = (TEMPLATES / SCRIPT).read_text(encoding="utf-8")
    digest = "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return environment().get_template("report.html").render(ctx=ctx, __version__=__version__, script=script, script_hash=digest)


# ---- summary.md and the size of a pull-request comment -----------------------------------------------------------

GITHUB_COMMENT_LIMIT = 65_536  # characters in one GitHub comment (and one job summary is 1 MiB)
SUMMARY_LIMIT = 60_000  # leaves room for a comment header and a Changes section above the summary
TEXT_LIMIT = 2_000  # characters of one paragraph or headline in summary.md
FAILED_SHOWN = 20  # lines of failed runs (one per variant and initialization) in summary.md; the report has them all
MORE = "see report.html"


@dataclass(frozen=True)
class SummaryCut:
    """What summary.md leaves out to stay under its size limit: a pointer line per cut table, and the failed runs."""

    matrix: str = ""  # '… N more rows: see report.html' when the verdict matrix was cut, else empty
    claims: str = ""  # the same for the table of every claim
    results: str = ""  # the same for the results table
    failed: int = 0  # how many runs failed in all (the list of their lines may be shortened)


@dataclass(frozen=True)
class Rows:
    """How many rows of each summary table to keep."""

    matrix: int
    claims: int
    results: int


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    """Shorten text to at most limit characters, at a word boundary, pointing to the full report."""
    if len(text) <= limit:
        return text
    tail = f" … ({MORE})"
    return text[: limit - len(tail)].rsplit(" ", 1)[0] + tail


def _clipped(ctx: ReportContext) -> ReportContext:
    """The summary's free text clipped and the list of failed runs shortened (a study of any size has five headlines)."""
    n = len(ctx.failed)
    failed = ctx.failed[:FAILED_SHOWN] + ([f"… {n - FAILED_SHOWN} more ({MORE})"] if n > FAILED_SHOWN else [])
    return replace(
        ctx,
        title=clip(ctx.title, 200),
        intro=clip(ctx.intro),
        headlines=[clip(h) for h in ctx.headlines],
        design=clip(ctx.design),
        rules=clip(ctx.rules),
        failed=failed,
        matrix=replace(ctx.matrix, others=[replace(c, claim=clip(c.claim, 500)) for c in ctx.matrix.others]),
    )


def _more(total: int, kept: int) -> str:
    """Write the pointer line for rows left out of a table (empty when none were)."""
    return f"… {total - kept:,} more row{'s' if total - kept != 1 else ''}: {MORE}" if kept < total else ""


def _keeping(ctx: ReportContext, full: ReportContext, rows: Rows) -> tuple[ReportContext, SummaryCut]:
    """The context with only the first rows of each summary table, and the pointer lines for what was left out."""
    kept = replace(
        ctx,
        matrix=replace(ctx.matrix, rows=ctx.matrix.rows[: rows.matrix]),
        claims=ctx.claims[: rows.claims],
        results=replace(ctx.results, rows=ctx.results.rows[: rows.results]),
    )
    cut = SummaryCut(
        _more(len(ctx.matrix.rows), rows.matrix),
        _more(len(ctx.claims), rows.claims),
        _more(len(ctx.results.rows), rows.results),
        full.n_failed,
    )
    return kept, cut


def _largest_fitting(fits, rows: Rows, table: str) -> Rows:
    """The most rows of one table that still fit (bisection: the text grows with every row), never fewer than none."""
    low, high = 0, getattr(rows, table)
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(replace(rows, **{table: mid})) else (low, mid - 1)
    return replace(rows, **{table: low})


def _render_rows(template, short: ReportContext, full: ReportContext, rows: Rows) -> str:
    """Render summary.md keeping the given rows of each table."""
    kept, cut = _keeping(short, full, rows)
    return template.render(ctx=kept, cut=cut)


def render_summary_with_changes(ctx: ReportContext, changes=None) -> str:
    """summary.md, opened by what changed since --compare's build when there is one; the whole under the limit."""
    if changes is None:
        return render_summary(ctx)
    from reportgen.compare import render_markdown

    head = render_markdown(changes)
    return head + "\n" + render_summary(ctx, limit=SUMMARY_LIMIT - len(head) - 1)


def render_summary(ctx: ReportContext, limit: int = SUMMARY_LIMIT) -> str:
    """Render the markdown summary, under `limit` characters: rows are cut from the claims table, then the results
    table, then the verdict matrix, each cut ending in a line that points to report.html."""
    template, short = environment().get_template("summary.md.j2"), _clipped(ctx)
    rows = Rows(len(ctx.matrix.rows), len(ctx.claims), len(ctx.results.rows))
    text = _render_rows(template, short, ctx, rows)
    for table in ("claims", "results", "matrix"):  # least needed first: the matrix is what a reviewer reads
        if len(text) < limit:
            break
        rows = _largest_fitting(lambda r: len(_render_rows(template, short, ctx, r)) < limit, rows, table)
        text = _render_rows(template, short, ctx, rows)
    return text
