"""Draw the report's figures from a StudyAnalysis: one PNG per figure, with a caption built from the data."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

import matplotlib.colors
import matplotlib.style
import numpy as np
import seaborn as sns
from matplotlib import ticker
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

from reportgen.analysis import StudyAnalysis, summary_value
from reportgen.data import Dataset
from reportgen.regularizers import SWEPT

# Figures are built on bare matplotlib Figures rendered by the Agg PNG writer, never through pyplot: pyplot keeps
# every figure in a global registry (a leak unless closed) and matplotlib.use() would switch the whole process's
# backend. A bare Figure is ordinary garbage, so there is nothing left open whatever happens while drawing.
DPI = 150
FULL_WIDTH_IN = 7.0  # A4 text width is ~17 cm; the PNG is shown at its own size, capped at MAX_WIDTH_CM
MAX_WIDTH_CM = 17.0
CLASS_COLOURS = ("#2166ac", "#b2182b")  # the two ends of RdBu, so points match the probability background
PROB_CMAP = "RdBu_r"
SWEEP_LABELS = {r.key: (r.name[0].upper() + r.name[1:], r.sweep.axis) for r in SWEPT}  # sweep panel title, x axis
# 8.5 pt at 7 in stays >= 8 pt even when a slightly wider tight bounding box is shrunk to 17 cm.
_RC = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5,
    "legend.title_fontsize": 9,
    "figure.labelsize": 9,
    "text.usetex": False,
}


@dataclass(frozen=True)
class Study:
    """What every drawing function reads: the analysis, the first replicate's points and one colour per variant."""

    analysis: StudyAnalysis
    data: Dataset
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

    @property
    def class_colours(self) -> list:
        """One colour per class: the two ends of the probability colormap for two classes, a qualitative palette beyond."""
        n = self.analysis.data.n_classes
        if n == 2:
            return list(CLASS_COLOURS)
        return [matplotlib.colors.to_hex(c) for c in sns.color_palette("tab10" if n <= 10 else "tab20", n)]

    def colours_of(self, y) -> list:
        """The colour of each point's class."""
        return [self.class_colours[int(c)] for c in y]

    def plane(self, x: np.ndarray) -> np.ndarray:
        """Points of the first replicate in the plane of the boundary figures (its inputs themselves for 2-D data)."""
        view = self.analysis.view
        return x if view is None else view.project(x)

    def class_label(self, k: int) -> str:
        """A class as legends name it: 'class 0' for numbered classes, else its name."""
        name = self.analysis.data.class_names[k]
        return f"class {name}" if name.isdigit() else safe_text(name, 24)


def safe_text(name: str, width: int = 0) -> str:
    """Escape '$' so matplotlib never reads a user's variant name as mathtext; optionally wrap long names."""
    return (textwrap.fill(name, width) if width else name).replace("$", r"\$")


def palette(variants: list[str]) -> dict:
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


def style():
    """Return the style context every figure is drawn in (whitegrid, print-size fonts), leaving rcParams untouched.

    It starts from matplotlib's defaults, not from the caller's rcParams (a notebook's, a matplotlibrc): the figures
    look the same wherever they are drawn, in the build or in its helper process."""
    return matplotlib.style.context(["default", {**sns.axes_style("whitegrid"), **_RC}])


def to_png(fig: MplFigure, colours: int = 0) -> tuple[bytes, float]:
    """Render a figure to PNG bytes and return them with the display width in cm (capped at the text width).

    The PNG is RGB: the figures are opaque, and WeasyPrint splits an RGBA image into colour and mask, encoding both
    again (0.3 s of the default report's PDF). The pixels are those of savefig (checked), the file 10 % smaller. No
    "Software" tag: the same figure gives the same bytes on every run and matplotlib version. No tight bounding box:
    constrained layout already fits everything inside the figure. With `colours`, the PNG has a palette of that many
    (median cut, no dithering: flat bands stay flat), for figures drawn many times over (the frames of training)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    fig.set_dpi(DPI)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    image = Image.fromarray(np.ascontiguousarray(rgba))
    if rgba[..., 3].min() == 255:
        image = image.convert("RGB")
    else:  # a figure with a transparent patch: as it would look on the white page
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image).convert("RGB")
    if colours:
        image = image.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    image.save(buf, format="png", dpi=(DPI, DPI))
    return buf.getvalue(), round(min(MAX_WIDTH_CM, rgba.shape[1] / DPI * 2.54), 2)


def inside_region(grid, frame):
    """A grid with NaN outside the frame's data region, so lines are drawn where boundaries are measured."""
    if grid is None:
        return None
    return np.where(frame.region[..., None] if grid.ndim == 3 else frame.region, grid, np.nan)  # [.., K]: one per class


def contour_lines(ax, xs, ys, grids, colour, width: float, alpha: float = 1.0, style: str = "-") -> None:
    """Draw the 0.5 contour of each grid (NaN outside the data region) as one collection: one artist, not one each."""
    import contourpy
    from matplotlib.collections import LineCollection

    segments = []
    for grid in grids:
        z = np.ma.masked_invalid(grid)
        if z.count() and z.min() < 0.5 < z.max():  # a run that predicts one class everywhere has no boundary
            gen = contourpy.contour_generator(xs, ys, z, line_type=contourpy.LineType.Separate)
            segments += [line for line in gen.lines(0.5) if len(line) > 1]
    if segments:
        ax.add_collection(LineCollection(segments, colors=[colour], linewidths=width, alpha=alpha, linestyles=style))


