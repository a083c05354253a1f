"""Draw the report's figures from a StudyAnalysis: one PNG per figure, with a caption built from the data."""

from __future__ import annotations

import io
import textwrap
import warnings
from dataclasses import dataclass

import matplotlib.style
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import MatplotlibDeprecationWarning, ticker
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import stats

from reportgen.analysis import BoundarySet, StudyAnalysis, per_replicate, summary_value
from reportgen.config import StudyConfig
from reportgen.data import Dataset

# Figures are built on bare matplotlib Figures rendered by the Agg PNG writer, never through pyplot: pyplot keeps
# every figure in a global registry (a leak unless closed) and matplotlib.use() would switch the whole process's
# backend. A bare Figure is ordinary garbage, so there is nothing left open whatever happens while drawing.
DPI = 150
FULL_WIDTH_IN = 7.0  # A4 text width is ~17 cm; the PNG is shown at its own size, capped at MAX_WIDTH_CM
MAX_WIDTH_CM = 17.0
CLASS_COLOURS = ("#2166ac", "#b2182b")  # the two ends of RdBu, so points match the probability background
PROB_CMAP = "RdBu_r"
SWEEP_LABELS = {"l1": ("L1", "L1 strength"), "l2": ("L2", "L2 strength"), "dropout": ("Dropout", "dropout rate")}
# 8.5 pt at 7 in stays >= 8 pt even when a slightly wider tight bounding box is shrunk to 17 cm.
_RC = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 8.5, "ytick.labelsize": 8.5,
       "legend.fontsize": 8.5, "legend.title_fontsize": 9, "figure.labelsize": 9, "text.usetex": False}


@dataclass(frozen=True)
class Figure:
    """One drawn figure of the report."""

    key: str
    title: str
    caption: str
    png: bytes
    width_cm: float


@dataclass(frozen=True)
class _Study:
    """What every drawing function reads: the analysis, the points, the config and one colour per variant."""

    analysis: StudyAnalysis
    data: Dataset
    config: StudyConfig
    colours: dict

    @property
    def seeds(self) -> str:
        """'1 replicate' or 'n replicates', for captions."""
        n = len(self.analysis.seeds)
        return f"{n} replicate" if n == 1 else f"{n} replicates"

    @property
    def spread(self) -> str:
        """Say, for captions, what lines and bands show across seeds."""
        if len(self.analysis.seeds) < 2:
            return f"lines show a single run ({self.seeds}), so there are no confidence bands"
        return f"lines are means over {self.seeds}, bands their {self.ci} confidence interval (Student's t)"

    @property
    def ci(self) -> str:
        """The confidence level as a percentage, e.g. '95%'."""
        return f"{self.analysis.confidence * 100:g}%"


def _text(name: str, width: int = 0) -> str:
    """Escape '$' so matplotlib never reads a user's variant name as mathtext; optionally wrap long names."""
    return (textwrap.fill(name, width) if width else name).replace("$", r"\$")


def _palette(variants: list[str]) -> dict:
    """Give each variant one colour, in study order, for every figure."""
    n = len(variants)
    if n <= 10:
        colours = sns.color_palette("colorblind", n)
    elif n <= 20:  # tab20's dark half then its light half: still 20 distinguishable colours
        tab = sns.color_palette("tab20")
        colours = tab[0::2] + tab[1::2]
    else:
        colours = sns.color_palette("husl", n)
    return dict(zip(variants, colours))


def _style():
    """Return the style context every figure is drawn in (whitegrid, print-size fonts), leaving rcParams untouched."""
    return matplotlib.style.context({**sns.axes_style("whitegrid"), **_RC})


def _png(fig: MplFigure) -> tuple[bytes, float]:
    """Render a figure to PNG bytes and return them with the display width in cm (capped at the text width)."""
    buf = io.BytesIO()
    # No "Software" tag: the same figure gives the same bytes on every run and matplotlib version.
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    png = buf.getvalue()
    width_px = int.from_bytes(png[16:20], "big")  # IHDR width
    return png, round(min(MAX_WIDTH_CM, width_px / DPI * 2.54), 2)


_summary = summary_value


