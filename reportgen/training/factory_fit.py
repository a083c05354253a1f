"""Train the networks of a factory (reportgen.factory) with stock model.fit, one run per core, and compute with each
trained Keras model what the analysis computes for reportgen's own MLP by numpy forward passes of its weights.

Runs train in threads, one per core (TensorFlow runs outside the GIL). Keras' random state is global, so building a
model, seeding it and making its batches happen under reportgen.factory.BUILD_LOCK, one run at a time: a run's numbers
are then the same bits whatever trains beside it (tested), as on a Dask worker.

Pairing: every variant of a replicate starts from the kernels of the reference network (the factory called with a
variant without regularizers) drawn with the run's initialization seed, when its kernels have the same shapes; a
variant whose network differs in its kernels' shapes draws its own (outputs['shared_init'] = 0). The batch order and
the layers' own random streams (dropout masks, input noise) come from the replicate's seed.

What a run stores beside its weights (RunResult.outputs, kept in the run cache): logits of the final network on the
training, validation and test points, of the lowest-validation-loss weights on the test points, on the boundary
grid (and at every snapshot epoch) for the runs whose boundaries are drawn, the accuracies of magnitude pruning on the
pruning points and on test points, and the positions of the kernels among the weights (reportgen.factory.OUTPUTS_VERSION
is in the runs' cache keys: bump it when these change). Logits are those of the
probabilities the model gives, clipped as Keras' cross-entropy clips them, so the analysis' losses are Keras' own.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from reportgen.config import StudyConfig
from reportgen.data import Dataset
from reportgen.plan import Run, RunResult

CHUNK = 8192  # rows per call of a model when predicting


def train_runs(runs: list[Run], datasets: dict, config: StudyConfig, progress, cancel, done, src=None) -> list[RunResult]:
    """Train every run through the study's factory, in threads (one per core); results in the order of runs, each handed
    to done as it finishes. src: the factory's text as the build read it (reportgen.factory.source), else read now."""
    from reportgen import data as data_module
    from reportgen import factory
    from reportgen.training.threads import handed, in_threads

    src = src or factory.source(config)
    factory.load(src)
    first = datasets[config.training.seeds[0]]
    plane = data_module.reference_view(config.data, first) + (first,)
    tasks = [
        lambda check, run=run: handed(done, [train_one(run, datasets[run.data_key], config, src, plane, progress, check)])
        for run in runs
    ]
    by_key = {result.run.key: result for part in in_threads(tasks, cancel) for result in part}
    return [by_key[r.key] for r in runs]


def _make(src, variant, data: Dataset):
    from reportgen import factory

    return factory._call(src, factory.load(src), data.n_features, data.n_classes, variant)


def _model(run: Run, data: Dataset, config: StudyConfig, src):
    """A run's compiled model, its batches, whether it starts from the reference network's kernels, and its kernels'
    positions among its weights (built under reportgen.factory.BUILD_LOCK)."""
    from reportgen import factory
    from reportgen._tf import seeded
    from reportgen.models import compile_model, keras_labels
    from reportgen.training.keras_fit import _batches

    with factory.BUILD_LOCK:
        with seeded(run.init_seed):
            reference = _make(src, factory.plain(), data)
        with seeded(run.seed):
            model = _make(src, run.variant, data)
        ref_kernels = [reference.get_weights()[i] for i in factory.kernel_positions(reference)]
        positions = factory.kernel_positions(model)
        shared = [w.shape for w in ref_kernels] == [tuple(model.weights[i].shape) for i in positions]
        if shared:
            weights = model.get_weights()
            for i, kernel in zip(positions, ref_kernels, strict=True):
                weights[i] = kernel
            model.set_weights(weights)
        else:  # its own draw, with the run's initialization seed (a twin must not start where its first run did)
            with seeded(run.init_seed):
                model = _make(src, run.variant, data)
            positions = factory.kernel_positions(model)
        hidden = [model.weights[i] for i in positions[:-1]]
        compile_model(model, run.variant, config.model, data.n_classes == 2, hidden)
        with seeded(run.seed):  # the batch order is the replicate's, whatever was drawn before
            tc = config.training
            labels = keras_labels(run.variant, data.y_train, data.n_classes)
            batches = _batches(data, tc.batch_size, tc.shuffle, run.seed, labels)
    return model, batches, shared, positions


