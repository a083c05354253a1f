"""The plan line's training time (reportgen.pace): a kept rate first, else the matrix-product peak; nothing kept from a
build too short to say."""

from __future__ import annotations

import json

import pytest

from reportgen import pace
from reportgen.config import validate
from reportgen.plan import STATE_BYTES

MEASURED = pace.memory_bandwidth, pace.last_level_cache  # the real ones (the fixture below stands in for them)


@pytest.fixture(autouse=True)
def machine(monkeypatch):
    """A machine of 2 cores, a 32 MiB last-level cache and 20 GB/s of memory bandwidth, whatever runs the tests."""
    monkeypatch.setattr(pace, "memory_bandwidth", lambda: 20e9)
    monkeypatch.setattr(pace, "last_level_cache", lambda: 32 * 2**20)
    monkeypatch.setattr(pace.os, "cpu_count", lambda: 2)


def test_a_kept_rate_is_used_and_a_short_build_keeps_none(tmp_path, monkeypatch):
    config = validate({"training": {"epochs": 10, "seeds": 2}})
    monkeypatch.setattr(pace, "matmul_peak", lambda: 100e9)
    assert pace.rate(config, tmp_path) == (100e9 * pace.ENGINE_SHARE, "peak")  # 2 x 32 runs' state fits the cache
    kept = json.loads((tmp_path / pace.FILE).read_text())
    assert (kept["matmul_peak"], kept["memory_bandwidth"]) == (100e9, 20e9)  # measured once, then kept
    pace.record(config, tmp_path, 1e12, pace.RECORD_AFTER - 1)  # mostly fixed cost: not a rate
    assert pace.rate(config, tmp_path)[1] == "peak"
    pace.record(config, tmp_path, 1e12, pace.RECORD_AFTER + 50)
    assert pace.rate(config, tmp_path) == (1e12 / (pace.RECORD_AFTER + 50 - pace.FIXED_SECONDS), "kept")
    assert pace.training_seconds(2e12, config, tmp_path) == pytest.approx(2 * pace.RECORD_AFTER + 100 - pace.FIXED_SECONDS)
    wider = validate({"training": {"epochs": 10, "seeds": 2}, "model": {"hidden_units": [256, 256]}})
    assert pace.rate(wider, tmp_path)[1] == "peak"  # another network shape trains at another rate


def test_a_damaged_pace_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(pace, "matmul_peak", lambda: 50e9)
    (tmp_path / pace.FILE).write_text("{not json")
    assert pace.rate(validate({}), tmp_path) == (50e9 * pace.ENGINE_SHARE, "peak")
    assert pace.rate(validate({}), None)[1] == "peak"


def test_a_folder_that_cannot_take_the_pace_keeps_no_temporary_file(tmp_path, monkeypatch):
    """A full disk or a read-only folder (the rename fails): the old pace.json stays, and no temporary file; one a
    killed build left goes once it is an hour old."""
    import os
    import time
    import types

    monkeypatch.setattr(pace, "matmul_peak", lambda: 100e9)
    pace.rate(validate({}), tmp_path)
    before = (tmp_path / pace.FILE).read_bytes()
    stale = tmp_path / ".pace-killed.tmp"
    stale.write_text("{")
    old = time.time() - pace.STALE_TMP - 60
    os.utime(stale, (old, old))

    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pace, "os", types.SimpleNamespace(**{**vars(os), "replace": full}))
    pace.record(validate({}), tmp_path, 1e12, pace.RECORD_AFTER + 50)
    assert sorted(p.name for p in tmp_path.iterdir()) == [pace.FILE] and (tmp_path / pace.FILE).read_bytes() == before


def _rate(hidden, batch_size=32, peak=100e9) -> float:
    return pace.machine_rate(validate({"model": {"hidden_units": hidden}, "training": {"batch_size": batch_size}}), peak, 20e9)


