"""Rendering from hand-made results (no training): golden output, escaping, self-containment, the template contract.

Regenerate the golden files after an intended change with:  REPORTGEN_REGENERATE=1 .venv/bin/python -m pytest tests/test_report.py
"""

import dataclasses
import io
import math
import os
import re
from pathlib import Path

import pytest

from reportgen import report
from reportgen.report import Cell, ClaimRow, FigureRef, FindingRow, ReportContext, Table

GOLDEN = Path(__file__).parent / "golden"


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (40, 90, 200)).save(buf, format="PNG")
    return buf.getvalue()


PNG_1PX = _png()
NASTY = 'evil <script>alert("x")</script> | pipe'


def hand_made_context(**changes) -> ReportContext:
    cells = [Cell(0.9312, 0.92, 0.94, 3, "pct"), Cell(0.0123, math.nan, math.nan, 1, "num"), Cell(412, 400, 424, 3, "int")]
    ctx = ReportContext(
        title=f"Study {NASTY}", generated="2026-01-01 00:00 UTC", version="0.0.0", n_seeds=3, seeds=[0, 1, 2],
        confidence=0.95, ci_method="t interval", paired_method="paired t-test",
        dataset={"n_train": 80, "n_val": 20, "n_test": 2000, "noise": 0.25, "seed": 42, "resample": True},
        variants=[("baseline", "no regularization"), (NASTY, "L1 0.001")],
        training={"hidden": "128 → 128", "epochs": 500, "batch_size": 32, "learning_rate": 0.01, "engine": "fast"},
        tables=[Table("Accuracy.", ["Test accuracy", "Loss", "Epochs"], [("baseline", cells), (NASTY, cells)])],
        layer_table=Table("Layers.", ["|w| < 0.001"], [("baseline · layer 1", cells[:1])]),
        claims=[ClaimRow("l1 (L1 0.001) gives a simpler boundary.", "notebook, Observations 2", "contour length", "inconclusive",
                         "l1: 4.2 vs 4.5 (CI -1 to 0.4).", 0.21, 0.84, 3, 48, "",
                         [FindingRow("l1", "contour pieces", "no meaningful effect", "pieces: 1.1 vs 1.2.")]),
                ClaimRow(f"{NASTY} improves generalization.", "notebook", "test accuracy", "contradicted",
                         "89% vs 91%.", 0.001, 0.004, 3, None, "", [])],
        checks=[FindingRow("l1", "share |w| < 0.01", "supported", "99% vs 4%.")],
        verdict_counts={"supported": 0, "contradicted": 1, "no meaningful effect": 0, "inconclusive": 1},
        design="Intervals cover what differs between the 3 replicates: the data draw and the initial weights.",
        rules="A claim is supported when its primary test survives Holm's correction.",
        diverged=["l1/seed2 (epoch 7)"],
        observations=[f"{NASTY} has the highest test accuracy (93.1%)."],
        figures={k: FigureRef(k, f"Figure {k}", f"Caption of {k}.", PNG_1PX, 16.0)
                 for k in ("dataset", "boundaries", "loss_curves", "weights_box")},
        study_toml='title = "x"\n', libraries=[("numpy", "1.0")], machine="Linux x86_64, 2 CPU cores",
        timings=[("training", 1.5)], n_runs=6,
    )
    return dataclasses.replace(ctx, **changes)


def _check_golden(name: str, text: str):
    path = GOLDEN / name
    if os.environ.get("REPORTGEN_REGENERATE"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; regenerate if intended (see module docstring)"


def test_html_matches_golden():
    _check_golden("report.html", report.render_html(hand_made_context()))


def test_summary_matches_golden():
    _check_golden("summary.md", report.render_summary(hand_made_context()))


def test_study_text_is_escaped_everywhere():
    html = report.render_html(hand_made_context())
    assert "<script>" not in html and "&lt;script&gt;" in html
    md = report.render_summary(hand_made_context())
    assert "<script>" not in md and "\\| pipe" in md


def test_html_is_self_contained():
    html = report.render_html(hand_made_context())
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    assert "http://" not in html and "https://" not in html
    assert html.count('src="data:image/png;base64,') == 4


def test_pdf_renders_and_fetches_nothing():
    from pypdf import PdfReader

    pdf = report.render_pdf(report.render_html(hand_made_context()))
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert len(reader.pages) >= 2 and "baseline" in text and "Page 1 of" in text
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x.png"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            report.url_fetcher().fetch(url)


def test_every_context_field_has_help_text():
    for cls in (ReportContext, Cell, Table, ClaimRow, FigureRef):
        for f in dataclasses.fields(cls):
            assert len(f.metadata.get("help", "")) > 5, f"{cls.__name__}.{f.name} needs help text"


def test_templates_use_only_context_fields():
    names = {f.name for f in dataclasses.fields(ReportContext)}
    used = set()
    for path in report.TEMPLATES.rglob("*"):
        if path.is_file():
            used |= set(re.findall(r"ctx\.(\w+)", path.read_text()))
    assert used <= names, used - names


@pytest.mark.parametrize("value, text", [(0.93123, "0.931"), (1234.5, "1,234"), (0.000123, "0.000123"), (math.nan, "–"), (0, "0")])
def test_number_filter(value, text):
    assert report.fmt_num(value) == text


def test_interval_filter_hides_missing_interval():
    assert report.fmt_interval(Cell(1, math.nan, math.nan, 1, "num")) == ""
    assert report.fmt_interval(Cell(0.5, 0.4, 0.6, 3, "pct")) == "[40.0%, 60.0%]"
