"""A stand-in for training, for tests of shapes, claims, files, reports, caching and the command line (not learning).

It is deterministic, takes milliseconds per run and never imports TensorFlow. Each run starts from Glorot-uniform
weights drawn with numpy from its init seed (so the variants of a replicate start alike, as in the engines, though not
from Keras' numbers), its hidden kernels are shrunk by its penalties (L1 soft-thresholds them, L2 scales them down), and
its output layer alone is fitted by full-batch gradient descent on its training split. Histories, the weights at the
lowest validation loss, snapshots, early stopping and the loss at initialization follow from those weights as the
engines record them; nothing ever diverges.

It lives in tests/, outside the package, so no user's build can reach it. Tests take it through the `fake_training`
fixture (tests/conftest.py), which replaces reportgen.executor.train; a test's fresh interpreter calls install() before
reportgen.cli.main. Both refuse a run cache outside the temporary folder, so no fake run reaches a real cache.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from reportgen.errors import Interrupted
from reportgen.models import BN_EPSILON, Network, accuracy_and_loss, initial_weights, training_loss
from reportgen.plan import HISTORY_KEYS, RunResult, snapshot_epochs, snapshotted

# `python -c FAKE_CLI build ...` with the repository on PYTHONPATH: the reportgen command with the fake trainer.
FAKE_CLI = "from tests.fake_training import install\ninstall()\nfrom reportgen.cli import run\nrun()"
L1_SHRINK = 5.0  # soft threshold of the hidden kernels per unit of L1 strength (0.01 zeroes a third of 128x128)
L2_SHRINK = 30.0  # hidden kernels divided by 1 + this times the L2 strength
MIN_STEPS = 20  # gradient steps per epoch at least: a few epochs end clearly below the loss at initialization


def fake_train(runs, datasets, config, progress=None, cancel=None, done=None) -> list[RunResult]:
    """reportgen.executor.train's interface: results in the order of runs, progress in run-epochs, cancel honoured,
    each run handed to done as it finishes (a block of one run)."""
    _refuse_real_cache(config.output.cache)
    progress = progress or (lambda n, text: None)
    results = []
    for run in runs:
        if cancel is not None and cancel.is_set():
            raise Interrupted(getattr(cancel, "signal_name", None) or "SIGINT")
        results.append(fake_run(run, datasets[run.data_key], config))
        if done is not None:
            done(results[-1:])
        progress(config.training.epochs, f"fake training {run.key}")
    return results


def install() -> None:
    """Replace training in this interpreter (for a test's subprocess, before it calls reportgen.cli.main)."""
    from reportgen import executor

    executor.train = fake_train


def _refuse_real_cache(cache: Path | None) -> None:
    """Fake runs stored under a real run key must never meet a real build: only temporary caches take them."""
    if cache is not None and not Path(cache).resolve().is_relative_to(Path(tempfile.gettempdir()).resolve()):
        raise RuntimeError(f"the fake trainer would store fake runs in {cache}; give the test a cache in its tmp_path")


def glorot(network: Network, seed: int) -> list[np.ndarray]:
    """Dense kernels (Glorot uniform, drawn with numpy) and zero biases in Keras order, for a seed."""
    rng = np.random.default_rng(seed)
    widths = [network.inputs, *network.hidden, network.outputs]
    out = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        out += [rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32), np.zeros(fan_out, np.float32)]
    return out


