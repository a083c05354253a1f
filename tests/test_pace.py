"""The plan line's training time (reportgen.pace): a kept rate first, else the matrix-product peak; nothing kept from a
build too short to say."""

from __future__ import annotations

import json

import pytest

from reportgen import pace
from reportgen.config import validate


def test_a_kept_rate_is_used_and_a_short_build_keeps_none(tmp_path, monkeypatch):
    config = validate({"training": {"epochs": 10, "seeds": 2}})
    monkeypatch.setattr(pace, "matmul_peak", lambda: 100e9)
    assert pace.rate(config, tmp_path) == (100e9 * pace.ENGINE_SHARE, "peak")
    assert json.loads((tmp_path / pace.FILE).read_text())["matmul_peak"] == 100e9  # measured once, then kept
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


def test_times_are_said_in_the_unit_that_reads_best():
    assert [pace.say(s) for s in (45, 600, 9000)] == ["45 s", "10 min", "2.5 h"]
