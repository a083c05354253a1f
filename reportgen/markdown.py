"""Text that users wrote (a title, a variant, claim or file name), made safe for GitHub-flavoured Markdown.

summary.md and `reportgen compare`'s output are posted as pull-request comments, so a hostile or unlucky string must
show as written and start no markup: no line break (a carriage return opens a code block), no table cell, no link,
image, HTML, math, emphasis or code span, no @mention (which notifies people) and no #reference (which links an
issue). One function serves every writer of markdown: escape() for text, code() for names shown as code.
"""

from __future__ import annotations

import re

ZWSP = "\u200b"  # zero-width space: after @ or #, GitHub sees no mention and no issue reference (nor an e-mail address)
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}  # before the backslashes: an entity is no markup at all
_PUNCTUATION = "\\`*_~[]!|#$"  # CommonMark lets any ASCII punctuation be escaped with a backslash
_LEADING = re.compile(r"^(\d{1,9})([.)])(?= |$)|^([-+])(?!\d)")  # a list item or rule at the start of a line
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|www|gh)(?=:|\.|-\d)")  # GitHub links www.x, https://x and GH-1
_SPACE = re.compile(r"\s+")  # every line break (CR, LF, U+2028 ...) and tab: one space


def escape(text: object) -> str:
    """Text that renders as itself, on one line, inside a paragraph, heading, list item or table cell."""
    out = _SPACE.sub(" ", str(text)).strip()
    out = "".join(_ENTITIES.get(c, "\\" + c if c in _PUNCTUATION else c) for c in out)
    out = _LEADING.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", out)
    out = _AUTOLINK.sub(lambda m: m[1] + ZWSP, out)
    return out.replace("@", "@" + ZWSP).replace("\\#", "\\#" + ZWSP)


def code(text: object, table: bool = False) -> str:
    """Text as an inline code span (nothing inside one is markup): fenced by more backticks than it holds, on one
    line; table: inside a table cell, whose pipes GitHub splits on even in code (an escaped one it does not)."""
    out = _SPACE.sub(" ", str(text)).strip()
    if table:
        out = out.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", out)), default=0) + 1)
    pad = " " if out.startswith("`") or out.endswith("`") or not out.strip() else ""
    return f"{fence}{pad}{out}{pad}{fence}"
