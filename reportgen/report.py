"""The Jinja environment and its filters, and the HTML, PDF and markdown renderers of a ReportContext."""

from __future__ import annotations

import base64
import math
import platform
from datetime import datetime
from importlib import metadata
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from reportgen import __version__
from reportgen.claims import fmt_p
from reportgen.context import Cell, ReportContext


def _templates_dir() -> Path:
    """The repository's templates/ folder, or the copy an installed wheel carries as reportgen/templates."""
    here = Path(__file__).resolve().parent
    repo = here.parent / "templates"
    return repo if (repo / "report.html").is_file() else here / "templates"


TEMPLATES = _templates_dir()
LIBRARIES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "scipy", "pandas", "scikit-learn", "matplotlib",
             "seaborn", "jinja2", "weasyprint", "pydantic")


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


def _cell_formatter(kind: str):
    signed = lambda v: "–" if not math.isfinite(v) else ("+" if v > 0 else "") + fmt_num(v)  # noqa: E731
    return {"pct": fmt_pct, "int": lambda v: f"{v:.0f}" if math.isfinite(v) else "–",
            "pp": lambda v: "–" if not math.isfinite(v) else f"{v * 100:+.1f} pp", "diff": signed}.get(kind, fmt_num)


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
    import re

    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


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
    env.filters.update(anchor=anchor, p=fmt_p, setting=fmt_setting, num=fmt_num, pct=fmt_pct, cell=fmt_cell, interval=fmt_interval, data_uri=data_uri, md=md_cell)
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
