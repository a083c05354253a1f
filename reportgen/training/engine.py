"""The fast engine: many runs of one network shape trained together inside one compiled XLA graph.

Weights of M runs are stacked on a leading axis; the epoch loop, the mini-batch loop, Adam, the
penalties, dropout, batch normalization, early stopping, the weights at the lowest validation loss and
the divergence test all run in the graph. Each run has its own training and validation data (its
replicate's), its own hyper-parameters (penalties, dropout rate, patience, batch norm on or off in a
batch-norm graph) and its own random streams, derived from its seed alone, so a run gives the same
result whichever other runs share its graph.
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reportgen._tf import load, tf
from reportgen.models import Network
from reportgen.plan import HISTORY_KEYS
from reportgen.regularizers import BN_EPSILON, BN_MOMENTUM, NO_PATIENCE

ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-7  # Keras Adam defaults
KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), in MaxNorm


@dataclass(frozen=True)
class GroupSpec:
    """What is fixed for one compiled graph."""

    network: Network
    n_runs: int
    n_train: int  # training rows of every run (replicates all have the same numbers of rows)
    batch_size: int
    shuffle: bool
    learning_rate: float
    chunk: int  # at most this many epochs per call of the graph (the size of its history buffer)
    optimizer: str = "adam"  # or 'sgd'
    momentum: float = 0.0  # SGD's
    switches: frozenset[str] = frozenset()  # the switched regularizers (records' keys) whose arithmetic is in the graph

    def has(self, key: str) -> bool:
        """Whether a switched regularizer's arithmetic is compiled into this graph (every run of it uses it)."""
        return key in self.switches

    @property
    def steps(self) -> int:
        """Mini-batches per epoch (the last one may be partial, as in Keras: the graph pads it, masked)."""
        return math.ceil(self.n_train / self.batch_size)


@dataclass(frozen=True)
class GroupHyper:
    """Per-run settings, one entry per stacked run: what each regularizer's record gives the graph (its engine
    numbers: l1, l2, dropout, batchnorm, patience, ...), and each run's random streams."""

    values: dict[str, np.ndarray]  # name -> one value per run
    shuffle_seed: np.ndarray
    dropout_seed: np.ndarray

    @property
    def restore_best(self) -> np.ndarray:
        """Runs that go back to their best epoch's weights when they stop early."""
        return self.values["restore_best"]


@functools.cache
def _barrier_op() -> Callable:
    """XLA's optimization barrier; not part of TensorFlow's public API: without it, the same numbers a little slower."""
    load()  # TensorFlow starts with its settings before one of its modules is imported by name
    try:
        from tensorflow.compiler.tf2xla.python.xla import optimization_barrier
    except ImportError:
        return lambda *tensors: tensors
    return optimization_barrier


def _u32(x: int) -> np.uint32:
    return np.uint32(x & 0xFFFFFFFF)


def run_streams(seed: int) -> tuple[np.uint32, np.uint32]:
    """Return the (shuffle, dropout) stream keys of a seed."""
    mix = lambda a: _u32((a ^ (a >> 16)) * 0x45D9F3B)  # noqa: E731
    return mix(int(mix(seed * 2 + 1))), mix(int(mix(seed * 2 + 2)) + 0x9E3779B9)


def _hash(x):
    """Mix uint32 values (lowbias32): a counter-based random number generator, vectorised."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = x * tf.constant(0x7FEB352D, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
    x = x * tf.constant(0x846CA68B, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def _uniform(keys, stream, tail: tuple[int, ...]):
    """Uniform [0, 1) numbers of shape [M, *tail], a function of (run key, stream counter, position) only."""
    run_key = _hash(keys + _hash(tf.cast(stream, tf.uint32) * tf.constant(0x9E3779B1, tf.uint32)))
    positions = tf.reshape(tf.cast(tf.range(math.prod(tail)), tf.uint32), (1, *tail))
    run_key = tf.reshape(run_key, (-1,) + (1,) * len(tail))
    bits = _hash(tf.bitwise.bitwise_xor(run_key, positions * tf.constant(0x85EBCA6B, tf.uint32)))
    return tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) * (1.0 / (1 << 24))


def _normal(keys, stream, tail: tuple[int, ...]):
    """Standard normal numbers of shape [M, *tail] (Box-Muller on two uniform streams), a function of (run key, stream
    counter, position) only: the first rows of a larger draw are the draw of fewer rows."""
    u1 = _uniform(keys, stream * 2, tail)
    u2 = _uniform(keys, stream * 2 + 1, tail)
    return tf.sqrt(-2.0 * tf.math.log1p(-u1)) * tf.cos((2.0 * math.pi) * u2)


def noise_keys(dropout_seed):
    """The input-noise stream of each run, derived from its dropout stream (a stream of its own)."""
    return _hash(tf.bitwise.bitwise_xor(tf.cast(dropout_seed, tf.uint32), tf.constant(0x5BD1E995, tf.uint32)))


def _activation(name: str):
    """A hidden layer's activation, as Keras computes it ('gelu': exact)."""
    if name == "tanh":
        return tf.math.tanh
    if name == "gelu":
        return lambda h: tf.nn.gelu(h, approximate=False)
    return tf.nn.relu


