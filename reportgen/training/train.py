"""Train the runs of a study with the chosen engine, grouped by network shape."""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from reportgen.config import StudyConfig
from reportgen.data import Dataset
from reportgen.models import Network, initial_dense_weights, initial_weights
from reportgen.training.runs import HISTORY_KEYS, Run, RunResult

Progress = Callable[[int, str], None]  # called with the run-epochs just finished and what is being trained
MAX_CHUNK = 50  # epochs per graph call: often enough for a live progress bar, rarely enough to cost nothing
# A run has diverged when its training or validation loss is not finite or exceeds this many times the larger of
# its first epoch's two losses; it is then frozen like an early-stopped run and marked (RunResult.diverged_at).
DIVERGENCE_FACTOR = 100.0


def train_runs(runs: list[Run], datasets: dict[int, Dataset], config: StudyConfig, progress: Progress | None = None,
               cancel=None) -> list[RunResult]:
    """Train every run on its replicate's dataset (datasets[run.seed]) and return results in the order of runs.

    cancel: a threading.Event; when set, training stops between chunks of epochs and Interrupted is raised.
    """
    progress = progress or (lambda n, label: None)
    init = {s: initial_dense_weights(config.model, s) for s in sorted({r.init_seed for r in runs})}
    if config.training.engine == "keras":
        from reportgen.training.keras_fit import train_one

        return [train_one(run, datasets[run.seed], config, init[run.init_seed], progress) for run in runs]
    groups: dict[Network, list[Run]] = defaultdict(list)
    for run in runs:
        groups[Network.of(run.variant, config.model)].append(run)
    # One thread per graph: XLA compiles and TensorFlow runs outside the GIL, so two groups overlap on two cores.
    with ThreadPoolExecutor(max_workers=min(len(groups), os.cpu_count() or 1)) as pool:
        done = pool.map(lambda item: _train_group(item[0], item[1], datasets, config, init, progress), groups.items())
        results = {result.run.key: result for group in done for result in group}
    return [results[r.key] for r in runs]


def _train_group(network, runs, datasets, config, init, progress) -> list[RunResult]:
    from reportgen._tf import tf
    from reportgen.training import engine

    tc = config.training
    data = [datasets[r.seed] for r in runs]
    spec = engine.GroupSpec(
        network=network, n_runs=len(runs), n_train=len(data[0].x_train), batch_size=tc.batch_size,
        shuffle=tc.shuffle, learning_rate=config.model.learning_rate, chunk=min(tc.epochs, MAX_CHUNK),
    )
    hyper = _group_hyper(runs)
    stacked = [np.stack(arrays) for arrays in zip(*(initial_weights(network, init[r.init_seed]) for r in runs))]
    state = engine.initial_state(spec, stacked)
    tensors = engine.data_tensors(*(np.stack([getattr(d, k) for d in data]) for k in ("x_train", "y_train", "x_val", "y_val")))
    advance = engine.build_trainer(spec)
    hyper_t = engine.hyper_tensors(hyper)
    names = list(dict.fromkeys(r.variant.name for r in runs))
    label = f"{len(runs)} runs ({', '.join(names[:4])}{', …' if len(names) > 4 else ''})"
    progress(0, f"compiling the graph for {label}")
    chunks = []
    for start in range(0, tc.epochs, spec.chunk):
        stop = min(start + spec.chunk, tc.epochs)
        state, history = advance(state, tensors, hyper_t, tf.constant(start), tf.constant(stop))
        chunks.append(history.numpy()[: stop - start])
        progress((stop - start) * len(runs), f"training {label}, epoch {stop}")
        if not state["active"].numpy().any():
            progress((tc.epochs - stop) * len(runs), label)
            break
    history = np.concatenate(chunks)  # [epochs, runs, keys]
    weights = engine.final_weights(state, hyper.restore_best)
    epochs_run, best = state["epochs_run"].numpy(), state["best_epoch"].numpy()
    min_val_epoch, min_val_weights = state["min_val_epoch"].numpy(), [w.numpy() for w in state["min_val_w"]]
    diverged = state["diverged_at"].numpy()
    return [
        RunResult(
            run=run,
            weights=[w[m] for w in weights],
            history={k: history[: epochs_run[m], m, j].copy() for j, k in enumerate(HISTORY_KEYS)},
            epochs_run=int(epochs_run[m]),
            best_epoch=int(best[m]) + 1 if run.variant.early_stopping else None,
            min_val_epoch=int(min_val_epoch[m]) + 1 if min_val_epoch[m] >= 0 else None,
            min_val_weights=[w[m] for w in min_val_weights] if min_val_epoch[m] >= 0 else None,
            diverged_at=int(diverged[m]) + 1 if diverged[m] >= 0 else None,
        )
        for m, run in enumerate(runs)
    ]


def _group_hyper(runs: list[Run]):
    from reportgen.training import engine

    streams = [engine.run_streams(r.seed) for r in runs]
    es = [r.variant.early_stopping for r in runs]
    return engine.GroupHyper(
        l1=np.array([r.variant.l1 for r in runs], np.float32),
        l2=np.array([r.variant.l2 for r in runs], np.float32),
        dropout=np.array([r.variant.dropout for r in runs], np.float32),
        patience=np.array([e.patience if e else engine.NO_PATIENCE for e in es], np.int32),
        restore_best=np.array([bool(e and e.restore_best_weights) for e in es]),
        shuffle_seed=np.array([s[0] for s in streams], np.uint32),
        dropout_seed=np.array([s[1] for s in streams], np.uint32),
    )
