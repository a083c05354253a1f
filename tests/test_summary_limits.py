"""summary.md stays under GitHub's comment limit for a study of any size (hand-made context, no training)."""

import re
from dataclasses import replace

import pytest

from reportgen import report
from tests.test_report import hand_made_context

POINTER = re.compile(r"\n\n… ([\d,]+) more rows?: see report\.html\n")


@pytest.fixture(scope="module")
def small():
    return hand_made_context()


@pytest.fixture(scope="module")
def large(small):
    """The hand-made context grown to 300 variants with 40-character names, 1,500 claims, 6,000 failed runs (two
    lines per variant: its own runs and its second initialization's)."""
    names = [f"v{i:03d} a long variant name | <b>bold</b> xxxxxxxx"[:40] for i in range(300)]
    row, (_, cells) = small.matrix.rows[0], small.results.rows[0]
    claims = [replace(c, key=f"{c.key}:{n}", claim=f"{n}: {c.claim}") for n in names for c in small.claims[1:6]]
    headline = "“Reduces overfitting”: inconclusive for " + ", ".join(f"{n} (-1.0 pp)" for n in names) + "."
    return replace(
        small,
        intro=small.intro + " And with " + ", ".join(names) + ".",
        headlines=[headline] * 5,
        matrix=replace(small.matrix, rows=[replace(row, variant=n) for n in names]),
        claims=claims,
        results=replace(small.results, rows=[(n, cells) for n in names]),
        failed=[f"{n}{init}: 10 of 10 replicates: diverged (10, epoch 3)" for n in names for init in ("", " (initialization 2)")],
        n_failed=6000,
    )


def _table_rows(text: str, first: str) -> int:
    """Rows of the markdown table whose header starts with `first`."""
    block = text[text.index(f"| {first} |") :].split("\n\n")[0]
    return len(block.splitlines()) - 2


def test_a_large_study_is_cut_under_the_comment_limit_with_pointers(large):
    assert len(report.render_summary(large, limit=10**9)) > 10 * report.GITHUB_COMMENT_LIMIT  # really too large uncut
    text = report.render_summary(large)
    assert len(text) < report.SUMMARY_LIMIT < report.GITHUB_COMMENT_LIMIT
    left_out = [int(n.replace(",", "")) for n in POINTER.findall(text)]
    assert len(left_out) == 3  # the claims, results and matrix tables, each cut with its pointer after a blank line
    matrix, claims, results = left_out
    assert _table_rows(text, "Regularizer") + matrix == 300 and _table_rows(text, "Variant") + results == 300
    assert _table_rows(text, "Claim") + claims == 1500
    assert _table_rows(text, "Regularizer") > 100  # the matrix, what a reviewer reads, keeps the most rows


def test_long_text_and_the_list_of_failed_runs_are_clipped(large):
    text = report.render_summary(large)
    headlines = [line for line in text.splitlines() if line.startswith("- “Reduces overfitting”")]
    # clipped before markdown escaping, which turns '<' into '&lt;': a little longer than TEXT_LIMIT, never unbounded
    assert len(headlines) == 5 and all(len(h) < 1.5 * report.TEXT_LIMIT and h.endswith("… (see report.html)") for h in headlines)
    assert "**Warning: 6000 runs failed**" in text and "… 580 more (see report.html)." in text


@pytest.mark.parametrize("limit", [20_000, 30_000])
def test_any_limit_is_kept(large, limit):
    assert len(report.render_summary(large, limit=limit)) < limit


def test_a_small_study_is_not_cut(small):
    text = report.render_summary(small)
    assert "more row" not in text and "see report.html" not in text
    assert _table_rows(text, "Claim") == len(small.claims)
