"""Rendering from hand-made results (no training): golden output, escaping, self-containment, the template contract.

Regenerate the golden files after an intended change with:  REPORTGEN_REGENERATE=1 .venv/bin/python -m pytest tests/test_report.py
"""

import dataclasses
import io
import math
import os
import re
from html import unescape
from pathlib import Path

import numpy as np
import pytest

from reportgen import arrange, context, pdf, report
from reportgen.claims import evaluate_claims, observations
from reportgen.config import portable, study_toml
from reportgen.context import Cell, ReportContext
from reportgen.figures import SNAPSHOT_PREFIX, Figure, figure_specs
from tests.conftest import tiny_config
from tests.handmade import THRESHOLDS, _noise, hand_made

GOLDEN = Path(__file__).parent / "golden"


def _png(colour=(40, 90, 200), size=(4, 3)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


PNG_1PX = _png()
SNAPSHOT_EPOCHS = (10, 20, 30, 50)  # of 100: the stills are 10 and 30 (nearest 2%, 10% and 30%) and the end
NASTY = 'evil <script>alert("x")</script> | pipe'


def hand_made_study():
    """A study without batch norm or early stopping, with sweeps, a contradicted claim and a tie, numbers by hand."""
    config = tiny_config(
        title=f"Study {NASTY}",
        variants=[
            {"name": "baseline"},
            {"name": "l1", "l1": 0.001},
            {"name": "l2", "l2": 0.001},
            {"name": NASTY, "dropout": 0.2},
        ],
        sweeps={"l1": [0.001], "l2": [0.001], "dropout": []},
        analysis={"sparsity_thresholds": THRESHOLDS},
        training={"epochs": 100},
    )
    analysis = hand_made(
        {
            "baseline": {
                "test_accuracy": 0.90 + _noise(0, 0.01),
                "gap": 0.08 + _noise(1, 0.01),
                "prunable": 0.6 + _noise(2, 0.02),
            },
            "l1": {
                "test_accuracy": 0.85 + _noise(0, 0.01),
                "gap": 0.02 + _noise(1, 0.01),
                "prunable": 0.9 + _noise(2, 0.02),
                "val_loss": 0.3 + _noise(3, 0.01),
            },  # contradicted: lower test accuracy
            "l2": {"test_accuracy": 0.93 + _noise(0, 0.01) + _noise(4, 0.01), "val_loss": 0.3 + _noise(3, 0.01)},
            NASTY: {"test_accuracy": 0.93 + _noise(0, 0.01) + _noise(5, 0.01)},  # tied with l2
        },
        config,
    )
    grid = np.full((3, 3), 0.5)
    analysis = dataclasses.replace(analysis, snapshots={v: dict.fromkeys(SNAPSHOT_EPOCHS, grid) for v in analysis.variants})
    figures = [
        Figure(spec.key, spec.title, f"Caption of {spec.key}. More words.", _frame_png(spec.key), 16.0)
        for spec in figure_specs(analysis)
    ]
    return config, analysis, figures


def _frame_png(key: str) -> bytes:
    """Every figure the same tiny image, except the frames of training: each its own colour, so a viewer tells them apart."""
    if not key.startswith(SNAPSHOT_PREFIX):
        return PNG_1PX
    k = ([str(e) for e in SNAPSHOT_EPOCHS] + ["end"]).index(key.removeprefix(SNAPSHOT_PREFIX))
    return _png((40 * k, 200 - 40 * k, 90), (40, 10))


def hand_made_context() -> ReportContext:
    config, analysis, figures = hand_made_study()
    verdicts = evaluate_claims(analysis)
    shown = arrange.Shown(
        config.title,
        study_toml(portable(config)),
        "2026-01-01 00:00 UTC",
        [("numpy", "1.0")],
        "Linux x86_64, 2 CPU cores",
        [("training", 1.5)],
    )
    return arrange.build_context(analysis, verdicts, observations(analysis, verdicts), figures, shown, 48)


@pytest.fixture(scope="module")
def ctx() -> ReportContext:
    """The hand-made context, made once (its claims are judged in about a second): the tests here only read it."""
    return hand_made_context()


@pytest.fixture(scope="module")
def html(ctx) -> str:
    return report.render_html(ctx)


@pytest.fixture(scope="module")
def pdf_bytes(html) -> bytes:
    """The hand-made report as a PDF, laid out once (a few seconds)."""
    return report.render_pdf(html)


def _check_golden(name: str, text: str):
    path = GOLDEN / name
    if os.environ.get("REPORTGEN_REGENERATE"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; regenerate if intended (see module docstring)"


def test_html_matches_golden(html):
    _check_golden("report.html", html)


def test_summary_matches_golden(ctx):
    _check_golden("summary.md", report.render_summary(ctx))


def test_study_text_is_escaped_everywhere(ctx, html):
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert html.count("<script>") == 1 and html.count("</script>") == 1  # the report's own, at the end
    assert html.index("<script>") > html.index("Appendix C")
    md = report.render_summary(ctx)
    assert "<script>" not in md and "\\| pipe" in md


def test_html_is_self_contained(html):
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    assert "http://" not in html and "https://" not in html
    assert html.count('src="data:image/png;base64,') >= 10


def test_pdf_renders_and_fetches_nothing(pdf_bytes):
    from pypdf import PdfReader
    from weasyprint.urls import FatalURLFetchingError

    reader = PdfReader(io.BytesIO(pdf_bytes))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert len(reader.pages) >= 4 and "baseline" in text and "Page 1 of" in text and "Contents" in text
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x.png"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            report.url_fetcher().fetch(url)
        with pytest.raises(FatalURLFetchingError, match="Error fetching"):  # figures are served by name; nothing else
            report.render_pdf(f'<p>x</p><img src="{url}">')


def _first_pages(pdf: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages[:3]]


def test_the_contents_follow_a_page_one_that_runs_onto_a_second_page(ctx, pdf_bytes):
    """Page one ends with a page break. When it fits, its figure is on it and the contents start page 2; when it is too
    long (here 20 more headlines), its figure goes on to page 2 and the contents follow it there, not on a third page."""
    caption = f"{ctx.lead_figure.title}."
    fits = _first_pages(pdf_bytes)
    assert caption in fits[0] and fits[1].lstrip().startswith("Contents"), fits[:2]
    long = dataclasses.replace(ctx, headlines=[*ctx.headlines, *[f"A further headline, number {i}." for i in range(20)]])
    spilled = _first_pages(report.render_pdf(report.render_html(long)))
    assert "number 0" in spilled[0] and caption not in spilled[0], spilled[0]
    assert caption in spilled[1] and "Contents" in spilled[1] and spilled[1].index(caption) < spilled[1].index("Contents")


def test_a_tables_caption_starts_the_page_its_rows_start_on(html):
    """A results table placed ever lower on a page: wherever the page ends, its caption is on the page of its first
    row, never left alone at the foot of the page before (print.css keeps the caption with the table)."""
    from pypdf import PdfReader
    from weasyprint import HTML

    head = html[: html.index("</head>")]  # the report's styles, print.css among them
    table = re.search(r'<div class="scroll">\s*<table class="results.*?</table>\s*</div>', html, re.S).group(0)
    caption = " ".join(unescape(re.search(r"<caption>(.*?)</caption>", table, re.S).group(1)).split()[:4])
    first_row = unescape(re.search(r'<th scope="row">(.*?)</th>', table, re.S).group(1))
    pages_seen = set()
    for mm in range(236, 266, 3):  # a spacer this tall, then the table: past some height the table cannot start on page 1
        doc = f'{head}</head><body><div style="height: {mm}mm"></div>{table}</body></html>'
        texts = [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(HTML(string=doc).write_pdf())).pages]
        with_caption = [i for i, text in enumerate(texts) if caption in text]
        with_row = [i for i, text in enumerate(texts) if first_row in text]
        assert with_caption[:1] == with_row[:1], (mm, texts)
        pages_seen.add(with_row[0])
    assert pages_seen == {0, 1}  # the spacers put the table on either page: the page's end was crossed


def test_a_thousand_runs_or_more_are_counted_with_a_thousands_separator(ctx):
    """1,120 models, as the plan line and summary count them, not 1120: in the title's line and the first sentence."""
    many = dataclasses.replace(ctx, n_runs=1120, intro=arrange.intro(hand_made_study()[1], 1120))
    page = report.render_html(many)
    assert "· 1,120 models trained ·" in page and ">1,120 networks were trained on" in page and "1120" not in page


def _structure(node, out: list) -> list:
    """Every element of a PDF structure tree under node, depth first: (its type, its alternative text)."""
    node = node.get_object()
    if "/S" in node:
        out.append((str(node["/S"]), str(node.get("/Alt", ""))))
    kids = node.get("/K", [])
    for kid in kids if isinstance(kids, list) else [kids]:
        kid = kid.get_object()
        if hasattr(kid, "get") and kid.get("/Type") != "/OBJR" and "/MCID" not in kid:
            _structure(kid, out)
    return out


def test_pdf_is_tagged_with_language_title_headings_and_figures_alt_text(ctx, html, pdf_bytes):
    """PDF/UA: a screen reader gets the document's language and title, its headings in order and each figure's
    alternative text, the one the HTML gives (the printed frames of training included, the others not printed)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf_bytes))
    catalog = reader.trailer["/Root"]
    assert catalog["/Lang"] == "en" and catalog["/MarkInfo"]["/Marked"] and catalog["/ViewerPreferences"]["/DisplayDocTitle"]
    assert reader.metadata.title == ctx.title
    tree = _structure(catalog["/StructTreeRoot"], [])
    headings = [kind for kind, _ in tree if kind in ("/H1", "/H2", "/H3")]
    assert headings[0] == "/H1" and headings.count("/H1") == 1
    assert headings.count("/H2") == 1 + len(ctx.sections) + len(ctx.appendix) + 2  # + findings, contents, how to read
    alts = [alt for kind, alt in tree if kind == "/Figure"]
    printed = re.findall(r'<img (?:class="frame still" )?src="[^"]+" alt="([^"]+)"', html)
    assert alts == [unescape(a) for a in printed] and all(len(a) > 20 for a in alts)
    assert sum("development" in a or "develops" in a for a in alts) == 3  # the stills: 10, 30 and the end


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
def test_pdf_takes_a_figures_pixel_data_as_it_is_and_the_pdf_is_unchanged(mode, monkeypatch):
    """render_pdf hands WeasyPrint an RGB PNG's own IDAT chunks instead of letting it decode and encode the image again:
    the PDF must be the same bytes either way, and any other PNG must still take WeasyPrint's path."""
    import base64
    import contextlib

    import numpy as np
    from PIL import Image

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    pixels = np.random.default_rng(0).integers(0, 256, (40, 60, 4), dtype=np.uint8)
    pixels[:20] = 255  # a flat band too: rows the PNG filters compress differently
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGBA").convert(mode).save(buf, format="png")
    png = buf.getvalue()
    html = f'<p>figure</p><img src="data:image/png;base64,{base64.b64encode(png).decode()}">'
    taken = []
    monkeypatch.setattr(pdf, "png_idat", lambda data, f=pdf.png_idat: taken.append(f(data)) or taken[-1])
    ours = report.render_pdf(html)
    taken = [t for t in taken if t is not None]
    assert len(taken) == (mode == "RGB")  # passed through: RGB only
    monkeypatch.setattr(pdf, "_png_pass_through", contextlib.nullcontext)
    assert report.render_pdf(html) == ours
    if taken:
        assert taken[0] in ours


def test_png_idat_refuses_what_a_pdf_stream_cannot_take_as_it_is():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (3, 2), "white").save(buf, format="png")
    png = bytearray(buf.getvalue())
    assert pdf.png_idat(bytes(png))
    for at, value in ((24, 16), (25, 6), (28, 1)):  # 16 bits per sample, RGBA, interlaced
        changed = bytearray(png)
        changed[at] = value
        assert pdf.png_idat(bytes(changed)) is None
    assert pdf.png_idat(b"GIF89a" + bytes(40)) is None