def _band(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise mean and t interval over the finite rows: stats.estimate_columns, vectorised for long histories."""
    finite = np.isfinite(values)
    n = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, values, 0.0).sum(axis=0) / n
        var = np.where(finite, (values - mean) ** 2, 0.0).sum(axis=0) / (n - 1)
        half = stats.t.ppf((1 + confidence) / 2, n - 1) * np.sqrt(var / n)  # NaN with fewer than two seeds
    return mean, mean - half, mean + half


def _line_band(ax, x, mean, low, high, colour, label=None, **line) -> None:
    """Plot a mean line and, where an interval exists, a translucent band around it."""
    x, low, high = (np.asarray(a, dtype=float) for a in (x, low, high))
    ax.plot(x, mean, color=colour, label=label, **line)
    ok = np.isfinite(low) & np.isfinite(high)
    if ok.any():
        ax.fill_between(x, low, high, where=ok, color=colour, alpha=0.2, linewidth=0)


def _grid(fig: MplFigure, n: int, row_height: float, margins=(0.8, 0.6), panel_width: float = 0.0) -> list:
    """Size the figure for n shared-axes panels in rows of at most 3 and lay them out; return the used Axes."""
    ncols, nrows = min(n, 3), -(-n // 3)
    panel_width = panel_width or (FULL_WIDTH_IN - margins[0]) / 3  # three panels fill the full width exactly
    fig.set_size_inches(min(FULL_WIDTH_IN, margins[0] + ncols * panel_width), margins[1] + nrows * row_height)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[max(n - ncols, 0):n]:  # the last panel of each column shows the x tick labels
        ax.tick_params(labelbottom=True)
    return list(axes[:n])


def _plain_log_ticks(axis) -> None:
    """Label a log axis spanning under ~2 decades at 1-2-5 steps with plain numbers (0.05, 0.2, 1)."""
    low, high = axis.get_view_interval()
    if low > 0 and high / low < 10**2.2:  # over wider spans powers of ten alone are readable, and 1-2-5 crowds
        axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(ticker.NullFormatter())


def _aspect(bset: BoundarySet) -> float:
    """Height over width of the grid, so panels keep x1 and x2 on the same scale."""
    return float((bset.ys[-1] - bset.ys[0]) / (bset.xs[-1] - bset.xs[0]))


def _probability_panel(ax, bset: BoundarySet, data: Dataset, point_size: float = 10, bayes=None):
    """Draw the first run's P(class 1), every run's 0.5 contour inside the data region, the Bayes boundary (dashed)
    and the first replicate's training points; return the mappable."""
    filled = ax.contourf(bset.xs, bset.ys, bset.background, levels=np.linspace(0, 1, 11), cmap=PROB_CMAP, alpha=0.6)
    for probs in bset.probs:
        if np.nanmin(probs) < 0.5 < np.nanmax(probs):  # a run that predicts one class everywhere has no boundary to draw
            ax.contour(bset.xs, bset.ys, np.ma.masked_invalid(probs), levels=[0.5], colors="black", linewidths=0.6,
                       alpha=max(0.25, min(0.8, 4 / len(bset.probs))))
    if bayes is not None:
        ax.contour(bset.xs, bset.ys, bayes, levels=[0.5], colors="#f2c200", linewidths=1.4, linestyles="--")
    colours = [CLASS_COLOURS[int(c)] for c in data.y_train]
    ax.scatter(data.x_train[:, 0], data.x_train[:, 1], c=colours, s=point_size, edgecolors="black", linewidths=0.4)
    ax.set_xlim(bset.xs[0], bset.xs[-1])
    ax.set_ylim(bset.ys[0], bset.ys[-1])
    ax.set_aspect("equal")
    ax.grid(False)
    return filled


def _variant_legend(fig: MplFigure, study: _Study, variants: list[str], extra: list | None = None) -> None:
    """Put one legend entry per variant (plus extra handles) outside the panels, on the right."""
    handles = [Line2D([], [], color=study.colours[v], lw=2, label=_text(v, 22)) for v in variants] + (extra or [])
    fig.legend(handles=handles, loc="outside right upper", frameon=False)


def _draw_dataset(fig: MplFigure, study: _Study) -> str:
    """Scatter the train, validation and test points, coloured by class."""
    d, ax = study.data, fig.subplots()
    bounds = d.bounds()
    fig.set_size_inches(5.2, 5.2 * (bounds[3] - bounds[2]) / (bounds[1] - bounds[0]) + 0.5)
    for split, marker, size, alpha, edge in (("test", "o", 4, 0.3, "none"), ("train", "o", 26, 1.0, "white"),
                                             ("val", "^", 40, 1.0, "black")):
        x, y = getattr(d, f"x_{split}"), getattr(d, f"y_{split}")
        ax.scatter(x[:, 0], x[:, 1], c=[CLASS_COLOURS[int(c)] for c in y], marker=marker, s=size, alpha=alpha,
                   edgecolors=edge, linewidths=0.6)
    ax.set(xlim=bounds[:2], ylim=bounds[2:], xlabel="x1", ylabel="x2", aspect="equal")
    marker = dict(ls="none", color="0.45")
    handles = [Line2D([], [], marker="o", markeredgecolor="white", markersize=6, label="train", **marker),
               Line2D([], [], marker="^", markeredgecolor="black", markersize=7, label="validation", **marker),
               Line2D([], [], marker="o", alpha=0.4, markersize=3, label="test", **marker),
               Patch(color=CLASS_COLOURS[0], label="class 0"), Patch(color=CLASS_COLOURS[1], label="class 1")]
    fig.legend(handles=handles, loc="outside right upper", frameon=False)
    scope = (f"Each of the {study.seeds} draws its own training, validation and test points from the same generator "
             f"(shown: the first replicate), so every interval in this report covers the data draw too."
             if study.config.data.resample else
             f"Every replicate trains on these same points: a replicate changes only the initial weights, batch order "
             f"and dropout masks, so the intervals in this report are about this one sample of make_moons.")
    return (f"The make_moons data (noise {study.config.data.noise:g}): {len(d.y_train)} training points (circles) and "
            f"{len(d.y_val)} validation points (triangles), plus {len(d.y_test)} test points (small light dots) "
            f"used only to measure accuracy; colour is the class. {scope}")


def _draw_boundaries(fig: MplFigure, study: _Study) -> str | None:
    """Show each variant's predicted probability and every seed's decision boundary, one panel each."""
    a = study.analysis
    names = [v for v in a.variants if v in a.boundaries]
    if not names:
        return None
    first = a.boundaries[names[0]]
    # 1.6 in of the width go to the colorbar, ticks and axis labels; 0.5 in of each row to the two-line title.
    axes = _grid(fig, len(names), (FULL_WIDTH_IN - 1.6) / 3 * _aspect(first) + 0.5, margins=(1.6, 0.3))
    for ax, name in zip(axes, names):
        filled = _probability_panel(ax, a.boundaries[name], study.data, bayes=a.bayes_grid)
        acc = _summary(a, name, "test_accuracy")
        ax.set_title(_text(name, 26) + (f"\ntest accuracy {acc['mean']:.3f}" if acc else ""))
    fig.colorbar(filled, ax=axes, label="P(class 1)", shrink=0.9)
    fig.supxlabel("x1")
    fig.supylabel("x2")
    n = len(a.seeds)
    lines = (f"Thin black lines: the 0.5 decision boundary of each of the {study.seeds}, drawn inside the region that "
             f"holds 99% of the data (where boundary length is measured); where they spread apart, replicates disagree."
             if n > 1 else "Black line: the 0.5 decision boundary, inside the region that holds 99% of the data.")
    bayes = " Dashed yellow line: the Bayes-optimal boundary of the data generator." if a.bayes_grid is not None else ""
    return (f"Background: predicted probability of class 1 of each variant's first replicate. {lines}{bayes} Dots: "
            f"the first replicate's training points, coloured by class. Titles give the "
            f"{'mean ' if n > 1 else ''}test accuracy ({study.seeds}).")


def _loss_panel(ax, history: dict, colour, confidence: float) -> str:
    """Draw mean train (dashed) and validation (solid) loss with bands; mark early stops; return a title suffix."""
    epochs = np.arange(1, history["val_loss"].shape[1] + 1)
    for key, style in (("train_loss", "--"), ("val_loss", "-")):
        mean, low, high = _band(history[key], confidence)
        _line_band(ax, epochs, mean, low, high, colour, linestyle=style, linewidth=1.2)
    stops = np.isfinite(history["val_loss"]).sum(axis=1)  # epochs each seed ran: histories are NaN after a stop
    stopped = stops[stops < len(epochs)]
    if stopped.size == 0:
        return ""
    ax.axvspan(stopped.min(), max(stopped.max(), stopped.min() + 0.5), color="0.5", alpha=0.25, linewidth=0)
    for stop in np.unique(stopped):
        ax.axvline(stop, color="0.3", linestyle=":", linewidth=0.8)
    span = f"{stopped.min()}" if stopped.min() == stopped.max() else f"{stopped.min()}–{stopped.max()}"
    return f"\nstopped at epoch {span}, {stopped.size}/{len(stops)} seeds"


def _loss_legend(fig: MplFigure, early_stops: bool) -> None:
    """Explain the line styles (and the early-stop marks, if any) once, above the panels."""
    handles = [Line2D([], [], color="0.2", ls="--", label="train loss"),
               Line2D([], [], color="0.2", label="validation loss")]
    if early_stops:
        handles.append(Patch(color="0.5", alpha=0.4, label="early stops (range over seeds)"))
    fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), frameon=False)


