"""Inference for many runs at once, in numpy, never TensorFlow: analysis runs every network on its test points, its
validation points and the boundary grid.

Runs of one network shape are stacked into calls sized by memory. numpy (one run at a time on many points, activations
updated in place: models.predict_logits) now takes 4.4 s for the default study's analysis where TensorFlow's compiled
batched graph took 7.9 s, and the numbers no longer depend on whether a build trained (TensorFlow loaded) or reused
the cache.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from reportgen.models import ACTIVATION_BYTES, BN_EPSILON, Network, _activate, predict_logits

__all__ = ["ACTIVATION_BYTES", "logits_many", "logits_pruned", "pruning_walk", "runs_per_call"]

CHUNK = 48  # at most this many runs per batched call


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


def pruning_walk(network: Network, weights: list[np.ndarray], cuts: np.ndarray, x: np.ndarray) -> Iterator[np.ndarray]:
    """Logits [points] ([points, classes] beyond two classes) of one run's network at each pruning level in turn:
    at level k every kernel weight of magnitude <= cuts[k] is zero (cuts ascend, as measures.prune_cuts gives them).

    The same networks as logits_pruned, level by level, but each level is the last one updated instead of a forward
    pass of its own: a level removes about 2% of the weights, so a layer's pre-activations change by those weights'
    products (a sparse product over the removed weights) and by the rows of its input that changed (a product over
    those rows only); only a layer whose whole input changed is multiplied again. In the default network (2-128-128-1)
    a level then costs a third of a forward pass. Every array is float32, laid out [units, points]; the updates add
    float32 rounding of their own, so a logit may differ from the forward pass's in its last bits (tests compare them
    at every level). The caller stops when it has what it needs: levels past that are never computed.
    """
    from scipy.linalg.blas import sgemm  # scipy here only: a build whose analysis is kept never loads it
    from scipy.sparse._sparsetools import csr_matvecs  # y += A @ X for a CSR matrix A, in place (scipy's own kernel)

    depth = len(network.hidden)
    kernels: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    norms: list[tuple[np.ndarray, ...] | None] = []  # batch norm's mean, scale, gamma and beta, [units, 1] each
    it = iter(weights)
    for layer in range(depth + 1):
        kernels.append(np.array(np.asarray(next(it), np.float32).T, order="C"))  # [out, in], the walk's own copy
        biases.append(np.asarray(next(it), np.float32)[:, None])
        if layer < depth and network.batchnorm:
            gamma, beta, mean, var = (np.asarray(next(it), np.float32)[:, None] for _ in range(4))
            norms.append((mean, np.sqrt(var + BN_EPSILON), gamma, beta))
        else:
            norms.append(None)
    cuts = np.asarray(cuts, np.float32)
    leaving = [_Leaving(k, cuts) for k in kernels]
    for kernel, lv in zip(kernels, leaving):  # what the first level already removes (none at a fraction of 0)
        kernel.ravel()[lv.flat[: lv.bounds[1]]] = 0.0

    def post(a: np.ndarray, layer: int, units=slice(None), out: np.ndarray | None = None) -> np.ndarray:
        """A hidden layer's output from its pre-activations (of some of its units)."""
        if out is None:
            out = a[units].copy() if isinstance(units, slice) else a[units]
        elif network.activation == "relu" and norms[layer] is None:
            return np.maximum(a, zero, out=out)  # against a row of zeros: 2.5 times faster than against a scalar 0
        else:
            np.copyto(out, a)
        _activate(out, network.activation)
        norm = norms[layer]
        if norm is not None:
            mean, scale, gamma, beta = (p[units] for p in norm)
            out -= mean
            out /= scale
            out *= gamma
            out += beta
        return out

    xt = np.ascontiguousarray(np.asarray(x, np.float32).T)
    pre, outs = [], []
    zero = np.zeros(xt.shape[1], np.float32)
    h = xt
    for layer in range(depth + 1):
        # C-contiguous float32, and only ever written in place: the CSR kernel adds into its ravel() and sgemm into
        # its transpose, both of which would otherwise be copies that take the update away with them
        a = np.ascontiguousarray(kernels[layer] @ h, np.float32)
        a += biases[layer]
        pre.append(a)
        if layer < depth:
            h = post(a, layer)
            outs.append(h)
    spare = [np.empty_like(h) for h in outs]
    yield _logits(pre[depth], network)
    for level in range(1, len(cuts)):
        # the removed weights' products with the inputs they had, subtracted in place (a CSR product)
        for layer, lv in enumerate(leaving):
            start, end = lv.bounds[level], lv.bounds[level + 1]
            if end > start:
                h = xt if layer == 0 else outs[layer - 1]
                out_units, in_units = kernels[layer].shape
                indptr, cols, values = lv.indptr[level], lv.cols[start:end], lv.values[start:end]
                csr_matvecs(out_units, in_units, h.shape[1], indptr, cols, values, h.ravel(), pre[layer].ravel())
                kernels[layer].ravel()[lv.flat[start:end]] = 0.0  # ravel(): a view of the C-contiguous kernel
        # then what changed in each layer's input, layer by layer: None nothing, a slice everything, else those rows
        changed: np.ndarray | slice | None = None
        delta = np.empty(0, np.float32)
        for layer in range(depth + 1):
            if isinstance(changed, slice):
                np.matmul(kernels[layer], outs[layer - 1], out=pre[layer])
                pre[layer] += biases[layer]
            elif changed is not None:  # pre += kernel[:, changed] @ delta, in place ([points, units] as BLAS sees it)
                sgemm(1.0, delta.T, kernels[layer][:, changed].T, 1.0, pre[layer].T, overwrite_c=True)
            if layer == depth:
                break
            if changed is not None:  # a changed row of the input reaches every unit
                post(pre[layer], layer, out=spare[layer])
                outs[layer], spare[layer] = spare[layer], outs[layer]
                changed = slice(None)
                continue
            units = leaving[layer].units[level]
            if len(units):  # the units that lost a weight (a dead unit's delta is zero rows: cheaper than finding it)
                new = post(pre[layer], layer, units)
                delta = new - outs[layer][units]
                outs[layer][units] = new
                changed = units
        yield _logits(pre[depth], network)