def test_a_network_too_wide_for_the_cache_is_expected_slower_by_its_memory_traffic():
    """2-128-128-1 (17,025 weights, 18,049 with batch norm's state): two blocks of 32 runs hold 18.5 MB, in a 32 MiB
    cache; 2-1024-1024-1 (1,061,889) trains in blocks of 2 runs (plan.block_runs), which hold 68 MB, half of it out of
    cache: each weight moves PASSES x 4 bytes a step at 20 GB/s (2.0 ns) against 6 x 32 FLOPs at 30 GFLOP/s (6.4 ns),
    so the rate falls to 6.4 / (6.4 + 0.51 x 2.0) of it."""
    compute = pace.ENGINE_SHARE * 100e9
    assert _rate([128, 128]) == compute
    assert 1 - 32 * 2**20 / (2 * 2 * 1_061_889 * STATE_BYTES) == pytest.approx(0.506, abs=1e-3)
    assert _rate([1024, 1024]) == pytest.approx(30e9 * 6.4 / (6.4 + 0.506 * 2.0), rel=1e-3)  # 25.9 GFLOP/s
    widths = [_rate([w, w]) for w in (64, 128, 256, 512, 1024)]
    # 256 units: blocks of 9 runs, 19.8 MB; 512: blocks of 2, 17 MB; 1,024: slower
    assert widths[:4] == [compute] * 4 and widths[4] < compute
    assert _rate([1024, 1024], batch_size=256) > _rate([1024, 1024])  # fewer steps an epoch: less traffic per FLOP
    assert _rate([1024, 1024], peak=10e9) == pytest.approx(0.3 * 10e9, rel=0.1)  # a slow processor: compute-bound


def test_a_study_of_several_widths_is_expected_at_their_rates_weighted_by_size():
    """A capacity sweep: seconds per FLOP of each shape, weighted by its weights (the wide one dominates)."""
    config = validate({"model": {"hidden_units": [16, 16]}, "sweeps": {"hidden_units": [[16, 16], [1024, 1024]]}})
    narrow, wide = _rate([16, 16]), _rate([1024, 1024])
    sizes = [2 * 16 + 16 + 16 * 16 + 16 + 16 + 1 + 4 * 32, 1_061_889]  # with batch norm's state
    expected = sum(sizes) / (sizes[0] / narrow + sizes[1] / wide)
    assert pace.machine_rate(config, 100e9, 20e9) == pytest.approx(expected)
    assert wide < expected < narrow


def test_a_rate_kept_before_the_fixed_cost_changed_is_not_used(tmp_path, monkeypatch):
    """pace.json's "rates" were kept with a fixed cost of 7 s: their shapes are estimated from the peak again."""
    config = validate({})
    monkeypatch.setattr(pace, "matmul_peak", lambda: 100e9)
    (tmp_path / pace.FILE).write_text(json.dumps({"rates": {pace.shape_key(config): 1e9}}))
    assert pace.rate(config, tmp_path) == (100e9 * pace.ENGINE_SHARE, "peak")


def test_the_machine_is_measured_once_and_a_pace_file_without_bandwidth_gets_it(tmp_path, monkeypatch):
    (tmp_path / pace.FILE).write_text(json.dumps({"matmul_peak": 70e9, "rates": {"x": 1.0}}))
    monkeypatch.setattr(pace, "matmul_peak", lambda: pytest.fail("the kept peak is measured again"))
    assert pace.machine(tmp_path) == (70e9, 20e9)
    assert json.loads((tmp_path / pace.FILE).read_text()) == {"matmul_peak": 70e9, "memory_bandwidth": 20e9, "rates": {"x": 1.0}}
    monkeypatch.setattr(pace, "memory_bandwidth", lambda: pytest.fail("the kept bandwidth is measured again"))
    assert pace.machine(tmp_path) == (70e9, 20e9)


def test_the_machine_is_read_as_it_is():
    """Real measurements, small: a rate and a cache size that a machine could have."""
    bandwidth, cache = MEASURED
    assert 1e8 < bandwidth(mib=8, repeats=2) < 1e13
    assert 2**16 <= cache() <= 2**31


def test_times_are_said_in_the_unit_that_reads_best():
    assert [pace.say(s) for s in (45, 600, 9000)] == ["45 s", "10 min", "2.5 h"]


def test_a_factory_network_is_not_built_for_the_estimate(monkeypatch):
    """Its runs train through stock fit, not the engine's blocks: the peak's share, without building the network."""
    from pathlib import Path

    from reportgen import budget
    from reportgen.config import load_config

    config = load_config(Path(__file__).resolve().parent.parent / "examples" / "factory.toml")
    monkeypatch.setattr(budget, "network_weights", lambda *a: pytest.fail("the factory's network was built"))
    assert pace.machine_rate(config, 100e9, 20e9) == pace.ENGINE_SHARE * 100e9