def test_every_context_field_has_help_text():
    classes = [c for c in vars(context).values() if dataclasses.is_dataclass(c) and c.__module__ == context.__name__]
    assert len(classes) >= 14
    for cls in classes:
        for f in dataclasses.fields(cls):
            assert len(f.metadata.get("help", "")) > 5, f"{cls.__name__}.{f.name} needs help text"


def test_templates_use_only_context_fields():
    names = {f.name for f in dataclasses.fields(ReportContext)}
    used = set()
    for path in report.TEMPLATES.rglob("*"):
        if path.is_file():
            used |= set(re.findall(r"ctx\.(\w+)", path.read_text()))
    assert used <= names, used - names


@pytest.mark.parametrize(
    "value, text", [(0.93123, "0.931"), (1234.5, "1,234"), (0.000123, "0.000123"), (math.nan, "–"), (0, "0")]
)
def test_number_filter(value, text):
    assert report.fmt_num(value) == text


def test_interval_filter_hides_missing_interval():
    assert report.fmt_interval(Cell(1, math.nan, math.nan, 1, "num")) == ""
    assert report.fmt_interval(Cell(0.5, 0.4, 0.6, 3, "pct")) == "[40.0%, 60.0%]"
    assert report.fmt_cell(Cell(-0.043, -0.05, -0.03, 3, "pp")) == "-4.3 pp"
    assert report.fmt_interval(Cell(0.2, -0.1, 0.5, 3, "diff")) == "[-0.100, +0.500]"


