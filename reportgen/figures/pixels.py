"""First-layer weights drawn as the input image, for data whose features are an image's pixels (digits): the picture
every regularization lecture shows, with the share of near-zero weights per pixel over replicates."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure as MplFigure

from reportgen.analysis import WeightImages
from reportgen.figures.common import FULL_WIDTH_IN, Study, safe_text

UNITS = 6  # hidden units drawn per variant
CLIP = 99  # the weight colour scale ends at this percentile of |w| over every tile: one outlier does not wash it out


def draw_weight_images(fig: MplFigure, study: Study) -> str | None:
    """One row per variant: the weights into a few hidden units of its first replicate as images, on one colour scale,
    and the share of each pixel's weights near zero over replicates."""
    a = study.analysis
    images = {v: im for v in a.variants if (im := a.weight_images(v, UNITS)) is not None}
    if not images:
        return None
    names, k = list(images), len(next(iter(images.values())).units)
    edge = float(np.percentile(np.abs(np.concatenate([im.units.ravel() for im in images.values()])), CLIP)) or 1.0
    tile = (FULL_WIDTH_IN - 1.2) / (k + 1)
    fig.set_size_inches(FULL_WIDTH_IN, 0.9 + tile * len(names))
    axes = fig.subplots(len(names), k + 1, squeeze=False)
    for row, name in zip(axes, names):
        im = images[name]
        for j, ax in enumerate(row[:k]):
            weights = ax.imshow(im.units[j], cmap="RdBu_r", vmin=-edge, vmax=edge)
        share = row[k].imshow(im.near_zero, cmap="Greys", vmin=0, vmax=1)
        row[0].set_ylabel(safe_text(name, 14), rotation=0, ha="right", va="center")
    for j, ax in enumerate(axes[0]):
        ax.set_title("near zero" if j == k else f"unit {j + 1}")
    for ax in axes.ravel():
        ax.set(xticks=[], yticks=[])
        ax.grid(False)
    bar = {"location": "bottom", "shrink": 0.6}
    fig.colorbar(weights, ax=axes[:, :k].ravel().tolist(), aspect=30, extend="both", label="weight", **bar)
    fig.colorbar(share, ax=axes[:, k].tolist(), aspect=6, label="share", **bar)
    return _caption(images, edge)


def _caption(images: dict[str, WeightImages], edge: float) -> str:
    """Say what the tiles show and what to look for (its first sentence is the alternative text), with each variant's
    mean share of near-zero weights."""
    first = next(iter(images.values()))
    which = f"replicate {first.seed}" if len({im.seed for im in images.values()}) == 1 else "each variant's first replicate"
    n = first.replicates
    over = f"{n} replicate{'s' if n != 1 else ''}" if len({im.replicates for im in images.values()}) == 1 else "replicates"
    h, w = first.near_zero.shape
    listed = ", ".join(f"{safe_text(name)} {im.near_zero.mean():.0%}" for name, im in images.items())
    return (
        f"Rows are variants; the first {len(first.units)} tiles of a row are the weights from the {h * w} pixels into "
        f"hidden units 1 to {len(first.units)} of {which} as {h}×{w} images (red positive, blue negative, white near "
        f"zero, one colour scale), and the last tile is, per pixel, the share of its weights into all {first.hidden} "
        f"units with |w| < {first.threshold:g} (black: the layer ignores that pixel), which over all pixels is "
        f"{listed} (means over {over}). Every variant of a replicate starts from the same initial weights, so a column "
        f"shows one unit as each regularizer left it: a penalty that zeroes weights leaves blank tiles and a dark last "
        f"tile, one that shrinks them leaves paler tiles. The colour scale ends at ±{edge:.2g}, the {CLIP}th percentile "
        f"of the weights shown; larger ones take its end colour."
    )
