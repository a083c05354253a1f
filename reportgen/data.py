"""Make the make_moons dataset and its train / validation / test split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import make_moons

from reportgen.config import DataConfig


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