def _runs_mask(mask) -> dict:
    """A per-run mask [M] shaped once for every rank of the arrays it selects (fewer ops to trace)."""
    return {rank: tf.reshape(mask, (-1,) + (1,) * (rank - 1)) for rank in (1, 2, 3)}


def _where(masks: dict, new, old):
    """Per-run select: new where the run's mask (from _runs_mask) is set, else old."""
    return tf.where(masks[len(new.shape)], new, old)


class _Layers:
    """Views of a flat Keras-order weight list by kind and layer."""

    def __init__(self, network: Network):
        self.layout = network.layout()
        self.trainable = [i for i, (k, _) in enumerate(self.layout) if not k.startswith("moving_")]
        self.hidden_kernels = [i for i, (k, layer) in enumerate(self.layout) if k == "kernel" and layer < len(network.hidden)]

    def index(self, kind: str, layer: int) -> int:
        return self.layout.index((kind, layer))


def _forward(spec: GroupSpec, lay: _Layers, w: list, x, hyper, *, rows=None, noise=None, input_noise=None):
    """Logits [M, B] for inputs [M, B, 2]; in training mode (rows: 1 for each real row of the mini-batch, 0 for
    padding) also the batch statistics of each BN layer. input_noise: standard normal numbers shaped as x, scaled by
    each run's input_noise (training only, as keras.layers.GaussianNoise)."""
    net, h, batch_stats = spec.network, x, []
    if input_noise is not None:
        h = h + hyper["input_noise"][:, None, None] * input_noise
    act = _activation(net.activation)
    for i in range(len(net.hidden)):
        h = act(tf.matmul(h, w[lay.index("kernel", i)]) + w[lay.index("bias", i)][:, None, :])
        if net.batchnorm:
            gamma, beta = w[lay.index("gamma", i)][:, None, :], w[lay.index("beta", i)][:, None, :]
            if rows is not None:
                weights, count = rows[None, :, None], tf.reduce_sum(rows)
                mean = tf.reduce_sum(h * weights, axis=1, keepdims=True) / count
                var = tf.reduce_sum(tf.square(h - mean) * weights, axis=1, keepdims=True) / count
                batch_stats.append((mean[:, 0, :], var[:, 0, :]))
            else:
                mean, var = w[lay.index("moving_mean", i)][:, None, :], w[lay.index("moving_variance", i)][:, None, :]
            # Runs without batch norm can share a batch-norm graph: their layers pass h through unchanged.
            h = tf.where(hyper["batchnorm"][:, None, None], (h - mean) * tf.math.rsqrt(var + BN_EPSILON) * gamma + beta, h)
        if noise is not None:
            rate = hyper["dropout"][:, None, None]
            keep = noise(i, tuple(h.shape[1:])) >= rate
            h = tf.where(keep, h / (1.0 - rate), 0.0)
    out = tf.matmul(h, w[lay.index("kernel", len(net.hidden))]) + w[lay.index("bias", len(net.hidden))][:, None, :]
    return (out[..., 0] if net.outputs == 1 else out), batch_stats


def _penalty(lay: _Layers, w: list, hyper):
    """Keras L1/L2 kernel penalties of the hidden layers, per run [M]."""
    total = 0.0
    for i in lay.hidden_kernels:
        total += hyper["l1"] * tf.reduce_sum(tf.abs(w[i]), axis=(1, 2)) + hyper["l2"] * tf.reduce_sum(
            tf.square(w[i]), axis=(1, 2)
        )
    return total


