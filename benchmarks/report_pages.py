"""How the PDF reads: page count, pages before the appendix, and how empty each page is.

    .venv/bin/python benchmarks/report_pages.py [OUTPUT_DIR]     # default: output/ (run `make report` first)

Renders report.pdf to images with pdftoppm (Debian: poppler-utils), measures on each page the share of the text
area below the last line of ink (the empty share), finds where the appendix starts from the PDF's text, and
prints one line per page and then a summary: pages, pages before the appendix, and the emptiest page that is not
the last of a section (a page whose next page starts a section by a forced break is allowed to be short).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from pypdf import PdfReader

DPI = 40
MARGIN_MM = (14, 16)  # top and bottom page margins of print.css, the footer inside the bottom one


def blank_shares(pdf: Path) -> list[float]:
    """Share of each page's text area below its last ink (0: full, 1: empty)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["pdftoppm", "-gray", "-r", str(DPI), str(pdf), f"{tmp}/p"], check=True)
        pages = sorted(Path(tmp).glob("p-*.pgm"), key=lambda p: int(p.stem.split("-")[1]))
        out = []
        for page in pages:
            ink = np.asarray(Image.open(page)) < 200
            h = ink.shape[0]
            top, bottom = (round(mm / 297 * h) for mm in MARGIN_MM)
            rows = np.nonzero(ink[top : h - bottom].any(axis=1))[0]
            used = (rows.max() + 1) if rows.size else 0
            out.append(1 - used / (h - top - bottom))
        return out


def appendix_page(pdf: Path) -> int | None:
    """The first page (1-based) whose text starts an appendix."""
    for i, page in enumerate(PdfReader(pdf).pages, 1):
        if "Appendix A" in (page.extract_text() or "")[:200]:
            return i
    return None


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("output")
    pdf = out / "report.pdf"
    if not pdf.is_file():
        sys.exit(f"{pdf}: no such file (run `make report` first, or name the output folder)")
    if shutil.which("pdftoppm") is None:
        sys.exit("pdftoppm not found: install poppler-utils (Debian: apt-get install poppler-utils)")
    shares = blank_shares(pdf)
    appendix = appendix_page(pdf) or len(shares) + 1
    before = appendix - 1
    for i, s in enumerate(shares, 1):
        print(f"page {i:2d}: {s:5.1%} empty{'  (appendix)' if i >= appendix else ''}")
    # The page before the appendix and the last page end a section; every other page should be at most a third empty.
    inner = [(s, i) for i, s in enumerate(shares[: before - 1], 1)]
    worst, at = max(inner) if inner else (0.0, 0)
    print(
        f"pages: {len(shares)}, before the appendix: {before}, emptiest page before the appendix (not its last): "
        f"page {at}, {worst:.0%} empty"
    )


if __name__ == "__main__":
    main()