def _draw_loss_curves(fig: MplFigure, study: _Study) -> str | None:
    """Plot train and validation loss per epoch, one panel per variant."""
    a = study.analysis
    names = [v for v in a.variants if v in a.histories]
    if not names:
        return None
    axes = _grid(fig, len(names), 1.9, margins=(1.0, 0.8))
    suffixes = [_loss_panel(ax, a.histories[v], study.colours[v], a.confidence) for ax, v in zip(axes, names)]
    for ax, name, suffix in zip(axes, names, suffixes):
        ax.set_title(_text(name, 26) + suffix)
    losses = np.concatenate([a.histories[v][k].ravel() for v in names for k in ("train_loss", "val_loss")])
    losses = losses[np.isfinite(losses) & (losses > 0)]
    axes[0].set_yscale("log")
    if losses.size:  # bands may reach below zero; the axis follows the data, not the bands
        axes[0].set_ylim(losses.min() / 1.5, losses.max() * 1.5)
    _plain_log_ticks(axes[0].yaxis)
    _loss_legend(fig, early_stops=any(suffixes))
    fig.supxlabel("epoch")
    fig.supylabel("binary cross-entropy (log scale)")
    stops = (" Grey spans and dotted lines mark where runs stopped early; after a seed stops, the curve averages the "
             "seeds still running." if any(suffixes) else "")
    return (f"Binary cross-entropy per epoch, without the L1/L2 penalty term: training loss (dashed, averaged over the "
            f"epoch's mini-batches with dropout active, as Keras reports it) and validation loss (solid); "
            f"{study.spread}.{stops}")


