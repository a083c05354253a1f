"""Maps of the input plane: the data, decision boundaries of every variant, of the sweeps, and across epochs."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

from reportgen.analysis import BoundarySet, StudyAnalysis
from reportgen.datasets import Generated
from reportgen.figures.common import (
    FULL_WIDTH_IN,
    MAX_WIDTH_CM,
    PROB_CMAP,
    SWEEP_LABELS,
    Study,
    class_background,
    class_handles,
    class_lines,
    contour_lines,
    inside_region,
    panel_grid,
    safe_text,
    summary,
    sweep_kinds,
)
from reportgen.plan import still_epochs
from reportgen.regularizers import BY_KEY


def _aspect(bset: BoundarySet) -> float:
    """Height over width of the grid, so panels keep x1 and x2 on the same scale."""
    return float((bset.ys[-1] - bset.ys[0]) / (bset.xs[-1] - bset.xs[0]))


def _probability_panel(ax, bset: BoundarySet, study: Study, point_size: float = 10, bayes=None):
    """Draw the first run's P(class 1) (beyond two classes: its predicted class), every run's decision boundary inside
    the data region, the Bayes boundary (dashed) and the first replicate's training points; return the mappable (None
    beyond two classes: the legend names the classes instead of a colorbar)."""
    data, lines = study.data, dict(alpha=max(0.25, min(0.8, 4 / len(bset.probs))))
    if bset.background.ndim == 3:
        filled = class_background(ax, bset.xs, bset.ys, bset.background, study.class_colours)
        for probs in bset.probs:
            class_lines(ax, bset.xs, bset.ys, probs, colors="black", linewidths=0.6, **lines)
        if bayes is not None:
            class_lines(ax, bset.xs, bset.ys, bayes, colors="#f2c200", linewidths=1.4, linestyles="--")
    else:
        filled = ax.contourf(bset.xs, bset.ys, bset.background, levels=np.linspace(0, 1, 11), cmap=PROB_CMAP, alpha=0.6)
        contour_lines(ax, bset.xs, bset.ys, bset.probs, "black", 0.6, lines["alpha"])
        if bayes is not None:
            contour_lines(ax, bset.xs, bset.ys, [bayes], "#f2c200", 1.4, style="--")
    points = study.plane(data.x_train)
    ax.scatter(points[:, 0], points[:, 1], c=study.colours_of(data.y_train), s=point_size, edgecolors="black", linewidths=0.4)
    ax.set_xlim(bset.xs[0], bset.xs[-1])
    ax.set_ylim(bset.ys[0], bset.ys[-1])
    ax.set_aspect("equal")
    ax.grid(False)
    return filled


def draw_dataset(fig: MplFigure, study: Study) -> str:
    """Scatter the train, validation and test points, coloured by class."""
    d, ax = study.data, fig.subplots()
    planar = {s: study.plane(getattr(d, f"x_{s}")) for s in ("train", "val", "test")}
    pts = np.vstack([planar["train"], planar["val"]])
    bounds = tuple(float(v) for v in (pts[:, 0].min() - 0.5, pts[:, 0].max() + 0.5, pts[:, 1].min() - 0.5, pts[:, 1].max() + 0.5))
    axes_width = 2.6  # the legend takes about 1.3 in to its right; the height follows the axes' equal aspect
    fig.set_size_inches(axes_width + 1.3, axes_width * (bounds[3] - bounds[2]) / (bounds[1] - bounds[0]) + 0.6)
    for split, marker, size, alpha, edge in (
        ("test", "o", 4, 0.3, "none"),
        ("train", "o", 26, 1.0, "white"),
        ("val", "^", 40, 1.0, "black"),
    ):
        x, y = planar[split], getattr(d, f"y_{split}")
        ax.scatter(x[:, 0], x[:, 1], c=study.colours_of(y), marker=marker, s=size, alpha=alpha, edgecolors=edge, linewidths=0.6)
    labels = study.analysis.data.view_labels
    ax.set(xlim=bounds[:2], ylim=bounds[2:], xlabel=safe_text(labels[0], 40), ylabel=safe_text(labels[1], 40), aspect="equal")
    marker = dict(ls="none", color="0.45")
    handles = [
        Line2D([], [], marker="o", markeredgecolor="white", markersize=6, label="train", **marker),
        Line2D([], [], marker="^", markeredgecolor="black", markersize=7, label="validation", **marker),
        Line2D([], [], marker="o", alpha=0.4, markersize=3, label="test", **marker),
        *class_handles(study),
    ]
    fig.legend(handles=handles, loc="outside right upper", frameon=False)
    return _dataset_caption(study)


def _dataset_caption(study: Study) -> str:
    """What the data figure shows: the data, its splits, what a replicate redraws and the plane shown."""
    d, cfg, info = study.data, study.analysis.setup.data, study.analysis.data
    if not isinstance(cfg, Generated):
        scope = (
            f"Each of the {study.seeds} splits the rows anew, stratified by class (shown: the first replicate)."
            if cfg.resample
            else "Every replicate uses this one split of the rows."
        )
        return (
            f"{info.title}: {len(d.y_train)} training rows (circles) and {len(d.y_val)} validation rows (triangles), "
            f"plus {len(d.y_test)} test rows (small light dots) used only to measure accuracy; colour is the class. "
            f"{scope} {info.view_sentence}"
        ).rstrip()
    scope = (
        f"Each of the {study.seeds} draws its own training, validation and test points from the same generator "
        f"(shown: the first replicate), so every interval in this report covers the data draw too."
        if cfg.resample
        else "Every replicate trains on these same points: a replicate changes only the initial weights, batch order "
        f"and dropout masks, so the intervals in this report are about this one sample of {info.title}."
    )
    return (
        f"The {info.title} data (noise {cfg.noise:g}): {len(d.y_train)} training points (circles) and "
        f"{len(d.y_val)} validation points (triangles), plus {len(d.y_test)} test points (small light dots) "
        f"used only to measure accuracy; colour is the class. {scope} {info.view_sentence}"
    ).rstrip()


def draw_boundaries(fig: MplFigure, study: Study) -> str | None:
    """Show each variant's predicted probability and every seed's decision boundary, one panel each."""
    a = study.analysis
    names = [v for v in a.variants if v in a.boundaries]
    if not names:
        return None
    first = a.boundaries[names[0]]
    # 1.6 in of the width go to the colorbar, ticks and axis labels; 0.3 in of each row to the one-line title.
    axes = panel_grid(fig, len(names), (FULL_WIDTH_IN - 1.6) / 3 * _aspect(first) + 0.3, margins=(1.6, 0.3))
    for ax, name in zip(axes, names):
        filled = _probability_panel(ax, a.boundaries[name], study, bayes=inside_region(a.bayes_grid, a.frame))
        acc = summary(a, name, "test_accuracy")
        ax.set_title(safe_text(name, 26) + (f" · {acc['mean']:.1%}" if acc else ""))
    _plane_legend(fig, study, filled, axes, shrink=0.9)
    fig.supxlabel(safe_text(a.data.view_labels[0], 50))
    fig.supylabel(safe_text(a.data.view_labels[1], 50))
    return _boundaries_caption(study)


def _background_words(study: Study) -> str:
    """What a boundary panel's background shows."""
    return (
        "the predicted probability of class 1"
        if study.analysis.data.n_classes == 2
        else "the predicted class (colour), paler where the network is less sure"
    )