def _bce(labels, logits):
    if logits.shape.rank == 3:  # [runs, rows, classes]: a softmax over more than two classes, categorical cross-entropy
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=logits)
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


def _smoothed_ce(labels, logits, smoothing):
    """Cross-entropy against smoothed targets, as Keras' label_smoothing: y(1 − s) + s/2 for a sigmoid, one-hot
    y(1 − s) + s/K for a softmax over K classes; smoothing: per run [M]."""
    if logits.shape.rank == 3:
        k = logits.shape[-1]
        target = tf.one_hot(tf.cast(labels, tf.int32), k) * (1.0 - smoothing[:, None, None]) + smoothing[:, None, None] / k
        return tf.nn.softmax_cross_entropy_with_logits(labels=target, logits=logits)
    target = labels * (1.0 - smoothing[:, None]) + 0.5 * smoothing[:, None]
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)


def _accuracy(labels, logits):
    if logits.shape.rank == 3:
        return tf.cast(tf.equal(tf.cast(tf.argmax(logits, axis=-1), tf.float32), labels), tf.float32)
    return tf.cast(tf.equal(tf.cast(logits > 0.0, tf.float32), labels), tf.float32)


def _min_val(state, val_loss, epoch) -> dict:
    """Keep the weights at the lowest validation data loss, for every run (what a checkpoint on val_loss keeps)."""
    lower = state["active"] & (val_loss < state["min_val"])
    masks = _runs_mask(lower)
    return {
        "min_val": tf.where(lower, val_loss, state["min_val"]),
        "min_val_epoch": tf.where(lower, epoch, state["min_val_epoch"]),
        "min_val_w": [_where(masks, a, b) for a, b in zip(state["w"], state["min_val_w"])],
    }


def _early_stopping(state, monitor, hyper, epoch) -> dict:
    """Keras EarlyStopping on Keras' val_loss (which includes the penalty): best weights, wait, stop."""
    watched = state["active"] & (hyper["patience"] > NO_PATIENCE)
    improved = watched & (monitor < state["best"])
    wait = tf.where(improved, 0, tf.where(watched, state["wait"] + 1, state["wait"]))
    stop = watched & ~improved & (wait >= hyper["patience"]) & (epoch > 0)
    masks = _runs_mask(improved)
    return {
        "best": tf.where(improved, monitor, state["best"]),
        "best_epoch": tf.where(improved, epoch, state["best_epoch"]),
        "best_w": [_where(masks, a, b) for a, b in zip(state["w"], state["best_w"])],
        "wait": wait,
        "active": ~stop,
    }


def _divergence(state, train_loss, val_loss, penalty, epoch) -> dict:
    """Mark runs whose losses became non-finite or whose training loss exceeded their loss_limit: plan.diverged's rule,
    in the graph, on the same float32 values."""
    # An infinite penalty makes the optimised loss (Keras' `loss`) infinite even while the data loss is finite.
    finite = tf.math.is_finite(train_loss) & tf.math.is_finite(val_loss) & tf.math.is_finite(penalty)
    diverged = state["active"] & ~(finite & (train_loss <= state["loss_limit"]))
    return {"diverged_at": tf.where(diverged, epoch, state["diverged_at"]), "active": ~diverged}


TRAINERS = 16  # graph functions kept (one per spec)
_trainers: OrderedDict[GroupSpec, Callable] = OrderedDict()
_trainers_lock = threading.Lock()


def build_trainer(spec: GroupSpec, replacing: Callable | None = None) -> Callable:
    """The function that advances a group's state by up to spec.chunk epochs (traced and compiled once per spec).

    replacing: a trainer of this spec whose compiled graph could not be loaded (reportgen.xla.recover): a new function
    is made in its place, traced and compiled anew (TensorFlow keeps the failure of the old one), once for every thread
    that asks with it."""
    with _trainers_lock:
        trainer = _trainers.get(spec)
        if trainer is None or trainer is replacing:
            trainer = tf.function(_Trainer(spec).advance, jit_compile=True, reduce_retracing=True, autograph=False)
            _trainers[spec] = trainer
            while len(_trainers) > TRAINERS:
                _trainers.popitem(last=False)
        _trainers.move_to_end(spec)
        return trainer


