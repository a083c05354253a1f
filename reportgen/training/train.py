"""Train the runs of a study with the chosen engine, grouped by network shape."""

from __future__ import annotations

import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from reportgen import xla
from reportgen._tf import tf
from reportgen.config import StudyConfig
from reportgen.data import Dataset
from reportgen.models import Network, initial_dense_weights, initial_weights
from reportgen.plan import (
    BLOCK_RUNS,
    HISTORY_KEYS,
    Run,
    RunResult,
    block_runs,
    initial_loss,
    loss_limit,
    snapshot_epochs,
    snapshotted,
)
from reportgen.regularizers import REGULARIZERS
from reportgen.training import engine, factory_fit, keras_fit
from reportgen.training.threads import handed as _handed
from reportgen.training.threads import in_threads as _in_threads

Progress = Callable[[int, str], None]  # called with the run-epochs just finished and what is being trained
MAX_CHUNK = 50  # at most this many epochs per graph call (the size of the graph's history buffer)
CHUNK_SECONDS = 0.3  # aim for graph calls this long: progress and cancellation are checked between calls


def train_runs(
    runs: list[Run],
    datasets: dict[int, Dataset],
    config: StudyConfig,
    progress: Progress | None = None,
    cancel=None,
    done: Callable[[list[RunResult]], None] | None = None,
    factory_source=None,
) -> list[RunResult]:
    """Train every run on its replicate's dataset (datasets[run.seed]) and return results in the order of runs.

    cancel: a threading.Event (optionally with a `signal_name`); once set, training stops within about a second
    (between chunks of epochs; a graph being compiled finishes first) and Interrupted is raised. done: called with
    each block's results as it finishes (from its thread), before the other blocks are. A study with model.factory
    trains its network with stock fit, one run per core (reportgen.training.factory_fit; factory_source: the factory
    file as the build read it, reportgen.factory.source).
    """
    progress = progress or (lambda n, label: None)
    cancel = cancel or threading.Event()
    done = done or (lambda results: None)
    if config.model.factory is not None:  # the study's own Keras network, with stock fit
        return factory_fit.train_runs(runs, datasets, config, progress, cancel, done, factory_source)
    shape = datasets[runs[0].data_key] if runs else None  # every run of a study has the same inputs and classes
    init = {
        key: initial_dense_weights(config.model.model_copy(update={"hidden_units": list(key[1])}), key[0], shape)
        for key in sorted({init_key(r, config) for r in runs})
    }
    if config.training.engine == "keras":
        results = []
        for run in runs:
            fit = partial(keras_fit.train_one, run, datasets[run.data_key], config, init[init_key(run, config)], progress, cancel)
            # made again after a cache failure: a new model, whose graphs are traced and compiled anew
            results.append(_handed(done, [_repaired(lambda f: f(), fit, lambda f: f)[0]])[0])
    else:
        blocks = _blocks(runs, datasets, config)
        _trace({b.key(datasets): b for b in reversed(blocks)}.values(), datasets, config, init)
        tasks = [lambda check, b=b: _handed(done, _train_block(b, datasets, config, init, progress, check)) for b in blocks]
        by_key = {result.run.key: result for block in _in_threads(tasks, cancel) for result in block}
        results = [by_key[r.key] for r in runs]
    xla.seal()  # the graphs this training wrote get their checks now: damage from now on is found before loading
    return results


REPAIRS = 2  # cache failures one call may meet: an entry that could not be loaded, then a graph that could not be written


def _repaired(call: Callable, function, retrace: Callable):
    """call(function), made again when it failed because of the compiled-graph cache (reportgen.xla.recover) once the
    cache is put right, with retrace(function) in its place when its entry was at fault; at most REPAIRS times. Returns
    the result and the function that gave it; the warnings are given once the call succeeded."""
    lines: list[str | None] = []
    while True:
        try:
            result = call(function)
        except Exception as err:
            recovery = xla.recover(err) if len(lines) < REPAIRS else None
            if recovery is None:
                raise
            how, line = recovery
            lines.append(line)
            if how == "retrace":
                function = retrace(function)
            continue
        for line in lines:
            xla.warn(line)
        return result, function


def init_key(run: Run, config: StudyConfig) -> tuple[int, tuple[int, ...]]:
    """What a run's initial Dense weights are drawn for: its init seed and its hidden widths (a capacity sweep's
    shapes each draw their own, from the same seed)."""
    return run.init_seed, tuple(run.model(config.model).hidden_units)


def group_key(run: Run, data: Dataset, config: StudyConfig) -> tuple:
    """What the runs of one engine graph share: the network shape (a capacity sweep's widths each have their own), the
    numbers of training and validation rows and the switched regularizers they use (whose arithmetic only their graphs
    have). A factory's runs have no graph of the engine: all of them are one group."""
    if config.model.factory is not None:
        return ("factory", config.model.factory)
    return Network.of(run.variant, run.model(config.model), data), len(data.y_train), len(data.y_val), switches(run)


