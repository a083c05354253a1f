"""One figure per regularized variant beside the baseline: boundaries, loss curves, first-layer weights (not to be
confused with reportgen.compare, which compares two builds)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from reportgen.figures.common import (
    FULL_WIDTH_IN,
    Study,
    class_lines,
    contour_lines,
    inside_region,
    line_band,
    plain_log_ticks,
    safe_text,
)

BASE_COLOUR = "0.45"


def _contours(ax, bset, colour, width: float) -> None:
    """Every replicate's 0.5 contour inside the data region."""
    alpha = max(0.2, min(0.8, 4 / len(bset.probs)))
    if bset.probs.ndim == 4:  # beyond two classes: one probability per class
        for probs in bset.probs:
            class_lines(ax, bset.xs, bset.ys, probs, colors=[colour], linewidths=width, alpha=alpha)
    else:
        contour_lines(ax, bset.xs, bset.ys, bset.probs, colour, width, alpha)


def _boundary_panel(ax, study: Study, name: str, ref: str) -> None:
    a, d = study.analysis, study.data
    points = study.plane(d.x_train)
    ax.scatter(points[:, 0], points[:, 1], c=study.colours_of(d.y_train), s=6, alpha=0.35, linewidths=0)
    _contours(ax, a.boundaries[ref], BASE_COLOUR, 0.7)
    _contours(ax, a.boundaries[name], study.colours[name], 0.9)
    if a.bayes_grid is not None and a.bayes_grid.ndim == 3:
        class_lines(ax, a.frame.xs, a.frame.ys, a.bayes_grid, colors="#f2c200", linewidths=1.4, linestyles="--")
    elif a.bayes_grid is not None:
        contour_lines(ax, a.frame.xs, a.frame.ys, [inside_region(a.bayes_grid, a.frame)], "#f2c200", 1.4, style="--")
    ax.set(
        xlim=(a.frame.xs[0], a.frame.xs[-1]),
        ylim=(a.frame.ys[0], a.frame.ys[-1]),
        aspect="equal",
        xticks=[],
        yticks=[],
        title="0.5 decision boundaries" if a.data.n_classes == 2 else "decision boundaries",
    )


def _loss_panel(ax, study: Study, name: str, ref: str) -> None:
    a = study.analysis
    for v, colour in ((ref, BASE_COLOUR), (name, study.colours[name])):
        for key, style in (("train_loss", "--"), ("val_loss", "-")):
            mean, low, high = a.loss_bands[v][key]
            line_band(ax, np.arange(1, len(mean) + 1), mean, low, high, colour, linestyle=style, linewidth=1.1)
    ax.set(yscale="log", xlabel="epoch", title="loss (log scale)")
    # the axis follows the runs' losses, not the bands: where few replicates still run (early stopping), a band's
    # interval can span twenty decades
    losses = np.concatenate([a.histories[v][k].ravel() for v in (ref, name) for k in ("train_loss", "val_loss")])
    losses = losses[np.isfinite(losses) & (losses > 0)]
    if losses.size:
        ax.set_ylim(losses.min() / 1.5, losses.max() * 1.5)
    plain_log_ticks(ax.yaxis)


def _weights_panel(ax, study: Study, name: str, ref: str) -> None:
    a = study.analysis
    edge = max(float(np.abs(a.first_layer[v]).max()) for v in (name, ref)) or 1.0
    bins = np.linspace(-edge, edge, 51)
    ax.hist(a.first_layer[ref], bins=bins, histtype="step", color=BASE_COLOUR, linewidth=1.1)
    ax.hist(a.first_layer[name], bins=bins, histtype="stepfilled", color=study.colours[name], alpha=0.6)
    ax.set(yscale="log", xlabel="first-layer weight", title="first-layer weights (log count)")


def draw_comparison(fig: MplFigure, study: Study, name: str) -> str | None:
    """Draw a regularized variant against the baseline in three panels; return the caption."""
    a, ref = study.analysis, study.analysis.reference
    if ref is None or name == ref or name not in a.boundaries or ref not in a.boundaries:
        return None
    weights = name in a.first_layer and ref in a.first_layer  # a factory's network may have no first-layer kernel
    fig.set_size_inches(FULL_WIDTH_IN, 2.35)
    axes = fig.subplots(1, 3 if weights else 2, width_ratios=[1.25, 1, 1] if weights else [1.25, 1])
    _boundary_panel(axes[0], study, name, ref)
    _loss_panel(axes[1], study, name, ref)
    if weights:
        _weights_panel(axes[2], study, name, ref)
    handles = [
        Line2D([], [], color=BASE_COLOUR, lw=1.5, label=safe_text(ref)),
        Line2D([], [], color=study.colours[name], lw=2, label=safe_text(name, 24)),
        Line2D([], [], color="0.2", ls="--", lw=1, label="train loss"),
        Line2D([], [], color="0.2", lw=1, label="validation loss"),
    ]
    if a.bayes_grid is not None:
        handles.append(Line2D([], [], color="#f2c200", ls="--", lw=1.4, label="Bayes-optimal boundary"))
    if weights:
        handles.append(Patch(color=study.colours[name], alpha=0.6, label=f"{safe_text(name, 24)} weights"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    n = len(a.seeds)
    what = "the 0.5 decision boundary" if a.data.n_classes == 2 else "the boundaries between predicted classes"
    where = "inside the region holding 99% of the data" if not a.data.boundary_note else "on the plane of the boundary figure"
    return (
        f"{name} (colour) against {ref} (grey), {study.seeds}. Left: {what} of every replicate {where}, over "
        f"replicate 1's training points. {'Middle' if weights else 'Right'}: mean training (dashed) and validation "
        f"(solid) loss{', ' + study.ci + ' bands' if n > 1 else ''}. "
        + (
            "Right: first-layer weights, all replicates."
            if weights
            else "No first-layer weights are drawn: the network has no kernel before its last layer."
        )
    )
