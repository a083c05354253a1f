"""The report's figures, drawn from a StudyAnalysis: one PNG each, with a caption built from the data.

Figures only read the analysis: every number they show was made there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from matplotlib.figure import Figure as MplFigure

from reportgen.analysis import StudyAnalysis
from reportgen.context import (
    SNAPSHOT_PREFIX,  # arrange makes the frames one film without importing the figures
    Figure,
)
from reportgen.figures import beside, calibration, curves, maps, pixels, weights
from reportgen.figures.common import Study, palette, style, to_png

__all__ = ["Figure", "FigureSpec", "SNAPSHOT_PREFIX", "figure_specs", "make_figures", "draw", "draw_some"]


@dataclass(frozen=True)
class FigureSpec:
    """A figure the report may show: its key, title, and the function that draws it (None: nothing to draw)."""

    key: str
    title: str
    draw: Callable[[MplFigure, Study], str | None]
    colours: int = 0  # a palette of this many colours for the PNG (0: full colour)


def snapshot_specs(analysis: StudyAnalysis) -> list[FigureSpec]:
    """One frame per snapshot epoch and one at the end of training, each every variant's boundary side by side."""
    epochs = maps.snapshot_epochs(analysis)
    frames = [(str(e), f"after {e} epochs", e) for e in epochs] + [("end", "at the end of training", None)]
    return [
        FigureSpec(
            SNAPSHOT_PREFIX + key, title, lambda fig, study, e=epoch: maps.draw_snapshot(fig, study, e), maps.SNAPSHOT_COLOURS
        )
        for key, title, epoch in (frames if epochs else [])
    ]


def figure_specs(analysis: StudyAnalysis) -> list[FigureSpec]:
    """Every figure of this study, in report order (one comparison figure per regularized variant). A table of runs
    trained elsewhere (reportgen judge) has none of what they draw: no data, boundaries, losses per epoch or weights."""
    if analysis.design.source:
        return []
    specs = [
        FigureSpec("dataset", "The data", maps.draw_dataset),
        FigureSpec("boundaries", "Decision boundaries", maps.draw_boundaries),
        *snapshot_specs(analysis),
        FigureSpec("loss_curves", "Training and validation loss", curves.draw_loss_curves),
    ]
    specs += [
        FigureSpec(f"compare:{v}", f"{v} against {analysis.reference}", _comparison(v))
        for v in analysis.variants
        if v != analysis.reference
    ]
    if analysis.data.image_shape:  # features that are an image's pixels: the first layer as pictures
        specs.append(FigureSpec("weight_images", "First-layer weights as images", pixels.draw_weight_images))
    specs += [
        FigureSpec("weights_box", "First-layer weights", weights.draw_weights_box),
        FigureSpec("weights_hist", "Distribution of first-layer weights", weights.draw_weights_hist),
        FigureSpec("weight_extremes", "Smallest and largest first-layer weights", weights.draw_weight_extremes),
        FigureSpec("sparsity_curve", "Weights near zero", curves.draw_sparsity),
        FigureSpec("pruning", "Accuracy after magnitude pruning", curves.draw_pruning),
        FigureSpec("reliability", "Calibration: reliability diagrams", calibration.draw_reliability),
        FigureSpec("sweeps", "Regularization strength sweeps", curves.draw_sweeps),
        FigureSpec("sweep_boundaries", "Decision boundaries across strengths", maps.draw_sweep_boundaries),
        FigureSpec(
            "data_sweeps", "The benefit of regularization against the amount and noise of the data", curves.draw_data_sweeps
        ),
        FigureSpec("capacity", "The benefit of regularization against the network's width", curves.draw_capacity),
    ]
    return specs


def _comparison(name: str):
    return lambda fig, study: beside.draw_comparison(fig, study, name)


def draw(spec: FigureSpec, study: Study) -> Figure | None:
    """Draw one figure inside the report style; None when the study has nothing for it."""
    with style():  # drawing and saving both read the style, so both happen inside it
        fig = MplFigure(layout="constrained")
        caption = spec.draw(fig, study)
        if caption is None:
            return None
        png, width_cm = to_png(fig, spec.colours)
    return Figure(spec.key, spec.title, caption, png, width_cm)


def draw_some(study: Study, indices: list[int]) -> list[Figure | None]:
    """Draw the figures at these positions of the report order."""
    specs = figure_specs(study.analysis)
    return [draw(specs[i], study) for i in indices]


def make_figures(analysis: StudyAnalysis, helper=None) -> list[Figure]:
    """Draw every figure of the report, in report order; with a helper.Helper that is ready, every other figure is
    drawn there (the figures cost about the same each, so alternate positions split the work about evenly). A helper
    still importing its libraries would keep this process waiting for its half, so then everything is drawn here."""
    study = Study(analysis, analysis.first, palette(analysis.variants))
    n = len(figure_specs(analysis))
    theirs = list(range(1, n, 2)) if helper is not None and helper.ready() else []
    if theirs:
        helper.submit(draw_some, study, theirs)
    mine = [i for i in range(n) if i not in theirs]
    drawn = dict(zip(mine, draw_some(study, mine)))
    if theirs:
        drawn.update(zip(theirs, helper.result(draw_some, study, theirs)))
    return [drawn[i] for i in range(n) if drawn[i] is not None]