def _categorical_ticks(ax, names: list[str]) -> None:
    """Label categorical x ticks with (escaped) variant names, slanted when they would collide."""
    slant = len(names) > 4 or max(len(n) for n in names) > 10
    ax.set_xticks(range(len(names)), [_text(n, 0 if slant else 18) for n in names])
    if slant:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")


def _draw_weights_box(fig: MplFigure, study: _Study) -> str | None:
    """Box-plot the first-layer weights of every variant side by side."""
    a = study.analysis
    names = [v for v in a.variants if v in a.first_layer and a.first_layer[v].size]
    if not names:
        return None
    fig.set_size_inches(min(FULL_WIDTH_IN, 1.8 + 0.85 * len(names)), 3.0)
    ax = fig.subplots()
    frame = pd.DataFrame({"variant": np.repeat(np.arange(len(names)), [a.first_layer[v].size for v in names]),
                          "weight": np.concatenate([a.first_layer[v] for v in names])})
    # Positions, not names, as categories: seaborn would otherwise draw the raw (unescaped) names as tick labels.
    with warnings.catch_warnings():  # seaborn 0.13 still passes boxplot's deprecated `vert` to matplotlib >= 3.11
        warnings.filterwarnings("ignore", category=MatplotlibDeprecationWarning)
        sns.boxplot(data=frame, x="variant", y="weight", hue="variant", legend=False, ax=ax, width=0.6,
                    palette=[study.colours[v] for v in names], linewidth=0.8, fliersize=1.5)
    ax.axhline(0, color="0.2", linewidth=0.8, linestyle="--")
    _categorical_ticks(ax, names)
    ax.set(xlabel="", ylabel="first-layer kernel weight")
    n_each = a.first_layer[names[0]].size // max(len(a.seeds), 1)
    return (f"First-layer kernel weights of each variant, all runs pooled ({study.seeds}, {n_each} weights per "
            f"run). Boxes span the quartiles with the median inside; whiskers reach 1.5 interquartile ranges and dots "
            f"are the weights beyond. The dashed line marks zero.")


