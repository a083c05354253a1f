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
