"""First-layer weights: box plots, histograms and extremes."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.figure import Figure as MplFigure

from reportgen.analysis import per_replicate
from reportgen.figures.common import (
    FULL_WIDTH_IN,
    Study,
    categorical_ticks,
    log_limits,
    panel_grid,
    plain_log_ticks,
    safe_text,
    summary,
)


def draw_weights_box(fig: MplFigure, study: Study) -> str | None:
    """Box-plot the first-layer weights of every variant side by side."""
    a = study.analysis
    names = [v for v in a.variants if v in a.first_layer and a.first_layer[v].size]
    if not names:
        return None
    fig.set_size_inches(min(FULL_WIDTH_IN, 1.8 + 0.85 * len(names)), 3.0)
    ax = fig.subplots()
    frame = pd.DataFrame(
        {
            "variant": np.repeat(np.arange(len(names)), [a.first_layer[v].size for v in names]),
            "weight": np.concatenate([a.first_layer[v] for v in names]),
        }
    )
    # Positions, not names, as categories: seaborn would otherwise draw the raw (unescaped) names as tick labels.
    with warnings.catch_warnings():  # seaborn 0.13 still passes boxplot's deprecated `vert` to matplotlib >= 3.11
        warnings.filterwarnings("ignore", category=MatplotlibDeprecationWarning)
        sns.boxplot(
            data=frame,
            x="variant",
            y="weight",
            hue="variant",
            legend=False,
            ax=ax,
            width=0.6,
            palette=[study.colours[v] for v in names],
            linewidth=0.8,
            fliersize=1.5,
        )
    ax.axhline(0, color="0.2", linewidth=0.8, linestyle="--")
    categorical_ticks(ax, names)
    ax.set(xlabel="", ylabel="first-layer kernel weight")
    n_each = a.first_layer[names[0]].size // max(len(a.seeds), 1)
    return (
        f"First-layer kernel weights of each variant, all runs pooled ({study.seeds}, {n_each} weights per "
        f"run). Boxes span the quartiles with the median inside; whiskers reach 1.5 interquartile ranges and dots "
        f"are the weights beyond. The dashed line marks zero."
    )


def draw_weights_hist(fig: MplFigure, study: Study) -> str | None:
    """Histogram the first-layer weights, one panel per variant on a shared x-range."""
    a = study.analysis
    names = [v for v in a.variants if v in a.first_layer and a.first_layer[v].size]
    if not names:
        return None
    axes = panel_grid(fig, len(names), 1.6)
    edge = max(float(np.abs(a.first_layer[v]).max()) for v in names) or 1.0
    bins = np.linspace(-edge, edge, 61)
    for ax, name in zip(axes, names):
        ax.hist(a.first_layer[name], bins=bins, histtype="stepfilled", color=study.colours[name])  # one patch, fast
        ax.axvline(0, color="0.2", linewidth=0.6, linestyle="--")
        ax.set_title(safe_text(name, 26))
    axes[0].set_yscale("log")  # a log count keeps L1's spike at zero and the thin tails visible together
    plain_log_ticks(axes[0].yaxis)
    fig.supxlabel("first-layer kernel weight")
    fig.supylabel("count (log scale)")
    return (
        f"Histograms of the first-layer kernel weights of each variant, all runs pooled ({study.seeds}), with "
        f"{len(bins) - 1} bins of width {bins[1] - bins[0]:.3g} on a shared x-range and a log count axis. A tall "
        f"bar at zero means the regularizer drove many weights to (near) zero."
    )


def _extremes_panel(ax, study: Study, names: list[str], metric: str) -> bool:
    """Draw mean and CI of one weight extreme per variant (one row each), seeds as dots; return if a CI reaches 0."""
    reaches_zero = False
    for i, name in enumerate(names):
        row, seeds = summary(study.analysis, name, metric), per_replicate(study.analysis, name, metric).to_numpy()
        ax.scatter(seeds, i + np.linspace(-0.2, 0.2, len(seeds)), s=9, color="0.55", zorder=2)
        low, high = row["low"], row["high"]
        if np.isfinite(low) and np.isfinite(high):
            reaches_zero |= low <= 0
            low = low if low > 0 else row["mean"] * 1e-6  # off the left of the log axis: the interval reaches zero
            ax.errorbar(
                row["mean"],
                i,
                xerr=[[row["mean"] - low], [high - row["mean"]]],
                fmt="none",
                ecolor=study.colours[name],
                capsize=3,
                zorder=3,
            )
        ax.scatter(row["mean"], i, s=36, color=study.colours[name], edgecolors="black", linewidths=0.5, zorder=4)
    values = [x for v in names for x in per_replicate(study.analysis, v, metric).to_numpy()]
    ax.set(xscale="log", xlim=log_limits(values + [summary(study.analysis, v, metric)["mean"] for v in names]))
    return reaches_zero


def draw_weight_extremes(fig: MplFigure, study: Study) -> str | None:
    """Compare the smallest and the largest first-layer |w| across variants."""
    a = study.analysis
    measured = lambda v, m: bool((row := summary(a, v, m)) and row["n"])  # noqa: E731  (a factory's network may have no first layer)
    names = [v for v in a.variants if measured(v, "first_min_abs") and measured(v, "first_max_abs")]
    if not names:
        return None
    fig.set_size_inches(FULL_WIDTH_IN, 1.0 + 0.3 * len(names))
    axes = fig.subplots(1, 2, sharey=True)
    reaches_zero = False
    for ax, metric, title in zip(axes, ("first_min_abs", "first_max_abs"), ("smallest |w|", "largest |w|")):
        reaches_zero |= _extremes_panel(ax, study, names, metric)
        ax.set(title=f"{title} of the first layer", xlabel=f"{title} (log scale)")
        plain_log_ticks(ax.xaxis)
    axes[0].set_yticks(range(len(names)), [safe_text(n) for n in names])
    axes[0].set_ylim(len(names) - 0.5, -0.5)  # first variant on top, as in the tables
    note = " Bars running off the left edge are intervals that reach zero." if reaches_zero else ""
    dots = (
        f"large dots are means over {study.seeds} (error bars: {study.ci} confidence interval), small grey dots the single seeds"
        if len(a.seeds) > 1
        else f"dots are the single run of each variant ({study.seeds})"
    )
    return (
        f"The smallest and the largest absolute first-layer weight of each variant: {dots}. A lower smallest |w| "
        f"means some weights were driven closer to exactly zero.{note}"
    )