def _draw_weights_hist(fig: MplFigure, study: _Study) -> str | None:
    """Histogram the first-layer weights, one panel per variant on a shared x-range."""
    a = study.analysis
    names = [v for v in a.variants if v in a.first_layer and a.first_layer[v].size]
    if not names:
        return None
    axes = _grid(fig, len(names), 1.6)
    edge = max(float(np.abs(a.first_layer[v]).max()) for v in names) or 1.0
    bins = np.linspace(-edge, edge, 61)
    for ax, name in zip(axes, names):
        ax.hist(a.first_layer[name], bins=bins, histtype="stepfilled", color=study.colours[name])  # one patch, fast
        ax.axvline(0, color="0.2", linewidth=0.6, linestyle="--")
        ax.set_title(_text(name, 26))
    axes[0].set_yscale("log")  # a log count keeps L1's spike at zero and the thin tails visible together
    _plain_log_ticks(axes[0].yaxis)
    fig.supxlabel("first-layer kernel weight")
    fig.supylabel("count (log scale)")
    return (f"Histograms of the first-layer kernel weights of each variant, all runs pooled ({study.seeds}), with "
            f"{len(bins) - 1} bins of width {bins[1] - bins[0]:.3g} on a shared x-range and a log count axis. A tall "
            f"bar at zero means the regularizer drove many weights to (near) zero.")


def _extremes_panel(ax, study: _Study, names: list[str], metric: str) -> bool:
    """Draw mean and CI of one weight extreme per variant (one row each), seeds as dots; return if a CI reaches 0."""
    reaches_zero = False
    for i, name in enumerate(names):
        row, seeds = _summary(study.analysis, name, metric), per_replicate(study.analysis, name, metric).to_numpy()
        ax.scatter(seeds, i + np.linspace(-0.2, 0.2, len(seeds)), s=9, color="0.55", zorder=2)
        low, high = row["low"], row["high"]
        if np.isfinite(low) and np.isfinite(high):
            reaches_zero |= low <= 0
            low = low if low > 0 else row["mean"] * 1e-6  # off the left of the log axis: the interval reaches zero
            ax.errorbar(row["mean"], i, xerr=[[row["mean"] - low], [high - row["mean"]]], fmt="none",
                        ecolor=study.colours[name], capsize=3, zorder=3)
        ax.scatter(row["mean"], i, s=36, color=study.colours[name], edgecolors="black", linewidths=0.5, zorder=4)
    values = [x for v in names for x in per_replicate(study.analysis, v, metric).to_numpy()]
    ax.set(xscale="log", xlim=_log_limits(values + [_summary(study.analysis, v, metric)["mean"] for v in names]))
    return reaches_zero


def _draw_weight_extremes(fig: MplFigure, study: _Study) -> str | None:
    """Compare the smallest and the largest first-layer |w| across variants."""
    a = study.analysis
    names = [v for v in a.variants if _summary(a, v, "first_min_abs") and _summary(a, v, "first_max_abs")]
    if not names:
        return None
    fig.set_size_inches(FULL_WIDTH_IN, 1.0 + 0.3 * len(names))
    axes = fig.subplots(1, 2, sharey=True)
    reaches_zero = False
    for ax, metric, title in zip(axes, ("first_min_abs", "first_max_abs"), ("smallest |w|", "largest |w|")):
        reaches_zero |= _extremes_panel(ax, study, names, metric)
        ax.set(title=f"{title} of the first layer", xlabel=f"{title} (log scale)")
        _plain_log_ticks(ax.xaxis)
    axes[0].set_yticks(range(len(names)), [_text(n) for n in names])
    axes[0].set_ylim(len(names) - 0.5, -0.5)  # first variant on top, as in the tables
    note = " Bars running off the left edge are intervals that reach zero." if reaches_zero else ""
    dots = (f"large dots are means over {study.seeds} (error bars: {study.ci} confidence interval), small grey dots "
            f"the single seeds" if len(a.seeds) > 1 else f"dots are the single run of each variant ({study.seeds})")
    return (f"The smallest and the largest absolute first-layer weight of each variant: {dots}. A lower smallest |w| "
            f"means some weights were driven closer to exactly zero.{note}")


