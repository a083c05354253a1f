"""The 2-D generators of the TensorFlow Playground and scikit-learn: moons, circles, XOR, two spirals, Gaussian blobs.

Each knows its class densities in closed form: a Gaussian (the noise) smeared along the generating curve, or a
mixture of Gaussians. That gives the exact Bayes posterior (the best any classifier can do) and the region the data
occupy. The sum along a curve uses points spaced at most noise / 2 apart: smooth to well under 1%.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# scipy and scikit-learn are imported where they are used: a build whose runs and analysis are all in its cache draws
# no data before its report is laid out, and importing them (scipy.stats with them) took a second of its start-up

CHUNK = 4096  # points per block: keeps the [points, curve points] arrays small
CIRCLES_FACTOR = 0.5  # inner circle's radius over the outer one's (make_circles' factor)
XOR_CENTRES = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])  # classes 0, 0, 1, 1
BLOBS_RADIUS = 2.0  # blob centres sit evenly on a circle of this radius, so every class is as far from its neighbours
SPIRAL_TURNS = 1.5
SPIRAL_RADII = (0.2, 2.0)  # radius at the start and at the end of an arm


def _curve_count(length: float, noise: float) -> int:
    """Points along a curve of this length spaced at most noise / 2 apart (64 to 4,000)."""
    return int(np.clip(np.ceil(2 * length / noise), 64, 4000))


def _mixture_log_densities(x: np.ndarray, centres: list[np.ndarray], noise: float) -> np.ndarray:
    """Log of an equal-weight sum of isotropic Gaussians around each class's centres, up to one constant: [n, K]."""
    from scipy.special import logsumexp

    x = np.asarray(x, np.float64)
    out = np.empty((len(x), len(centres)))
    for s in range(0, len(x), CHUNK):
        part = x[s : s + CHUNK]
        for k, c in enumerate(centres):
            sq = (part[:, None, 0] - c[None, :, 0]) ** 2 + (part[:, None, 1] - c[None, :, 1]) ** 2
            out[s : s + CHUNK, k] = logsumexp(-sq / (2 * noise**2), axis=1)
    return out


class _TwoClasses:
    """A generator of two classes at every noise level."""

    def n_classes(self, noise: float) -> int:
        return 2


@dataclass(frozen=True)
class Moons(_TwoClasses):
    """scikit-learn's make_moons: two interleaving half circles."""

    name: str = "moons"

    def draw(self, n: int, noise: float, random_state: int):
        from sklearn.datasets import make_moons

        return make_moons(n_samples=n, noise=noise, random_state=random_state)

    def class_log_densities(self, x, noise):
        t = np.linspace(0, np.pi, _curve_count(np.pi, noise))
        centres = [np.column_stack([np.cos(t), np.sin(t)]), np.column_stack([1 - np.cos(t), 0.5 - np.sin(t)])]
        return _mixture_log_densities(x, centres, noise)


@dataclass(frozen=True)
class Circles(_TwoClasses):
    """scikit-learn's make_circles: a circle (class 0) around a smaller one (class 1)."""

    name: str = "circles"

    def draw(self, n: int, noise: float, random_state: int):
        from sklearn.datasets import make_circles

        return make_circles(n_samples=n, noise=noise, factor=CIRCLES_FACTOR, random_state=random_state)

    def class_log_densities(self, x, noise):
        t = np.linspace(0, 2 * np.pi, _curve_count(2 * np.pi, noise), endpoint=False)
        ring = np.column_stack([np.cos(t), np.sin(t)])
        return _mixture_log_densities(x, [ring, CIRCLES_FACTOR * ring], noise)


@dataclass(frozen=True)
class Xor(_TwoClasses):
    """XOR as a Gaussian mixture: blobs at (1, 1) and (-1, -1) are class 0, at (1, -1) and (-1, 1) class 1."""

    name: str = "xor"

    def draw(self, n: int, noise: float, random_state: int):
        from sklearn.datasets import make_blobs

        x, blob = make_blobs(n_samples=n, centers=XOR_CENTRES, cluster_std=noise, random_state=random_state)
        return x, blob // 2

    def class_log_densities(self, x, noise):
        return _mixture_log_densities(x, [XOR_CENTRES[:2], XOR_CENTRES[2:]], max(noise, 1e-3))


