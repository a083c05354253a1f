"""The fast engine against stock Keras: same weights, same predictions, same early-stopping rules."""

import numpy as np
import pytest

from reportgen.data import make_datasets
from reportgen.models import Network, build_model, predict_proba
from reportgen.plan import BLOCK_RUNS, block_runs, plan_runs, snapshot_epochs
from reportgen.training import train, train_runs
from tests.conftest import TINY, tiny_config

pytestmark = pytest.mark.slow  # every test here trains or runs TensorFlow

# L1 alone and L2 alone are the engine's arithmetic of "both" (the same graph, with one strength zero); Keras' L2
# class, which reportgen gives a variant of one penalty, is es's and es-last's here, and Keras' L1 class is compared
# with the engine in tests/test_multiclass.py (its l1 variant).
PARITY_VARIANTS = [
    {"name": "baseline"},
    {"name": "both", "l1": 0.001, "l2": 0.001},
    {"name": "bn", "batchnorm": True},
    {"name": "es", "l2": 0.01, "early_stopping": {"patience": 3}},
    {"name": "es-last", "l2": 0.01, "early_stopping": {"patience": 3, "restore_best_weights": False}},
]
PARITY = dict(
    training={"epochs": 12, "seeds": [0], "batch_size": 20, "shuffle": False},
    variants=PARITY_VARIANTS,
    sweeps={"l1": []},
    model={"hidden_units": [16, 8], "learning_rate": 0.05},
)


@pytest.fixture(scope="module")
def parity():
    """Both engines once on the runs every parity test compares: 48 training rows in mini-batches of 20 (two full ones
    and Keras' partial last one of 8), a learning rate high enough to overfit within a dozen epochs (the lowest
    validation loss falls mid-training and patience 3 stops the early-stopping variants), snapshots after epochs 1
    and 4."""
    fast = tiny_config(**PARITY)
    ref = tiny_config(**{**PARITY, "training": {**PARITY["training"], "engine": "keras"}})
    data = make_datasets(fast.data, fast.training.seeds)
    runs = [r for r in plan_runs(fast) if r.init == 0]  # the twins train as their variants do
    return fast, data, train_runs(runs, data, fast), train_runs(runs, data, ref)


def _close(ours: list[np.ndarray], theirs: list[np.ndarray], key: str) -> None:
    assert len(ours) == len(theirs), key
    for wa, wb in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5, err_msg=key)