def test_page_one_answers_the_question(ctx):
    assert ctx.matrix.columns[:3] == ["Less overfitting", "Higher test accuracy", "Simpler boundary"]
    assert [r.variant for r in ctx.matrix.rows] == ["l1", "l2", NASTY]
    l1 = dict(zip(ctx.matrix.columns, ctx.matrix.rows[0].cells))
    assert l1["Higher test accuracy"].verdict == "contradicted" and l1["Higher test accuracy"].effect.endswith("pp")
    assert dict(zip(ctx.matrix.columns, ctx.matrix.rows[1].cells))["Sparser network"] is None  # L2 makes no sparsity claim
    assert "Less init. dependence" not in ctx.matrix.columns  # no batch-norm variant, no column
    assert 3 <= len(ctx.headlines) <= 5 and any("contradicted for l1" in h for h in ctx.headlines)
    assert ctx.lead_figure.key == "boundaries"


def test_sections_follow_the_study_and_the_contents_are_built_from_them(ctx, html):
    ids = [s.id for s in ctx.sections]
    assert ids == ["setup", "overfitting", "regularizers", "weights", "calibration", "sweeps", "observations"]
    regs = next(s for s in ctx.sections if s.id == "regularizers").subsections
    assert [s.title for s in regs] == ["L1: l1", "L2: l2", f"Dropout: {NASTY}"]
    for s in ctx.sections + ctx.appendix + regs:
        assert f'href="#{s.id}"' in html and f'id="{s.id}"' in html
    assert "tied within uncertainty" in html


