"""Batched inference: calls sized by memory, and the same numbers whatever the batch."""

import numpy as np

from reportgen import forward
from reportgen.models import Network, predict_logits


def test_calls_shrink_with_points_and_width():
    assert forward.runs_per_call(22_500, 1024) == 1  # 92 MB a run: one at a time
    assert forward.runs_per_call(22_500, 128) == int(forward.ACTIVATION_BYTES // (22_500 * 128 * 4))
    assert forward.runs_per_call(80, 8) == forward.CHUNK  # tiny activations: the cap
    assert forward.runs_per_call(10**7, 4096) == 1  # never zero


def test_batched_logits_equal_one_run_at_a_time(monkeypatch):
    rng = np.random.default_rng(0)
    net = Network((16, 8), batchnorm=False)
    runs = [[rng.normal(size=s).astype(np.float32) for s in [(2, 16), (16,), (16, 8), (8,), (8, 1), (1,)]] for _ in range(7)]
    x = rng.normal(size=(50, 2)).astype(np.float32)
    whole = forward.logits_many(net, runs, x)
    monkeypatch.setattr(forward, "ACTIVATION_BYTES", 50 * 16 * 4 * 3)  # three runs per call
    assert forward.runs_per_call(50, 16) == 3
    np.testing.assert_array_equal(forward.logits_many(net, runs, x), whole)
    np.testing.assert_array_equal(whole, np.stack([predict_logits(net, w, x) for w in runs]))


def test_runs_on_many_points_go_one_per_core_while_their_activations_fit(monkeypatch):
    """predict_logits runs stacked runs on many points in threads (models.per_core), as many at once as keep their
    activations within ACTIVATION_BYTES, and gives the same bits as each run alone."""
    import itertools
    import threading

    from reportgen import models

    assert models.at_once(Network((1024, 1024), batchnorm=False), 22_500) == 1  # 92 MB a run: one at a time
    assert models.at_once(Network((128, 128), batchnorm=False), 2_000) == int(models.ACTIVATION_BYTES // (2_000 * 128 * 4))
    monkeypatch.setattr(models.os, "cpu_count", lambda: 2)
    rng = np.random.default_rng(1)
    net = Network((16, 8), batchnorm=False)
    runs = [[rng.normal(size=s).astype(np.float32) for s in [(2, 16), (16,), (16, 8), (8,), (8, 1), (1,)]] for _ in range(6)]
    x = rng.normal(size=(300, 2)).astype(np.float32)  # enough points for the one-run-at-a-time path
    stacked = [np.stack(arrays) for arrays in zip(*runs)]
    seen: set[str] = set()
    original = models.per_core
    together = threading.Barrier(2, timeout=30)  # the first two runs wait for each other: two at once, or it breaks
    calls = itertools.count()

    def watched(task, items, most=None):
        def one(item):
            seen.add(threading.current_thread().name)
            if next(calls) < 2 and threading.current_thread() is not threading.main_thread():
                together.wait()
            return task(item)

        return original(one, items, most)

    monkeypatch.setattr(models, "per_core", watched)
    both = predict_logits(net, stacked, x)
    assert len(seen) == 2 and threading.current_thread().name not in seen  # two at once (or the barrier broke)
    np.testing.assert_array_equal(both, np.stack([predict_logits(net, w, x) for w in runs]))
    seen.clear()
    monkeypatch.setattr(models, "ACTIVATION_BYTES", 300 * 16 * 4)  # one run's activation: one at a time, here
    np.testing.assert_array_equal(predict_logits(net, stacked, x), both)
    assert seen == {threading.current_thread().name}


def _random_weights(net: Network, rng) -> list[np.ndarray]:
    """Weights of every array the network's layout names, batch-norm statistics in their ranges."""
    widths = [net.inputs, *net.hidden, net.outputs]
    out = []
    for kind, layer in net.layout():
        if kind in ("kernel", "bias"):
            shape = (widths[layer], widths[layer + 1]) if kind == "kernel" else (widths[layer + 1],)
            out.append(rng.normal(0, 0.6 if kind == "kernel" else 0.1, size=shape))
        else:
            width = net.hidden[layer]
            out.append(rng.uniform(0.5, 2.0, width) if kind in ("gamma", "moving_variance") else rng.normal(0, 0.3, width))
    return [w.astype(np.float32) for w in out]


def test_the_pruning_walk_gives_each_level_the_logits_of_its_own_forward_pass():
    """Level by level, the walk's logits (each level updated from the one before) match a forward pass of the network
    with that level's weights removed, for every kind of network the analysis prunes: the predictions agree on every
    point not within rounding of the boundary."""
    from reportgen.analysis import PRUNE_SEARCH
    from reportgen.measures import prune_cuts

    rng = np.random.default_rng(11)
    nets = [
        Network((32, 32), batchnorm=False),
        Network((24, 16), batchnorm=True, activation="tanh"),
        Network((16, 16, 16), batchnorm=False, inputs=5, outputs=3, activation="gelu"),
        Network((12,), batchnorm=True, inputs=3),
        Network((16, 8), batchnorm=True, inputs=3, outputs=4),
        Network((), batchnorm=False, inputs=4, outputs=3),
        Network((24, 24), batchnorm=False),  # weights rounded to quarters below: many equal magnitudes at each cut
    ]
    for i, net in enumerate(nets):
        weights = _random_weights(net, rng)
        if i == len(nets) - 1:
            weights = [np.round(w * 4) / 4 for w in weights]
        x = rng.normal(size=(300, net.inputs)).astype(np.float32)
        cuts = prune_cuts(weights, net.kernel_indices(), PRUNE_SEARCH)
        walked = list(forward.pruning_walk(net, weights, cuts, x))
        direct = forward.logits_pruned(net, [weights], cuts[None], [x])[0]
        assert len(walked) == len(PRUNE_SEARCH) and walked[0].shape == direct[0].shape
        for level, (w, d) in enumerate(zip(walked, direct)):
            np.testing.assert_allclose(w, d, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(d).max()), err_msg=f"{net} level {level}")
        last = walked[-1]  # every kernel weight gone: the biases alone, the same for every point
        np.testing.assert_allclose(last, np.broadcast_to(last[:1], last.shape), rtol=1e-5, atol=1e-6)
        if net.outputs == 1:
            clear = np.abs(direct) > 1e-3
            assert clear.mean() > 0.5 and np.array_equal((np.stack(walked) > 0)[clear], (direct > 0)[clear])


def test_the_pruning_walk_removes_what_its_first_level_already_cuts():
    """Cuts that start above zero (a search that does not begin at the unpruned network): the first level's logits
    are those of the network without its smallest weights, like every later level's."""
    from reportgen.measures import prune_cuts

    rng = np.random.default_rng(5)
    net = Network((20, 20), batchnorm=False)
    weights = _random_weights(net, rng)
    x = rng.normal(size=(200, 2)).astype(np.float32)
    cuts = prune_cuts(weights, net.kernel_indices(), [0.3, 0.5, 0.9])
    assert cuts[0] > 0
    walked = np.stack(list(forward.pruning_walk(net, weights, cuts, x)))
    direct = forward.logits_pruned(net, [weights], cuts[None], [x])[0]
    np.testing.assert_allclose(walked, direct, rtol=1e-4, atol=1e-4 * np.abs(direct).max())
    assert not np.allclose(walked[0], forward.logits_many(net, [weights], x)[0], rtol=1e-3)  # it did remove them