def test_deterministic_variants_match_keras_fit(parity):
    _, _, fast, ref = parity
    assert [a.run.key for a in fast] == [b.run.key for b in ref] and len(fast) == len(PARITY_VARIANTS)
    for a, b in zip(fast, ref, strict=True):
        _close(a.weights, b.weights, a.run.key)
        np.testing.assert_allclose(a.history["val_loss"], b.history["val_loss"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(a.history["train_accuracy"], b.history["train_accuracy"], atol=1e-6)


def test_both_engines_keep_the_weights_at_the_lowest_validation_loss(parity):
    _, _, ours, theirs = parity
    for a, b in zip(ours, theirs, strict=True):
        assert a.min_val_epoch == b.min_val_epoch == int(np.argmin(a.history["val_loss"])) + 1
        assert 1 < a.min_val_epoch < a.epochs_run, a.run.key  # else the final weights would do
        assert b.min_val_epoch == int(np.argmin(b.history["val_loss"])) + 1
        _close(a.min_val_weights, b.min_val_weights, a.run.key)
        stopping = a.run.variant.early_stopping
        restored = bool(stopping and stopping.restore_best_weights and a.best_epoch == a.min_val_epoch)
        assert np.allclose(a.min_val_weights[0], a.weights[0]) == restored, a.run.key  # the same only when restored


def test_keras_predict_equals_engine_predictions(parity):
    config, data, fast, _ = parity
    for result in fast:
        model = build_model(result.run.variant, config.model)
        model.set_weights(result.weights)
        x_test = data[result.run.seed].x_test
        keras_p = model.predict(x_test, verbose=0)[:, 0]
        ours = predict_proba(Network.of(result.run.variant, config.model), result.weights, x_test)
        np.testing.assert_allclose(ours, keras_p, rtol=1e-4, atol=1e-5)


GROUPED = dict(
    training={"epochs": 5, "seeds": [0, 1, 2], "batch_size": 32},
    sweeps={"l1": [0.01]},
    variants=[*TINY["variants"], {"name": "bn", "batchnorm": True, "dropout": 0.2}],
)
ALONE = ("l1=0.01/seed1", "l1+drop <i>/seed0", "bn/seed0")  # plain; dropout with early stopping; batch norm


@pytest.fixture(scope="module")
def alone():
    config = tiny_config(**GROUPED)
    data = make_datasets(config.data, config.training.seeds)
    return {r.key: train_runs([r], data, config)[0] for r in plan_runs(config) if r.key in ALONE}


@pytest.mark.parametrize("block_runs", [32, 2])
def test_a_run_does_not_depend_on_its_group(alone, block_runs, monkeypatch):
    """Runs of three replicates, each on its own data draw, and of two network shapes share graphs: all twenty-one in
    one (batch norm switched off for the runs without it; blocks of eleven, the second padded), or blocks of two of one
    shape (fifteen runs without batch norm: the last block padded), each beside another run where alone it is beside
    itself, in the graphs the runs alone trained in; each gives exactly the weights it gives alone (500 epochs would
    amplify any difference in the last bits into another model). Each block is handed over as it finishes (what the
    run cache stores block by block), every run once."""
    monkeypatch.setattr(train, "BLOCK_RUNS", block_runs)
    config = tiny_config(**GROUPED)
    data = make_datasets(config.data, config.training.seeds)
    assert not np.allclose(data[0].x_train, data[1].x_train)  # the replicates really train on different points
    handed: list[list] = []
    together = {r.run.key: r for r in train_runs(plan_runs(config), data, config, done=handed.append)}
    assert sorted(r.run.key for block in handed for r in block) == sorted(together)
    assert all(together[r.run.key] is r for block in handed for r in block)
    blocks = train._blocks(plan_runs(config), data, config)
    assert len(handed) == len(blocks) > 1
    assert [(len(b.runs), b.real) for b in blocks][-1] == ((11, 10) if block_runs == 32 else (2, 1))  # padded
    for key, result in alone.items():
        assert [w.shape for w in together[key].weights] == [w.shape for w in result.weights]
        for wa, wb in zip(result.weights, together[key].weights, strict=True):
            np.testing.assert_array_equal(wa, wb, err_msg=key)
        np.testing.assert_array_equal(result.history["val_loss"], together[key].history["val_loss"])


def test_a_wide_network_trains_in_blocks_small_enough_to_keep_its_memory():
    """A block's training state stays under plan.BLOCK_STATE_BYTES (10 MiB), with at least two runs: the default
    network's blocks keep BLOCK_RUNS, 2-256-256-1 with batch norm (68,865 weights, 1.1 MB a run) takes 9, and wider
    ones 2; a study of the wide network is split accordingly, every run once."""
    assert block_runs(Network((128, 128), True).size()) == BLOCK_RUNS
    assert block_runs(Network((256, 256), True).size()) == 9
    assert block_runs(Network((512, 512), False).size()) == block_runs(Network((1024, 1024), True).size()) == 2
    assert block_runs(1, most=4) == 4 and block_runs(10**9) == 2
    config = tiny_config(model={"hidden_units": [1024, 1024]})
    data = make_datasets(config.data, config.training.seeds)
    runs = plan_runs(config)
    blocks = train._blocks(runs, data, config)
    assert len(runs) > 4 and {len(b.runs) for b in blocks} == {2}
    assert sorted(r.key for b in blocks for r in b.runs[: b.real]) == sorted(r.key for r in runs)


def test_a_diverging_run_is_marked_and_frozen_while_the_others_train_on():
    """An absurd L2 penalty overflows to NaN in the first epoch; the baseline beside it is untouched."""
    variants = [{"name": "baseline"}, {"name": "blowup", "l2": 1e30}]
    fast = tiny_config(training={"epochs": 4, "seeds": [0]}, variants=variants, sweeps={"l1": []})
    data = make_datasets(fast.data, fast.training.seeds)
    base, blowup = train_runs(plan_runs(fast), data, fast)
    assert blowup.diverged_at == blowup.epochs_run == len(blowup.history["train_loss"]) == 1
    assert not np.isfinite(blowup.history["train_loss"][-1])
    assert base.diverged_at is None and base.epochs_run == 4
    alone = train_runs([base.run], data, fast)[0]
    for wa, wb in zip(alone.weights, base.weights, strict=True):
        np.testing.assert_array_equal(wa, wb)
    ref = fast.model_copy(update={"training": fast.training.model_copy(update={"engine": "keras"})})
    theirs = train_runs([blowup.run], data, ref)[0]
    assert theirs.diverged_at == theirs.epochs_run == 1


# (train loss, validation loss) per epoch of four runs, each with a training loss of 0.7 at initialization (its limit
# 100 x 0.7 = 70), and the epoch each diverges at.
DIVERGING = [
    ([(0.7, 0.6), (0.5, 0.5), (0.4, float("nan")), (0.3, 0.3)], 3),
    ([(0.7, 0.6), (0.5, 690.0), (0.5, 70.0), (71.0, 0.5)], 4),  # a growing validation loss is overfitting, not divergence
    ([(float("inf"), 0.6), (0.5, 0.5), (0.4, 0.4), (0.3, 0.3)], 1),
    ([(70.0, 0.6), (0.5, 70.0), (0.5, 0.4), (0.3, 0.3)], None),  # exactly at the limit is not beyond it
    ([(1e10, 1e10), (1e9, 1e9), (1e8, 1e8), (1e7, 1e7)], 1),  # judged against the first epoch, it never diverged
]
INITIAL_LOSS = 0.7


def test_divergence_rule_is_the_same_in_both_engines():
    from types import SimpleNamespace

    from reportgen._tf import tf
    from reportgen.plan import loss_limit
    from reportgen.training.engine import _divergence
    from reportgen.training.keras_fit import _recorder

    m = len(DIVERGING)
    state = {
        "active": tf.ones(m, tf.bool),
        "loss_limit": tf.fill((m,), loss_limit(INITIAL_LOSS)),
        "diverged_at": tf.fill((m,), -1),
    }
    recorders = [_recorder(lambda *_: None, "r", limit=loss_limit(INITIAL_LOSS)) for _ in DIVERGING]
    for rec in recorders:
        rec.set_model(SimpleNamespace(losses=[], stop_training=False, get_weights=list))
        rec.on_train_begin()
    for epoch in range(4):
        train, val = (tf.constant([run[epoch][k] for run, _ in DIVERGING], tf.float32) for k in (0, 1))
        new = _divergence(state, train, val, tf.zeros(m), tf.constant(epoch))
        state = {**state, **new, "active": state["active"] & new["active"]}
        for rec, (run, _) in zip(recorders, DIVERGING, strict=True):
            if not rec.model.stop_training:
                rec.on_epoch_end(epoch, {"loss": run[epoch][0], "val_loss": run[epoch][1]})
    expected = [e for _, e in DIVERGING]
    assert [int(e) + 1 if e >= 0 else None for e in state["diverged_at"].numpy()] == expected
    assert [rec.diverged_at for rec in recorders] == expected


def test_an_absurd_learning_rate_diverges_in_the_first_epoch_in_both_engines():
    """Adam at 300 takes the training loss from about 0.7 before the first step to about 1e10 within one epoch, far
    beyond 100 times the loss at initialization; judged against that first epoch's loss, neither engine saw it."""
    base = dict(
        model={"learning_rate": 300.0},
        training={"epochs": 3, "seeds": [0], "batch_size": 16},
        variants=[{"name": "baseline"}],
        sweeps={"l1": []},
    )
    for engine in ("fast", "keras"):
        config = tiny_config(**{**base, "training": {**base["training"], "engine": engine}})
        data = make_datasets(config.data, config.training.seeds)
        (result,) = train_runs(plan_runs(config), data, config)
        assert result.diverged_at == result.epochs_run == 1, engine
        assert 0.5 < result.initial_loss < 1.0 and result.history["train_loss"][0] > 1e3 * result.initial_loss, engine


def test_both_engines_record_the_same_loss_at_initialization(parity):
    """Before any step, on the training split, without the penalty: the same number in both engines, and the loss of
    the initial weights (the L1 runs' penalty is not in it: they start where the baseline starts)."""
    config, data, fast, ref = parity
    from reportgen.models import accuracy_and_loss, initial_dense_weights, initial_weights

    for a, b in zip(fast, ref, strict=True):
        assert a.initial_loss == b.initial_loss
        network = Network.of(a.run.variant, config.model, data[a.run.seed])
        start = initial_weights(network, initial_dense_weights(config.model, a.run.init_seed, data[a.run.seed]))
        logits = predict_proba(network, start, data[a.run.seed].x_train)
        assert a.initial_loss == pytest.approx(
            accuracy_and_loss(np.log(logits / (1 - logits)), data[a.run.seed].y_train)[1], rel=1e-4
        )
    first = {r.run.variant.name: r.initial_loss for r in fast if r.run.init == 0}
    assert first["both"] == first["baseline"]  # neither penalty (L1's nor L2's) is in it


def test_cancel_stops_every_group_within_two_seconds():
    """Two blocks in two threads, 100,000 epochs; a timer sets the event mid-training. The runs are the parity study's
    network and settings, six of them (two replicates of three variants, batch norm switched per run): two blocks of
    three, the graph the parity fixture compiled."""
    import resource
    import threading
    import time

    from reportgen.errors import Interrupted

    variants = [{"name": "baseline"}, {"name": "l2", "l2": 0.001}, {"name": "bn", "batchnorm": True}]
    epochs = 100_000
    config = tiny_config(
        **{**PARITY, "training": {**PARITY["training"], "epochs": epochs, "seeds": [0, 1]}, "variants": variants}
    )
    data = make_datasets(config.data, config.training.seeds)
    runs = [r for r in plan_runs(config) if r.init == 0]
    blocks = train._blocks(runs, data, config)
    assert len(blocks) == 2 and [b.real for b in blocks] == [3, 3] and all(b.network.batchnorm for b in blocks)
    warm = threading.Event()
    with pytest.raises(Interrupted):  # compiles the graph (if no test did) and stops: what follows measures training alone
        train_runs(runs, data, config, progress=lambda n, label: n and warm.set(), cancel=warm)
    cancel, set_at, trained = threading.Event(), [], []
    cancel.signal_name = "SIGTERM"
    timer = threading.Timer(1.0, lambda: (set_at.append(time.perf_counter()), cancel.set()))
    before = set(threading.enumerate())
    timer.start()
    with pytest.raises(Interrupted) as info:
        train_runs(runs, data, config, progress=lambda n, label: trained.append(n), cancel=cancel)
    assert time.perf_counter() - set_at[0] < 2.0
    assert info.value.exit_code == 143
    assert 0 < sum(trained) < len(runs) * epochs  # it was training, and did not finish
    timer.join()
    assert set(threading.enumerate()) <= before
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(0.5)
    idle = resource.getrusage(resource.RUSAGE_SELF)
    assert (idle.ru_utime + idle.ru_stime) - (cpu.ru_utime + cpu.ru_stime) < 0.2  # nothing trains in the background


def test_cancel_stops_the_reference_engine_after_the_epoch():
    import threading

    from reportgen.errors import Interrupted

    config = tiny_config(training={"epochs": 500, "seeds": [0], "engine": "keras"}, variants=[{"name": "b"}], sweeps={"l1": []})
    data = make_datasets(config.data, config.training.seeds)
    cancel, trained = threading.Event(), []

    def progress(n, label):
        trained.append(n)
        cancel.set()

    with pytest.raises(Interrupted) as info:
        train_runs(plan_runs(config), data, config, progress=progress, cancel=cancel)
    assert sum(trained) == 1 and info.value.exit_code == 130


def test_initial_weights_are_those_of_a_keras_model_built_after_set_random_seed():
    from reportgen._tf import keras
    from reportgen.config import ModelConfig, VariantConfig
    from reportgen.models import initial_dense_weights

    model = ModelConfig(hidden_units=[16, 8, 4])
    for seed in (0, 1_000_004):
        keras.utils.set_random_seed(seed)
        built = build_model(VariantConfig(name="plain", l2=0.01), model).get_weights()
        drawn = initial_dense_weights(model, seed)
        assert [w.shape for w in drawn] == [w.shape for w in built]
        for a, b in zip(drawn, built, strict=True):
            np.testing.assert_array_equal(a, b)


def test_seeds_reproduce_and_differ():
    config = tiny_config(training={"epochs": 3, "seeds": [0, 1]}, variants=[{"name": "d", "dropout": 0.5}], sweeps={"l1": []})
    data = make_datasets(config.data, config.training.seeds)
    a = train_runs(plan_runs(config), data, config)
    b = train_runs(plan_runs(config), data, config)
    np.testing.assert_array_equal(a[0].weights[0], b[0].weights[0])
    assert not np.allclose(a[0].weights[0], a[1].weights[0])


def test_early_stopping_follows_keras_rules(parity):
    """Patience 3 on an overfitting tiny problem stops early; with restore_best_weights the kept weights are those of
    the best epoch, without it those of the last."""
    _, _, fast, _ = parity
    by = {r.run.variant.name: r for r in fast}
    assert by["baseline"].epochs_run == PARITY["training"]["epochs"] and by["baseline"].best_epoch is None
    for name in ("es", "es-last"):
        es = by[name]
        assert es.epochs_run < PARITY["training"]["epochs"], name  # the test only means something if the run stopped
        monitor = es.history["val_loss"] + es.history["penalty"]
        assert es.best_epoch == int(np.argmin(monitor)) + 1
        # Keras stops once `patience` epochs in a row fail to improve on the best so far.
        assert es.epochs_run - es.best_epoch == 3
        assert len(es.history["val_loss"]) == es.epochs_run and np.isfinite(es.history["val_loss"]).all()
    kept, last = by["es"], by["es-last"]
    assert kept.min_val_epoch == kept.best_epoch  # here the best epoch is also the lowest validation loss, so ...
    assert all(np.array_equal(a, b) for a, b in zip(kept.weights, kept.min_val_weights, strict=True))  # ... its weights
    assert last.history["val_loss"].tolist() == kept.history["val_loss"].tolist()  # one training, two choices of weights
    assert not np.array_equal(last.weights[0], kept.weights[0])


def test_dropout_masks_keep_the_expected_share():
    from reportgen._tf import tf
    from reportgen.training.engine import _uniform

    u = _uniform(tf.constant([1, 2, 3], tf.uint32), tf.constant(7), (64, 128)).numpy()
    assert u.shape == (3, 64, 128) and 0 <= u.min() and u.max() < 1
    assert abs((u < 0.2).mean() - 0.2) < 0.01
    assert not np.allclose(u[0], u[1])


def test_reference_engine_reshuffles_every_epoch():
    """Stock fit(shuffle=True) replays one permutation per epoch after set_random_seed; ours must not."""
    from reportgen._tf import keras
    from reportgen.training.keras_fit import _batches

    config = tiny_config()
    data = make_datasets(config.data, config.training.seeds)[0]
    keras.utils.set_random_seed(0)
    ds = _batches(data, 16, True, seed=0)
    first, second = ([float(x) for xb, _ in ds for x in xb[:, 0].numpy()] for _ in range(2))
    assert sorted(first) == sorted(second) == sorted(float(x) for x in data.x_train[:, 0])
    assert first != second


def test_early_stopping_matches_keras_fit(parity):
    """Same stopping epoch, best epoch and kept weights as keras.callbacks.EarlyStopping, with and without
    restore_best_weights."""
    _, _, ours, theirs = parity
    stopped = [(a, b) for a, b in zip(ours, theirs, strict=True) if a.run.variant.early_stopping]
    assert [a.run.variant.name for a, _ in stopped] == ["es", "es-last"]
    for a, b in stopped:
        assert a.epochs_run < PARITY["training"]["epochs"]  # the test only means something if the run stopped
        assert (a.epochs_run, a.best_epoch) == (b.epochs_run, b.best_epoch)
        _close(a.weights, b.weights, a.run.key)


def test_snapshots_are_the_weights_of_a_run_trained_to_that_epoch(parity):
    """The first replicate of each variant keeps its weights after every snapshot epoch in both engines, the same
    weights; the engine's snapshot at a middle epoch is bitwise the result of training for that many epochs."""
    config, data, ours, theirs = parity
    epochs = list(snapshot_epochs(config))
    assert len(epochs) >= 4 and epochs == sorted(set(epochs)) and epochs[-1] < config.training.epochs
    mid = epochs[len(epochs) // 2]
    for a, b in zip(ours, theirs, strict=True):
        reached = [e for e in epochs if e <= a.epochs_run]  # an early-stopped run keeps those it reached
        assert sorted(a.snapshots) == sorted(b.snapshots) == reached and mid in reached, a.run.key
        _close(a.snapshots[mid], b.snapshots[mid], a.run.key)
    # every parity run again, to the middle snapshot (the same blocks: the parity fixture's graph); the runs with early
    # stopping are left out of the comparison, as restore_best_weights would give them their best epoch's weights
    short = tiny_config(**{**PARITY, "training": {**PARITY["training"], "epochs": mid}})
    kept = {r.run.key: r.snapshots for r in ours}
    compared = 0
    for r in train_runs([r for r in plan_runs(short) if r.init == 0], data, short):
        if r.run.variant.early_stopping:
            continue
        assert all(np.array_equal(a, b) for a, b in zip(kept[r.run.key][mid], r.weights, strict=True)), r.run.key
        assert not np.array_equal(kept[r.run.key][epochs[0]][0], r.weights[0])  # the weights move between snapshots
        compared += 1
    assert compared == 3