def _log_limits(values) -> tuple[float, float]:
    """Limits of a log axis around the positive values (means and seeds, not error bars), with room to spare."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return (values.min() / 3, values.max() * 3) if values.size else (1e-6, 1.0)


def _draw_sparsity(fig: MplFigure, study: _Study) -> str | None:
    """Plot the share of hidden-kernel weights below a threshold against the threshold, per layer."""
    a, curves = study.analysis, study.analysis.sparsity_curves
    if curves.empty:
        return None
    layers, names = sorted(curves["layer"].unique()), [v for v in a.variants if v in set(curves["variant"])]
    axes = _grid(fig, len(layers), 2.4, margins=(2.2, 0.6), panel_width=2.4 if len(layers) < 3 else 0)
    for ax, layer in zip(axes, layers):
        for name in names:
            part = curves[(curves["variant"] == name) & (curves["layer"] == layer)].sort_values("threshold")
            _line_band(ax, part["threshold"], part["mean"], part["low"], part["high"], study.colours[name], lw=1.3)
        for t in a.thresholds:
            ax.axvline(t, color="0.3", linestyle=":", linewidth=1)
        ax.set(xscale="log", ylim=(-0.02, 1.02), title=f"hidden layer {layer}")
    marks = ", ".join(f"{t:g}" for t in a.thresholds)
    _variant_legend(fig, study, names, [Line2D([], [], color="0.3", ls=":", label=f"t = {marks}")])
    fig.supxlabel("threshold t on |w| (log scale)")
    fig.supylabel("share of weights with |w| < t")
    return (f"Share of each hidden layer's kernel weights whose magnitude is below a threshold t, for t from "
            f"{curves['threshold'].min():g} to {curves['threshold'].max():g}; {study.spread}. "
            f"A curve that rises early means many weights near zero. Dotted lines: the thresholds "
            f"used in the tables ({marks}).")


def _draw_pruning(fig: MplFigure, study: _Study) -> str | None:
    """Plot test accuracy against the share of kernel weights pruned by magnitude."""
    a, prune = study.analysis, study.analysis.pruning
    if prune.empty:
        return None
    names = [v for v in a.variants if v in set(prune["variant"])]
    fig.set_size_inches(FULL_WIDTH_IN, 3.2)
    ax = fig.subplots()
    for name in names:
        part = prune[prune["variant"] == name].sort_values("fraction")
        _line_band(ax, part["fraction"] * 100, part["mean"], part["low"], part["high"], study.colours[name],
                   marker="o", markersize=3, lw=1.3)
    majority = a.chance
    ax.axhline(majority, color="0.3", linestyle=":", linewidth=1)
    ax.set(xlabel="kernel weights set to zero (%)", ylabel="test accuracy", xlim=(0, 100))
    _variant_legend(fig, study, names, [Line2D([], [], color="0.3", ls=":", label="majority class")])
    return (f"Test accuracy after setting the given percentage of all kernel weights (all layers pooled, smallest |w| "
            f"first, biases kept) to zero, without retraining; {study.spread}. "
            f"The dotted line is the accuracy of always predicting the majority class ({majority:.0%}).")


def _sweep_kinds(kinds) -> list[str]:
    """Sweep kinds present, in the usual order (l1, l2, dropout), unknown kinds last."""
    present = list(dict.fromkeys(kinds))
    return [k for k in SWEEP_LABELS if k in present] + [k for k in present if k not in SWEEP_LABELS]


def _reference(study: _Study) -> str | None:
    """The unregularized variant sweeps are compared with: 'baseline' if it is one, else the first such variant."""
    ref = study.analysis.reference
    return ref if ref and _summary(study.analysis, ref, "test_accuracy") else None


def _sweep_panel(ax, part: pd.DataFrame, kind: str, reference: dict | None, colour) -> None:
    """Draw one metric against one regularizer's strength, with the unregularized value as a dashed line."""
    part, log = part.sort_values("strength"), kind in ("l1", "l2")
    ax.set_xscale("log" if log else "linear")  # before plotting: a lone point on a linear axis has a zero-width view
    _line_band(ax, part["strength"], part["mean"], part["low"], part["high"], "0.15", marker="o", markersize=3.5)
    if len(part) == 1:  # a single point has no band to show its interval, and no range to set the x-axis
        s = float(part["strength"].iloc[0])
        ax.errorbar(s, part["mean"], yerr=[part["mean"] - part["low"], part["high"] - part["mean"]], fmt="none",
                    ecolor="0.15", capsize=3)
        ax.set_xlim((s / 10, s * 10) if log else (max(s - 0.1, 0.0), s + 0.1))
        ax.set_xticks([s], [f"{s:g}"])
        ax.minorticks_off()
    if reference is not None:
        ax.axhline(reference["mean"], color=colour, linestyle="--", linewidth=1.2)


