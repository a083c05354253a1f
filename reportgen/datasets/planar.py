"""The 2-D generators as kinds of data: moons, circles, xor, spirals and blobs (their densities are in toys.py).

Each replicate draws fresh training, validation and test points; the exact Bayes posterior is the reference.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from reportgen.datasets import toys
from reportgen.datasets.base import Dataset, Generator, f32
from reportgen.datasets.settings import Generated, kind_field, n_classes_field, n_samples_field, noise_field

PRUNING_POINTS = 2000  # fresh points per replicate behind a generated data set's prunable share (1 = 0.05 pp)


class Planar(Generated):
    """A 2-D generator whose class densities are known: fresh points per replicate and a Bayes-optimal reference."""

    has_generator = True
    planar = True
    test_draw = 1  # a test draw of its own

    def generator(self) -> Generator:
        """The generator (toys.py) that draws the points and knows their densities."""
        raise NotImplementedError

    def load(self, replicate: int = 0) -> Dataset:
        """Draw one replicate's points; the last validation_fraction of them is held out, as Keras' validation_split does."""
        gen = self.generator()
        seed, test_seed = self.draws(replicate)
        x, y = gen.draw(self.n_samples, self.noise, seed)
        n_val = round(self.n_samples * self.validation_fraction)
        x_test, y_test = gen.draw(self.test_samples, self.noise, test_seed)
        return Dataset(
            x_train=f32(x[:-n_val]),
            y_train=f32(y[:-n_val]),
            x_val=f32(x[-n_val:]),
            y_val=f32(y[-n_val:]),
            x_test=f32(x_test),
            y_test=f32(y_test),
            class_names=tuple(str(k) for k in range(gen.n_classes(self.noise))),
        )

    def bayes_proba(self, x: np.ndarray) -> np.ndarray | None:
        return toys.bayes_proba(self.generator(), self.noise, np.asarray(x))

    def pruning_points(self, replicate: int, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.generator().draw(PRUNING_POINTS, self.noise, self.pruning_seed(replicate))
        return f32(x), f32(y)

    def bayes_note(self) -> str:
        if self.noise > 0:
            return ""
        return (
            "The generator adds no noise, so its classes do not overlap and there is no Bayes-optimal rule to "
            "compare with: the report measures no excess error and draws no Bayes boundary."
        )


class Moons(Planar):
    """scikit-learn's make_moons: two interleaving half circles."""

    kind: Literal["moons"] = kind_field("moons")
    n_samples: int = n_samples_field(100)
    noise: float = noise_field(0.25)
    title = "make_moons"

    def generator(self) -> Generator:
        return toys.Moons()


class Circles(Planar):
    """make_circles: a circle around a smaller one (radius 0.5)."""

    kind: Literal["circles"] = kind_field("circles")
    n_samples: int = n_samples_field(100)
    noise: float = noise_field(0.1)
    title = "make_circles"

    def generator(self) -> Generator:
        return toys.Circles()


class Xor(Planar):
    """Four Gaussian blobs at (±1, ±1), opposite corners one class."""

    kind: Literal["xor"] = kind_field("xor")
    n_samples: int = n_samples_field(100)
    noise: float = noise_field(0.4)
    title = "XOR (four Gaussian blobs)"

    def generator(self) -> Generator:
        return toys.Xor()


class Spirals(Planar):
    """Two interleaved spirals of 1.5 turns (the TensorFlow Playground's)."""

    kind: Literal["spirals"] = kind_field("spirals")
    n_samples: int = n_samples_field(200)
    noise: float = noise_field(0.15)
    title = "two spirals"

    def generator(self) -> Generator:
        return toys.Spirals()


class Blobs(Planar):
    """One Gaussian blob per class, centres evenly on a circle of radius 2."""

    kind: Literal["blobs"] = kind_field("blobs")
    n_samples: int = n_samples_field(150)
    noise: float = noise_field(1.0)
    n_classes: int = n_classes_field(3)
    title = "Gaussian blobs"

    def generator(self) -> Generator:
        return toys.Blobs(classes=self.n_classes)
