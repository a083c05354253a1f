"""Measures of one trained run, each checked in tests on a case with a known answer: pure numpy, no study objects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """A square-celled grid over the data and the part of it the data occupy (where boundaries are measured)."""

    xs: np.ndarray  # column centres
    ys: np.ndarray  # row centres
    region: np.ndarray  # bool [len(ys), len(xs)]: inside the region the data occupy

    @property
    def points(self) -> np.ndarray:
        """Grid points as [rows * cols, 2], row by row (the layout of probs.ravel())."""
        xx, yy = np.meshgrid(self.xs, self.ys)
        return np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)

    @property
    def cell(self) -> float:
        """Side of a (square) cell."""
        return float(self.xs[1] - self.xs[0])


def square_grid(bounds: tuple[float, float, float, float], cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Column and row centres of a grid with square cells of side `cell` covering bounds (xmin, xmax, ymin, ymax)."""
    nx = int(np.ceil((bounds[1] - bounds[0]) / cell)) + 1
    ny = int(np.ceil((bounds[3] - bounds[2]) / cell)) + 1
    return bounds[0] + cell * np.arange(nx), bounds[2] + cell * np.arange(ny)


def contour_length(probs: np.ndarray, frame: Frame, level: float = 0.5) -> tuple[float, int]:
    """Euclidean length of the `level` contour (marching squares) inside frame.region, and its number of pieces.

    A piece is a maximal run of contour segments inside the region: a curve that leaves the region and comes back
    counts twice, as a reader of the figure would count it.
    """
    import contourpy

    gen = contourpy.contour_generator(frame.xs, frame.ys, probs, line_type=contourpy.LineType.Separate)
    length, pieces = 0.0, 0
    for line in gen.lines(level):
        if len(line) < 2:
            continue
        seg = np.diff(line, axis=0)
        inside = _inside(frame, (line[1:] + line[:-1]) / 2)
        length += float(np.hypot(seg[:, 0], seg[:, 1])[inside].sum())
        pieces += int(np.sum(inside[1:] & ~inside[:-1]) + inside[0])  # starts of runs of inside segments
        closed = np.allclose(line[0], line[-1])
        if closed and inside[0] and inside[-1] and not inside.all():
            pieces -= 1  # a closed curve's first and last runs are one piece that happens to contain its start
    return length, pieces


def class_boundaries(probs: np.ndarray, frame: Frame) -> tuple[float, int]:
    """Length and pieces of the boundaries between more than two classes inside frame.region, from P(each class)
    [rows, cols, K] (NaN outside the region).

    Length: each class's region is outlined by the 0 contour of its margin over the best other class; every boundary
    separates two classes, so the outlines count it twice and their sum is halved. Pieces: connected groups
    (8-neighbourhood) of region cells whose predicted class differs from a neighbour's, so a junction of three classes
    is one piece.
    """
    from scipy import ndimage

    probs = np.asarray(probs, float)
    length = 0.0
    for k in range(probs.shape[-1]):
        margin = probs[..., k] - np.delete(probs, k, axis=-1).max(axis=-1)
        length += contour_length(np.ma.masked_invalid(margin), frame, level=0.0)[0]
    inside = np.isfinite(probs).all(axis=-1) & frame.region
    label = np.where(inside, np.argmax(np.nan_to_num(probs, nan=-1.0), axis=-1), -1)
    edge = np.zeros(label.shape, bool)
    for a, b in ((label[1:], label[:-1]), (label[:, 1:], label[:, :-1])):
        differs = (a != b) & (a >= 0) & (b >= 0)
        if a.shape[0] < label.shape[0]:
            edge[1:] |= differs
            edge[:-1] |= differs
        else:
            edge[:, 1:] |= differs
            edge[:, :-1] |= differs
    pieces = ndimage.label(edge, structure=np.ones((3, 3)))[1]
    return length / 2, int(pieces)


def boundary_measures(probs: np.ndarray, frame: Frame) -> tuple[float, int]:
    """Decision-boundary length and pieces inside the region: the 0.5 contour of P(class 1) [rows, cols] for two
    classes, the boundaries between classes from P(each class) [rows, cols, K] beyond."""
    if probs.ndim == 3:
        return class_boundaries(probs, frame)
    return contour_length(np.ma.masked_invalid(probs), frame)


def _inside(frame: Frame, pts: np.ndarray) -> np.ndarray:
    """Whether points fall in a region cell (nearest grid point)."""
    col = np.clip(np.rint((pts[:, 0] - frame.xs[0]) / frame.cell).astype(int), 0, len(frame.xs) - 1)
    row = np.clip(np.rint((pts[:, 1] - frame.ys[0]) / frame.cell).astype(int), 0, len(frame.ys) - 1)
    return frame.region[row, col]