def _draw_sweeps(fig: MplFigure, study: _Study) -> str | None:
    """Plot test accuracy, gap and sparsity against each regularizer's strength."""
    a, sweeps = study.analysis, study.analysis.sweeps
    if sweeps.empty:
        return None
    kinds, sparse = _sweep_kinds(sweeps["kind"]), f"first_below_{max(a.thresholds):g}"
    rows = [(m, label) for m, label in (("test_accuracy", "test accuracy"), ("gap", "train − test accuracy"),
                                        (sparse, f"share |w| < {max(a.thresholds):g}")) if m in set(sweeps["metric"])]
    ref = _reference(study)
    fig.set_size_inches(min(FULL_WIDTH_IN, 1.4 + 2.0 * len(kinds)), 0.9 + 1.5 * len(rows))
    axes = fig.subplots(len(rows), len(kinds), squeeze=False, sharex="col", sharey="row")
    for r, (metric, label) in enumerate(rows):
        for c, kind in enumerate(kinds):
            part = sweeps[(sweeps["kind"] == kind) & (sweeps["metric"] == metric)]
            _sweep_panel(axes[r, c], part, kind, _summary(a, ref, metric) if ref else None, study.colours.get(ref))
        axes[r, 0].set_ylabel(label)
    for c, kind in enumerate(kinds):
        title, xlabel = SWEEP_LABELS.get(kind, (_text(kind), _text(kind)))
        axes[0, c].set_title(f"{title} sweep")
        axes[-1, c].set_xlabel(xlabel)
    _sweep_legend(fig, study, ref, len(kinds))
    return (f"The base network trained with one regularizer at several strengths (columns), {study.seeds} per point: "
            f"test accuracy, generalization gap and share of hidden-kernel weights with |w| < {max(a.thresholds):g} "
            f"(rows); {study.spread}."
            + (f" Dashed line: the {ref} variant (no regularization) for comparison." if ref else ""))


def _sweep_legend(fig: MplFigure, study: _Study, ref: str | None, ncols: int) -> None:
    """Explain the sweep line and the dashed unregularized reference above the grid."""
    handles = [Line2D([], [], color="0.15", marker="o", markersize=3.5, label=f"mean over {study.seeds}")]
    if len(study.analysis.seeds) > 1:
        handles.append(Patch(color="0.15", alpha=0.2, label=f"{study.ci} confidence interval"))
    if ref:
        handles.append(Line2D([], [], color=study.colours[ref], ls="--", label=f"{_text(ref)} (no regularization)"))
    fig.legend(handles=handles, loc="outside upper center", ncol=len(handles) if ncols > 1 else 1, frameon=False)


def _sweep_title(kind: str, strength: float) -> str:
    """Name a sweep point briefly, e.g. 'L1 1e-04', 'L2 2.5e-04' or 'dropout 0.2'."""
    if kind in ("l1", "l2"):
        short = f"{strength:.0e}"
        return f"{kind.upper()} {short if float(short) == strength else f'{strength:.1e}'}"
    return f"{'dropout' if kind == 'dropout' else _text(kind)} {strength:g}"


