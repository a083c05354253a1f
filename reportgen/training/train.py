"""Train the runs of a study with the chosen engine, grouped by network shape."""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Callable

import numpy as np

from reportgen.config import StudyConfig
from reportgen.data import Dataset
from reportgen.errors import Interrupted
from reportgen.models import Network, initial_dense_weights, initial_weights
from reportgen.training.runs import HISTORY_KEYS, Run, RunResult

Progress = Callable[[int, str], None]  # called with the run-epochs just finished and what is being trained
MAX_CHUNK = 50  # at most this many epochs per graph call (the size of the graph's history buffer)
CHUNK_SECONDS = 0.3  # aim for graph calls this long: progress and cancellation are checked between calls
# A run has diverged when its training or validation loss is not finite or exceeds this many times the larger of
# its first epoch's two losses; it is then frozen like an early-stopped run and marked (RunResult.diverged_at).
DIVERGENCE_FACTOR = 100.0


def train_runs(runs: list[Run], datasets: dict[int, Dataset], config: StudyConfig, progress: Progress | None = None,
               cancel=None) -> list[RunResult]:
    """Train every run on its replicate's dataset (datasets[run.seed]) and return results in the order of runs.

    cancel: a threading.Event (optionally with a `signal_name`); once set, training stops within about a second
    (between chunks of epochs; a graph being compiled finishes first) and Interrupted is raised.
    """
    progress = progress or (lambda n, label: None)
    cancel = cancel or threading.Event()
    init = {s: initial_dense_weights(config.model, s) for s in sorted({r.init_seed for r in runs})}
    if config.training.engine == "keras":
        from reportgen.training.keras_fit import train_one

        return [train_one(run, datasets[run.seed], config, init[run.init_seed], progress, cancel) for run in runs]
    groups: dict[Network, list[Run]] = defaultdict(list)
    for run in runs:
        groups[Network.of(run.variant, config.model)].append(run)
    tasks = [lambda check, g=g: _train_group(*g, datasets, config, init, progress, check) for g in groups.items()]
    by_key = {result.run.key: result for group in _in_threads(tasks, cancel) for result in group}
    return [by_key[r.key] for r in runs]


class _Aborted(Exception):
    """Another group failed; this one stopped early and has nothing to report."""


def check_cancel(cancel) -> None:
    """Raise Interrupted if the cancel event is set."""
    if cancel.is_set():
        raise Interrupted(getattr(cancel, "signal_name", "SIGINT"))


def _in_threads(tasks: list[Callable], cancel) -> list:
    """Run tasks(check) in threads, one per core; on the first failure stop the others, wait for them and re-raise."""
    abort = threading.Event()

    def check():  # called by the tasks between graph calls
        check_cancel(cancel)
        if abort.is_set():
            raise _Aborted

    # XLA compiles and TensorFlow runs outside the GIL, so two graphs overlap on two cores.
    with ThreadPoolExecutor(max_workers=min(len(tasks), os.cpu_count() or 1)) as pool:
        futures = [pool.submit(task, check) for task in tasks]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)  # all done, or one failed
        finally:
            abort.set()  # the others stop at their next graph call (also when this thread is interrupted) ...
            wait(futures)  # ... and we wait for them: no thread keeps training after we return
    errors = [f.exception() for f in futures if f.exception() and not isinstance(f.exception(), _Aborted)]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


def _train_group(network, runs, datasets, config, init, progress, check) -> list[RunResult]:
    from reportgen.training import engine

    tc = config.training
    data = [datasets[r.seed] for r in runs]
    spec = engine.GroupSpec(
        network=network, n_runs=len(runs), n_train=len(data[0].x_train), batch_size=tc.batch_size,
        shuffle=tc.shuffle, learning_rate=config.model.learning_rate, chunk=MAX_CHUNK,
    )
    hyper = _group_hyper(runs)
    stacked = [np.stack(arrays) for arrays in zip(*(initial_weights(network, init[r.init_seed]) for r in runs))]
    state = engine.initial_state(spec, stacked)
    tensors = engine.data_tensors(*(np.stack([getattr(d, k) for d in data]) for k in ("x_train", "y_train", "x_val", "y_val")))
    names = list(dict.fromkeys(r.variant.name for r in runs))
    label = f"{len(runs)} runs ({', '.join(names[:4])}{', …' if len(names) > 4 else ''})"
    run_epochs = lambda n, text: progress(n * len(runs), text)  # noqa: E731
    state, history = _advance(engine.build_trainer(spec), spec, state, tensors, engine.hyper_tensors(hyper),
                              tc.epochs, label, run_epochs, check)
    return _results(runs, state, history, engine.final_weights(state, hyper.restore_best))


def _advance(advance, spec, state, tensors, hyper, epochs: int, label: str, progress, check):
    """Train a group to the last epoch in graph calls of about CHUNK_SECONDS each; return the state and history."""
    from reportgen._tf import tf

    progress(0, f"compiling the graph for {label}")
    chunks, start, size = [], 0, 1  # the first call compiles: one epoch, then as many as fit in CHUNK_SECONDS
    while start < epochs and state["active"].numpy().any():
        check()
        stop = min(start + size, epochs)
        began = time.perf_counter()
        state, history = advance(state, tensors, hyper, tf.constant(start), tf.constant(stop))
        chunks.append(history.numpy()[: stop - start])
        seconds = time.perf_counter() - began
        size = size if start == 0 else max(1, min(spec.chunk, int(size * CHUNK_SECONDS / max(seconds, 1e-3))))
        progress(stop - start, f"training {label}, epoch {stop}")
        start = stop
    progress(epochs - start, label)  # runs that all stopped early leave their remaining epochs done
    return state, np.concatenate(chunks)  # history: [epochs, runs, keys]


def _results(runs: list[Run], state: dict, history: np.ndarray, weights: list[np.ndarray]) -> list[RunResult]:
    """Each run's result from the final state and history of its group."""
    epochs_run, best = state["epochs_run"].numpy(), state["best_epoch"].numpy()
    min_val_epoch, min_val_weights = state["min_val_epoch"].numpy(), [w.numpy() for w in state["min_val_w"]]
    diverged = state["diverged_at"].numpy()
    one_based = lambda e: int(e) + 1 if e >= 0 else None  # noqa: E731
    return [
        RunResult(
            run=run,
            weights=[w[m] for w in weights],
            history={k: history[: epochs_run[m], m, j].copy() for j, k in enumerate(HISTORY_KEYS)},
            epochs_run=int(epochs_run[m]),
            best_epoch=one_based(best[m]) if run.variant.early_stopping else None,
            min_val_epoch=one_based(min_val_epoch[m]),
            min_val_weights=[w[m] for w in min_val_weights] if min_val_epoch[m] >= 0 else None,
            diverged_at=one_based(diverged[m]),
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
