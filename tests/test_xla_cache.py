"""The compiled-graph cache (reportgen/xla.py): a damaged graph is found and removed before TensorFlow starts (it is
compiled again and replaced), a folder that cannot be written or is full is one warning, never a traceback."""

import os
import subprocess
import sys
import time
import zlib

import pytest

from reportgen import xla
from tests.conftest import tiny_raw, write_study
from tests.test_cache_faults import _read_only, _tmpfs


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protocol buffer field."""
    length, size = b"", len(payload)
    while True:
        length += bytes([(size & 0x7F) | (0x80 if size > 0x7F else 0)])
        size >>= 7
        if not size:
            break
    return bytes([number << 3 | 2]) + length + payload


GRAPH = _field(1, b"\x08\x01" + _field(3, b"XLA_CPU_JIT")) + _field(2, b"h" * 300) + _field(3, b"e" * 5000)


def _entry(folder, name: str, blob: bytes = GRAPH):
    path = folder / f"xla_compile_cache__{name}__XLA_CPU_JIT.pb"
    path.write_bytes(blob)
    return path


def _prepare(folder, capsys) -> tuple[bool, list[str]]:
    ready = xla.prepare(folder)
    return ready, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("damage", ["cut", "empty", "zeros", "not a graph"])
def test_a_damaged_graph_is_removed_with_one_warning_and_the_others_kept(tmp_path, capsys, damage):
    blob = {"cut": GRAPH[:1000], "empty": b"", "zeros": bytes(2000), "not a graph": _field(7, b"x" * 50)}[damage]
    intact, damaged = _entry(tmp_path, "1"), _entry(tmp_path, "2", blob)
    ready, lines = _prepare(tmp_path, capsys)
    assert ready and intact.read_bytes() == GRAPH and not damaged.exists()
    assert len(lines) == 1 and lines[0].startswith(f"! compiled-graph cache entry {damaged} is damaged ("), lines
    assert lines[0].endswith("removed, compiled again")


def test_a_graph_damaged_after_it_was_first_seen_is_found_by_its_check(tmp_path, capsys):
    entry = _entry(tmp_path, "1")
    assert _prepare(tmp_path, capsys) == (True, [])
    check = tmp_path / f"{entry.name}{xla.CHECK}"
    assert check.read_text() == f"{len(GRAPH)} {zlib.crc32(GRAPH)}"
    assert _prepare(tmp_path, capsys) == (True, [])  # intact: kept, every time
    flipped = bytearray(GRAPH)
    flipped[-100] ^= 0x10  # inside the executable's bytes: still well-formed, no longer what was written
    entry.write_bytes(bytes(flipped))
    ready, lines = _prepare(tmp_path, capsys)
    assert ready and not entry.exists() and not check.exists()
    assert len(lines) == 1 and "is damaged" in lines[0] and f"not {len(GRAPH)} {zlib.crc32(GRAPH)}" in lines[0]


def test_temporary_graphs_left_by_killed_writes_are_removed_once_stale(tmp_path, capsys):
    stale = tmp_path / "xla_compile_cache__1__XLA_CPU_JIT.pbhost-1-2.tmp"
    fresh = tmp_path / "xla_compile_cache__2__XLA_CPU_JIT.pbhost-3-4.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"x" * 100)
    old = time.time() - xla.STALE_TMP - 60
    os.utime(stale, (old, old))
    assert _prepare(tmp_path, capsys) == (True, [])
    assert not stale.exists() and fresh.exists()  # a fresh one may be another process's, being written


@pytest.mark.parametrize("case", ["read-only", "a file", "full"])
def test_a_folder_that_cannot_take_graphs_is_one_warning_and_no_cache(tmp_path, monkeypatch, capsys, case):
    folder = tmp_path / "xla"
    monkeypatch.setenv("REPORTGEN_XLA_CACHE", str(folder))
    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)  # as in a build's process, before TensorFlow starts
    with _read_only(folder) if case == "read-only" else _tmpfs(folder, "size=1m") if case == "full" else open(os.devnull):
        if case == "a file":
            folder.write_text("not a folder")
        xla._enable_cache()
    lines = capsys.readouterr().err.splitlines()
    reason = {"read-only": "cannot be written", "a file": "cannot be written", "full": "MB free, under 64 MB"}[case]
    assert len(lines) == 1 and lines[0].startswith(f"! compiled-graph cache {folder}: ") and reason in lines[0], lines
    assert "--tf_xla_persistent_cache_directory" not in os.environ.get("TF_XLA_FLAGS", "")


def test_a_usable_folder_is_given_to_tensorflow(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REPORTGEN_XLA_CACHE", str(tmp_path / "xla"))
    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    xla._enable_cache()
    assert os.environ["TF_XLA_FLAGS"] == f"--tf_xla_persistent_cache_directory={tmp_path / 'xla'}"
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_a_build_recompiles_a_damaged_graph_and_replaces_it(tmp_path):
    """Real training: TensorFlow itself wrote the graph; cut, it failed every later build with a traceback."""
    study = write_study(
        tmp_path / "s.toml",
        tiny_raw(training={"epochs": 2, "seeds": [0]}, variants=[{"name": "baseline"}], sweeps={"l1": [], "l2": []}),
    )
    env = {**os.environ, "REPORTGEN_XLA_CACHE": str(tmp_path / "xla")}

    def build(out: str) -> subprocess.CompletedProcess:
        command = ["build", "--config", study, "--out", tmp_path / out, "--no-cache", "--format", "html", "--quiet"]
        return subprocess.run(
            [sys.executable, "-m", "reportgen", *map(str, command)], env=env, capture_output=True, text=True, timeout=600
        )

    assert build("first").returncode == 0
    graphs = sorted((tmp_path / "xla").glob("*.pb"))
    assert graphs and all(xla._wire_problem(g.read_bytes()) is None for g in graphs)
    graphs[0].write_bytes(graphs[0].read_bytes()[:1000])
    second = build("second")
    assert second.returncode == 0 and (tmp_path / "second" / "report.html").is_file(), second.stderr
    assert second.stderr.splitlines() == [
        f"! compiled-graph cache entry {graphs[0]} is damaged (cut or garbled: 1000 bytes); removed, compiled again"
    ]
    assert xla._wire_problem(graphs[0].read_bytes()) is None  # compiled again and written anew


def _tf_error(kind: str, message: str) -> Exception:
    """An exception named as TensorFlow's (tensorflow.errors.*) with its message, without importing TensorFlow."""
    return type(kind, (Exception,), {})(message)


