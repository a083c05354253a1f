"""Curves: loss per epoch, strength sweeps, sparsity against threshold, accuracy after pruning."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from reportgen.config import DATA_AXES, WIDTH_AXIS, capacity_shapes, shape_name, width
from reportgen.figures.common import (
    FULL_WIDTH_IN,
    SWEEP_LABELS,
    Study,
    line_band,
    panel_grid,
    plain_log_ticks,
    reference,
    safe_text,
    summary,
    sweep_kinds,
    variant_legend,
)
from reportgen.regularizers import BY_KEY


def _loss_panel(ax, history: dict, bands: dict, colour) -> str:
    """Draw mean train (dashed) and validation (solid) loss with bands; mark early stops; return a title suffix."""
    epochs = np.arange(1, history["val_loss"].shape[1] + 1)
    for key, style in (("train_loss", "--"), ("val_loss", "-")):
        mean, low, high = bands[key]
        line_band(ax, epochs, mean, low, high, colour, linestyle=style, linewidth=1.2)
    stops = np.isfinite(history["val_loss"]).sum(axis=1)  # epochs each seed ran: histories are NaN after a stop
    stopped = stops[stops < len(epochs)]
    if stopped.size == 0:
        return ""
    ax.axvspan(stopped.min(), max(stopped.max(), stopped.min() + 0.5), color="0.5", alpha=0.25, linewidth=0)
    ax.axvline(float(np.median(stopped)), color="0.3", linestyle=":", linewidth=0.9)
    span = f"{stopped.min()}" if stopped.min() == stopped.max() else f"{stopped.min()}–{stopped.max()}"
    # two short lines: one line ran past a third-width panel's edge ("stops at epochs 51–195 (20 of 20)")
    return f"\nstopped at epoch {span}\nin {stopped.size} of {len(stops)} replicates"


def _loss_legend(fig: MplFigure, early_stops: bool) -> None:
    """Explain the line styles (and the early-stop marks, if any) once, above the panels."""
    handles = [Line2D([], [], color="0.2", ls="--", label="train loss"), Line2D([], [], color="0.2", label="validation loss")]
    if early_stops:
        handles.append(Patch(color="0.5", alpha=0.4, label="early stops (range over replicates)"))
    fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), frameon=False)


def draw_loss_curves(fig: MplFigure, study: Study) -> str | None:
    """Plot train and validation loss per epoch, one panel per variant."""
    a = study.analysis
    # a variant whose every run failed has no curve (failed runs are in no band): no empty panel for it
    names = [v for v in a.variants if v in a.histories and np.isfinite(a.histories[v]["val_loss"]).any()]
    if not names:
        return None
    axes = panel_grid(fig, len(names), 1.65, margins=(1.0, 0.8))
    suffixes = [_loss_panel(ax, a.histories[v], a.loss_bands[v], study.colours[v]) for ax, v in zip(axes, names)]
    for ax, name, suffix in zip(axes, names, suffixes):
        ax.set_title(safe_text(name, 26) + suffix)
    losses = np.concatenate([a.histories[v][k].ravel() for v in names for k in ("train_loss", "val_loss")])
    losses = losses[np.isfinite(losses) & (losses > 0)]
    axes[0].set_yscale("log")
    if losses.size:  # bands may reach below zero; the axis follows the data, not the bands
        axes[0].set_ylim(losses.min() / 1.5, losses.max() * 1.5)
    plain_log_ticks(axes[0].yaxis)
    _loss_legend(fig, early_stops=any(suffixes))
    loss = "binary" if a.data.n_classes == 2 else "categorical"
    fig.supxlabel("epoch")
    fig.supylabel(f"{loss} cross-entropy (log scale)")
    stops = (
        " A grey span marks the epochs at which runs stopped early, the dotted line their median; after a replicate "
        "stops, the curve averages the replicates still running."
        if any(suffixes)
        else ""
    )
    return (
        f"{loss.capitalize()} cross-entropy per epoch, without the L1/L2 penalty term: training loss (dashed, averaged over the "
        f"epoch's mini-batches with dropout active, as Keras reports it) and validation loss (solid); "
        f"{study.spread.replace('lines are means', 'lines are geometric means')} (computed on the log of the loss, "
        f"as the axis shows it).{stops}"
    )


def draw_sparsity(fig: MplFigure, study: Study) -> str | None:
    """Plot the share of hidden-kernel weights below a threshold against the threshold, per layer."""
    a, curves = study.analysis, study.analysis.sparsity_curves
    if curves.empty:
        return None
    layers, names = sorted(curves["layer"].unique()), [v for v in a.variants if v in set(curves["variant"])]
    axes = panel_grid(fig, len(layers), 1.6, margins=(2.2, 0.6), panel_width=2.4 if len(layers) < 3 else 0)
    for ax, layer in zip(axes, layers):
        for name in names:
            part = curves[(curves["variant"] == name) & (curves["layer"] == layer)].sort_values("threshold")
            line_band(ax, part["threshold"], part["mean"], part["low"], part["high"], study.colours[name], lw=1.3)
        for t in a.thresholds:
            ax.axvline(t, color="0.3", linestyle=":", linewidth=1)
        ax.set(xscale="log", ylim=(-0.02, 1.02), title=f"hidden layer {layer}")
    marks = ", ".join(f"{t:g}" for t in a.thresholds)
    variant_legend(fig, study, names, [Line2D([], [], color="0.3", ls=":", label=f"t = {marks}")])
    fig.supxlabel("threshold t on |w| (log scale)")
    fig.supylabel("share of weights with |w| < t")
    return (
        f"Share of each hidden layer's kernel weights whose magnitude is below a threshold t, for t from "
        f"{curves['threshold'].min():g} to {curves['threshold'].max():g}; {study.spread}. "
        f"A curve that rises early means many weights near zero. Dotted lines: the thresholds "
        f"used in the tables ({marks})."
    )


def draw_pruning(fig: MplFigure, study: Study) -> str | None:
    """Plot test accuracy against the share of kernel weights pruned by magnitude."""
    a, prune = study.analysis, study.analysis.pruning
    if prune.empty:
        return None
    names = [v for v in a.variants if v in set(prune["variant"])]
    fig.set_size_inches(FULL_WIDTH_IN, 2.3)
    ax = fig.subplots()
    for name in names:
        part = prune[prune["variant"] == name].sort_values("fraction")
        line_band(
            ax,
            part["fraction"] * 100,
            part["mean"],
            part["low"],
            part["high"],
            study.colours[name],
            marker="o",
            markersize=3,
            lw=1.3,
        )
    majority = a.chance
    ax.axhline(majority, color="0.3", linestyle=":", linewidth=1)
    ax.set(xlabel="kernel weights set to zero (%)", ylabel="test accuracy", xlim=(0, 100))
    variant_legend(fig, study, names, [Line2D([], [], color="0.3", ls=":", label="majority class")])
    return (
        f"Test accuracy after setting the given percentage of all kernel weights (all layers pooled, smallest |w| "
        f"first, biases kept) to zero, without retraining; {study.spread}. "
        f"The dotted line is the accuracy of always predicting the majority class ({majority:.0%})."
    )


def _sweep_panel(ax, part: pd.DataFrame, kind: str, reference: dict | None, colour) -> None:
    """Draw one metric against one regularizer's strength, with the unregularized value as a dashed line."""
    record = BY_KEY.get(kind)
    log = record is not None and record.sweep is not None and record.sweep.log
    line = record.colour if record is not None else "0.15"  # each regularizer's sweep in its own colour
    part = part.sort_values("strength")
    ax.set_xscale("log" if log else "linear")  # before plotting: a lone point on a linear axis has a zero-width view
    lone = float(part["strength"].iloc[0]) if len(part) == 1 else None
    if lone is not None:  # a single point has no range to set the x-axis: set it before autoscaling meets one point
        ax.set_xlim((lone / 10, lone * 10) if log else (max(lone - 0.1, 0.0), lone + 0.1))
    line_band(ax, part["strength"], part["mean"], part["low"], part["high"], line, marker="o", markersize=3.5)
    if lone is not None:  # ... nor a band to show its interval
        s = lone
        ax.errorbar(
            s, part["mean"], yerr=[part["mean"] - part["low"], part["high"] - part["mean"]], fmt="none", ecolor=line, capsize=3
        )
        ax.set_xticks([s], [f"{s:g}"])
        ax.minorticks_off()
    if reference is not None:
        ax.axhline(reference["mean"], color=colour, linestyle="--", linewidth=1.2)


