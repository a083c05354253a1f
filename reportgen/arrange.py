"""Arrange a build's analysis, verdicts and figures into the typed report context, in reading order.

Nothing here computes a statistic: numbers come from analysis and claims; this module chooses what goes where.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from reportgen import __version__
from reportgen.analysis import StudyAnalysis, failure_lines, summarise
from reportgen.claims import (
    CONTRADICTED,
    INCONCLUSIVE,
    NO_EFFECT,
    REGISTRY,
    SUPPORTED,
    ClaimResult,
    Finding,
    Observation,
    Seen,
    Verdicts,
    available,
    formatters,
    missing_sentence,
    not_judged,
    stability_text,
)
from reportgen.config import capacity_shapes, shape_name, width
from reportgen.context import (
    SNAPSHOT_PREFIX,
    Bullets,
    Cell,
    ClaimRow,
    Claims,
    FigureRef,
    Film,
    FilmFrame,
    FindingRow,
    Findings,
    MatrixRow,
    Pairs,
    Paragraph,
    Preformatted,
    ReportContext,
    Section,
    Table,
    VerdictMatrix,
)
from reportgen.datasets import Generated
from reportgen.datasets.classification import Classification
from reportgen.errors import ReportgenError
from reportgen.metrics import METRICS, table_columns
from reportgen.metrics import metric as metric_record
from reportgen.plan import still_epochs
from reportgen.regularizers import regularizer
from reportgen.report import anchor
from reportgen.results import stage_times

MATRIX = tuple((d.key, d.column) for d in REGISTRY if d.column)  # page one's columns: claim key and title
HEADLINE_ORDER = tuple(d.key for d in sorted(REGISTRY, key=lambda d: d.headline))


def _kind(key: str) -> str:
    return metric_record(key).kind


def _label(key: str) -> str:
    return metric_record(key).label


class MissingFigure(ReportgenError):
    """A section needs a figure that the figure stage did not draw (a bug, never a user's error)."""


def effect_text(f: Finding) -> str:
    """The effect of a finding in a few characters: '-4.3 pp', '-15%', '×0.52' or a value."""
    e = f.test.effect
    if not math.isfinite(e.mean):
        return "n/a"
    if f.measure.statistic == "value":
        return formatters(f.metric)[0](e.mean)
    if f.measure.statistic == "slope":
        return formatters(f.metric)[1](e.mean) + " per doubling"
    if f.test.kind == "ratio" or _kind(f.metric) == "pct" or f.measure.statistic == "disagreement":
        return formatters(f.metric if f.measure.statistic != "disagreement" else "test_accuracy", f.test.kind)[1](e.mean)
    ref = f.reference_value
    return f"{e.mean / abs(ref):+.0%}" if ref and math.isfinite(ref) else formatters(f.metric)[1](e.mean)


def _finding_row(f: Finding) -> FindingRow:
    return FindingRow(f.variant or "", f.measure.how, f.verdict, f.sentence)


def claim_row(c: ClaimResult) -> ClaimRow:
    """A claim as the report shows it."""
    p = c.primary
    return ClaimRow(
        c.key,
        c.text,
        c.definition.source,
        p.measure.how,
        p.verdict,
        p.sentence,
        effect_text(p),
        p.test.p_value,
        p.p_adjusted,
        p.test.effect.n,
        p.needed,
        c.note,
        [_finding_row(f) for f in c.secondary],
        c.flip,
        c.borderline,
        stability_text(c),
    )


# ---- page one ---------------------------------------------------------------------------------------------------


def data_phrase(setup, info) -> str:
    """Name the data with its sizes, e.g. 'make_moons (100 points, noise 0.25: 80 to train, 20 to validate, 2000 to test)'."""
    d = setup.data
    splits = f"{info.n_train} to train, {info.n_val} to validate, {info.n_test} to test"
    classes = f"{info.n_classes} classes, " if info.n_classes != 2 or not d.generated else ""
    if isinstance(d, Classification):
        return (
            f"make_classification ({info.n_features} features, {classes}{d.n_samples} points, {d.noise:g} of labels "
            f"at random: {splits})"
        )
    if isinstance(d, Generated):
        return f"{info.title} ({classes}{d.n_samples} points, noise {d.noise:g}: {splits})"
    rows = info.n_train + info.n_val + info.n_test
    return f"{info.title} ({rows} rows, {info.n_features} features, {classes.rstrip(', ')}: {splits})"


def _data_sweep_phrase(analysis: StudyAnalysis) -> str:
    """Name the data and capacity sweeps, e.g. 'every variant again at 5 training-set sizes (40 to 640 training
    points)' or '... at 4 network widths (16×16 to 256×256 hidden units)'."""
    d, parts = analysis.data_sweeps, []
    for axis in analysis.setup.sweeps.axes():
        part = d[d["axis"] == axis] if not d.empty else d
        if part.empty:
            continue
        if axis == "n_samples":
            parts.append(
                f"{part['setting'].nunique()} training-set sizes ({part['n_train'].min()} to {part['n_train'].max()} "
                "training points)"
            )
        elif axis == "noise":
            parts.append(f"{part['setting'].nunique()} noise levels ({part['setting'].min():g} to {part['setting'].max():g})")
        else:
            low, high = (_shape_at(analysis, part["setting"].agg(end)) for end in ("min", "max"))
            n = part["setting"].nunique()
            parts.append(f"{n} network widths ({low} to {high} hidden units)" if n > 1 else f"one network width ({low})")
    return f", and every variant again at {' and at '.join(parts)}" if parts else ""


def _shape_at(analysis: StudyAnalysis, setting: float) -> str:
    """The network shape of a width of the capacity sweep (the study's own among them), e.g. '64×64'."""
    setup = analysis.setup
    shapes = {width(h): shape_name(h) for h in capacity_shapes(setup.model, setup.sweeps)}
    return shapes.get(setting, f"width {setting:g}")


def intro(analysis: StudyAnalysis, n_runs: int) -> str:
    """Say what was trained, on what, and how often."""
    if analysis.design.source:
        return judged_intro(analysis, n_runs)
    setup = analysis.setup
    d, m, t = setup.data, setup.model, setup.training
    regs = [v.name for v in setup.variants if v.regularizers()]
    sweeps = list(setup.sweeps.strengths())
    data = data_phrase(setup, analysis.data)
    own = "data and initial weights" if d.generated else "stratified split of the rows and its own initial weights"
    reps = (
        f"{len(analysis.seeds)} replicates, each drawing its own {own}"
        if d.resample
        else f"{len(analysis.seeds)} replicates on one fixed draw of the data, each with its own initial weights"
    )
    network = (
        f"a {len(m.hidden_units)}-hidden-layer network ({' → '.join(str(u) for u in m.hidden_units)} "
        f"{m.activation_name()} units, "
        if m.factory is None
        else f"the network of model.factory {m.factory} ("
    )
    text = (
        f"{n_runs:,} networks were trained on {data}: {network}"
        + (f"Adam at {m.learning_rate:g}" if m.optimizer == "adam" else m.optimizer_phrase())
        + f", {t.epochs} epochs, "
        f"batches of {t.batch_size})"
    )
    text += f" without regularization ({analysis.reference})" if analysis.reference else ""
    text += f" and with {', '.join(regs)}" if regs else ""
    text += f", plus strength sweeps of {', '.join(sweeps)}" if sweeps else ""
    text += _data_sweep_phrase(analysis)
    return text + f"; {reps}. Every claim of the seed study is tested against the unregularized network."


def given_labels(analysis: StudyAnalysis) -> list[str]:
    """The names of the measures a judged table of runs gave (in the order of the results tables)."""
    measured = set(analysis.summary["metric"]) if len(analysis.summary) else set()
    order = [m for _, metrics in table_columns(analysis.thresholds) for m in metrics]
    order += [m for m in METRICS if m not in order]
    return [_label(m)[0].lower() + _label(m)[1:] for m in order if m in measured]  # mid-sentence: 'test accuracy'


def judged_intro(analysis: StudyAnalysis, n_runs: int) -> str:
    """Say which runs trained elsewhere were judged, and what the table gave of them (reportgen judge)."""
    setup, ref = analysis.setup, analysis.reference
    regs = [f"{v.name} ({v.label or v.describe()})" for v in setup.variants if v.regularizers()]
    counts = analysis.runs.groupby("variant").size()
    complete = counts.nunique() == 1 and counts.iloc[0] == len(analysis.seeds)
    shape = f"{len(analysis.variants)} variants × {len(analysis.seeds)} replicates" + ("" if complete else ", not all complete")
    measures = given_labels(analysis)
    text = (
        f"{n_runs:,} runs trained outside reportgen were read from the table {analysis.design.source} ({shape}), with "
        f"these measures per run: {_join(measures) if measures else 'none'}. What each variant does comes from the study file"
    )
    text += f": {ref} has no regularizer (the baseline)" if ref else ""
    text += f", {_join(regs)}" if regs else ""
    return text + ". Every claim whose measures the table has is tested against the baseline, as a build's would be."


def verdict_matrix(verdicts: Verdicts, variants) -> VerdictMatrix:
    """Rows: regularized variants; columns: the properties claimed; cells: the claims' verdicts."""
    by_key = {c.key: claim_row(c) for c in verdicts.claims}
    used = [(k, title) for k, title in MATRIX if any(c.definition.key == k for c in verdicts.claims)]
    rows = [
        MatrixRow(v.name, v.label or v.describe(), [by_key.get(f"{k}:{v.name}") for k, _ in used])
        for v in variants
        if any(c.variant == v.name and c.definition.key in dict(MATRIX) for c in verdicts.claims)
    ]
    others = [by_key[c.key] for c in verdicts.claims if c.definition.key not in dict(MATRIX)]
    return VerdictMatrix([title for _, title in used], rows, others)


def _headline(claims: list[ClaimResult]) -> str:
    """One sentence per claim: its verdict for each variant, with the effect, never more than the verdict says."""
    first = claims[0]
    if first.definition.subject in ("reference", "sweeps"):
        return (
            f"{first.text.rstrip('.')}: {first.verdict} ({effect_text(first.primary)}, {first.primary.test.effect.n} replicates"
            f"{', borderline' if first.borderline else ''})."
        )
    statement = first.definition.statement.replace("{who} ", "").rstrip(".")
    parts = []
    for verdict in (SUPPORTED, CONTRADICTED, NO_EFFECT, INCONCLUSIVE):
        named = [
            f"{c.variant} ({effect_text(c.primary)}{', borderline' if c.borderline else ''})"
            for c in claims
            if c.verdict == verdict
        ]
        if named:
            parts.append(f"{verdict} for {', '.join(named)}")
    return f"“{statement[0].upper() + statement[1:]}”: {'; '.join(parts)}."


def headlines(verdicts: Verdicts, limit: int = 5) -> list[str]:
    """Up to five findings: every contradicted claim first, then the notebook's main claims, in the notebook's order."""
    groups: dict[str, list[ClaimResult]] = {}
    for c in verdicts.claims:
        groups.setdefault(c.definition.key, []).append(c)
    order = [k for k in HEADLINE_ORDER if k in groups]
    chosen = {k for k in order if any(c.verdict == CONTRADICTED for c in groups[k])}
    for k in order:
        if len(chosen) >= limit:
            break
        chosen.add(k)
    return [_headline(groups[k]) for k in order if k in chosen]


# ---- sections ---------------------------------------------------------------------------------------------------


class _Figures:
    """The drawn figures by key; asking for one that should exist and does not is an error."""

    def __init__(self, figures):
        self.by_key = {f.key: f for f in figures}

    def get(self, key: str, section: str) -> FigureRef:
        """The figure a section needs."""
        f = self.by_key.get(key)
        if f is None:
            raise MissingFigure(f"figure '{key}' needed by section '{section}' was not drawn")
        first = f.caption.split(". ")[0].rstrip(".")
        return FigureRef(f.key, f.title, f.caption, f"{f.title}. {first}.", f.png, f.width_cm)

    def film(self, analysis: StudyAnalysis, section: str) -> Film:
        """The frames of training (figures snapshots@EPOCH and snapshots@end) as one film, the stills marked for print."""
        epochs = analysis.snapshot_epochs()
        stills = {str(e) for e in still_epochs(epochs, analysis.setup.training.epochs)} | {"end"}
        title = "How the decision boundary develops during training"
        frames = []
        for key in [*(str(e) for e in epochs), "end"]:
            f = self.get(SNAPSHOT_PREFIX + key, section)
            alt = f"{title}: every variant's decision boundary {f.title}, side by side."
            frames.append(FilmFrame(f.title, alt, f.png, f.width_cm, key in stills))
        return Film("snapshots", title, self.by_key[SNAPSHOT_PREFIX + "end"].caption, frames)

    def optional(self, key: str, section: str) -> list[FigureRef]:
        """A figure that a build whose every run failed has nothing to draw for, as a list of none or one."""
        return [self.get(key, section)] if key in self.by_key else []


def _cell(frame, keys: dict, metric: str, kind: str | None = None) -> Cell:
    """The first row of a summary frame with these key values and metric, as a Cell (NaN when there is none).

    Matched on the columns' numpy arrays: filtering the frame itself made the report stage's 354 cells take 0.4 s."""
    match = frame["metric"].to_numpy() == metric
    for k, v in keys.items():
        match &= frame[k].to_numpy() == v
    found = np.flatnonzero(match)
    if not found.size:
        return Cell(math.nan, math.nan, math.nan, 0, kind or _kind(metric))
    r = frame.iloc[found[0]]
    return Cell(float(r["mean"]), float(r["low"]), float(r["high"]), int(r["n"]), kind or _kind(metric))


def _diff_kind(metric: str) -> str:
    return "pp" if _kind(metric) == "pct" else "diff"


def shown(analysis: StudyAnalysis, metric: str) -> bool:
    """Whether a metric can be measured in this study (no Bayes rule: no excess error; no 2-D inputs: no boundary), and,
    for a table of runs trained elsewhere, whether the table has it."""
    if analysis.design.source and not (len(analysis.summary) and metric in set(analysis.summary["metric"])):
        return False
    return available(analysis, metric_record(metric).needs)


def key_numbers(analysis: StudyAnalysis, variant: str) -> Table:
    """A regularized variant against the baseline on the key metrics, with the paired difference."""
    ref = analysis.reference
    rows = [
        (
            _label(m),
            [
                _cell(analysis.summary, {"variant": ref}, m),
                _cell(analysis.summary, {"variant": variant}, m),
                _cell(analysis.paired, {"variant": variant}, m, _diff_kind(m)),
            ],
        )
        for m in (k for k, record in METRICS.items() if record.key_number)
        if shown(analysis, m)
    ]
    return Table(
        f"{variant} against {ref}: means over {len(analysis.seeds)} replicates and the paired difference, "
        f"{analysis.confidence:.0%} intervals in brackets.",
        [ref, variant, "difference"],
        rows,
        inline=True,
    )


def _regularizer_title(v) -> str:
    regs = [regularizer(r).name for r in v.regularizers()]
    text = " + ".join(regs)
    return f"{text[0].upper() + text[1:]}: {v.name}" if regs else v.name


def regularizer_sections(analysis: StudyAnalysis, verdicts: Verdicts, figs: _Figures) -> list[Section]:
    """One section per regularized variant: its claims, its comparison figure, its numbers."""
    out = []
    for v in analysis.setup.variants:
        judged = analysis.design.source and v.name in set(analysis.main_runs["variant"])  # no figure: the claims and numbers
        if v.name == analysis.reference or analysis.reference is None or not (v.name in analysis.boundaries or judged):
            continue
        title = _regularizer_title(v)
        claims = [claim_row(c) for c in verdicts.claims if c.variant == v.name]
        # the figure first: the claims' text then flows into what a page has left, instead of pushing the figure on
        blocks = [
            *([] if judged else [figs.get(f"compare:{v.name}", title)]),
            *([Claims(claims, secondary=False)] if claims else []),
            key_numbers(analysis, v.name),
        ]
        out.append(Section(f"reg-{anchor(v.name)}", title, blocks))
    return out


def _about(observations: list[Observation], *kinds: Seen) -> list[str]:
    """The sentences of the observations of these kinds, in order."""
    return [o.text for o in observations if o.kind in kinds]


def body(analysis, verdicts, observations, figs: _Figures) -> list[Section]:
    """The body of the report, in reading order."""
    overfit = [claim_row(c) for c in verdicts.claims if c.definition.key == "overfits"]
    training = figs.optional("loss_curves", "Overfitting")
    if analysis.snapshots:
        training.append(figs.film(analysis, "Overfitting"))
    stops = _about(observations, Seen.STOPPED)
    sections = [
        Section(
            "overfitting",
            "Overfitting without regularization",
            [*([Claims(overfit, secondary=False)] if overfit else []), *training, *([Bullets(stops)] if stops else [])],
        ),
        Section(
            "regularizers",
            "Each regularizer against the baseline",
            [
                Paragraph(
                    "Each section shows one variant next to the baseline, its claims with the verdict of their "
                    "primary measurement (every other measurement is in appendix A), and its key numbers with the "
                    "paired difference."
                )
            ],
            regularizer_sections(analysis, verdicts, figs),
        ),
    ]
    weights = [claim_row(c) for c in verdicts.claims if c.definition.key == "l1_sparser_than_l2"]
    blocks: list = [Claims(weights, secondary=False)] if weights else []
    if analysis.prune_search.points and "prunable" not in analysis.unmeasured:
        blocks.append(Paragraph(pruning_note(analysis)))
    if analysis.data.image_shape and analysis.setup.model.factory is not None:
        h, w = analysis.data.image_shape[:2]
        blocks.append(
            Paragraph(
                f"The first layer's weights are not drawn as {h}×{w} images here: that picture needs a first layer of "
                f"Dense units fed by the pixels, and this study's network comes from model.factory "
                f"{analysis.setup.model.factory}, whose first layer need not be one."
            )
        )
    # each regularizer's section already shows its first-layer histogram against the baseline's: all of them together
    # go to appendix B
    blocks += [figs.get(k, "Weights") for k in ("weight_images", "sparsity_curve", "pruning") if k in figs.by_key]
    sections.append(Section("weights", "Weights and sparsity", blocks))
    if "reliability" in figs.by_key:
        sections.append(calibration_section(analysis, verdicts, figs))
    if not analysis.sweeps.empty:
        too_strong = failure_lines(analysis, sweeps=True)
        note = (
            [
                Paragraph(
                    "Sweep strengths too strong to train (their runs ended no better than they started or predict one "
                    "class), left out of the sweep choices and the L1–L2 match: " + "; ".join(too_strong) + "."
                )
            ]
            if too_strong
            else []
        )
        sections.append(
            Section(
                "sweeps",
                "Strength sweeps",
                [Bullets(_about(observations, Seen.SWEEP)), *note, figs.get("sweeps", "Strength sweeps")],
            )
        )
    if not analysis.data_sweeps.empty:
        sections.append(data_sweep_section(analysis, verdicts, figs))
    # the design sentence and the tally open the report ("How to read this report"), stops and sweeps have their sections
    others = _about(observations, Seen.RANKING, Seen.BAYES, Seen.ONE_CLASS, Seen.FAILED, Seen.UNMATCHED)
    sections.append(
        Section(
            "observations",
            "Observations",
            [Paragraph("Every sentence below is computed from this build's numbers."), Bullets(others)],
        )
    )
    # a table of runs trained elsewhere has no figures, weights or losses per epoch: such a section would be a heading
    return [s for s in sections if s.blocks or s.subsections]


def calibration_section(analysis: StudyAnalysis, verdicts: Verdicts, figs: _Figures) -> Section:
    """How well predicted probabilities match frequencies: the calibration claims and the reliability diagrams."""
    claims = [claim_row(c) for c in verdicts.claims if c.definition.key == "better_calibration"]
    intro = Paragraph(
        "A network is calibrated when, among the test points it gives a confidence of 80%, it is right on 80%. An "
        "overfit network tends to be over-confident (Guo et al., 2017). Both scores are measured on each replicate's "
        "test points from the predictions the analysis already makes (nothing is trained for them): the Brier score, the "
        "mean squared error of the predicted probabilities (primary), and the expected calibration error over 15 "
        "equal-width confidence bins (secondary)."
        + (
            " A variant trained with label smoothing is scored on the true labels."
            if any(v.label_smoothing for v in analysis.setup.variants)
            else ""
        )
    )
    blocks = [intro, *([Claims(claims, secondary=False)] if claims else []), figs.get("reliability", "Calibration")]
    return Section("calibration", "Calibration", blocks)


def _join(names: list[str]) -> str:
    """Names as a list in words: 'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _number(share: float) -> str:
    """A share as a number of percent with the digits it needs: '2', '99.5', '0.05'."""
    return f"{share * 100:.2g}" if share < 0.01 else f"{share * 100:.4g}"


def pruning_note(analysis: StudyAnalysis) -> str:
    """How the prunable share was searched, on which points, what one point is worth against the tolerance, and where
    the search reached its limits (shares at its last fraction below 100%; networks of one class before pruning)."""
    p, runs = analysis.prune_search, analysis.main_runs
    steps = [f for f in p.fractions if f > 0]
    fine = [f for f in steps if f > 0.98]
    text = (
        f"The prunable share is the largest share of all kernel weights, removed smallest magnitude first (in steps "
        f"of {_number(steps[0])}% up to {_number(max(f for f in steps if f <= 0.98))}%, then "
        f"{', '.join(_number(f) for f in fine[:-1])} and {_number(fine[-1])}%), before the first share at which "
        f"accuracy falls more than {_number(p.tolerance)} pp below the unpruned network's or the network predicts "
        f"one class everywhere; a network that predicts one class before any pruning counts 0. "
    )
    allowed = math.floor(p.tolerance * p.points + 1e-9)
    where = (
        f"It is measured on {p.points:,} fresh points of the generator per replicate, never its training, validation "
        f"or test points"
        if p.fresh
        else f"It is measured on each replicate's {p.points:,} training and validation rows (a table has no other points, "
        f"and its test rows only report)"
    )
    unit = "point" if p.fresh else "row"
    text += f"{where}: one {unit} is {_number(p.resolution)} pp of accuracy, so the tolerance of {_number(p.tolerance)} pp " + (
        f"allows a net loss of {allowed:,} of them."
        if allowed
        else f"allows none to be lost (one {unit} is more than the tolerance)."
    )
    top = p.fractions[-2] if len(p.fractions) > 1 else math.nan
    live = runs[runs["failed"].map(len) == 0] if "failed" in runs else runs
    capped = [
        f"{v} in {int((part['prunable'] == top).sum())} of {len(part)}"
        for v, part in live.groupby("variant", sort=False)
        if (part["prunable"] == top).any()
    ]
    if capped:
        text += (
            f" The share reaches the last fraction tried below 100% ({_number(top)}%) for {', '.join(capped)} replicates: "
            f"at least that much of those networks can go."
        )
    single = int(live["prune_one_class"].sum()) if "prune_one_class" in live else 0
    if single:
        text += (
            f" {single} run{'s' if single != 1 else ''} predict{'s' if single == 1 else ''} one class on "
            f"{'their' if single != 1 else 'its'} evaluation points before any pruning: not prunable without harm (0)."
        )
    return text


def _setting_name(analysis: StudyAnalysis, axis: str, setting: float, n_train: int) -> str:
    if axis == "n_samples":
        return f"{n_train} train"
    return f"noise {setting:g}" if axis == "noise" else _shape_at(analysis, setting)


SWEEP_TABLE_AXES = {  # each study-wide sweep's axis as its tables name it
    "n_samples": "training-set size (rows left for training)",
    "noise": "data noise",
    "hidden_units": "network width (hidden units per layer)",
}


def data_sweep_tables(analysis: StudyAnalysis) -> list[Table]:
    """Per sweep axis (data size, noise, network width) and metric: the baseline's mean and every other variant's
    paired difference from it, per setting."""
    d, ref, out = analysis.data_sweeps, analysis.reference, []
    for axis, what in SWEEP_TABLE_AXES.items():
        part = d[d["axis"] == axis]
        if part.empty:
            continue
        settings = part[["setting", "n_train"]].drop_duplicates().sort_values("setting").itertuples(index=False)
        settings = list(settings)
        for metric in ("test_accuracy", "gap"):
            rows = []
            for variant in dict.fromkeys(part["variant"]):
                kind = "pct" if variant == ref else "pp"
                rows.append(
                    (
                        variant if variant == ref else f"{variant} − {ref}",
                        [_cell(part, {"variant": variant, "setting": s.setting}, metric, kind) for s in settings],
                    )
                )
            out.append(
                Table(
                    f"{_label(metric)} against the {what}: {ref}'s mean, then each variant's paired "
                    f"difference from it (variant − {ref}, same replicate); mean over {len(analysis.seeds)} "
                    f"replicates, {analysis.confidence:.0%} interval below.",
                    [_setting_name(analysis, axis, s.setting, s.n_train) for s in settings],
                    rows,
                )
            )
    return out


def _capacity_paragraph(analysis: StudyAnalysis) -> str:
    """What the capacity sweep trained and how its claim decides, from this study's settings."""
    setup = analysis.setup
    shapes = capacity_shapes(setup.model, setup.sweeps)
    listed = _join([shape_name(h) for h in shapes])
    unequal = any(len(set(h)) > 1 for h in shapes)
    depths = sorted({len(h) for h in shapes})
    margin, alpha = setup.margins.accuracy * 100, 1 - analysis.confidence
    if len(shapes) < 2:
        return (
            f"The capacity sweep lists only the study's own network ({listed}): with one width there is no slope, and "
            "the claim that regularization helps more in bigger networks is not tested."
        )
    text = (
        f"Every variant was also trained with hidden layers of {listed} units (the study's own network, "
        f"{shape_name(setup.model.hidden_units)}, among them), with the same replicates: at every width a variant "
        f"starts from the replicate's initial weights for that shape, so its benefit over {analysis.reference} is a "
        f"paired difference. A network's width is its units per hidden layer"
        + (
            " (for layers of unequal width their geometric mean, so that doubling every layer doubles it and the "
            "claim's log2 of the width is the mean of the layers' log2 units)"
            if unequal
            else ""
        )
        + f". A regularizer 'helps more in bigger networks' when its benefit in test accuracy grows with the width: "
        f"each replicate gives the least-squares slope of its benefit on log2 of the width (the change per doubling of "
        f"the width), and the claim below is judged on these slopes by the rule of every primary claim, the "
        f"scarce-data claim's too: no meaningful effect when the equivalence test (TOST) places the mean slope within "
        f"±{margin:g} pp per doubling, else supported above zero or contradicted below zero by a t-test, each "
        f"Holm-adjusted over the primary tests at {alpha:g}; inconclusive otherwise. The number of epochs is the same "
        f"at every width."
    )
    if len(depths) > 1:
        text += (
            f" The shapes also differ in depth ({depths[0]} to {depths[-1]} hidden layers); the slope places them by width alone."
        )
    return text


def data_sweep_section(analysis: StudyAnalysis, verdicts: Verdicts, figs: _Figures) -> Section:
    """When regularization pays off: the scarce-data and bigger-network claims, the benefit against data size, noise and
    network width, the tables."""
    axes = set(analysis.data_sweeps["axis"])
    blocks: list = []
    if axes & {"n_samples", "noise"}:
        claims = [claim_row(c) for c in verdicts.claims if c.definition.key == "scarce_data"]
        intro = Paragraph(
            "Every variant was trained again at other amounts (or noise levels) of data, with the same replicates. The "
            "figure and the tables show each regularizer's benefit over the baseline at every setting; a regularizer "
            "'helps more when data is scarce' when the benefit in test accuracy falls as the training set grows, which "
            "the claim below tests by the slope of each replicate's benefit on log2 of the training-set size. The "
            "number of epochs is the same at every size, so a larger training set also gets more optimizer steps."
        )
        blocks += [intro, *([Claims(claims, secondary=False)] if claims else []), figs.get("data_sweeps", "Data sweeps")]
    if "hidden_units" in axes:
        claims = [claim_row(c) for c in verdicts.claims if c.definition.key == "bigger_networks"]
        blocks += [
            Paragraph(_capacity_paragraph(analysis)),
            *([Claims(claims, secondary=False)] if claims else []),
            figs.get("capacity", "Capacity sweep"),
        ]
    return Section("data-sweeps", "When does regularization pay off?", blocks + _narrow(data_sweep_tables(analysis)))


def _listed(names, limit: int = 8) -> str:
    """A few names, then how many there are in all."""
    names = list(names)
    return ", ".join(names[:limit]) + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _names_sentence(setup, info) -> str:
    """Name a table's (or make_classification's) features and classes; a 2-D generator's are just numbered."""
    if setup.data.planar:
        return ""
    encoded = {name for name, _ in info.notes.encoded} if info.notes else set()
    columns = list(dict.fromkeys(n.split("=", 1)[0] if n.split("=", 1)[0] in encoded else n for n in info.feature_names))
    features = (
        f"{len(columns)} feature columns ({_listed(columns)}), {info.n_features} inputs once text is encoded,"
        if encoded
        else f"{info.n_features} features ({_listed(info.feature_names)})"
    )
    return (
        f"The data have {features} and {info.n_classes} classes ({_listed(info.class_names)}); the networks see the "
        f"features standardised with each replicate's training split (its mean and standard deviation)."
    )


def _markers(markers) -> str:
    """How missing cells were written, e.g. "'NA' or left empty"."""
    written = [repr(m) for m in markers if m] + (["left empty"] if "" in markers else [])
    return " or ".join(written) if len(written) < 3 else ", ".join(written[:-1]) + " or " + written[-1]


def _table_sentences(notes) -> list[str]:
    """What reading a file did: its one-hot encoded columns with their categories, its missing cells and what became
    of them."""
    if notes is None:
        return []
    out = []
    if notes.encoded:
        columns = "; ".join(f"{name} ({_listed(levels, 12)})" for name, levels in notes.encoded)
        out.append(
            f"Text columns are one-hot encoded, one input per category, fitted on each replicate's training split (a "
            f"category absent from it is all zeros): {columns}."
        )
    if not notes.markers:
        return out
    found = f"Missing cells (written {_markers(notes.markers)})"
    kept = notes.rows - notes.dropped
    dropped = f"{notes.dropped} of the file's {notes.rows} rows" + (f", leaving {kept}" if notes.dropped else "")
    if notes.missing == "drop":
        out.append(f'{found}: rows with a missing feature or label are left out (data.missing = "drop"): {dropped}.')
    elif notes.missing == "impute":
        without = f"; rows without a label are left out: {dropped}" if notes.dropped else ""
        out.append(
            f"{found}: {notes.filled} feature cell{'s are' if notes.filled != 1 else ' is'} filled in each replicate with "
            f'the median (numbers) or the most frequent value (text) of its training split (data.missing = "impute"){without}.'
        )
    return out


def _judged_section(analysis: StudyAnalysis) -> Section:
    """What a table of runs trained elsewhere is, and what this report cannot show of it (reportgen judge)."""
    source, n = analysis.design.source, len(analysis.runs)
    text = (
        f"reportgen did not train these runs: it read one row per run from {source} ({n} rows) and judges them with the "
        f"same claims, tests, corrections and flip probabilities as a build of its own. A table of runs holds no data "
        f"points, losses per epoch or weights, so this report has no figure of the data, the decision boundaries, "
        f"training or the weights, and a claim whose primary measure is not a column of the table is not judged "
        f"(page one names them)."
    )
    variants = Pairs(
        "The variants, as the study file says what each does.",
        [(v.name, v.label or v.describe()) for v in analysis.setup.variants],
    )
    return Section("setup", "The runs judged", [Paragraph(text), variants])


def _data_section(analysis, figs: _Figures) -> Section:
    if analysis.design.source:
        return _judged_section(analysis)
    m, t, info = analysis.setup.model, analysis.setup.training, analysis.data
    out = "1 (sigmoid)" if info.n_classes == 2 else f"{info.n_classes} (softmax)"
    loss = "binary" if info.n_classes == 2 else "categorical"
    setup = (
        (
            f"Every variant is a Keras Sequential network: input {info.n_features} → "
            f"Dense {' → '.join(str(u) for u in m.hidden_units)} "
            f"({m.activation_name()}) → {out}, trained with {m.optimizer_phrase()} on {loss} cross-entropy for up "
            f"to {t.epochs} epochs in batches of {t.batch_size}, engine '{t.engine}'. Within a replicate every variant "
            f"sees the same data, starts from the same initial weights and sees the same batch order, so differences "
            f"between variants of one replicate come from the regularizer alone."
        )
        if m.factory is None
        else _factory_setup(analysis, out, loss)
    )
    smoothed = [v.name for v in analysis.setup.variants if v.label_smoothing]
    if smoothed:
        setup += (
            f" {_join(smoothed)} {'trains' if len(smoothed) == 1 else 'train'} on smoothed targets (label smoothing); "
            "its accuracies and every loss this report shows (training, validation and test) are those of the true, "
            "unsmoothed labels."
        )
    variants = Pairs("The variants.", [(v.name, v.label or v.describe()) for v in analysis.setup.variants])
    texts = (
        _names_sentence(analysis.setup, info),
        *_table_sentences(info.notes),
        info.bayes_note,
        info.boundary_note,
        _unmeasured_sentence(analysis),
    )
    notes = [Paragraph(text) for text in texts if text]
    return Section("setup", "Data and networks", [figs.get("dataset", "Data and networks"), *notes, Paragraph(setup), variants])


def _factory_setup(analysis: StudyAnalysis, out: str, loss: str) -> str:
    """The networks of a study with model.factory: what built them, how they were trained and paired, and how the
    measures that need a network's layers read an arbitrary one."""
    m, t = analysis.setup.model, analysis.setup.training
    unpaired = [v for v in analysis.variants if v in analysis.unpaired]
    start = (
        "starts from the same initial kernels (those of the factory's network for a variant without regularizers, "
        "drawn with the replicate's seed)"
        + (
            f", except {_join(unpaired)}, whose kernels differ in shape from that network's and are drawn on their own"
            if unpaired
            else ""
        )
    )
    return (
        f"Every variant is the Keras network that model.factory {m.factory} builds for it (input "
        f"{analysis.data.n_features} → … → {out}), with the layer-level regularizers it was given (kernel penalties, "
        f"dropout, batch normalization, input noise, max-norm) checked in the built network before training; reportgen "
        f"compiled it with {m.optimizer_phrase()} on {loss} cross-entropy and trained it with stock model.fit for up to "
        f"{t.epochs} epochs in batches of {t.batch_size}. Within a replicate every variant sees the same data and the "
        f"same batch order and {start}, so differences between variants of one replicate come from the regularizer"
        f"{' alone' if not unpaired else f' (and, for {_join(unpaired)}, {_their(unpaired)} initial weights)'}. The "
        f"measures that need a "
        f"network's layers read this one as follows: its hidden kernels are all its kernels (Dense, convolution, …) "
        f"but the last layer's, its first layer is the first layer with a kernel, the prunable share removes the "
        f"smallest weights of all its kernels, and every prediction behind the measures (training, validation and test "
        f"points, the boundary grid, pruned networks) was made by the Keras model itself where it trained."
    )


def _their(names: list[str]) -> str:
    return "its" if len(names) == 1 else "their"


def _unmeasured_sentence(analysis: StudyAnalysis) -> str:
    """Which measures this build's network offers nothing to measure on, and the claims left unjudged for want of them
    (the sentence `reportgen judge` writes for measures missing from a table of runs); '' when every one was measured."""
    if not analysis.unmeasured:
        return ""
    why = (
        "the network has no kernel weights"
        if "prunable" in analysis.unmeasured
        else "the network has no kernel weights before its last layer"
    )
    lower = lambda text: text[0].lower() + text[1:] if text[1:2].islower() else text  # noqa: E731  'L1 norm' stays
    listed = [lower(_label(k)) for k in analysis.unmeasured if not k.startswith("first_below_")]
    if any(k.startswith("first_below_") for k in analysis.unmeasured):
        listed.append("the shares of first-layer weights near zero")
    text = f"Not measured, because {why}: {_join(listed)}."
    unjudged = missing_sentence(not_judged(analysis), "could not be measured")
    return f"{text} {unjudged}".strip()


def results_tables(analysis: StudyAnalysis) -> list[Table]:
    """Every variant on every headline metric, means with intervals."""
    n, conf = len(analysis.seeds), f"{analysis.confidence:.0%}"
    every = [(title, [m for m in metrics if shown(analysis, m)]) for title, metrics in table_columns(analysis.thresholds)]
    groups = [(title, metrics) for title, metrics in every if metrics]  # a table of runs may have none of a group
    return [
        Table(
            f"{title}: mean over {n} replicates, {conf} interval below.",
            [_label(m) for m in metrics],
            [(v, [_cell(analysis.summary, {"variant": v}, m) for m in metrics]) for v in analysis.variants],
            sortable=True,
        )
        for title, metrics in groups
    ]


PAGE_COLUMNS = 6  # metric columns that fit the width of an A4 page at the tables' type size


def _narrow(tables: list[Table], limit: int = PAGE_COLUMNS) -> list[Table]:
    """Split tables wider than a page into parts of at most `limit` columns of nearly equal width, every row in each."""
    out = []
    for table in tables:
        parts = math.ceil(len(table.columns) / limit)
        if parts <= 1:
            out.append(table)
            continue
        size = math.ceil(len(table.columns) / parts)
        for k, start in enumerate(range(0, len(table.columns), size)):
            out.append(
                replace(
                    table,
                    caption=f"{table.caption} (part {k + 1} of {parts})",
                    columns=table.columns[start : start + size],
                    rows=[(name, cells[start : start + size]) for name, cells in table.rows],
                )
            )
    return out


def layer_table(analysis: StudyAnalysis) -> Table | None:
    """Per hidden layer: share of near-zero weights, extremes and magnitudes."""
    cols = [f"below_{t:g}" for t in analysis.thresholds] + ["min", "max", "mean_abs", "l2_norm"]
    if analysis.layers.empty:  # a factory's network without kernels before its last layer
        return None
    layers = analysis.layers[analysis.layers["init"] == 0].copy()
    layers["variant"] = layers["variant"].astype(str) + " · layer " + layers["layer"].astype(str)
    summary = summarise(layers, ["variant"], cols, analysis.confidence, analysis.design.correction)
    names = list(dict.fromkeys(layers["variant"]))
    order = [n for v in analysis.variants for n in names if n.startswith(v + " · layer ")]
    kinds = {c: "pct" if c.startswith("below_") else "num" for c in cols}
    rows = [(n, [_cell(summary, {"variant": n}, c, kinds[c]) for c in cols]) for n in order]
    return Table(
        f"Hidden-layer kernels, per layer: share of near-zero weights, extremes and magnitudes; mean over "
        f"{len(analysis.seeds)} replicates, {analysis.confidence:.0%} interval below.",
        [f"|w| < {t:g}" for t in analysis.thresholds] + ["min w", "max w", "mean |w|", "L2 norm"],
        rows,
        sortable=True,
    )


def appendix(analysis, verdicts, figs: _Figures, shown: Shown) -> list[Section]:
    """Full statistics, tables, more figures and reproducibility."""
    every = [
        Paragraph(f"Every claim with all of its measurements. {verdicts_method(verdicts)}"),
        Claims([claim_row(c) for c in verdicts.claims]),
    ]
    margins = analysis.setup.margins
    pairs = [
        (
            name,
            f"{getattr(margins, name):g}"
            + (" (relative)" if any(m.margin == name and m.relative for m in METRICS.values()) else ""),
        )
        for name in type(margins).model_fields
    ]
    if verdicts.checks:
        every += [
            Paragraph(
                "Sanity checks: what a regularizer does by construction (L1 pulls weights to zero, L2 shrinks "
                "them), shown to confirm the regularizers acted and never counted as findings (uncorrected tests)."
            ),
            Findings([_finding_row(f) for f in verdicts.checks]),
        ]
    stats = Section(
        "appendix-claims", "Appendix A: every measurement", every + [Pairs("Smallest effects of interest (margins).", pairs)]
    )
    tables = Section(
        "appendix-results",
        "Appendix B: results tables",
        [*_narrow(results_tables(analysis)), *[t for t in [layer_table(analysis)] if t is not None]]
        + [
            figs.get(k, "Appendix B")
            for k in ("sweep_boundaries", "weights_hist", "weights_box", "weight_extremes")
            if k in figs.by_key
        ],
    )
    repro = Section(
        "reproducibility",
        "Appendix C: reproducibility",
        [
            Paragraph(
                f"Replicate seeds: {', '.join(str(s) for s in analysis.seeds)}. Machine: {shown.machine}. Run "
                f"'reportgen build --config study.toml' with the study file below to rebuild this report."
                if not analysis.design.source
                else f"Replicates: {', '.join(str(s) for s in analysis.seeds)}. Machine: {shown.machine}. Run "
                f"'reportgen judge {analysis.design.source} --config study.toml' with the study file below to judge the "
                f"same table again. The study file was read for its variants and analysis settings; its data, model and "
                f"training sections are reportgen's and do not describe how these runs were trained."
            ),
            Pairs(
                "Time per build stage (seconds).",
                [(stage, f"{seconds:.1f}") for stage, seconds in stage_times(shown.timings).items()],  # as results.json
            ),
            Pairs("Library versions.", shown.libraries),
            Preformatted(shown.study_toml),
        ],
    )
    return [replace(section, fold=True) for section in (stats, tables, repro)]


def verdicts_method(verdicts: Verdicts) -> str:
    """How verdicts are reached, in words a non-statistician can follow (the rule decision.codes applies)."""
    prim, sec = verdicts.family_sizes()
    alpha = f"{1 - verdicts.confidence:g}"
    looks = verdicts.looks
    adaptive = (
        f" The number of replicates was adaptive: {looks[0]} first, then more while a verdict was borderline "
        f"and more replicates could make it firm (looks at {', '.join(map(str, looks))}); stopping on the data "
        f"would inflate false verdicts, so each test's p-value is the smallest over the looks of p divided by "
        f"that look's share of alpha (Lan and DeMets' O'Brien-Fleming-type alpha spending, combined by a "
        f"weighted Bonferroni bound that holds whatever the stopping rule) before Holm's correction."
        if len(looks) > 1
        else ""
    )
    return (
        f"A claim shows no meaningful effect when the equivalence test (two one-sided t-tests, TOST) against the "
        f"smallest effect of interest fixed in the study file gives a Holm-adjusted p below {alpha}, even if the "
        f"difference is detectable; otherwise it is supported (or contradicted) when its one primary measurement, "
        f"chosen before looking, differs from the baseline (from the margin, for the claim that the baseline "
        f"overfits) in the claimed (or the opposite) direction with a two-sided t-test whose Holm-adjusted p over "
        f"the {prim} primary tests is below {alpha}; it is inconclusive otherwise. Other measurements of the same "
        f"claims ({sec}) are judged the same way with Benjamini-Hochberg's correction; sanity checks are shown, not "
        f"counted.{adaptive}"
    )


def stability_method(verdicts: Verdicts) -> str:
    """How each verdict's flip probability is estimated, in words (stability.py)."""
    if not any(math.isfinite(c.flip) for c in verdicts.claims):
        return ""
    from reportgen.stability import BORDERLINE, DRAWS

    return (
        f"Each verdict comes with the probability that an independent rerun of the same design, with new replicate "
        f"seeds, gives another verdict (training noise on another CPU moves a verdict as a new seed would). It is "
        f"estimated from this build's own replicates: {DRAWS:,} reruns are simulated by drawing a plausible population "
        f"as random Dirichlet weights over the replicates (Rubin's Bayesian bootstrap, 1981) and then as many "
        f"replicates from it, every claim from the same replicates, and each simulated rerun is judged by the rule "
        f"above; the flip probability is the share of reruns with another verdict (the reproducibility probability "
        f"of Shao and Chow, 2002). An effect that sits on a threshold flips about half the time. A verdict whose flip "
        f"probability is above {BORDERLINE:.0%} is marked borderline (◆) on page one, with about how many replicates "
        f"would make it firm: the smallest number at which two independent builds of that size, drawn from the same "
        f"plausible populations, agree on it with probability above {1 - BORDERLINE:.0%}."
    )


def borderline_notes(verdicts: Verdicts) -> list[str]:
    """One short item per borderline verdict for page one: where it is, its flip probability, what would firm it."""
    titles = dict(MATRIX)
    out = []
    for c in verdicts.borderline():
        where = f"{c.variant} · {titles[c.definition.key].lower()}" if c.definition.key in titles else c.key
        firm = f"≈{c.firm_at:,} replicates to firm" if c.firm_at else "on a threshold"
        out.append(f"{where} {c.flip:.0%} ({firm})")
    return out


def changes_section(changes) -> Section:
    """What changed since an earlier build (--compare), as headed lists of sentences."""
    from reportgen.compare import change_groups

    blocks = []
    for heading, items in change_groups(changes):
        blocks += ([Paragraph(heading + ":")] if heading else []) + [Bullets(items)]
    return Section("changes", f"Changes since {changes.old_name}", blocks)


def _failed_runs(analysis: StudyAnalysis) -> int:
    """How many runs of the variants (not of the strength sweeps) failed."""
    return sum(1 for key, *_ in analysis.failed if not analysis.sweep_run(key))


def _anchor_claims(sections: list[Section], seen: set[str] | None = None) -> list[Section]:
    """The sections with each claim anchored once, in reading order: page one's links lead to the first place that shows
    a claim's evidence (the body, or appendix A for a claim the body leaves out), and no anchor is repeated."""
    seen = set() if seen is None else seen
    out = []
    for section in sections:
        blocks = []
        for block in section.blocks:
            if isinstance(block, Claims):
                block = replace(block, anchored=frozenset(c.key for c in block.claims if c.key not in seen))
                seen |= block.anchored
            blocks.append(block)
        out.append(replace(section, blocks=blocks, subsections=_anchor_claims(section.subsections, seen)))
    return out


FOLD_ROWS = 15  # a body table with more rows folds behind its caption on screen (the appendices fold whole)


def _fold_long_tables(sections: list[Section]) -> list[Section]:
    """The sections with each table of more than FOLD_ROWS rows folded."""
    return [
        replace(
            section,
            blocks=[replace(b, fold=True) if isinstance(b, Table) and len(b.rows) > FOLD_ROWS else b for b in section.blocks],
            subsections=_fold_long_tables(section.subsections),
        )
        for section in sections
    ]


@dataclass(frozen=True)
class Shown:
    """What a report says about the build rather than its numbers: the study's title and file, when and where the
    build was made, with which libraries, and how long each stage took."""

    title: str
    study_toml: str
    generated: str
    libraries: list
    machine: str
    timings: list


def build_context(
    analysis: StudyAnalysis,
    verdicts: Verdicts,
    observations: list[Observation],
    figures,
    shown: Shown,
    n_runs: int,
    changes=None,
) -> ReportContext:
    """Arrange everything a report shows, in reading order (what changed since --compare's build first)."""
    figs = _Figures(figures)
    sections = ([changes_section(changes)] if changes is not None else []) + [_data_section(analysis, figs)]
    sections += body(analysis, verdicts, observations, figs)
    anchored: set[str] = set()
    sections = _anchor_claims(_fold_long_tables(sections), anchored)
    return ReportContext(
        title=shown.title,
        generated=shown.generated,
        version=__version__,
        n_runs=n_runs,
        n_seeds=len(analysis.seeds),
        intro=intro(analysis, n_runs),
        matrix=verdict_matrix(verdicts, analysis.setup.variants),
        headlines=headlines(verdicts),
        lead_figure=(figs.optional("boundaries", "page one") or [None])[0],
        verdict_counts=verdicts.tally(),
        design=analysis.design.sentence(),
        rules=verdicts_method(verdicts),
        stability=stability_method(verdicts),
        borderline=borderline_notes(verdicts),
        failed=failure_lines(analysis),
        n_failed=_failed_runs(analysis),
        sweep_failed=failure_lines(analysis, sweeps=True),
        sections=sections,
        appendix=_anchor_claims(appendix(analysis, verdicts, figs, shown), anchored),
        claims=[claim_row(c) for c in verdicts.claims],
        results=results_tables(analysis)[0],
        source=analysis.design.source,
        # a factory's build says what it could not judge beside what it could not measure (_unmeasured_sentence)
        not_judged=missing_sentence(not_judged(analysis, verdicts)) if analysis.design.source else "",
    )