def test_a_missing_figure_fails_the_build():
    config, analysis, figures = hand_made_study()
    verdicts = evaluate_claims(analysis)
    without = [f for f in figures if f.key != "compare:l2"]
    with pytest.raises(arrange.MissingFigure, match="'compare:l2'"):
        arrange.build_context(analysis, verdicts, [], without, arrange.Shown("t", "", "now", [], "here", []), 1)


def test_tables_wider_than_a_page_are_split_keeping_every_row_and_column():
    from reportgen.arrange import PAGE_COLUMNS, _narrow
    from reportgen.context import Cell, Table

    cells = [Cell(float(i), float(i) - 1, float(i) + 1, 5, "num") for i in range(9)]
    wide = Table("Nine columns.", [f"m{i}" for i in range(9)], [("a", cells), ("b", cells[::-1])])
    parts = _narrow([wide])
    assert [len(p.columns) for p in parts] == [5, 4] and all(len(p.columns) <= PAGE_COLUMNS for p in parts)
    assert [c for p in parts for c in p.columns] == wide.columns
    assert [c.mean for p in parts for c in p.rows[1][1]] == [c.mean for c in cells[::-1]]
    assert parts[1].caption == "Nine columns. (part 2 of 2)" and _narrow([parts[1]]) == [parts[1]]


def test_every_link_in_the_report_has_exactly_one_target(html):
    """Page one's verdict cells lead to their claim's evidence: every '#' link names one id, and no id repeats."""
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    targets = set(re.findall(r'href="#([^"]+)"', html))
    assert targets - set(ids) == set()
    cells = re.findall(r'<td class="cell [^"]*"><a href="#(claim-[^"]+)"', html)
    assert len(cells) >= 6 and all(f'class="claim" id="{c}"' in html for c in cells)


def test_a_variant_name_wraps_after_its_separators_and_stays_escaped():
    from reportgen.report import breakable

    assert breakable("early_stopping") == "early_<wbr>stopping"
    assert breakable("l1+drop </b>") == "l1+<wbr>drop &lt;/<wbr>b&gt;"