def _boundary_words(study: Study) -> str:
    """What a boundary panel's lines are."""
    return "the 0.5 boundary" if study.analysis.data.n_classes == 2 else "the boundaries between predicted classes"


def _plane_legend(fig: MplFigure, study: Study, filled, axes, **colorbar) -> None:
    """A colorbar of P(class 1) for two classes; beyond, a legend of the class colours."""
    if filled is not None:
        fig.colorbar(filled, ax=axes, label="P(class 1)", **colorbar)
    else:
        fig.legend(handles=class_handles(study), loc="outside right upper", frameon=False)


def _boundaries_caption(study: Study) -> str:
    """What the decision-boundary figure shows, in words that fit two classes or more and the plane used."""
    a, n = study.analysis, len(study.analysis.seeds)
    binary = a.data.n_classes == 2
    what = "the 0.5 decision boundary" if binary else "the boundaries between predicted classes"
    where = (
        "drawn inside the region that holds 99% of the data (where boundary length is measured)"
        if not a.data.boundary_note
        else "drawn over the whole plane"
    )
    lines = (
        f"Thin black lines: {what} of each of the {study.seeds}, {where}; where they spread apart, replicates disagree."
        if n > 1
        else f"Black lines: {what}, {where}."
    )
    bayes = (
        " Dashed yellow line: the Bayes-optimal boundary of the data generator, in the same region."
        if a.bayes_grid is not None
        else ""
    )
    background = (
        "predicted probability of class 1" if binary else "the predicted class (colour), paler where the network is less sure"
    )
    return (
        f"Background: {background} of each variant's first replicate. {lines}{bayes} Dots: "
        f"the first replicate's training points, coloured by class. Titles give the "
        f"{'mean ' if n > 1 else ''}test accuracy ({study.seeds}). {a.data.view_sentence}"
    ).rstrip()