def draw_sweeps(fig: MplFigure, study: Study) -> str | None:
    """Plot test accuracy, gap and sparsity against each regularizer's strength."""
    a, sweeps = study.analysis, study.analysis.sweeps
    if sweeps.empty:
        return None
    kinds, sparse = sweep_kinds(sweeps["kind"]), f"first_below_{max(a.thresholds):g}"
    rows = [
        (m, label)
        for m, label in (
            ("test_accuracy", "test\naccuracy"),
            ("gap", "train − test\naccuracy"),
            (sparse, f"share of\n|w| < {max(a.thresholds):g}"),
        )
        if m in set(sweeps["metric"])
    ]
    ref = reference(study)
    # room for the legend above; each row tall enough for its two-line label
    fig.set_size_inches(FULL_WIDTH_IN if len(kinds) > 1 else 4.2, 0.75 + 1.0 * len(rows))
    axes = fig.subplots(len(rows), len(kinds), squeeze=False, sharex="col", sharey="row")
    fig.set_layout_engine("constrained", wspace=0.12)  # the columns' end ticks (10⁻² beside 10⁻⁵) apart, not touching
    for r, (metric, label) in enumerate(rows):
        for c, kind in enumerate(kinds):
            part = sweeps[(sweeps["kind"] == kind) & (sweeps["metric"] == metric)]
            _sweep_panel(axes[r, c], part, kind, summary(a, ref, metric) if ref else None, study.colours.get(ref))
        axes[r, 0].set_ylabel(label)
    for c, kind in enumerate(kinds):
        title, xlabel = SWEEP_LABELS.get(kind, (safe_text(kind), safe_text(kind)))
        axes[0, c].set_title(f"{title} sweep")
        axes[-1, c].set_xlabel(xlabel)
    _sweep_legend(fig, study, ref, len(kinds))
    return (
        f"The base network trained with one regularizer at several strengths (columns), {study.seeds} per point: "
        f"test accuracy, generalization gap and share of hidden-kernel weights with |w| < {max(a.thresholds):g} "
        f"(rows); {study.spread}."
        + (f" Dashed line: the {ref} variant (no regularization) for comparison." if ref else "")
        + _failed_points(study)
    )