class _Trainer:
    """The pieces of a group's graph: an epoch of mini-batch steps, then the end-of-epoch bookkeeping."""

    def __init__(self, spec: GroupSpec):
        self.spec, self.lay = spec, _Layers(spec.network)
        self.n, self.bsz = spec.n_train, spec.batch_size

    def advance(self, state, data, hyper, start, stop):
        """Train epochs start..stop-1; return the new state and their history [chunk, runs, keys] (NaN after stop)."""
        history = tf.fill((self.spec.chunk, self.spec.n_runs, len(HISTORY_KEYS)), float("nan"))
        body = lambda epoch, state, history: self.epoch(data, hyper, start, epoch, state, history)  # noqa: E731
        _, state, history = tf.while_loop(lambda e, *_: e < stop, body, (start, state, history))
        return state, history

    def epoch(self, data, hyper, start, epoch, state, history):
        """One epoch: the mini-batch steps, then the end-of-epoch bookkeeping and the history record."""
        order = self.batch_order(hyper, epoch)
        zeros = tf.zeros((self.spec.n_runs,))
        sums = {"loss": zeros, "correct": zeros}

        def step_body(step, state, sums):
            state, batch = self.step(state, data, hyper, epoch, step, order)
            return step + 1, state, {k: sums[k] + batch[k] for k in sums}

        _, state, sums = tf.while_loop(lambda s, *_: s < self.spec.steps, step_body, (0, state, sums))
        was_active = state["active"]
        state, record = self.end_of_epoch(state, data, hyper, epoch, sums)
        record = tf.where(was_active[:, None], record, float("nan"))
        return epoch + 1, state, tf.tensor_scatter_nd_update(history, [[epoch - start]], record[None])

    def batch_order(self, hyper, epoch):
        """Each run's order of its training rows this epoch, padded with row 0 to whole mini-batches."""
        spec, n = self.spec, self.n
        if spec.shuffle:
            order = tf.argsort(_uniform(hyper["shuffle_seed"], epoch, (n,)), axis=1, stable=True)
        else:
            order = tf.tile(tf.range(n)[None, :], (spec.n_runs, 1))
        return tf.pad(order, [[0, 0], [0, spec.steps * self.bsz - n]])

    def step(self, state, data, hyper, epoch, step, order):
        """One mini-batch for every run: forward, gradients, Adam; and its loss and correct counts.

        A partial last mini-batch is padded and masked rather than given a step of its own: one step in the graph
        (half the graph to trace, compile and load) for ~5% more arithmetic, and the same numbers however many
        runs a study trains (an exact last step would make them depend on a choice between the two).
        """
        spec, lay = self.spec, self.lay
        idx = tf.slice(order, [0, step * self.bsz], [spec.n_runs, self.bsz])
        xb = tf.gather(data["x_train"], idx, batch_dims=1)  # each run's rows of its own data
        yb = tf.gather(data["y_train"], idx, batch_dims=1)
        rows = tf.cast(step * self.bsz + tf.range(self.bsz) < self.n, tf.float32)  # 0 for the padding
        counter = (epoch * spec.steps + step) * len(spec.network.hidden)
        noise = lambda layer, tail: _uniform(hyper["dropout_seed"], counter + layer, tail)  # noqa: E731
        inputs = None
        if spec.has("input_noise"):  # one draw per step, from the run's own stream
            inputs = _normal(noise_keys(hyper["dropout_seed"]), epoch * spec.steps + step, tuple(xb.shape[1:]))
        trainable = [state["w"][i] for i in lay.trainable]
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            logits, batch_stats = _forward(spec, lay, state["w"], xb, hyper, rows=rows, noise=noise, input_noise=inputs)
            data_loss = tf.reduce_sum(_bce(yb, logits) * rows, axis=1) / tf.reduce_sum(rows)
            objective = data_loss
            if spec.has("label_smoothing"):  # trained on smoothed targets, recorded on the true labels
                objective = tf.reduce_sum(_smoothed_ce(yb, logits, hyper["label_smoothing"]) * rows, axis=1) / tf.reduce_sum(rows)
            total = tf.reduce_sum(objective + _penalty(lay, state["w"], hyper))
        state = _update(spec, lay, state, tape.gradient(total, trainable), batch_stats, hyper)
        correct = tf.reduce_sum(_accuracy(yb, logits) * rows, axis=1)
        return state, {"loss": data_loss * tf.reduce_sum(rows), "correct": correct}

    def end_of_epoch(self, state, data, hyper, epoch, sums):
        """Validation, the history record, the weights at the lowest validation loss, early stopping, divergence."""
        w, n = state["w"], self.n
        logits, _ = _forward(self.spec, self.lay, w, data["x_val"], hyper)
        val_loss = tf.reduce_mean(_bce(data["y_val"], logits), axis=1)
        val_acc = tf.reduce_mean(_accuracy(data["y_val"], logits), axis=1)
        penalty = _penalty(self.lay, w, hyper)
        train_loss = sums["loss"] / n
        record = tf.stack([train_loss, sums["correct"] / n, val_loss, val_acc, penalty], axis=1)
        monitored = val_loss  # Keras' val_loss: the loss it trains on, smoothed targets included
        if self.spec.has("label_smoothing"):
            monitored = tf.reduce_mean(_smoothed_ce(data["y_val"], logits, hyper["label_smoothing"]), axis=1)
        stopping = _early_stopping(state, monitored + penalty, hyper, epoch)
        diverging = _divergence(state, train_loss, val_loss, penalty, epoch)
        new = {**state, **_min_val(state, val_loss, epoch), **stopping, **diverging}
        new["active"] = state["active"] & stopping["active"] & diverging["active"]  # frozen from the next epoch on
        new["epochs_run"] = tf.where(state["active"], epoch + 1, state["epochs_run"])
        return new, record