@pytest.mark.parametrize("kind", ["write", "read"])
def test_a_graph_cache_failure_during_training_is_one_line_and_keeps_the_runs_stored(tmp_path, monkeypatch, capsys, kind):
    """A disk that fills up while graphs are written, or a graph that cannot be read back although it passed the check:
    TensorFlow fails the graph's call; the build says so in one line (exit 1), the runs stored so far stay stored, and
    after a read failure the cached graphs are gone, so the next build compiles them again."""
    from reportgen.cache import RunCache, run_keys
    from reportgen.config import load_config
    from reportgen.plan import plan_runs
    from tests.fake_training import fake_train
    from tests.test_cache_faults import SMALL, _main

    graphs = tmp_path / "xla"
    graphs.mkdir()
    entry = _entry(graphs, "1")
    monkeypatch.setenv("TF_XLA_FLAGS", f"--tf_xla_persistent_cache_directory={graphs}")
    error = {
        "write": _tf_error("ResourceExhaustedError", f"{entry}host-1-2.tmp; No space left on device [Op:__inference_advance_7]"),
        "read": _tf_error("OutOfRangeError", "Read less bytes than requested [Op:__inference_advance_7]"),
    }[kind]

    def failing(runs, datasets, config, progress=None, cancel=None, done=None):
        fake_train(runs[:1], datasets, config, progress, cancel, done=done)  # the first run's block finished
        raise error

    monkeypatch.setattr("reportgen.executor.train", failing)
    study = write_study(tmp_path / "s.toml", tiny_raw(**SMALL))
    out, cache = tmp_path / "out", tmp_path / "c"
    code, lines = _main("build", "--config", study, "--out", out, "--cache-dir", cache, "--quiet")
    reason = {"write": "No space left on device", "read": "Read less bytes than requested"}[kind]
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"reportgen: error: compiled-graph cache {graphs}: ")
    assert f"({reason})" in lines[0] and "the runs trained so far are kept" in lines[0], lines
    assert entry.exists() == (kind == "write") and not out.exists()
    config = load_config(study, [f"output.cache={cache}"])
    runs = plan_runs(config)
    assert len(RunCache(cache).lookup(runs, run_keys(runs, config)).hits) == 1


def test_other_errors_of_training_are_not_taken_for_the_graph_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_XLA_FLAGS", f"--tf_xla_persistent_cache_directory={tmp_path}")
    assert xla.cache_failure(_tf_error("InvalidArgumentError", "Incompatible shapes [Op:AddV2]")) is None
    assert xla.cache_failure(_tf_error("ResourceExhaustedError", "OOM when allocating tensor")) is None
    monkeypatch.delenv("TF_XLA_FLAGS")
    assert xla.cache_failure(_tf_error("OutOfRangeError", "Read less bytes than requested")) is None  # no cache
