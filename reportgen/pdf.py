"""The PDF: WeasyPrint lays out the report's HTML, fetching nothing but the figures embedded in it.

A module of its own, importing nothing of reportgen's analysis: the helper process (reportgen.helper) that lays out
the PDF loads only this and WeasyPrint, so it is ready within about a second of a build's start.
"""

from __future__ import annotations

import base64
import contextlib
import io
import re


def url_fetcher(figures: dict[str, bytes] | None = None):
    """WeasyPrint fetcher that allows only the embedded data: URIs and the named figures given: no file:, no network."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class Fetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if figures and url in figures:
                return URLFetcherResponse(url, figures[url], {"Content-Type": "image/png"})
            return super().fetch(url, headers)

    return Fetcher(allowed_protocols={"data"}, fail_on_errors=True)


FIGURE_SCHEME = "reportgen-figure"
_EMBEDDED = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def render_pdf(html: str) -> bytes:
    """Render the HTML report to a tagged PDF (PDF/UA-1) with WeasyPrint, fetching nothing but embedded figures.

    The tags give a screen reader the document's language and title (from <html lang> and <title>), its structure
    (headings, paragraphs, lists, tables with their header cells) and every figure's alternative text (its alt).
    WeasyPrint is handed the figures by name (reportgen-figure:N, served from memory by the fetcher) rather than as
    their base64 text: its HTML tokenizer took 0.3 s to read 2 MB of data URIs character by character."""
    import logging

    from weasyprint import HTML

    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    figures: dict[str, bytes] = {}

    def by_name(match: re.Match) -> str:
        name = f"{FIGURE_SCHEME}:{len(figures)}"
        figures[name] = base64.b64decode(match[1])
        return f'src="{name}"'

    def layout(text: str):
        return HTML(string=text, url_fetcher=url_fetcher(figures), base_url=None).render(pdf_variant="pdf/ua-1")

    light = _EMBEDDED.sub(by_name, html)
    with _png_pass_through():
        document = layout(light)
        if _page_of(document, CONTENTS) > 1 and light.count(PAGE_ONE) == 1:
            document = layout(light.replace(PAGE_ONE, PAGE_ONE_SPILLS))
        return document.write_pdf(pdf_variant="pdf/ua-1")


# Page one ends with a page break, so that the contents start a page. When page one is too long for its page (its lead
# figure goes on to a second page), the break would leave that page nearly empty: the report is laid out again with
# the break removed, so that the contents follow the figure (print.css, .page-one.spills). Only then: a second layout.
PAGE_ONE = 'class="page-one"'
PAGE_ONE_SPILLS = 'class="page-one spills"'
CONTENTS = "contents"  # the id of the contents (report.html)


def _page_of(document, anchor: str) -> int:
    """The index of the first page of a laid-out document holding an anchor (-1 when none does)."""
    return next((i for i, page in enumerate(document.pages) if anchor in page.anchors), -1)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_idat(png: bytes) -> bytes | None:
    """The compressed pixel data (the IDAT chunks joined) of an 8-bit, non-interlaced RGB PNG, or None for any other
    PNG. Those bytes are already what a PDF image stream holds: Flate data with PNG row filters (predictor 15)."""
    if png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR" or len(png) < 33:
        return None
    depth, colour, interlace = png[24], png[25], png[28]
    if (depth, colour, interlace) != (8, 2, 0):
        return None
    out, at = [], 8
    while at + 8 <= len(png):
        size, kind = int.from_bytes(png[at : at + 4], "big"), png[at + 4 : at + 8]
        if kind == b"IDAT":
            out.append(png[at + 8 : at + 8 + size])
        at += 12 + size
    return b"".join(out) or None


@contextlib.contextmanager
def _png_pass_through():
    """Let WeasyPrint embed our figures' pixel data as it is. For every PNG it decodes the image and encodes it again
    with Pillow's defaults only to take that new file's IDAT chunks (0.4 s for the default report); our figures are
    written with the same defaults (figures.common.to_png), so their own IDAT chunks are the same bytes and the PDF is
    unchanged (tests/test_report.py). Any other image, or a WeasyPrint without this hook, takes WeasyPrint's path."""
    try:
        from weasyprint.images import RasterImage
    except ImportError:
        yield
        return
    original = RasterImage.__dict__.get("_get_png_data")
    if not isinstance(original, staticmethod):
        yield
        return

    def get_png_data(image):
        fp = getattr(image, "fp", None)
        if getattr(image, "format", None) == "PNG" and isinstance(fp, io.BytesIO):
            idat = png_idat(fp.getvalue())
            if idat is not None:
                return idat
        return original.__func__(image)

    RasterImage._get_png_data = staticmethod(get_png_data)
    try:
        yield
    finally:
        RasterImage._get_png_data = original