def _decayed(spec: GroupSpec, lay: _Layers, w: list, hyper) -> list:
    """Decoupled weight decay of the hidden kernels, before the optimizer's step as Keras applies it:
    w − w · weight_decay · learning_rate, in Keras' order of operations."""
    if not spec.has("weight_decay"):
        return w
    out, wd = list(w), hyper["weight_decay"][:, None, None]
    for i in lay.hidden_kernels:
        out[i] = w[i] - w[i] * wd * spec.learning_rate
    return out


def _constrained(spec: GroupSpec, lay: _Layers, w: list, hyper) -> list:
    """keras.constraints.MaxNorm on the hidden kernels after the step: each unit's incoming weights scaled to a norm of
    at most max_norm, w · clip(norm, 0, c) / (ε + norm) (a norm below c shrinks by ε, as in Keras)."""
    if not spec.has("max_norm"):
        return w
    out, c = list(w), hyper["max_norm"][:, None, None]
    for i in lay.hidden_kernels:
        norms = tf.sqrt(tf.reduce_sum(tf.square(w[i]), axis=1, keepdims=True))
        out[i] = w[i] * (tf.clip_by_value(norms, 0.0, c) / (KERAS_EPSILON + norms))
    return out


def _update(spec: GroupSpec, lay: _Layers, state: dict, grads: list, batch_stats: list, hyper) -> dict:
    """One optimizer step (Adam or SGD, with decoupled weight decay and a max-norm constraint where the graph has them)."""
    if spec.optimizer == "sgd":
        return _sgd(spec, lay, state, grads, batch_stats, hyper)
    return _adam(spec, lay, state, grads, batch_stats, hyper)


def _sgd(spec: GroupSpec, lay: _Layers, state: dict, grads: list, batch_stats: list, hyper) -> dict:
    """One SGD step (Keras' update: with momentum the velocity m·μ − g·lr is added, else g·lr subtracted)."""
    active = _runs_mask(state["active"])
    w = _decayed(spec, lay, state["w"], hyper)
    new_w, new_m = list(w), []
    for j, (i, g) in enumerate(zip(lay.trainable, grads)):
        if spec.momentum:
            m = _where(active, state["m"][j] * spec.momentum - g * spec.learning_rate, state["m"][j])
            new_w[i] = _where(active, w[i] + m, state["w"][i])
        else:
            m = state["m"][j]
            new_w[i] = _where(active, w[i] - g * spec.learning_rate, state["w"][i])
        new_m.append(m)
    if spec.has("max_norm"):
        new_w = [_where(active, a, b) for a, b in zip(_constrained(spec, lay, new_w, hyper), state["w"])]
    new_w = _moving_stats(lay, state["w"], new_w, batch_stats, active)
    return {**state, "w": new_w, "m": new_m, "t": state["t"] + 1.0}


