"""summary.md and `reportgen compare`'s markdown, parsed as GitHub would (markdown-it-py, CommonMark with GFM tables):
a hostile title, variant name, claim or path shows as written and changes nothing of the document's shape."""

import re

import pytest
from markdown_it import MarkdownIt

from reportgen import arrange, markdown, report
from reportgen.claims import evaluate_claims, observations
from reportgen.compare import render_markdown
from reportgen.config import portable, study_toml
from reportgen.figures import Figure, figure_specs
from tests.conftest import tiny_config
from tests.handmade import THRESHOLDS, _noise, hand_made
from tests.test_compare import VARIANTS, compare, results
from tests.test_report import PNG_1PX

# a carriage return that hid the summary in a code block, a table row, the end of the <details> block, a heading,
# a link, a remote image, a mention, an issue reference, HTML, an entity, a code span, emphasis, math, bare addresses
HOSTILE = (  # at most 200 characters, as titles are
    "x\r```\n| a | b |\n<details>\n</details>\n# H [a](https://e.example) ![i](https://e.example/i.png) @octocat #1 GH-2 "
    "<img src=x> &amp; `c` *e* __b__ ~~s~~ $x$ \\| www.e.example a@b.example\n1. item"
)
NAMES = ["a\r|b`c\n- d", "[x](https://e.x)@u #1", "![i](https://e.x/i.png)", "</details><b>&amp;"]  # at most 40 characters
BENIGN_NAMES = ["first", "second", "third", "fourth"]
MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9]")
REFERENCE = re.compile(r"(?<![\w&])#\d|\bGH-\d")
ADDRESS = re.compile(r"(?i)\b(?:https?://|www\.)|\w@\w")
PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
OURS = {"<details><summary>Every claim with its evidence</summary>", "</details>"}


def _summary(title: str, names: list[str]) -> str:
    config = tiny_config(
        title=title,
        variants=[{"name": "baseline"}, *({"name": n, "l1": 0.001 * (i + 1)} for i, n in enumerate(names))],
        sweeps={"l1": [0.001], "l2": [], "dropout": []},
        analysis={"sparsity_thresholds": THRESHOLDS},
    )
    analysis = hand_made({names[0]: {"test_accuracy": 0.8 + _noise(0, 0.01)}}, config)
    verdicts = evaluate_claims(analysis)
    shown = arrange.Shown(config.title, study_toml(portable(config)), "2026-01-01 00:00 UTC", [], "a machine", [])
    figures = [Figure(spec.key, spec.title, "A caption.", PNG_1PX, 16.0) for spec in figure_specs(analysis)]
    ctx = arrange.build_context(analysis, verdicts, observations(analysis, verdicts), figures, shown, 48)
    return report.render_summary(ctx)


def _blocks(tokens) -> list[str]:
    """The document's shape: every block token (headings, paragraphs, lists, tables and their rows and cells)."""
    return [f"{t.type}:{t.tag}" for t in tokens if t.type != "inline"]


def _inline(tokens):
    return [child for t in tokens if t.type == "inline" for child in t.children]


def _assert_harmless(text: str, benign: str, written: list[str]) -> None:
    """Parsed, text has the shape of benign, no link, image, code or HTML of its own, no mention, reference or address."""
    tokens, expected = PARSER.parse(text), PARSER.parse(benign)
    assert _blocks(tokens) == _blocks(expected)
    for t in tokens:
        assert t.type not in ("fence", "code_block") and (t.type != "html_block" or t.content.strip() in OURS)
    inline = _inline(tokens)
    kinds = {c.type for c in inline}
    assert not kinds & {"link_open", "image", "html_inline", "code_inline", "s_open"} - {c.type for c in _inline(expected)}
    plain = " ".join(c.content for c in inline if c.type == "text")  # GitHub links nothing inside code
    for pattern in (MENTION, REFERENCE, ADDRESS):
        assert not pattern.search(plain), pattern.search(plain)
    shown = " ".join(c.content for c in inline if c.type in ("text", "code_inline"))
    for string in written:  # each shows as written, its line breaks as spaces (and @, # followed by a zero-width space)
        visible = " ".join(string.split()).replace("@", "@" + markdown.ZWSP).replace("#", "#" + markdown.ZWSP)
        visible = re.sub(r"(?i)\b(https?|www|gh)(?=:|\.|-\d)", lambda m: m[1] + markdown.ZWSP, visible)
        assert visible in shown


def test_a_hostile_title_and_variant_names_leave_summary_md_as_it_was():
    text, benign = _summary(HOSTILE, NAMES), _summary("Title", BENIGN_NAMES)
    _assert_harmless(text, benign, [HOSTILE, *NAMES])
    tokens = PARSER.parse(text)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert len(headings) == 1 and headings[0].startswith("x ") and text.count("\n<details>") == 1
    details = [t.content.strip() for t in tokens if t.type == "html_block"]
    assert details == sorted(OURS, reverse=True)  # the block opens, then closes, once each
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == len([t for t in PARSER.parse(benign) if t.type == "tr_open"])


def test_a_hostile_name_leaves_compare_markdown_as_it_was():
    def pair(name: str, claim: str, old_name: str):
        old = results()
        new = results(variants={**VARIANTS, name: {"l2": 0.01}}, verdicts={"less_overfitting:l1": "supported"}, shift=None)
        new["claims"][1]["claim"] = claim
        new["study"]["variants"][1]["l1"] = 0.01  # a changed setting: listed by its key, with the variant's name
        new["study"]["variants"][1]["name"] = old["study"]["variants"][1]["name"]
        return render_markdown(compare(old, new, old_name=old_name))

    text, benign = pair(NAMES[1], HOSTILE, HOSTILE), pair("fourth", "A claim.", "main")
    _assert_harmless(text, benign, [HOSTILE])
    assert "`[x](https://e.x)@u #1`" in text  # a name shown as code, which nothing inside can leave


@pytest.mark.parametrize("name", ["`", "a`b", "``a", "a|b", "x\ny"])
def test_a_name_as_code_cannot_leave_its_code_span(name):
    cell = f"| {markdown.code(name, table=True)} | b |"
    tokens = PARSER.parse(f"| h | i |\n|---|---|\n{cell}\n")
    codes = [c.content for c in _inline(tokens) if c.type == "code_inline"]
    assert codes == [" ".join(name.split())] and sum(t.type == "td_open" for t in tokens) == 2