def _failed_points(study: Study) -> str:
    """Name the sweep points some of whose runs failed: their means leave those runs out (none left: no point)."""
    a, reps = study.analysis, len(study.analysis.seeds)
    rows = a.sweeps[(a.sweeps["metric"] == "val_loss") & (a.sweeps["n"] < reps)]
    if rows.empty:
        return ""
    named = [f"{SWEEP_LABELS.get(r.kind, (r.kind,))[0]} {r.strength:g} ({reps - int(r.n)} of {reps})" for r in rows.itertuples()]
    return (
        f" Runs that failed (named in the strength-sweep section) are left out: {', '.join(named)}; a strength none of "
        f"whose runs trained has no point, and none of these strengths can be the one chosen on validation loss."
    )


def _sweep_legend(fig: MplFigure, study: Study, ref: str | None, ncols: int) -> None:
    """Explain the sweep line and the dashed unregularized reference above the grid."""
    handles = [Line2D([], [], color="0.15", marker="o", markersize=3.5, label=f"mean over {study.seeds}")]
    if len(study.analysis.seeds) > 1:
        handles.append(Patch(color="0.15", alpha=0.2, label=f"{study.ci} confidence interval"))
    if ref:
        handles.append(Line2D([], [], color=study.colours[ref], ls="--", label=f"{safe_text(ref)} (no regularization)"))
    fig.legend(handles=handles, loc="outside upper center", ncol=len(handles) if ncols > 1 else 1, frameon=False)


DATA_SWEEP_ROWS = (("test_accuracy", "test accuracy"), ("gap", "generalization gap"))
BENEFIT_AXES = {  # the x axis of each study-wide sweep, as the figures label it, and whether it is drawn on a log scale
    "n_samples": ("training-set size (log scale)", True),
    "noise": ("data noise", False),
    "hidden_units": ("network width: units per hidden layer (log scale)", True),
}


def _x(part: pd.DataFrame, axis: str) -> pd.Series:
    """Where a sweep's points lie on the figure: the rows left for training, or the setting (noise, width)."""
    return part["n_train"] if axis == "n_samples" else part["setting"]


def _shape_names(study: Study) -> dict[float, str]:
    """The network shape of each width of the capacity sweep, e.g. {64.0: '64×64'} (one shape per width)."""
    setup = study.analysis.setup
    return {width(h): shape_name(h) for h in capacity_shapes(setup.model, setup.sweeps)}