def switches(run: Run) -> frozenset[str]:
    """The switched regularizers a run uses (records with switched set)."""
    return frozenset(r.key for r in REGULARIZERS if r.switched and r.key in run.variant.regularizers())


@dataclass(frozen=True)
class _Block:
    """Runs trained together in one graph; the last block of a shape repeats its last run to the shape's size."""

    network: Network
    runs: list[Run]
    real: int  # the first `real` runs are the block's own

    def key(self, datasets) -> tuple:
        """What decides the block's graph: its network, its numbers of training and validation rows, its switches."""
        data = datasets[self.runs[0].data_key]
        return self.network, len(data.y_train), len(data.y_val), switches(self.runs[0])


def _blocks(runs: list[Run], datasets, config: StudyConfig) -> list[_Block]:
    """Split the runs into blocks of one network shape, equal in size within a shape so that they share one graph.

    The first block of every shape comes first, so that their graphs compile in parallel. A study that fits in one
    block per core is one graph (batch norm switched off per run for the runs without it), split over the cores:
    one graph to trace and compile instead of two.
    """
    groups: dict[tuple[Network, int, int, frozenset], list[Run]] = defaultdict(list)
    for run in runs:
        groups[group_key(run, datasets[run.data_key], config)].append(run)
    cores = os.cpu_count() or 1
    with_bn = {(replace(net, batchnorm=True), rows, val, sw) for net, rows, val, sw in groups}
    if len(groups) > 1 and len(with_bn) == 1 and len(runs) <= cores * block_runs(next(iter(with_bn))[0].size(), BLOCK_RUNS):
        groups = {with_bn.pop(): runs}  # the shapes differ only in batch norm: one graph switches it per run
    blocks = []
    for (network, _, _, _), members in groups.items():
        most = block_runs(network.size(), BLOCK_RUNS)  # fewer for a wide network
        count = max(math.ceil(len(members) / most), min(cores, len(members)) if len(groups) == 1 else 1)
        # XLA compiles a stack of one run differently (its numbers differ in the last bits, which 500 epochs
        # amplify): every block holds at least two, so that a run gives the same weights in any study.
        size = max(2, math.ceil(len(members) / count))
        for order, start in enumerate(range(0, len(members), size)):
            part = members[start : start + size]
            blocks.append((order, _Block(network, part + [part[-1]] * (size - len(part)), len(part))))
    blocks.sort(key=lambda b: b[0])  # stable: shapes keep their order within each rank
    return [b for _, b in blocks]


def _trace(blocks, datasets, config, init) -> None:
    """Trace the graph of each block's shape, one after another, before the threads start.

    Serial tracing names the graphs' functions in the same order in every process; the compiled graphs are cached
    on disk under a fingerprint of those names, so that a later build of the same study skips the compiler.
    """
    for block in sorted(blocks, key=lambda b: b.network.batchnorm):
        spec, state, tensors, hyper, _ = _block_inputs(block, datasets, config, init)
        engine.build_trainer(spec).get_concrete_function(
            state, tensors, engine.hyper_tensors(hyper), tf.constant(0), tf.constant(1)
        )


def _block_inputs(block: _Block, datasets, config, init) -> tuple:
    """The spec, initial state, data tensors and settings of a block, and its runs' training losses at initialization."""
    tc, runs = config.training, block.runs
    data = [datasets[r.data_key] for r in runs]
    spec = engine.GroupSpec(
        network=block.network,
        n_runs=len(runs),
        n_train=len(data[0].x_train),
        batch_size=tc.batch_size,
        shuffle=tc.shuffle,
        learning_rate=config.model.learning_rate,
        chunk=MAX_CHUNK,
        optimizer=config.model.optimizer,
        momentum=config.model.momentum,
        switches=switches(runs[0]),
    )
    dense = [init[init_key(r, config)] for r in runs]
    stacked = [np.stack(arrays) for arrays in zip(*(initial_weights(block.network, w) for w in dense))]
    tensors = engine.data_tensors(*(np.stack([getattr(d, k) for d in data]) for k in ("x_train", "y_train", "x_val", "y_val")))
    initial = [initial_loss(r, d, config, w) for r, d, w in zip(runs, data, dense)]
    state = engine.initial_state(spec, stacked, np.array([loss_limit(i) for i in initial], np.float32))
    return spec, state, tensors, _group_hyper(runs), initial