def _blob_centres(k: int) -> np.ndarray:
    angles = np.pi / 2 + 2 * np.pi * np.arange(k) / k
    return BLOBS_RADIUS * np.column_stack([np.cos(angles), np.sin(angles)])


@dataclass(frozen=True)
class Blobs:
    """Gaussian blobs, one class each, centred evenly on a circle (make_blobs with fixed centres)."""

    name: str = "blobs"
    classes: int = 3

    def n_classes(self, noise: float) -> int:
        return self.classes

    def draw(self, n: int, noise: float, random_state: int):
        from sklearn.datasets import make_blobs

        return make_blobs(n_samples=n, centers=_blob_centres(self.classes), cluster_std=noise, random_state=random_state)

    def class_log_densities(self, x, noise):
        return _mixture_log_densities(x, [c[None, :] for c in _blob_centres(self.classes)], max(noise, 1e-3))


def _spiral(t: np.ndarray, arm: int) -> np.ndarray:
    """Points of spiral arm 0 or 1 (turned by half a turn) at positions t in [0, 1]."""
    radius = SPIRAL_RADII[0] + (SPIRAL_RADII[1] - SPIRAL_RADII[0]) * t
    angle = 2 * np.pi * SPIRAL_TURNS * t + arm * np.pi
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


@dataclass(frozen=True)
class Spirals(_TwoClasses):
    """Two interleaved spirals (the TensorFlow Playground's), points uniform along each arm, Gaussian noise."""

    name: str = "spirals"

    def draw(self, n: int, noise: float, random_state: int):
        rng = np.random.RandomState(random_state)
        sizes = (n - n // 2, n // 2)
        x = np.vstack([_spiral(rng.uniform(0, 1, size), arm) for arm, size in enumerate(sizes)])
        x += rng.normal(scale=noise, size=x.shape)
        y = np.repeat([0, 1], sizes)
        order = rng.permutation(n)  # shuffled, as scikit-learn's generators are: the last rows are not one class
        return x[order], y[order]

    def class_log_densities(self, x, noise):
        fine = _spiral(np.linspace(0, 1, 2000), 0)
        length = float(np.hypot(*np.diff(fine, axis=0).T).sum())
        t = np.linspace(0, 1, _curve_count(length, noise))
        return _mixture_log_densities(x, [_spiral(t, 0), _spiral(t, 1)], noise)


def bayes_proba(gen, noise: float, x: np.ndarray) -> np.ndarray | None:
    """The Bayes posterior P(class | x) [n, K] under equal class sizes, or None when the noise is zero (no density)."""
    from scipy.special import logsumexp

    if noise <= 0:
        return None
    out = []
    for s in range(0, len(x), CHUNK):
        logs = gen.class_log_densities(x[s : s + CHUNK], noise)
        if logs.shape[1] == 2:  # the logistic form: exactly the numbers of the two-class code this replaced
            p1 = 1.0 / (1.0 + np.exp(np.clip(logs[:, 0] - logs[:, 1], -700, 700)))
            out.append(np.column_stack([1 - p1, p1]))
        else:
            out.append(np.exp(logs - logsumexp(logs, axis=1, keepdims=True)))
    return np.concatenate(out) if out else np.empty((0, gen.n_classes(noise)))


def log_density(gen, noise: float, x: np.ndarray) -> np.ndarray:
    """Log of the generator's density (all classes, up to a constant) at points x."""
    from scipy.special import logsumexp

    chunks = []
    for s in range(0, len(x), CHUNK):
        logs = gen.class_log_densities(x[s : s + CHUNK], max(noise, 1e-3))
        chunks.append(np.logaddexp(logs[:, 0], logs[:, 1]) if logs.shape[1] == 2 else logsumexp(logs, axis=1))
    return np.concatenate(chunks) if chunks else np.empty(0)