summary = summary_value


def line_band(ax, x, mean, low, high, colour, label=None, **line) -> None:
    """Plot a mean line and, where an interval exists, a translucent band around it."""
    x, low, high = (np.asarray(a, dtype=float) for a in (x, low, high))
    ax.plot(x, mean, color=colour, label=label, **line)
    ok = np.isfinite(low) & np.isfinite(high)
    if ok.any():
        ax.fill_between(x, low, high, where=ok, color=colour, alpha=0.2, linewidth=0)


def panel_grid(fig: MplFigure, n: int, row_height: float, margins=(0.8, 0.6), panel_width: float = 0.0) -> list:
    """Size the figure for n shared-axes panels in rows of at most 3 and lay them out; return the used Axes."""
    ncols, nrows = min(n, 3), -(-n // 3)
    panel_width = panel_width or (FULL_WIDTH_IN - margins[0]) / 3  # three panels fill the full width exactly
    fig.set_size_inches(min(FULL_WIDTH_IN, margins[0] + ncols * panel_width), margins[1] + nrows * row_height)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[max(n - ncols, 0) : n]:  # the last panel of each column shows the x tick labels
        ax.tick_params(labelbottom=True)
    return list(axes[:n])


def plain_log_ticks(axis) -> None:
    """Label a log axis spanning under ~2 decades at 1-2-5 steps with plain numbers (0.05, 0.2, 1); one spanning many
    decades at a power of ten every few decades (five labels at most: 10⁻³³ to 10⁻⁵ in half a page's width)."""
    low, high = axis.get_view_interval()
    if low > 0 and high / low < 10**2.2:  # over wider spans powers of ten alone are readable, and 1-2-5 crowds
        axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(ticker.NullFormatter())
    elif low > 0 and high / low > 10**6:  # a label per decade would run into one another
        axis.set_major_locator(ticker.LogLocator(numticks=5))
        axis.set_minor_locator(ticker.NullLocator())


def variant_legend(fig: MplFigure, study: Study, variants: list[str], extra: list | None = None) -> None:
    """Put one legend entry per variant (plus extra handles) outside the panels, on the right."""
    handles = [Line2D([], [], color=study.colours[v], lw=2, label=safe_text(v, 22)) for v in variants] + (extra or [])
    fig.legend(handles=handles, loc="outside right upper", frameon=False)


def categorical_ticks(ax, names: list[str]) -> None:
    """Label categorical x ticks with (escaped) variant names, slanted when they would collide."""
    slant = len(names) > 4 or max(len(n) for n in names) > 10
    ax.set_xticks(range(len(names)), [safe_text(n, 0 if slant else 18) for n in names])
    if slant:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")


def log_limits(values) -> tuple[float, float]:
    """Limits of a log axis around the positive values (means and seeds, not error bars), with room to spare."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return (values.min() / 3, values.max() * 3) if values.size else (1e-6, 1.0)


def sweep_kinds(kinds) -> list[str]:
    """Sweep kinds present, in the usual order (l1, l2, dropout), unknown kinds last."""
    present = list(dict.fromkeys(kinds))
    return [k for k in SWEEP_LABELS if k in present] + [k for k in present if k not in SWEEP_LABELS]


def reference(study: Study) -> str | None:
    """The unregularized variant sweeps are compared with: 'baseline' if it is one, else the first such variant."""
    ref = study.analysis.reference
    return ref if ref and summary(study.analysis, ref, "test_accuracy") else None


def class_background(ax, xs, ys, probs: np.ndarray, colours: list, alpha: float = 0.6) -> None:
    """Shade each grid cell in its predicted class's colour, paler where the network is less sure (more than two
    classes: P(each class) [rows, cols, K])."""
    k = probs.shape[-1]
    best = np.nan_to_num(probs, nan=1.0 / k).max(axis=-1)
    rgb = np.array([matplotlib.colors.to_rgb(c) for c in colours])[np.argmax(np.nan_to_num(probs), axis=-1)]
    strength = alpha * np.clip((best - 1.0 / k) / (1.0 - 1.0 / k), 0.15, 1.0)  # a sure cell is fully shaded
    ax.imshow(
        np.dstack([rgb, strength]), extent=(xs[0], xs[-1], ys[0], ys[-1]), origin="lower", interpolation="nearest", aspect="auto"
    )


def class_lines(ax, xs, ys, probs: np.ndarray, **style) -> None:
    """Draw the boundaries between more than two classes: the 0 contour of each class's margin over the best other
    (each boundary is drawn by both of its classes, on the same line)."""
    probs = np.asarray(probs, float)
    for k in range(probs.shape[-1]):
        margin = probs[..., k] - np.delete(probs, k, axis=-1).max(axis=-1)
        if np.nanmin(margin) < 0 < np.nanmax(margin):
            ax.contour(xs, ys, np.ma.masked_invalid(margin), levels=[0.0], **style)


def class_handles(study: Study) -> list:
    """Legend entries: one colour patch per class."""
    from matplotlib.patches import Patch

    return [Patch(color=c, label=study.class_label(k)) for k, c in enumerate(study.class_colours)]
