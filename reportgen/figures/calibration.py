"""Calibration: each variant's reliability diagram (accuracy against confidence of its test points)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from reportgen.figures.common import Study, line_band, panel_grid, safe_text, summary
from reportgen.measures import CALIBRATION_BINS


def _panel(ax, part, colour, floor: float) -> None:
    """One variant: the share of points per bin as bars, accuracy against mean confidence with its band, the diagonal."""
    part = part.sort_values("bin")
    width = 1.0 / CALIBRATION_BINS
    ax.bar(part["lo"], part["share"], width=width, align="edge", color="0.85", edgecolor="0.7", linewidth=0.4)
    held = part[np.isfinite(part["accuracy"])]
    line_band(ax, held["confidence"], held["accuracy"], held["low"], held["high"], colour, marker="o", markersize=2.5, lw=1.2)
    ax.plot([floor, 1], [floor, 1], color="0.3", linestyle="--", linewidth=0.8)
    ax.set(xlim=(floor, 1), ylim=(0, 1.02))


def draw_reliability(fig: MplFigure, study: Study) -> str | None:
    """Plot each main variant's reliability diagram: accuracy in each confidence bin against its mean confidence."""
    a, rel = study.analysis, study.analysis.reliability
    if rel.empty:
        return None
    names = [v for v in a.variants if v in set(rel["variant"])]
    floor = 1.0 / max(2, len(a.data.class_names))  # a top-label confidence is never below 1/K
    axes = panel_grid(fig, len(names), 1.9, margins=(0.8, 0.9))
    for ax, name in zip(axes, names):
        _panel(ax, rel[rel["variant"] == name], study.colours[name], floor)
        brier, ece = (summary(a, name, m) for m in ("brier", "ece"))
        scores = f"\nBrier {brier['mean']:.3f}, ECE {ece['mean']:.1%}" if brier and ece else ""
        ax.set_title(safe_text(name, 28) + scores, fontsize="small")
    fig.supxlabel("confidence (probability of the predicted class)")
    fig.supylabel("accuracy")
    fig.legend(
        handles=[
            Line2D([], [], color="0.3", ls="--", lw=0.8, label="perfect calibration"),
            Patch(color="0.85", label="share of test points"),
        ],
        loc="outside upper center",  # below the panels it sat on the shared x label
        ncols=2,
        frameon=False,
    )
    return (
        f"Reliability diagrams of the test points: the points of every replicate are put in {CALIBRATION_BINS} "
        f"equal-width bins of confidence (the predicted class's probability; bin b holds [b/{CALIBRATION_BINS}, "
        f"(b+1)/{CALIBRATION_BINS})), and each bin's accuracy is plotted against its mean confidence; {study.spread} "
        "(over the replicates with points in the bin). Below the dashed diagonal a network is over-confident, above it "
        "under-confident. Grey bars: the share of test points in each bin. The expected calibration error (ECE) is the "
        "points-weighted mean of |accuracy − confidence| over the bins; the Brier score the mean squared error of the "
        "predicted probabilities (the claim's primary measure)."
    )
