"""The study's data: every replicate's Dataset, and the plane its decision boundaries are drawn and measured in.

The sources themselves live in reportgen.datasets; this module adds what a study needs on top: the datasets of every
replicate and data-sweep point, the generator's Bayes rule as a reference, and the View with its measuring Frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reportgen.config import DataConfig
from reportgen.datasets import Dataset, DataShape, Planar, draw_seeds, load, pruning_points, toys
from reportgen.measures import Frame, square_grid
from reportgen.plan import data_points

__all__ = [
    "Dataset",
    "DataShape",
    "View",
    "bayes_proba",
    "check_data",
    "draw_seeds",
    "grid",
    "make_dataset",
    "make_datasets",
    "pruning_points",
    "reference_frame",
    "reference_view",
]


def make_dataset(cfg: DataConfig, replicate: int = 0) -> Dataset:
    """One replicate's training, validation and test points."""
    return load(cfg, replicate)


def make_datasets(cfg: DataConfig, keys) -> dict:
    """Every replicate's dataset by key: a seed, or (seed, point) for a data-sweep point (see plan.Run.data_key).

    Without resampling, a data setting's replicates share one object.
    """
    out, shared = {}, {}
    for key in keys:
        seed, point = key if isinstance(key, tuple) else (key, None)
        cfg_at = point.apply(cfg) if point is not None else cfg
        if not cfg.resample:
            out[key] = shared.setdefault(point, load(cfg_at))
        else:
            out[key] = load(cfg_at, seed)
    return out


def check_data(config) -> DataShape:
    """Load the first replicate of the study's data, and of each data-sweep point: every problem with the data (a
    missing file, a bad value, too few rows) is found here, before anything is trained. Returns its shape."""
    seed = config.training.seeds[0]
    first = load(config.data, seed)
    for point in data_points(config):
        load(point.apply(config.data), seed)
    return DataShape.of(first)