def smooth(curve: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average; the window shrinks at the ends instead of padding."""
    window = max(1, min(window, curve.size))
    kernel = np.ones(window)
    sums = np.convolve(curve, kernel, mode="same")
    counts = np.convolve(np.ones_like(curve), kernel, mode="same")
    return sums / counts


def rebound(val_loss: np.ndarray, window: int = 1) -> tuple[float, int]:
    """Final minus minimum of a (optionally smoothed) loss curve, and the 1-based epoch of the minimum.

    Smoothing keeps epoch-to-epoch noise from posing as a rebound: the minimum of a noisy curve sits below its trend.
    """
    curve = smooth(np.asarray(val_loss, float), window)
    if curve.size == 0 or not np.isfinite(curve).all():
        return float("nan"), 0
    low = int(np.argmin(curve))
    return float(curve[-1] - curve[low]), low + 1


def roughness(loss: np.ndarray, share: float, window: int = 21) -> float:
    """Roughness of a loss curve in loss units: the root mean square of its deviations from a local quadratic trend
    over the last `share` of training.

    Noise model: additive. A smooth curve plus white noise of standard deviation s reads s at any level of the loss,
    as wiggles of one height look alike on a linear loss axis; a wiggle proportional to the loss (multiplicative)
    reads in proportion to the loss. The trend is a Savitzky-Golay fit (quadratic, which also holds at the ends),
    so a curve that rises or falls smoothly is not called rough; the fit follows the noise a little (it keeps
    1 - c0 of white noise's variance, c0 its central coefficient), which the scaling undoes.
    """
    from scipy.signal import savgol_coeffs, savgol_filter

    loss = np.asarray(loss, float)
    if loss.size < 5 or not np.isfinite(loss).all():
        return float("nan")
    window = min(window, loss.size - (1 - loss.size % 2))  # odd and no longer than the curve
    residual = loss - savgol_filter(loss, window, polyorder=2, mode="interp")
    kept = 1.0 - savgol_coeffs(window, 2)[window // 2]  # white noise's variance left in the residual
    tail = residual[int(len(residual) * (1 - share)) :]
    return float(np.sqrt(np.mean(tail**2) / kept)) if tail.size > 1 else float("nan")


def prune_cuts(weights: list[np.ndarray], kernel_idx: list[int], fractions) -> np.ndarray:
    """The magnitude at or below which weights go, for each fraction of all kernel weights (one sort for all)."""
    mags = np.sort(np.concatenate([np.abs(weights[i]).ravel() for i in kernel_idx]))
    idx = np.clip(np.round(np.asarray(fractions, float) * mags.size).astype(int), 0, mags.size) - 1
    return np.where(idx >= 0, mags[np.maximum(idx, 0)], -1.0)


def prune(weights: list[np.ndarray], kernel_idx: list[int], fraction: float, cut: float | None = None) -> list[np.ndarray]:
    """Zero the smallest `fraction` of all kernel weights by magnitude (one global cut; biases kept)."""
    cut = prune_cuts(weights, kernel_idx, [fraction])[0] if cut is None else cut
    if cut < 0:
        return list(weights)
    return [np.where(np.abs(w) <= cut, 0.0, w).astype(w.dtype) if i in kernel_idx else w for i, w in enumerate(weights)]


def prunable_share(fractions, accuracies, tolerance: float, one_class=None) -> float:
    """The largest fraction before the first failing one (fractions ascend from 0, the unpruned network).

    A fraction fails when its accuracy drops more than `tolerance` below the unpruned network's (accuracies[0]) or
    when the pruned network predicts one class on every evaluation point (one_class, per fraction): with every kernel
    weight gone a network predicts one class, so a search that ends at 100% always ends in a failure. An unpruned
    network that already predicts one class is not prunable without harm: 0. The first failure, not the largest
    passing fraction: a network that loses its accuracy and regains some of it by chance further on was harmed.
    When no fraction fails, the last one (the share is then at least that: censored by the search).
    """
    frac, fails = np.asarray(fractions, float), prune_failures(accuracies, tolerance, one_class)
    if fails[0]:
        return 0.0
    first = int(np.argmax(fails)) if fails.any() else len(frac)
    return float(frac[first - 1])


def prune_failures(accuracies, tolerance: float, one_class=None) -> np.ndarray:
    """Which pruning fractions fail (prunable_share): accuracy more than `tolerance` below the unpruned network's
    (accuracies[0]), or one class everywhere; the unpruned network fails only by predicting one class."""
    acc = np.asarray(accuracies, float)
    single = np.zeros(acc.shape, bool) if one_class is None else np.asarray(one_class, bool)
    return (acc < acc[0] - tolerance - 1e-12) | single


CALIBRATION_BINS = 15  # equal-width bins of confidence on [0, 1], as Guo et al. (2017); the last bin holds 1.0


def top_label(probs: np.ndarray, multiclass: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each point's confidence (the probability of its predicted class) and predicted class, from P(class 1) [n] of a
    sigmoid or P(each class) [n, K] of a softmax."""
    if multiclass:
        return probs.max(axis=-1), probs.argmax(axis=-1)
    return np.maximum(probs, 1.0 - probs), (probs > 0.5).astype(int)


def brier_score(probs: np.ndarray, y: np.ndarray, multiclass: bool) -> float:
    """Mean squared error of the predicted probabilities: (p − y)² of P(class 1) for two classes, Σ_k (p_k − [y = k])²
    over K classes beyond (Brier's original score)."""
    if not multiclass:
        return float(np.mean((probs - y) ** 2))
    truth = np.eye(probs.shape[-1])[y.astype(int)]
    return float(np.mean(np.sum((probs - truth) ** 2, axis=-1)))


def reliability_bins(probs: np.ndarray, y: np.ndarray, multiclass: bool, bins: int = CALIBRATION_BINS) -> np.ndarray:
    """Per confidence bin: [points, summed confidence, correct predictions] ([bins, 3]); bin b holds confidences in
    [b/bins, (b+1)/bins), the last one 1.0 too."""
    confidence, predicted = top_label(probs, multiclass)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    out = np.zeros((bins, 3))
    np.add.at(out, index, np.stack([np.ones_like(confidence), confidence, predicted == y], axis=1))
    return out


def expected_calibration_error(binned: np.ndarray) -> float:
    """ECE from reliability_bins: Σ_b (n_b / n) · |accuracy_b − mean confidence_b| over the bins holding points."""
    n, conf, correct = binned.T
    held = n > 0
    return float(np.sum(np.abs(correct[held] - conf[held])) / n.sum())