def _adam(spec: GroupSpec, lay: _Layers, state: dict, grads: list, batch_stats: list, hyper=None) -> dict:
    """One Adam step (Keras' update) and the moving batch-norm statistics; stopped runs keep their weights."""
    w, active = state["w"], _runs_mask(state["active"])
    decayed = _decayed(spec, lay, w, hyper)
    t = state["t"] + 1.0
    alpha = spec.learning_rate * tf.sqrt(1.0 - ADAM_BETA_2**t) / (1.0 - ADAM_BETA_1**t)
    one_minus_b1, one_minus_b2 = tf.constant(1.0 - ADAM_BETA_1), tf.constant(1.0 - ADAM_BETA_2)  # one op each
    new_w, new_m, new_v = list(w), [], []
    for j, (i, g) in enumerate(zip(lay.trainable, grads)):
        m = _where(active, state["m"][j] + (g - state["m"][j]) * one_minus_b1, state["m"][j])
        v = _where(active, state["v"][j] + (tf.square(g) - state["v"][j]) * one_minus_b2, state["v"][j])
        # Without the barrier XLA recomputes m and v inside the weight update and copies the old moments to do
        # so: ~19 passes over the weights per step instead of ~12 (10% of the run time; same numbers).
        m, v = _barrier_op()(m, v)
        new_w[i] = _where(active, decayed[i] - m * alpha / (tf.sqrt(v) + ADAM_EPSILON), w[i])
        new_m.append(m)
        new_v.append(v)
    if spec.has("max_norm"):
        new_w = [_where(active, a, b) for a, b in zip(_constrained(spec, lay, new_w, hyper), w)]
    new_w = _moving_stats(lay, w, new_w, batch_stats, active)
    return {**state, "w": new_w, "m": new_m, "v": new_v, "t": t}


def _moving_stats(lay: _Layers, w: list, new_w: list, batch_stats: list, active) -> list:
    """Batch norm's moving statistics after a step (stopped runs keep theirs)."""
    new_w = list(new_w)
    for layer, (mean, var) in enumerate(batch_stats):
        for kind, stat in (("moving_mean", mean), ("moving_variance", var)):
            i = lay.index(kind, layer)
            new_w[i] = _where(active, w[i] * BN_MOMENTUM + stat * (1.0 - BN_MOMENTUM), w[i])
    return new_w


def initial_state(spec: GroupSpec, stacked: list[np.ndarray], loss_limit: np.ndarray) -> dict:
    """The state of a group before its first epoch, from stacked initial weights (Keras order) and each run's
    divergence limit on its training loss (plan.loss_limit)."""
    lay = _Layers(spec.network)
    w = [tf.constant(a, tf.float32) for a in stacked]
    zeros = [tf.zeros_like(w[i]) for i in lay.trainable]
    m_runs = spec.n_runs
    return {
        "w": w,
        "m": zeros,
        "v": [tf.zeros_like(z) for z in zeros],
        "t": tf.constant(0.0),
        "best_w": list(w),
        "best": tf.fill((m_runs,), float("inf")),
        "min_val_w": list(w),
        "min_val": tf.fill((m_runs,), float("inf")),
        "min_val_epoch": tf.fill((m_runs,), -1),
        "loss_limit": tf.constant(np.asarray(loss_limit, np.float32)),
        "diverged_at": tf.fill((m_runs,), -1),
        "best_epoch": tf.fill((m_runs,), -1),
        "wait": tf.zeros((m_runs,), tf.int32),
        "active": tf.ones((m_runs,), tf.bool),
        "epochs_run": tf.zeros((m_runs,), tf.int32),
    }


def data_tensors(x_train, y_train, x_val, y_val) -> dict:
    """Per-run data as tensors for the graph: x [M, rows, 2], y [M, rows]."""
    arrays = {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val}
    return {k: tf.constant(np.asarray(a, np.float32)) for k, a in arrays.items()}


def hyper_tensors(hyper: GroupHyper) -> dict:
    """Per-run settings as tensors for the graph (restore_best is applied after it, by final_weights)."""
    numbers = {name: tf.constant(values) for name, values in hyper.values.items() if name != "restore_best"}
    return {
        **numbers,
        "shuffle_seed": tf.constant(hyper.shuffle_seed, tf.uint32),
        "dropout_seed": tf.constant(hyper.dropout_seed, tf.uint32),
    }


def final_weights(state: dict, restore_best: np.ndarray) -> list[np.ndarray]:
    """Stacked final weights; runs with restore_best take the weights of their best epoch (as Keras does)."""
    masks = _runs_mask(tf.constant(restore_best & (np.asarray(state["best_epoch"]) >= 0)))
    return [np.asarray(_where(masks, b, w)) for w, b in zip(state["w"], state["best_w"])]
