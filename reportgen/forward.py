"""Inference for many runs at once, in numpy, never TensorFlow: analysis runs every network on its test points, its
validation points and the boundary grid.

Runs of one network shape are stacked into calls sized by memory. numpy (one run at a time on many points, activations
updated in place: models.predict_logits) now takes 4.4 s for the default study's analysis where TensorFlow's compiled
batched graph took 7.9 s, and the numbers no longer depend on whether a build trained (TensorFlow loaded) or reused
the cache.
"""

from __future__ import annotations

import numpy as np

from reportgen.models import Network, predict_logits

CHUNK = 48  # at most this many runs per batched call
# Bytes of one hidden activation [runs, points, width] per call: runs per call shrink with points and width, so a
# grid of 22,500 points through 1,024-unit layers goes one or two runs at a time instead of 48 (4 GB each).
ACTIVATION_BYTES = 128e6


def runs_per_call(points: int, width: int, per_run_extra: float = 0.0, cap: int = CHUNK) -> int:
    """How many runs one batched call takes: their activations (and per_run_extra bytes each) within ACTIVATION_BYTES."""
    per_run = points * width * 4 + per_run_extra
    return int(max(1, min(cap, ACTIVATION_BYTES // max(per_run, 1))))


def logits_many(network: Network, weight_sets: list[list[np.ndarray]], x: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """Logits [runs, points] ([runs, points, classes] beyond two classes) of each weight set on its own points
    (x: list or [M, P, features]) or on shared points [P, features]."""
    shared = isinstance(x, np.ndarray) and x.ndim == 2
    points = x.shape[0] if shared else max((len(p) for p in x), default=0)
    chunk = runs_per_call(points, max((*network.hidden, network.outputs)))
    out = []
    for s in range(0, len(weight_sets), chunk):
        stacked = [np.stack(arrays) for arrays in zip(*weight_sets[s : s + chunk])]
        m = len(stacked[0])
        xs = np.broadcast_to(x, (m, *x.shape)) if shared else np.stack(x[s : s + m])
        out.append(predict_logits(network, stacked, np.ascontiguousarray(xs, dtype=np.float32)))
    return np.concatenate(out) if out else np.empty((0, 0 if shared else 0))


PRUNE_CHUNK = 8  # runs per call when every run is evaluated at many pruning levels at once


def logits_pruned(network: Network, weight_sets: list[list[np.ndarray]], cuts: np.ndarray, x: list[np.ndarray]) -> np.ndarray:
    """Logits [runs, levels, points]: run m with every kernel weight of magnitude <= cuts[m, level] set to zero."""
    kernels = set(network.kernel_indices())
    levels = cuts.shape[1] if len(cuts) else 1
    weights = sum(w.size for w in weight_sets[0]) if weight_sets else 0
    points = max((len(p) for p in x), default=0)
    # every level of a run is a network of its own: levels x (its weights + its activation) per run
    chunk = runs_per_call(points * levels, max((*network.hidden, network.outputs)), 2 * 4 * weights * levels, PRUNE_CHUNK)
    out = []
    for s in range(0, len(weight_sets), chunk):
        stacked = [np.stack(arrays) for arrays in zip(*weight_sets[s : s + chunk])]
        c = np.asarray(cuts[s : s + chunk], np.float32)
        r, levels = c.shape
        expanded = []
        for i, w in enumerate(stacked):
            if i in kernels:  # [r, 1, a, b] masked at each level's cut -> [r * levels, a, b]
                w = (w[:, None] * (np.abs(w[:, None]) > c[:, :, None, None])).reshape(r * levels, *w.shape[1:])
            else:
                w = np.repeat(w, levels, axis=0)
            expanded.append(np.ascontiguousarray(w, np.float32))
        xs = np.repeat(np.stack(x[s : s + r]).astype(np.float32), levels, axis=0)
        z = predict_logits(network, expanded, xs)
        out.append(z.reshape(r, levels, *z.shape[1:]))
    return np.concatenate(out)
