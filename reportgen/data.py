"""Make the make_moons dataset and its train / validation / test split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import make_moons

from reportgen.config import DataConfig
from reportgen.measures import Frame, square_grid


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test points (float32 features, 0/1 labels)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def bounds(self, margin: float = 0.5) -> tuple[float, float, float, float]:
        """Return (xmin, xmax, ymin, ymax) around the train and validation points."""
        pts = np.vstack([self.x_train, self.x_val])
        return (
            float(pts[:, 0].min() - margin),
            float(pts[:, 0].max() + margin),
            float(pts[:, 1].min() - margin),
            float(pts[:, 1].max() + margin),
        )


def draw_seeds(cfg: DataConfig, replicate: int) -> tuple[int, int]:
    """Random states of a replicate's (train + validation, test) draws; the same for every replicate when not resampling."""
    if not cfg.resample:
        return cfg.seed, cfg.seed + 1
    a, b = np.random.SeedSequence([cfg.seed, replicate]).generate_state(2)
    return int(a), int(b)


def make_dataset(cfg: DataConfig, replicate: int = 0) -> Dataset:
    """Draw one replicate's points; the last validation_fraction of them is held out, as Keras' validation_split does."""
    seed, test_seed = draw_seeds(cfg, replicate)
    x, y = make_moons(n_samples=cfg.n_samples, noise=cfg.noise, random_state=seed)
    n_val = round(cfg.n_samples * cfg.validation_fraction)
    x_test, y_test = make_moons(n_samples=cfg.test_samples, noise=cfg.noise, random_state=test_seed)
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    return Dataset(
        x_train=f32(x[:-n_val]), y_train=f32(y[:-n_val]),
        x_val=f32(x[-n_val:]), y_val=f32(y[-n_val:]),
        x_test=f32(x_test), y_test=f32(y_test),
    )


def make_datasets(cfg: DataConfig, replicates) -> dict[int, Dataset]:
    """Every replicate's dataset by seed (one shared object when the data is not resampled)."""
    if not cfg.resample:
        shared = make_dataset(cfg)
        return {r: shared for r in replicates}
    return {r: make_dataset(cfg, r) for r in replicates}


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


def _moon_log_densities(x: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Log densities (up to one shared constant) of make_moons' two classes at points x [n, 2]."""
    from scipy.special import logsumexp

    # Points along each half circle spaced at most noise / 2 apart: the sum of Gaussians is then smooth to well under 1%.
    t = np.linspace(0, np.pi, int(np.clip(np.ceil(2 * np.pi / noise), 64, 4000)))
    centres = (np.column_stack([np.cos(t), np.sin(t)]), np.column_stack([1 - np.cos(t), 0.5 - np.sin(t)]))
    x = np.asarray(x, np.float64)
    out = []
    for c in centres:
        sq = (x[:, None, 0] - c[None, :, 0]) ** 2 + (x[:, None, 1] - c[None, :, 1]) ** 2
        out.append(logsumexp(-sq / (2 * noise**2), axis=1))
    return out[0], out[1]


def bayes_proba(cfg: DataConfig, x: np.ndarray) -> np.ndarray | None:
    """P(class 1 | x) under the data generator (equal class sizes), or None when it has no noise to integrate."""
    if cfg.noise <= 0:
        return None
    out = np.empty(len(x))
    for s in range(0, len(x), 4096):  # chunks keep the [points, angles] array small
        l0, l1 = _moon_log_densities(x[s:s + 4096], cfg.noise)
        out[s:s + 4096] = 1.0 / (1.0 + np.exp(np.clip(l0 - l1, -700, 700)))
    return out


def _log_density(cfg: DataConfig, x: np.ndarray) -> np.ndarray:
    """Log of the generator's density (up to a constant) at points x."""
    chunks = [np.logaddexp(*_moon_log_densities(x[s:s + 4096], max(cfg.noise, 1e-3))) for s in range(0, len(x), 4096)]
    return np.concatenate(chunks) if chunks else np.empty(0)


def reference_frame(cfg: DataConfig) -> Frame:
    """The study's measuring frame: a square grid over the generator's data and its 99% highest-density region."""
    ref_x, _ = make_moons(n_samples=4000, noise=cfg.noise, random_state=np.random.SeedSequence([cfg.seed, 2**31]).generate_state(1)[0])
    bounds = (ref_x[:, 0].min() - 0.3, ref_x[:, 0].max() + 0.3, ref_x[:, 1].min() - 0.3, ref_x[:, 1].max() + 0.3)
    xs, ys = square_grid(bounds, MEASURE_CELL)
    frame = Frame(xs, ys, np.ones((len(ys), len(xs)), bool))
    cut = np.quantile(_log_density(cfg, ref_x), 1 - REGION_MASS)
    region = (_log_density(cfg, frame.points) >= cut).reshape(len(ys), len(xs))
    return Frame(xs, ys, region)
