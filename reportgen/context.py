"""The template contract: every object templates may read, each field with help text (a test enforces it).

Templates only branch, loop, include and apply filters; everything they show is arranged here, in reading order.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _help(text: str, **kw):
    return field(metadata={"help": text}, **kw)


@dataclass(frozen=True)
class Cell:
    """One summarised number: mean and interval over replicates."""

    mean: float = _help("Mean over replicates.")
    low: float = _help("Lower end of the confidence interval (NaN with one replicate).")
    high: float = _help("Upper end of the confidence interval (NaN with one replicate).")
    n: int = _help("Number of replicates behind the mean.")
    kind: str = _help("How to format it: 'pct' (share shown as percent), 'pp' (difference of shares), 'num' or 'int'.")


@dataclass(frozen=True)
class Table:
    """A table of rows by columns of summarised numbers."""

    caption: str = _help("What the table shows.")
    columns: list[str] = _help("Column headings after the row name.")
    rows: list[tuple[str, list[Cell]]] = _help("Row name and one cell per column.")
    inline: bool = _help(
        "Whether intervals follow their values on the same line (narrow tables) instead of below.", default=False
    )
    sortable: bool = _help(
        "Whether its rows are items a reader may rank by a column (variants, not metrics): a click on a heading sorts.",
        default=False,
    )
    fold: bool = _help("Whether it is long enough to fold on screen behind its caption (print shows it).", default=False)
    kind: str = _help("Block kind for templates: 'table'.", default="table")


@dataclass(frozen=True)
class Figure:
    """One drawn figure, as reportgen.figures makes it (arrange turns it into a FigureRef with alternative text)."""

    key: str = _help("Stable id of the figure (figures.figure_specs).")
    title: str = _help("Heading.")
    caption: str = _help("What the figure shows, written from the data it was drawn from.")
    png: bytes = _help("The image's PNG bytes.")
    width_cm: float = _help("Display width.")


@dataclass(frozen=True)
class FigureRef:
    """A figure embedded in the report."""

    key: str = _help("Stable id, also the HTML anchor.")
    title: str = _help("Heading.")
    caption: str = _help("What the figure shows and how to read it.")
    alt: str = _help("Alternative text: what the image shows, for readers who cannot see it.")
    png: bytes = _help("The image, embedded as a data URI.")
    width_cm: float = _help("Display width.")
    kind: str = _help("Block kind for templates: 'figure'.", default="figure")


SNAPSHOT_PREFIX = "snapshots@"  # figure keys of the frames of training: snapshots@10, ..., snapshots@end (one film)


@dataclass(frozen=True)
class FilmFrame:
    """One frame of a film: a figure of one moment, shown in turn with the others."""

    label: str = _help("The moment it shows, as the slider names it, e.g. 'after 10 epochs'.")
    alt: str = _help("Alternative text: what the image shows, for readers who cannot see it.")
    png: bytes = _help("The image, embedded once as a data URI.")
    width_cm: float = _help("Display width.")
    still: bool = _help("Whether print keeps it: a printed report shows the still frames one under another.")


@dataclass(frozen=True)
class Film:
    """Frames of one figure over time (training you can watch): a slider on screen, the still frames in print."""

    key: str = _help("Stable id, also the HTML anchor.")
    title: str = _help("Heading.")
    caption: str = _help("What the frames show and how to read them.")
    frames: list[FilmFrame] = _help("The frames, in order of time.")
    kind: str = _help("Block kind for templates: 'film'.", default="film")


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

    key: str = _help("Stable id of the claim (registry key and variant), also the HTML anchor.")
    claim: str = _help("The claim in words, naming the variant it is about.")
    source: str = _help("Where the seed study makes the claim.")
    measure: str = _help("The primary measurement, chosen before looking.")
    verdict: str = _help("The verdict of the primary measurement after Holm's correction.")
    sentence: str = _help("The numbers behind the verdict, in one sentence.")
    effect: str = _help("The primary effect in a few characters, e.g. '-4.3 pp' or '-15%'.")
    p_raw: float = _help("The primary test's p-value before correction.")
    p_adjusted: float = _help("The primary test's Holm-adjusted p-value, which the verdict uses.")
    n: int = _help("Replicates behind the primary measurement.")
    needed: int | None = _help("For an inconclusive claim: about how many replicates would detect the effect seen.")
    note: str = _help("What was compared, when it needs saying (for example the strengths matched).")
    secondary: list[FindingRow] = _help("Other measurements of the same claim (Benjamini-Hochberg family).")
    flip: float = _help(
        "Probability that an independent rerun of the design gives another verdict (NaN: not estimated).", default=float("nan")
    )
    borderline: bool = _help("Whether that probability is above 10%: the verdict is marked, not changed.", default=False)
    stability: str = _help(
        "The flip probability in words, and for a borderline verdict the replicates that would make it firm.", default=""
    )


@dataclass(frozen=True)
class MatrixRow:
    """One regularized variant in the verdict matrix."""

    variant: str = _help("Variant name.")
    description: str = _help("Its regularizers in words.")
    cells: list[ClaimRow | None] = _help("One claim per matrix column (None: the claim does not apply).")


@dataclass(frozen=True)
class VerdictMatrix:
    """Regularizers (rows) by the properties the seed study claims for them (columns)."""

    columns: list[str] = _help("Short names of the claimed properties.")
    rows: list[MatrixRow] = _help("One row per regularized variant.")
    others: list[ClaimRow] = _help("Claims outside the matrix (about the baseline, or comparing sweeps).")


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text computed for this build."""

    text: str = _help("The text (escaped like all study text).")
    kind: str = _help("Block kind for templates: 'paragraph'.", default="paragraph")