def _sweep_title(kind: str, strength: float) -> str:
    """Name a sweep point briefly, e.g. 'L1 1e-04', 'L2 2.5e-04' or 'dropout 0.2'."""
    record = BY_KEY.get(kind)
    if record is not None and record.sweep is not None and record.sweep.log:  # strengths over decades
        short = f"{strength:.0e}"
        return f"{record.name} {short if float(short) == strength else f'{strength:.1e}'}"
    return f"{record.name if record is not None else safe_text(kind)} {strength:g}"


SWEEP_BOUNDARY_COLUMNS = 5  # panels per row: 5 across the text width keeps each panel >= 3 cm wide in print


def draw_sweep_boundaries(fig: MplFigure, study: Study) -> str | None:
    """Show the decision boundary of every sweep point (first seed): per regularizer a header, then its strengths
    in rows of at most SWEEP_BOUNDARY_COLUMNS panels, with one shared colorbar below."""
    bounds = study.analysis.sweep_boundaries
    if not bounds:
        return None
    by_kind = {k: sorted(s for kind, s in bounds if kind == k) for k in sweep_kinds(k for k, _ in bounds)}
    ncols = min(SWEEP_BOUNDARY_COLUMNS, max(len(s) for s in by_kind.values()))
    rows = {k: -(-len(s) // ncols) for k, s in by_kind.items()}
    # One frame for every panel, so positions compare across strengths and regularizers.
    x0, x1 = min(b.xs[0] for b in bounds.values()), max(b.xs[-1] for b in bounds.values())
    y0, y1 = min(b.ys[0] for b in bounds.values()), max(b.ys[-1] for b in bounds.values())
    # Width chosen so the saved PNG, with the 0.1 in bbox padding on each side, is at most MAX_WIDTH_CM: it is then
    # printed at its own size, fonts unshrunk, and each of 5 panels is ~3 cm wide.
    panel = min(1.6, (MAX_WIDTH_CM / 2.54 - 0.35) / ncols - 0.1)
    panel_h, header_h = panel * (y1 - y0) / (x1 - x0), 0.12
    # Per row of panels 0.3 in go to its title and padding; per header 0.2 in; 0.6 in to the colorbar below.
    fig.set_size_inches(0.1 + ncols * (panel + 0.1), sum(rows.values()) * (panel_h + 0.3) + len(by_kind) * (header_h + 0.2) + 0.6)
    heights = [h for k in by_kind for h in [header_h] + [panel_h] * rows[k]]
    grid = fig.add_gridspec(len(heights), ncols, height_ratios=heights)
    panels, r = [], 0
    for i, (kind, strengths) in enumerate(by_kind.items()):
        header = fig.add_subplot(grid[r, :])
        header.axis("off")
        header.text(
            0,
            0,
            f"{SWEEP_LABELS.get(kind, (safe_text(kind),))[0]} sweep",
            transform=header.transAxes,
            fontweight="bold",
            va="bottom",
        )
        if i:  # a thin rule where the previous regularizer's panels end
            header.plot([0, 1], [1.6, 1.6], transform=header.transAxes, color="0.6", linewidth=0.8, clip_on=False)
        for j in range(rows[kind] * ncols):
            ax = fig.add_subplot(grid[r + 1 + j // ncols, j % ncols])
            panels.append(ax)
            if j >= len(strengths):  # an unused cell after the last strength stays empty
                ax.axis("off")
                continue
            filled = _probability_panel(ax, bounds[(kind, strengths[j])], study, point_size=4)
            ax.set(title=_sweep_title(kind, strengths[j]), xticks=[], yticks=[], xlim=(x0, x1), ylim=(y0, y1))
        r += 1 + rows[kind]
    _plane_legend(fig, study, filled, panels, location="bottom", shrink=min(0.9, 2.5 / ncols), aspect=35)
    return (
        f"Decision boundaries of the sweeps, one block per regularizer with one panel per strength (read left to "
        f"right, then down), for the first run only (seed {study.analysis.seeds[0]} of {study.seeds}): background "
        f"is {_background_words(study)}, the black line{'' if study.analysis.data.n_classes == 2 else 's'} "
        f"{_boundary_words(study)}, dots the training points; "
        f"all panels share the axes of the decision-boundary figure. {study.analysis.data.view_sentence}"
    ).rstrip()


SNAPSHOT_COLOURS = 64  # a frame's palette: its flat bands and lines look the same, its PNG is a third of the RGB one's


def _epochs_phrase(epochs: list[int]) -> str:
    """Name a list of epochs briefly: runs of three or more at one step as 'a to b (every s)', e.g. '10 to 100 (every
    10) and 150 to 450 (every 50)'; others one by one."""
    parts, i = [], 0
    while i < len(epochs):
        j = i + 1
        while j + 1 < len(epochs) and epochs[j + 1] - epochs[j] == epochs[i + 1] - epochs[i]:
            j += 1
        if j < len(epochs) and j - i >= 2:
            parts.append(f"{epochs[i]} to {epochs[j]} (every {epochs[i + 1] - epochs[i]})")
            i = j + 1
        else:
            parts.append(str(epochs[i]))
            i += 1
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def snapshot_names(analysis: StudyAnalysis) -> list[str]:
    """The variants whose first replicate kept snapshots, in study order."""
    return [v for v in analysis.variants if v in analysis.snapshots]


def snapshot_epochs(analysis: StudyAnalysis) -> list[int]:
    """Every epoch after which some variant's first replicate kept its weights."""
    return analysis.snapshot_epochs()


def _snapshot_panel(ax, study: Study, name: str, epoch: int | None) -> None:
    """One variant's boundary after an epoch (None: at the end of training) over its training points."""
    a, d = study.analysis, study.data
    probs = a.snapshots[name].get(epoch) if epoch is not None else a.boundaries[name].background
    if probs is not None and probs.ndim == 3:
        class_background(ax, a.frame.xs, a.frame.ys, probs, study.class_colours)
        class_lines(ax, a.frame.xs, a.frame.ys, probs, colors="black", linewidths=0.8)
    elif probs is not None:
        ax.contourf(a.frame.xs, a.frame.ys, probs, levels=np.linspace(0, 1, 11), cmap=PROB_CMAP, alpha=0.6)
        contour_lines(ax, a.frame.xs, a.frame.ys, [probs], "black", 0.8)
    else:
        ax.text(  # on a white ground: the faded training points stay behind the words, not through them
            0.5,
            0.5,
            "stopped\nearlier",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=7,
            color="0.35",
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "none"},
        )
    points = study.plane(d.x_train)
    colours = study.colours_of(d.y_train)
    ax.scatter(points[:, 0], points[:, 1], c=colours, s=2, linewidths=0, alpha=1 if probs is not None else 0.25)
    ax.set(xticks=[], yticks=[], xlim=(a.frame.xs[0], a.frame.xs[-1]), ylim=(a.frame.ys[0], a.frame.ys[-1]))


def draw_snapshot(fig: MplFigure, study: Study, epoch: int | None) -> str | None:
    """One frame of training: every variant's decision boundary (first replicate) after one epoch, side by side.

    Frames are laid out by hand, not by the constrained layout: every frame has its panels at the same pixels, so
    stepping through them moves only the boundaries. The caption is the film's, the same for every frame."""
    a, names = study.analysis, snapshot_names(study.analysis)
    if not names:
        return None
    fig.set_layout_engine("none")
    label_w, pad = 0.3, 0.05  # inches: the epoch written up the left side, the gap around each panel
    panel = min(1.55, (FULL_WIDTH_IN - label_w - pad) / len(names))
    height = (panel - 2 * pad) * (a.frame.ys[-1] - a.frame.ys[0]) / (a.frame.xs[-1] - a.frame.xs[0])
    titles = [safe_text(name, 16) for name in names]
    title_h = 0.08 + 0.16 * max(t.count("\n") + 1 for t in titles)
    width, tall = label_w + len(names) * panel + pad, pad + height + title_h
    fig.set_size_inches(width, tall)
    for c, (name, title) in enumerate(zip(names, titles)):
        ax = fig.add_axes(((label_w + c * panel + pad) / width, pad / tall, (panel - 2 * pad) / width, height / tall))
        _snapshot_panel(ax, study, name, epoch)
        ax.set_title(title, fontsize=9.5, pad=2)
    label = f"epoch {epoch}" if epoch is not None else "end"
    fig.text(0.12 / width, (pad + height / 2) / tall, label, rotation=90, ha="center", va="center", fontsize=9.5)
    return snapshot_caption(study)


def snapshot_caption(study: Study) -> str:
    """What the frames of training show, on screen (all of them, one at a time) and in print (the stills)."""
    a = study.analysis
    epochs = snapshot_epochs(a)
    stills = still_epochs(epochs, a.setup.training.epochs)
    lines = "0.5 contour" if a.data.n_classes == 2 else "between the predicted classes"
    printed = (
        f" A printed report shows the frames after {_epochs_phrase(stills)} epochs and at the end." if stills != epochs else ""
    )
    return (
        f"The decision boundary (black, {lines}) of each variant's first replicate (of {study.seeds}) after "
        f"{_epochs_phrase(epochs)} epochs and at the end of training (for early stopping: the weights it kept), over "
        f"that replicate's training points; the background is {_background_words(study)}, coloured as in the "
        f"decision-boundary figure. Step through the frames to see when a network starts to bend its boundary around "
        f"single points.{printed} {a.data.view_sentence}"
    ).rstrip()