def _train_block(block: _Block, datasets, config, init, progress, check) -> list[RunResult]:
    spec, state, tensors, hyper, initial = _block_inputs(block, datasets, config, init)
    names = list(dict.fromkeys(r.variant.name for r in block.runs))
    label = f"{block.real} runs ({', '.join(names[:4])}{', …' if len(names) > 4 else ''})"
    run_epochs = lambda n, text: progress(n * block.real, text)  # noqa: E731
    own = block.runs[: block.real]
    snap_at = snapshot_epochs(config) if any(snapshotted(r, config) for r in own) else ()
    state, history, snaps = _advance(
        engine.build_trainer(spec),
        spec,
        state,
        tensors,
        engine.hyper_tensors(hyper),
        config.training.epochs,
        label,
        run_epochs,
        check,
        snap_at,
    )
    weights = engine.final_weights(state, hyper.restore_best)
    return _results(block.network, own, state, history, weights, snaps, config, initial)


def _advance(advance, spec, state, tensors, hyper, epochs: int, label: str, progress, check, snap_at=()):
    """Train a group to the last epoch in graph calls of about CHUNK_SECONDS each; return the state, the history and
    the stacked weights after each epoch of snap_at (graph calls end there; the numbers do not depend on where)."""
    progress(0, f"compiling the graph for {label}")
    chunks, start, size, snaps = [], 0, 1, {}  # the first call compiles: one epoch, then as many as fit in CHUNK_SECONDS
    while start < epochs and state["active"].numpy().any():
        check()
        stop = min([start + size, epochs, *(e for e in snap_at if e > start)])
        began = time.perf_counter()
        state, history, advance = _called(advance, spec, state, tensors, hyper, start, stop)
        chunks.append(history.numpy()[: stop - start])
        if stop in snap_at:
            snaps[stop] = [w.numpy() for w in state["w"]]
        seconds = time.perf_counter() - began
        size = size if start == 0 else max(1, min(spec.chunk, int(size * CHUNK_SECONDS / max(seconds, 1e-3))))
        progress(stop - start, f"training {label}, epoch {stop}")
        start = stop
    progress(epochs - start, label)  # runs that all stopped early leave their remaining epochs done
    return state, np.concatenate(chunks), snaps  # history: [epochs, runs, keys]


def _called(advance, spec, state, tensors, hyper, start: int, stop: int):
    """One graph call: the new state, the history and the graph function that gave them (a new one, traced and
    compiled anew, when the old one's cache entry could not be loaded: see _repaired)."""
    args = (state, tensors, hyper, tf.constant(start), tf.constant(stop))
    (state, history), advance = _repaired(lambda f: f(*args), advance, lambda f: engine.build_trainer(spec, replacing=f))
    return state, history, advance


def _results(
    network,
    runs: list[Run],
    state: dict,
    history: np.ndarray,
    weights: list[np.ndarray],
    snaps: dict,
    config,
    initial: list[float],
) -> list[RunResult]:
    """Each run's result from the final state and history of its block, with the weights of its own network (and its
    snapshots, for a snapshotted run, at the snapshot epochs it reached)."""
    epochs_run, best = state["epochs_run"].numpy(), state["best_epoch"].numpy()
    min_val_epoch, min_val_weights = state["min_val_epoch"].numpy(), [w.numpy() for w in state["min_val_w"]]
    diverged = state["diverged_at"].numpy()
    one_based = lambda e: int(e) + 1 if e >= 0 else None  # noqa: E731
    layout = network.layout()
    own = {
        n: [layout.index(item) for item in n.layout()] for n in {replace(network, batchnorm=r.variant.batchnorm) for r in runs}
    }
    results = []
    for m, run in enumerate(runs):
        keep = own[replace(network, batchnorm=run.variant.batchnorm)]  # a run without batch norm leaves out the block's BN arrays
        results.append(
            RunResult(
                run=run,
                weights=[weights[i][m] for i in keep],
                history={k: history[: epochs_run[m], m, j].copy() for j, k in enumerate(HISTORY_KEYS)},
                epochs_run=int(epochs_run[m]),
                best_epoch=one_based(best[m]) if run.variant.early_stopping else None,
                min_val_epoch=one_based(min_val_epoch[m]),
                min_val_weights=[min_val_weights[i][m] for i in keep] if min_val_epoch[m] >= 0 else None,
                diverged_at=one_based(diverged[m]),
                initial_loss=initial[m],
                snapshots={e: [w[i][m] for i in keep] for e, w in snaps.items() if e <= epochs_run[m]}
                if snapshotted(run, config)
                else {},
            )
        )
    return results


def _group_hyper(runs: list[Run]):
    """The stacked runs' settings for the graph: each regularizer record's engine numbers, and each run's streams."""
    streams = [engine.run_streams(r.seed) for r in runs]
    values = {
        name: np.array([number(r.variant.setting(reg.key)) for r in runs], dtype)
        for reg in REGULARIZERS
        for name, (dtype, number) in reg.engine.items()
    }
    return engine.GroupHyper(
        values,
        shuffle_seed=np.array([s[0] for s in streams], np.uint32),
        dropout_seed=np.array([s[1] for s in streams], np.uint32),
    )
