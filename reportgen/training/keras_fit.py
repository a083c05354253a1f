"""The reference engine: stock Keras model.fit, one run at a time."""

from __future__ import annotations

import numpy as np

from reportgen.config import StudyConfig
from reportgen.data import Dataset
from reportgen.models import Network, build_model, initial_weights, keras_labels
from reportgen.plan import Run, RunResult, check_cancel, diverged, initial_loss, loss_limit, snapshot_epochs, snapshotted


def _recorder(progress, key: str, cancel=None, snapshot_at=(), limit: float = np.inf, check=None):
    from reportgen._tf import keras

    class Recorder(keras.callbacks.Callback):
        """Split Keras' losses into data loss and penalty (the penalty at the end of each epoch), keep the weights at
        the lowest validation data loss, keep the weights after the snapshot epochs, and stop a run whose loss diverges
        (plan.diverged, on the same values: `limit` is plan.loss_limit of its loss at initialization)."""

        def on_train_begin(self, logs=None):
            self.penalty, self.min_val, self.min_val_epoch, self.min_val_weights = [], np.inf, None, None
            self.loss_limit, self.diverged_at, self.snapshots = np.float32(limit), None, {}

        def on_epoch_end(self, epoch, logs=None):
            self.penalty.append(float(sum(np.sum(np.asarray(x)) for x in self.model.losses)) if self.model.losses else 0.0)
            # Exactly the history's values, so that the argmin and the divergence test agree with it.
            train_loss, val_loss = data_losses(logs, self.penalty[-1])
            if val_loss < self.min_val:
                self.min_val, self.min_val_epoch, self.min_val_weights = val_loss, epoch + 1, self.model.get_weights()
            if epoch + 1 in snapshot_at:
                self.snapshots[epoch + 1] = self.model.get_weights()
            if diverged(train_loss, val_loss, self.penalty[-1], self.loss_limit):
                self.diverged_at = epoch + 1
                self.model.stop_training = True
            progress(1, f"model.fit {key}, epoch {epoch + 1}")
            if cancel is not None:
                check_cancel(cancel)  # raising here ends fit at once
            if check is not None:
                check()

    return Recorder()


def data_losses(logs: dict, penalty: float) -> tuple[float, float]:
    """An epoch's training and validation losses on the true labels, without the penalty: Keras' losses less the
    penalty, or, for a loss with options (label smoothing), the cross-entropy metric 'ce' that build_model adds."""
    if "ce" in logs:
        return logs["ce"], logs["val_ce"]
    return logs["loss"] - penalty, logs["val_loss"] - penalty


def _batches(data: Dataset, batch_size: int, shuffle: bool, seed: int, y_train=None):
    """Training batches, reshuffled every epoch.

    Not fit(x, y, shuffle=True): once keras.utils.set_random_seed has run, Keras 3 replays the same
    permutation every epoch (its shuffle op is re-created with a fixed seed for each epoch's iterator).
    tf.data's reshuffle_each_iteration gives a new, still reproducible, order per epoch, as fit documents.
    """
    from reportgen._tf import tf

    ds = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train if y_train is None else y_train))
    if shuffle:
        ds = ds.shuffle(len(data.x_train), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def train_one(run: Run, data: Dataset, config: StudyConfig, dense_init: list[np.ndarray], progress, cancel) -> RunResult:
    """Train one run with model.fit and return its result in the engines' common form."""
    from reportgen._tf import seeded

    check_cancel(cancel)
    with seeded(run.seed):
        model = build_model(run.variant, run.model(config.model), data)
    model.set_weights(initial_weights(Network.of(run.variant, run.model(config.model), data), dense_init))
    initial = initial_loss(run, data, config, dense_init)
    tc = config.training
    batches = _batches(data, tc.batch_size, tc.shuffle, run.seed, keras_labels(run.variant, data.y_train, data.n_classes))
    return fit(run, data, config, model, batches, initial, progress, lambda: check_cancel(cancel))


def fit(run: Run, data: Dataset, config: StudyConfig, model, batches, initial: float, progress, check) -> RunResult:
    """Train a compiled model with model.fit on its batches (from its initial loss, which divergence is judged against)
    and return the run's result in the engines' common form; check() is called after every epoch (it raises to stop)."""
    from reportgen._tf import keras

    recorder = _recorder(
        progress, run.key, None, snapshot_epochs(config) if snapshotted(run, config) else (), loss_limit(initial), check
    )
    callbacks = [recorder]  # first: it sees each epoch's weights before early stopping may restore others
    es = run.variant.early_stopping
    if es:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=es.patience, restore_best_weights=es.restore_best_weights)
        )
    tc = config.training
    fit = model.fit(
        batches,
        validation_data=(data.x_val, keras_labels(run.variant, data.y_val, data.n_classes)),
        epochs=tc.epochs,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,  # the dataset already reshuffles
    )
    h, penalty = fit.history, np.array(recorder.penalty)
    epochs_run = len(h["loss"])
    progress(tc.epochs - epochs_run, run.key)
    losses = [data_losses({k: v[e] for k, v in h.items()}, penalty[e]) for e in range(epochs_run)]
    history = {
        # Keras' training loss averages the penalty over the epoch; the end-of-epoch penalty is a close stand-in.
        "train_loss": np.array([t for t, _ in losses]),
        "train_accuracy": np.array(h["accuracy"]),
        "val_loss": np.array([v for _, v in losses]),
        "val_accuracy": np.array(h["val_accuracy"]),
        "penalty": penalty,
    }
    best = callbacks[-1].best_epoch + 1 if es else None
    return RunResult(
        run=run,
        weights=model.get_weights(),
        history=history,
        epochs_run=epochs_run,
        best_epoch=best,
        min_val_epoch=recorder.min_val_epoch,
        min_val_weights=recorder.min_val_weights,
        diverged_at=recorder.diverged_at,
        initial_loss=initial,
        snapshots=recorder.snapshots,
        extras={"model": model},
    )