def fake_run(run, data, config) -> RunResult:
    """One run: shrunk hidden layers, its output layer fitted epoch by epoch, recorded as the engines record it."""
    network = Network.of(run.variant, run.model(config.model), data)
    start = initial_weights(network, glorot(network, run.init_seed))
    weights = _shrunk(start, network, run.variant)
    out_k, out_b = len(weights) - 2, len(weights) - 1
    features = {split: _hidden(network, weights, getattr(data, f"x_{split}")) for split in ("train", "val")}
    penalty = _penalty(weights, network, run.variant)
    steps = max(MIN_STEPS, -(-len(data.y_train) // config.training.batch_size))  # at least as many as mini-batches
    stopping = run.variant.early_stopping
    rows, snaps, keep_at = [], {}, set(snapshot_epochs(config)) if snapshotted(run, config) else set()
    min_val, min_val_epoch, min_val_weights = np.inf, None, None
    best, best_epoch, best_weights, waited = np.inf, None, None, 0
    for epoch in range(1, config.training.epochs + 1):
        for _ in range(steps):
            weights[out_k], weights[out_b] = _step(features["train"], data.y_train, weights[out_k], weights[out_b])
        train = accuracy_and_loss(_logits(features["train"], weights[out_k], weights[out_b]), data.y_train)
        val = accuracy_and_loss(_logits(features["val"], weights[out_k], weights[out_b]), data.y_val)
        rows.append((train[1], train[0], val[1], val[0], penalty))
        current = [w.copy() for w in weights]
        if epoch in keep_at:
            snaps[epoch] = current
        if val[1] < min_val:
            min_val, min_val_epoch, min_val_weights = val[1], epoch, current
        if stopping:
            if val[1] + penalty < best:
                best, best_epoch, best_weights, waited = val[1] + penalty, epoch, current, 0
            else:
                waited += 1
            if waited >= stopping.patience:
                break
    history = {k: np.array(col, np.float32) for k, col in zip(HISTORY_KEYS, zip(*rows, strict=True), strict=True)}
    restore = stopping and stopping.restore_best_weights and best_weights is not None
    return RunResult(
        run=run,
        weights=best_weights if restore else weights,
        history=history,
        epochs_run=len(rows),
        best_epoch=best_epoch if stopping else None,
        min_val_epoch=min_val_epoch,
        min_val_weights=min_val_weights,
        initial_loss=training_loss(network, start, data),
        snapshots=snaps,
    )


def _shrunk(weights: list[np.ndarray], network: Network, variant) -> list[np.ndarray]:
    """The weights with their hidden kernels shrunk as the variant's penalties would, roughly."""
    out = [w.copy() for w in weights]
    for i in network.kernel_indices()[:-1]:
        k = out[i]
        if variant.l1:
            k = np.sign(k) * np.maximum(np.abs(k) - L1_SHRINK * variant.l1, 0.0)
        out[i] = (k / (1.0 + L2_SHRINK * variant.l2)).astype(np.float32)
    return out


def _penalty(weights: list[np.ndarray], network: Network, variant) -> float:
    """The penalty term of the hidden kernels, as Keras' regularizers add it."""
    kernels = [weights[i] for i in network.kernel_indices()[:-1]]
    return float(sum(variant.l1 * np.abs(k).sum() + variant.l2 * np.square(k).sum() for k in kernels))


def _hidden(network: Network, weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The last hidden layer's outputs in inference mode (what the output layer sees), as models.predict_logits has them."""
    h, it = np.asarray(x, np.float32), iter(weights)
    for _ in network.hidden:
        kernel, bias = next(it), next(it)
        h = np.maximum(h @ kernel + bias, 0.0)
        if network.batchnorm:
            gamma, beta, mean, var = next(it), next(it), next(it), next(it)
            h = (h - mean) / np.sqrt(var + BN_EPSILON) * gamma + beta
    return h


def _logits(h: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    z = h @ kernel + bias
    return z[:, 0] if z.shape[1] == 1 else z


def _step(h: np.ndarray, y: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One full-batch gradient step of the output layer on cross-entropy, with a step size its curvature allows."""
    z = h @ kernel + bias
    if kernel.shape[1] == 1:
        grad = 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60))) - y.reshape(-1, 1)
    else:
        grad = np.exp(z - z.max(axis=1, keepdims=True))
        grad /= grad.sum(axis=1, keepdims=True)
        grad[np.arange(len(y)), y.astype(int)] -= 1.0
    rate = 2.0 / (np.mean(np.sum(h * h, axis=1)) + 1.0)  # below 2/L for the cross-entropy's curvature bound L
    kernel = kernel - rate * (h.T @ grad) / len(y)
    bias = bias - rate * grad.mean(axis=0)
    return kernel.astype(np.float32), bias.astype(np.float32)