def _benefit_panel(ax, study: Study, part: pd.DataFrame, axis: str, names: list[str]) -> None:
    """One metric's paired differences from the baseline along one sweep axis, a line and band per variant."""
    for name in names:
        line = part[part["variant"] == name].sort_values("setting")
        line_band(
            ax,
            _x(line, axis),
            line["mean"] * 100,
            line["low"] * 100,
            line["high"] * 100,
            study.colours[name],
            marker="o",
            markersize=3,
            lw=1.3,
        )
        for edge in ("low", "high"):  # each band's edges in its colour: overlapping bands stay told apart
            ax.plot(_x(line, axis), line[edge] * 100, color=study.colours[name], lw=0.5, alpha=0.7)
    ax.axhline(0, color="0.3", linestyle="--", linewidth=0.8)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}".replace("-", "−")))  # '0' in both rows, not '0.0'
    if BENEFIT_AXES[axis][1]:
        ax.set_xscale("log")
    ticks = sorted(set(_x(part, axis)))
    shapes = _shape_names(study) if axis == "hidden_units" else {}
    ax.set_xticks(ticks, [shapes.get(t, f"{t:g}") for t in ticks])  # the settings trained, nothing in between
    ax.minorticks_off()
    if axis == "hidden_units" and len(ticks) > 3:  # shapes such as 256×256 collide side by side
        ax.tick_params(axis="x", labelrotation=30)


def _benefit_figure(fig: MplFigure, study: Study, axes: tuple[str, ...]) -> list[str] | None:
    """Draw each regularized variant's benefit over the baseline (rows: test accuracy, gap) against each of these sweep
    axes that the study has (columns); return the axes drawn (None: none)."""
    a, sweeps = study.analysis, study.analysis.data_sweeps
    if sweeps.empty:
        return None
    diffs = sweeps[sweeps["kind"] == "difference"]
    present = [axis for axis in axes if axis in set(diffs["axis"])]
    if not present:
        return None
    names = [v for v in a.variants if v in set(diffs["variant"])]
    fig.set_size_inches(min(FULL_WIDTH_IN, 2.2 + 2.6 * len(present)), 4.6)
    grid = fig.subplots(len(DATA_SWEEP_ROWS), len(present), squeeze=False, sharex="col", sharey="row")
    for c, axis in enumerate(present):
        for r, (metric, label) in enumerate(DATA_SWEEP_ROWS):
            _benefit_panel(grid[r, c], study, diffs[(diffs["axis"] == axis) & (diffs["metric"] == metric)], axis, names)
            grid[r, 0].set_ylabel(f"{label}:\nvariant − {safe_text(a.reference)} (pp)")
        grid[-1, c].set_xlabel(BENEFIT_AXES[axis][0])
    extra: list = [Line2D([], [], color="0.3", ls="--", lw=0.8, label="no difference")]
    if len(a.seeds) > 1:
        extra.append(Patch(color="0.3", alpha=0.2, label=f"{study.ci} interval\nover {study.seeds}"))
    variant_legend(fig, study, names, extra)
    return present


def _benefit_caption(study: Study, against: str) -> str:
    """The first sentence of a benefit figure's caption, up to what the x axis is."""
    ref = study.analysis.reference
    return (
        f"Each regularized variant's paired difference from {ref} (the variant minus {ref} on the same replicate) in "
        f"test accuracy (top: above zero, the regularizer helped) and in the generalization gap (bottom: below zero, it "
        f"reduced overfitting), against {against}; {study.spread}."
    )


def draw_data_sweeps(fig: MplFigure, study: Study) -> str | None:
    """Plot each regularizer's paired difference from the baseline in test accuracy and generalization gap against
    the training-set size and the noise."""
    present = _benefit_figure(fig, study, DATA_AXES)
    if present is None:
        return None
    against = " and against ".join(
        "the training-set size (rows left for training after the validation split)"
        if axis == "n_samples"
        else "the noise of the generator"
        for axis in present
    )
    return _benefit_caption(study, against) + (
        " The interval at each point stands alone (not corrected for the number of points); whether the benefit "
        "shrinks as the training set grows is judged by the slope test of the claim."
    )


def draw_capacity(fig: MplFigure, study: Study) -> str | None:
    """Plot each regularizer's paired difference from the baseline in test accuracy and generalization gap against
    the network's width (the capacity sweep)."""
    if _benefit_figure(fig, study, (WIDTH_AXIS,)) is None:
        return None
    setup = study.analysis.setup
    shapes = capacity_shapes(setup.model, setup.sweeps)
    names = [shape_name(h) for h in shapes]
    listed = f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else names[0]
    unequal = any(len(set(h)) > 1 for h in shapes)
    depths = sorted({len(h) for h in shapes})
    text = _benefit_caption(
        study,
        f"the network's width, its units per hidden layer{' (the geometric mean of unequal layers)' if unequal else ''}, "
        f"on a log scale: hidden layers of {listed} units",
    )
    if len(depths) > 1:
        text += (
            f" The shapes also differ in depth ({depths[0]} to {depths[-1]} hidden layers); the x axis and the claim's "
            "slope place them by width alone."
        )
    return text + (
        " The interval at each width stands alone (not corrected for the number of widths); whether the benefit grows "
        "with the width is judged by the slope test of the claim, per doubling of the width."
    )