def grid(bounds: tuple[float, float, float, float], resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (xs, ys, points) of a resolution x resolution grid over bounds."""
    xs = np.linspace(bounds[0], bounds[1], resolution, dtype=np.float32)
    ys = np.linspace(bounds[2], bounds[3], resolution, dtype=np.float32)
    xx, yy = np.meshgrid(xs, ys)
    return xs, ys, np.column_stack([xx.ravel(), yy.ravel()])


# ---- the generator as a reference: its density (where the data live) and its Bayes-optimal classifier ----------

REGION_MASS = 0.99  # boundaries are measured in the smallest region holding this share of the data
MEASURE_CELL = 0.05  # grid cell (data units) of the boundary measure: marching squares is within 1% of a circle's
#                      length at this cell size (tests/test_measures.py)
MAX_CELLS = 150  # cells per side of a table's view: its extent in standard deviations varies with the data


def bayes_proba(cfg: DataConfig, x: np.ndarray) -> np.ndarray | None:
    """P(class | x) [n, K] under the data generator (equal class sizes); None without a generator or without noise."""
    return cfg.bayes_proba(np.asarray(x))


def reference_frame(cfg: DataConfig) -> Frame:
    """A generator's measuring frame: a square grid over its data and its 99% highest-density region."""
    if not isinstance(cfg, Planar):
        raise TypeError(f"data.kind '{cfg.kind}' has no generator with a known density")
    gen = cfg.generator()
    ref_x, _ = gen.draw(4000, cfg.noise, np.random.SeedSequence([cfg.seed, 2**31]).generate_state(1)[0])
    bounds = (ref_x[:, 0].min() - 0.3, ref_x[:, 0].max() + 0.3, ref_x[:, 1].min() - 0.3, ref_x[:, 1].max() + 0.3)
    xs, ys = square_grid(bounds, MEASURE_CELL)
    frame = Frame(xs, ys, np.ones((len(ys), len(xs)), bool))
    cut = np.quantile(toys.log_density(gen, cfg.noise, ref_x), 1 - REGION_MASS)
    region = (toys.log_density(gen, cfg.noise, frame.points) >= cut).reshape(len(ys), len(xs))
    return Frame(xs, ys, region)


@dataclass(frozen=True)
class View:
    """The plane decision boundaries are drawn (and, when `measured`, measured) in.

    Coordinates are the first replicate's inputs: a point p of the plane is the input origin + p @ axes there, and
    the same point in the data's own units for every other replicate (each standardised with its own training split).
    """

    origin: np.ndarray  # [features]
    axes: np.ndarray  # [2, features], orthonormal rows
    labels: tuple[str, str]  # the axes' names in figures
    measured: bool  # boundary length and pieces are measured in it (a 2-D input space)
    sentence: str = ""  # how the plane was chosen, for captions ("" for the data's own plane)

    @property
    def identity(self) -> bool:
        """Whether the plane is the input space itself (2 features, axes as they are)."""
        return self.axes.shape == (2, 2) and np.array_equal(self.axes, np.eye(2)) and not self.origin.any()

    def project(self, x: np.ndarray) -> np.ndarray:
        """Coordinates in the plane of first-replicate inputs x [n, features]."""
        return x if self.identity else ((x - self.origin) @ self.axes.T).astype(np.float32)

    def inputs(self, points: np.ndarray, first: Dataset, data: Dataset) -> np.ndarray:
        """Plane points [n, 2] as the inputs of the replicate whose dataset is `data`."""
        if self.identity and first.shift is None and data.shift is None:
            return points
        lifted = self.origin + points.astype(np.float64) @ self.axes
        return data.from_raw(first.to_raw(lifted)).astype(np.float32)


def reference_view(cfg: DataConfig, first: Dataset) -> tuple[View, Frame]:
    """The plane and measuring frame of a study: the generator's own, a table's two features, or its two leading
    principal components (boundaries are then drawn, not measured)."""
    if cfg.generator() is not None:
        return View(np.zeros(2), np.eye(2), ("x1", "x2"), True), reference_frame(cfg)
    points = np.vstack([first.x_train, first.x_val]).astype(np.float64)
    if first.n_features == 2:
        view = View(
            np.zeros(2),
            np.eye(2),
            (first.feature_names[0], first.feature_names[1]),
            True,
            "Axes: the two features, standardised with the first replicate's training split.",
        )
    else:
        view = _principal_plane(first)
    return view, _kde_frame(view.project(points), view.measured)


def _principal_plane(first: Dataset) -> View:
    """The plane of the first replicate's two leading principal components, through its training mean."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(first.x_train)
    share = pca.explained_variance_ratio_
    labels = (f"PC1 ({share[0]:.0%} of variance)", f"PC2 ({share[1]:.0%} of variance)")
    sentence = (
        f"The data have {first.n_features} features, so panels show one plane through them: the two leading "
        f"principal components of the first replicate's standardised training data ({share.sum():.0%} of its "
        f"variance), with every other direction held at the training mean. Boundaries are where the networks' "
        f"predictions change on this plane; points are projected onto it, so some lie off the plane."
    )
    return View(pca.mean_, pca.components_, labels, False, sentence)


def _kde_frame(points: np.ndarray, measured: bool) -> Frame:
    """A square grid around a table's points; its region holds 99% of a Gaussian kernel density of them (all of the
    grid when boundaries are only drawn)."""
    from scipy.stats import gaussian_kde

    low, high = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
    cell = max(MEASURE_CELL, float((high - low).max()) / MAX_CELLS)
    xs, ys = square_grid((low[0], high[0], low[1], high[1]), cell)
    frame = Frame(xs, ys, np.ones((len(ys), len(xs)), bool))
    if not measured:
        return frame
    kde = gaussian_kde(points.T)
    cut = np.quantile(kde(points.T), 1 - REGION_MASS)
    return Frame(xs, ys, (kde(frame.points.T) >= cut).reshape(len(ys), len(xs)))