SWEEP_BOUNDARY_COLUMNS = 5  # panels per row: 5 across the text width keeps each panel >= 3 cm wide in print


def _draw_sweep_boundaries(fig: MplFigure, study: _Study) -> str | None:
    """Show the decision boundary of every sweep point (first seed): per regularizer a header, then its strengths
    in rows of at most SWEEP_BOUNDARY_COLUMNS panels, with one shared colorbar below."""
    bounds = study.analysis.sweep_boundaries
    if not bounds:
        return None
    by_kind = {k: sorted(s for kind, s in bounds if kind == k) for k in _sweep_kinds(k for k, _ in bounds)}
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
    fig.set_size_inches(0.1 + ncols * (panel + 0.1),
                        sum(rows.values()) * (panel_h + 0.3) + len(by_kind) * (header_h + 0.2) + 0.6)
    heights = [h for k in by_kind for h in [header_h] + [panel_h] * rows[k]]
    grid = fig.add_gridspec(len(heights), ncols, height_ratios=heights)
    panels, r = [], 0
    for i, (kind, strengths) in enumerate(by_kind.items()):
        header = fig.add_subplot(grid[r, :])
        header.axis("off")
        header.text(0, 0, f"{SWEEP_LABELS.get(kind, (_text(kind),))[0]} sweep", transform=header.transAxes,
                    fontweight="bold", va="bottom")
        if i:  # a thin rule where the previous regularizer's panels end
            header.plot([0, 1], [1.6, 1.6], transform=header.transAxes, color="0.6", linewidth=0.8, clip_on=False)
        for j in range(rows[kind] * ncols):
            ax = fig.add_subplot(grid[r + 1 + j // ncols, j % ncols])
            panels.append(ax)
            if j >= len(strengths):  # an unused cell after the last strength stays empty
                ax.axis("off")
                continue
            filled = _probability_panel(ax, bounds[(kind, strengths[j])], study.data, point_size=4)
            ax.set(title=_sweep_title(kind, strengths[j]), xticks=[], yticks=[], xlim=(x0, x1), ylim=(y0, y1))
        r += 1 + rows[kind]
    fig.colorbar(filled, ax=panels, location="bottom", label="P(class 1)", shrink=min(0.9, 2.5 / ncols), aspect=35)
    return (f"Decision boundaries of the sweeps, one block per regularizer with one panel per strength (read left to "
            f"right, then down), for the first run only (seed {study.analysis.seeds[0]} of {study.seeds}): background "
            f"is the predicted probability of class 1, the black line the 0.5 boundary, dots the training points; "
            f"all panels share the axes of the decision-boundary figure.")


_FIGURES = (
    ("dataset", "The data", _draw_dataset),
    ("boundaries", "Decision boundaries", _draw_boundaries),
    ("loss_curves", "Training and validation loss", _draw_loss_curves),
    ("weights_box", "First-layer weights", _draw_weights_box),
    ("weights_hist", "Distribution of first-layer weights", _draw_weights_hist),
    ("weight_extremes", "Smallest and largest first-layer weights", _draw_weight_extremes),
    ("sparsity_curve", "Weights near zero", _draw_sparsity),
    ("pruning", "Accuracy after magnitude pruning", _draw_pruning),
    ("sweeps", "Regularization strength sweeps", _draw_sweeps),
    ("sweep_boundaries", "Decision boundaries across strengths", _draw_sweep_boundaries),
)


def make_figures(analysis: StudyAnalysis, data: Dataset, config: StudyConfig) -> list[Figure]:
    """Draw every figure of the report, in report order."""
    study = _Study(analysis, data, config, _palette(analysis.variants))
    figures = []
    for key, title, draw in _FIGURES:
        with _style():  # drawing and saving both read the style, so both happen inside it
            fig = MplFigure(layout="constrained")
            caption = draw(fig, study)
            if caption is None:  # nothing to show, e.g. no sweeps in this study
                continue
            png, width_cm = _png(fig)
        figures.append(Figure(key, title, caption, png, width_cm))
    return figures