def _logits(pre: np.ndarray, network: Network) -> np.ndarray:
    """The output layer's pre-activations [classes, points] as logits [points] or [points, classes] (a copy)."""
    return pre[0].copy() if network.outputs == 1 else pre.T.copy()


class _Leaving:
    """One kernel's weights [out, in] in the order the pruning levels remove them, and what each level removes as a
    CSR matrix of the negated weights (its rows' offsets, its columns, its values), made once for all levels: pre-
    activations += that matrix @ the layer's input takes those weights' products away. Weights leave in order of
    level and then of flat index, so the rows of each level ascend, as CSR needs."""

    def __init__(self, kernel: np.ndarray, cuts: np.ndarray):
        out_units, in_units = kernel.shape
        gone = np.searchsorted(cuts, np.abs(kernel).ravel(), side="left")  # each weight's level (len(cuts): never)
        order = np.argsort(gone, kind="stable")
        self.flat = order.astype(np.int32)
        rows, cols = np.divmod(self.flat, np.int32(in_units))
        self.cols = cols
        self.values = -kernel.ravel()[order]
        # weights each level removes from each unit [levels + 1, out]; a level's CSR row offsets are their running sum
        self.per_unit = np.bincount(gone[order] * out_units + rows, minlength=(len(cuts) + 1) * out_units).reshape(-1, out_units)
        self.indptr = np.zeros((len(self.per_unit), out_units + 1), np.int32)
        np.cumsum(self.per_unit, axis=1, out=self.indptr[:, 1:])
        self.bounds = np.concatenate([[0], np.cumsum(self.indptr[:, -1])])
        level, unit = np.nonzero(self.per_unit)  # the units each level takes a weight from
        self.units = np.split(unit, np.searchsorted(level, np.arange(1, len(self.per_unit))))