def logits(model, x: np.ndarray, binary: bool) -> np.ndarray:
    """The logits of a model's probabilities on points x, in inference mode: log(p / (1 − p)) of its sigmoid unit, or
    log p of its softmax, with p clipped to [ε, 1 − ε] as Keras' cross-entropy clips it."""
    from reportgen._tf import keras

    eps = keras.config.epsilon()
    width = 1 if binary else None
    # the compiled model's own predict function: traced once per model, four times faster than eager calls on few points
    parts = [np.asarray(model.predict_on_batch(x[s : s + CHUNK]), np.float64) for s in range(0, len(x), CHUNK)]
    p = np.concatenate(parts) if parts else np.empty((0, width or 0))
    if binary:
        p = np.clip(p[:, 0], eps, 1 - eps)
        return (np.log(p) - np.log1p(-p)).astype(np.float32)
    return np.log(np.clip(p / p.sum(axis=1, keepdims=True), eps, 1 - eps)).astype(np.float32)


def train_one(run: Run, data: Dataset, config: StudyConfig, src, plane, progress, check) -> RunResult:
    """Train one run of a factory's network with model.fit and compute its outputs with the trained model."""
    from reportgen.models import accuracy_and_loss
    from reportgen.training.keras_fit import fit

    check()
    model, batches, shared, positions = _model(run, data, config, src)
    binary = data.n_classes == 2
    initial = accuracy_and_loss(logits(model, data.x_train, binary), data.y_train)[1]
    result = fit(run, data, config, model, batches, initial, progress, check)
    outputs = _outputs(model, result, data, config, plane, binary)
    outputs["kernels"] = np.asarray(positions, np.int32)
    outputs["shared_init"] = np.asarray(int(shared), np.int8)
    # the trained model itself only when it is saved (--save-models): hundreds of them would hold their graphs meanwhile
    extras = result.extras if config.output.save_models else {}
    return replace(result, snapshots={}, outputs=outputs, extras=extras)


def _outputs(model, result: RunResult, data: Dataset, config: StudyConfig, plane, binary: bool) -> dict[str, np.ndarray]:
    """What the analysis needs of a trained run (see the module's docstring); the model is left with its final weights."""
    from reportgen import data as data_module
    from reportgen import factory
    from reportgen.analysis import PRUNE_CURVE_POINTS, PRUNE_FRACTIONS, PRUNE_SEARCH

    run, final = result.run, model.get_weights()
    out = {split: logits(model, getattr(data, f"x_{split}"), binary) for split in ("train", "val", "test")}
    drawn = run.init == 0 and run.point is None  # main variants and sweep points: their boundaries are drawn
    view, frame, first = plane
    if drawn:
        grid = view.inputs(frame.points, first, data)
        for epoch, weights in sorted(result.snapshots.items()):
            model.set_weights(weights)
            out[f"snap{epoch}"] = logits(model, grid, binary)
        model.set_weights(final)
        out["grid"] = logits(model, grid, binary)
    if result.min_val_weights is not None:
        model.set_weights(result.min_val_weights)
        out["test_min"] = logits(model, data.x_test, binary)
        model.set_weights(final)
    kernels = factory.kernel_positions(model)
    if kernels:
        cfg = run.point.apply(config.data) if run.point is not None else config.data
        fresh = data_module.pruning_points(cfg, run.seed, data)
        x, y = fresh if fresh is not None else (np.vstack([data.x_train, data.x_val]), np.concatenate([data.y_train, data.y_val]))
        out["prune_accuracy"], out["prune_one_class"] = _pruned(model, final, kernels, x, y, PRUNE_SEARCH, binary, True)
        if drawn:
            n = PRUNE_CURVE_POINTS
            out["pruning_curve"], _ = _pruned(model, final, kernels, data.x_test[:n], data.y_test[:n], PRUNE_FRACTIONS, binary)
        model.set_weights(final)
    return out


def _pruned(model, weights, kernels, x, y, fractions, binary: bool, stop: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy on (x, y), and whether every point gets one class, after zeroing the smallest share of all kernel weights
    at each fraction (one global cut, biases kept); with stop, up to the first fraction that leaves one class everywhere
    (every later one does too, and fails whatever the tolerance: the analysis finds the prunable share in the rest)."""
    from reportgen.measures import prune, prune_cuts
    from reportgen.models import predicted_class

    cuts = prune_cuts(weights, kernels, fractions)
    acc, one = [], []
    for fraction, cut in zip(fractions, cuts, strict=True):
        model.set_weights(prune(weights, kernels, float(fraction), float(cut)))
        pred = predicted_class(logits(model, x, binary).astype(np.float64), not binary)
        acc.append(float(np.mean(pred == y)))
        one.append(bool((pred == pred[0]).all()))
        if stop and one[-1]:
            break
    return np.asarray(acc, np.float64), np.asarray(one, bool)