@dataclass(frozen=True)
class Bullets:
    """A list of sentences computed for this build."""

    items: list[str] = _help("The sentences.")
    kind: str = _help("Block kind for templates: 'bullets'.", default="bullets")


@dataclass(frozen=True)
class Claims:
    """A list of claims with their verdicts and secondary findings."""

    claims: list[ClaimRow] = _help("The claims, in registry order.")
    secondary: bool = _help(
        "Whether to list each claim's secondary findings (the appendix does; the body does not).", default=True
    )
    anchored: frozenset[str] = _help(
        "Keys of the claims whose HTML anchor (claim-KEY, what page one links to) is here: a claim shown twice is "
        "anchored where it appears first.",
        default=frozenset(),
    )
    kind: str = _help("Block kind for templates: 'claims'.", default="claims")


@dataclass(frozen=True)
class Findings:
    """A list of findings (sanity checks) with their verdicts."""

    findings: list[FindingRow] = _help("The findings.")
    kind: str = _help("Block kind for templates: 'findings'.", default="findings")


@dataclass(frozen=True)
class Pairs:
    """A two-column table of names and values (settings, versions, timings)."""

    caption: str = _help("What the table lists.")
    rows: list[tuple[str, str]] = _help("Name and formatted value.")
    kind: str = _help("Block kind for templates: 'pairs'.", default="pairs")


@dataclass(frozen=True)
class Preformatted:
    """Text shown as written (the resolved study file)."""

    text: str = _help("The text.")
    kind: str = _help("Block kind for templates: 'pre'.", default="pre")


@dataclass(frozen=True)
class Section:
    """A section of the report: a heading and its blocks, in reading order."""

    id: str = _help("HTML anchor and PDF bookmark target.")
    title: str = _help("Heading.")
    blocks: list = _help("Paragraph, Bullets, Claims, Findings, Table, Pairs, FigureRef, Film or Preformatted blocks.")
    subsections: list[Section] = _help("Sections under this one.", default_factory=list)
    fold: bool = _help("Whether it folds on screen behind its heading (the appendices; print shows it).", default=False)


@dataclass(frozen=True)
class ReportContext:
    """Everything the templates may use; each field carries help text (tests enforce it)."""

    title: str = _help("Report title from the study file (escaped like all study text).")
    generated: str = _help("Build time, from SOURCE_DATE_EPOCH when set, in UTC.")
    version: str = _help("reportgen version.")
    n_runs: int = _help("Models trained in this build (variants, sweep points and twins, times replicates).")
    n_seeds: int = _help("Replicates per variant.")
    intro: str = _help("One paragraph: what was trained on what, and how often.")
    matrix: VerdictMatrix = _help("Page one's verdict matrix.")
    headlines: list[str] = _help("Three to five findings written from this build's numbers.")
    lead_figure: FigureRef | None = _help("The figure on page one (decision boundaries).")
    verdict_counts: dict = _help("How many claims got each verdict.")
    design: str = _help("One sentence: what differs between replicates, so what every interval covers.")
    rules: str = _help("How a verdict is reached, with the corrections used.")
    failed: list[str] = _help(
        "Failed runs (diverged, no lower training loss than at initialization, or one class on all "
        "test points), one line per variant and initialization with counts and reasons; they are "
        "left out of every interval and verdict."
    )
    n_failed: int = _help("How many runs of the variants (and their data-sweep points and twins) failed in all.")
    sweep_failed: list[str] = _help(
        "Strength-sweep points with failed runs (a strength too strong to train), one line "
        "each: left out of the sweep choices and the L1-L2 match, not of any verdict's "
        "variants."
    )
    sections: list[Section] = _help("The body, in reading order; the table of contents is built from it.")
    appendix: list[Section] = _help("Full statistics, tables and reproducibility, after the body.")
    claims: list[ClaimRow] = _help("Every claim, in registry order (for summary.md).")
    results: Table = _help("The main results table (for summary.md).")
    stability: str = _help("How each verdict's flip probability is estimated, and what 'borderline' means.", default="")
    borderline: list[str] = _help(
        "Page one's note on the borderline verdicts: claim, flip probability, replicates to make it firm.", default_factory=list
    )
    source: str = _help(
        "The table of runs trained elsewhere that this report judges (reportgen judge); empty when the build trained them.",
        default="",
    )
    not_judged: str = _help(
        "For a table of runs: one sentence naming the claims not judged because the table lacks their primary measure.",
        default="",
    )
