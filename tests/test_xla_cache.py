"""The compiled-graph cache (reportgen/xla.py). Before TensorFlow starts, a damaged graph is found and removed (it is
compiled again and replaced); during training, a graph TensorFlow cannot load is removed and compiled again, and a
graph it cannot write (a full or read-only disk, a file where the folder was) turns the cache off for the process:
each is one warning and training goes on. A folder that cannot be written or is full is one warning, never a
traceback. Only one test starts TensorFlow (two small processes): the others stand in for its graph calls with the
errors TensorFlow 2.21 gives (the real test checks that it still does)."""

import json
import os
import subprocess
import sys
import tempfile
import time
import types
import zlib
from pathlib import Path

import pytest

from reportgen import xla
from reportgen.training import engine, train
from tests.test_cache_faults import _read_only, _tmpfs


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protocol buffer field."""
    return bytes([number << 3 | 2]) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = b""
    while True:
        out += bytes([(value & 0x7F) | (0x80 if value > 0x7F else 0)])
        value >>= 7
        if not value:
            return out


def _graph(signature: int, cluster: int = 7, function: str = "__inference_advance_7", executable: bytes = b"e" * 5000):
    """An entry as TensorFlow writes one (XlaSerializedCacheEntry): its key, its HLO module (named after the graph
    function), its executable; and the file name TensorFlow gives it."""
    key = b"\x08" + _varint(signature) + b"\x10" + _varint(cluster) + _field(3, b"XLA_CPU_JIT") + _field(4, b"xla_compile_cache")
    module = _field(1, f"{function}[_XlaMustCompile=true].34".encode()) + b"h" * 300
    name = f"xla_compile_cache__{signature}__{cluster}__XLA_CPU_JIT.pb"
    return name, _field(1, key) + _field(2, module) + _field(3, executable)


NAME, GRAPH = _graph(1)


def _entry(folder, name: str = NAME, blob: bytes = GRAPH):
    path = folder / name
    path.write_bytes(blob)
    return path


def _prepare(folder, capsys) -> tuple[bool, list[str]]:
    ready = xla.prepare(folder)
    return ready, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(
    "damage", ["cut", "empty", "zeros", "random bytes", "not a graph", "another graph's key", "no executable"]
)
def test_a_damaged_graph_is_removed_with_one_warning_and_the_others_kept(tmp_path, capsys, damage):
    """'another graph's key': a whole, valid entry of another graph under this name (TensorFlow then failed every
    build that loaded it: "Serialized cache key does not match"); 'no executable': "No binary found"."""
    blob = {
        "cut": GRAPH[:1000],
        "empty": b"",
        "zeros": bytes(2000),
        "random bytes": os.urandom(3000),
        "not a graph": _field(7, b"x" * 50),
        "another graph's key": _graph(2)[1],
        "no executable": _graph(1, executable=b"")[1],
    }[damage]
    intact, damaged = _entry(tmp_path), _entry(tmp_path, _graph(3)[0], blob)
    if damage == "another graph's key":
        damaged = _entry(tmp_path, _graph(3)[0], _graph(2)[1])
    ready, lines = _prepare(tmp_path, capsys)
    assert ready and intact.read_bytes() == GRAPH and not damaged.exists()
    assert len(lines) == 1 and lines[0].startswith(f"! compiled-graph cache entry {damaged} is damaged ("), lines
    assert lines[0].endswith("removed, compiled again")


def test_a_graph_damaged_after_it_was_first_seen_is_found_by_its_check(tmp_path, capsys):
    entry = _entry(tmp_path)
    assert _prepare(tmp_path, capsys) == (True, [])
    check = tmp_path / f"{entry.name}{xla.CHECK}"
    written = entry.stat()
    assert check.read_text() == f"{len(GRAPH)} {zlib.crc32(GRAPH)} {written.st_ino} {written.st_mtime_ns}"
    assert _prepare(tmp_path, capsys) == (True, [])  # intact: kept, every time
    flipped = bytearray(GRAPH)
    flipped[-100] ^= 0x10  # inside the executable's bytes: still well-formed, no longer what was written
    entry.write_bytes(bytes(flipped))
    os.utime(entry, ns=(written.st_atime_ns, written.st_mtime_ns))  # damage on disk: the time it was written stays
    ready, lines = _prepare(tmp_path, capsys)
    assert ready and not entry.exists() and not check.exists()
    assert len(lines) == 1 and "is damaged" in lines[0] and f"not {len(GRAPH)} {zlib.crc32(GRAPH)}" in lines[0]


def test_a_graph_written_again_by_another_build_after_its_check_is_a_new_entry(tmp_path, capsys):
    """Two builds sharing the cache compile one graph; the compiler's bytes differ a little from process to process, so
    the later one's graph (renamed into place after the first build's check) has another CRC: kept, and checked anew."""
    entry = _entry(tmp_path)
    assert _prepare(tmp_path, capsys) == (True, [])
    check = tmp_path / f"{entry.name}{xla.CHECK}"
    other = bytearray(GRAPH)
    other[-100] ^= 0x10
    entry.write_bytes(bytes(other))
    later = check.stat().st_mtime_ns + 1_000_000
    os.utime(entry, ns=(later, later))
    assert _prepare(tmp_path, capsys) == (True, [])
    assert entry.read_bytes() == bytes(other) and check.read_text().startswith(f"{len(other)} {zlib.crc32(bytes(other))} ")


def test_a_graph_renamed_into_place_while_another_build_checked_the_old_one_is_a_new_entry(tmp_path, capsys):
    """The race CI met: build A reads a graph to check it, build B renames its own compilation of that graph into place,
    then A writes its check (so the check is newer than the graph it no longer describes). The check names the file
    it was read from, so the next build sees another file, not damage; a cut graph renamed in that way still goes."""
    entry = _entry(tmp_path)
    check = tmp_path / f"{entry.name}{xla.CHECK}"
    for replacement, kept in ((bytearray(GRAPH), True), (bytearray(GRAPH[:900]), False)):
        assert _prepare(tmp_path, capsys) == (True, [])
        replacement[-100] ^= 0x10
        staged = _entry(tmp_path, "staged.tmp", bytes(replacement))
        before = check.stat().st_mtime_ns - 1_000_000  # written before A's check was
        os.utime(staged, ns=(before, before))
        os.replace(staged, entry)
        ready, lines = _prepare(tmp_path, capsys)
        assert ready and entry.exists() is kept and check.exists() is kept
        if kept:
            now = entry.stat()
            assert lines == [] and check.read_text().split() == [
                str(len(replacement)),
                str(zlib.crc32(bytes(replacement))),
                str(now.st_ino),
                str(now.st_mtime_ns),
            ]
            assert check.stat().st_mode & 0o777 == 0o666 & ~_umask()  # readable by whoever shares the cache
        else:
            assert len(lines) == 1 and "is damaged (cut or garbled" in lines[0], lines
            entry = _entry(tmp_path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_damage_in_a_copy_of_the_cache_that_kept_its_times_is_found(tmp_path, capsys):
    """cp -a, tar or a CI cache restore: every graph is another file (inode) written at the same time, and a byte
    flipped in the copy is damage, not a new entry."""
    import shutil

    source = tmp_path / "source"
    source.mkdir()
    _entry(source)
    assert _prepare(source, capsys) == (True, [])
    copy = tmp_path / "copy"
    shutil.copytree(source, copy, copy_function=shutil.copy2)
    entry = copy / NAME  # damaged in the copy, before any build read it there
    written = entry.stat()
    flipped = bytearray(GRAPH)
    flipped[-100] ^= 0x10
    entry.write_bytes(bytes(flipped))
    os.utime(entry, ns=(written.st_atime_ns, written.st_mtime_ns))
    ready, lines = _prepare(copy, capsys)
    assert ready and not entry.exists() and len(lines) == 1 and "is damaged" in lines[0]


@pytest.mark.parametrize("written", ["after its check", "before its check"])
def test_a_check_written_before_checks_named_their_graph_still_tells_damage_from_a_new_graph(tmp_path, capsys, written):
    """A check of two fields (size and CRC-32) from an older reportgen: a graph written after it is a new entry, one
    that changed without being written again is damage."""
    entry = _entry(tmp_path)
    check = tmp_path / f"{entry.name}{xla.CHECK}"
    check.write_text(f"{len(GRAPH)} {zlib.crc32(GRAPH) ^ 1}")
    offset = 1_000_000 if written == "after its check" else -1_000_000
    when = check.stat().st_mtime_ns + offset
    os.utime(entry, ns=(when, when))
    ready, lines = _prepare(tmp_path, capsys)
    if written == "after its check":
        assert (
            ready
            and lines == []
            and entry.exists()
            and check.read_text().split()[:2] == [str(len(GRAPH)), str(zlib.crc32(GRAPH))]
        )
    else:
        assert ready and not entry.exists() and len(lines) == 1 and "is damaged" in lines[0]


def test_the_graphs_a_build_wrote_are_sealed_after_training(tmp_path, monkeypatch, capsys):
    """seal(): entries written during training get their check at once (damage from then on is found); one that is
    already damaged goes, with one warning."""
    monkeypatch.setenv("TF_XLA_FLAGS", f"--tf_xla_persistent_cache_directory={tmp_path}")
    monkeypatch.setattr(xla, "_state", {})
    written, cut = _entry(tmp_path), _entry(tmp_path, _graph(2)[0], _graph(2)[1][:500])
    xla.seal()
    assert (tmp_path / f"{written.name}{xla.CHECK}").read_text().split()[:2] == [str(len(GRAPH)), str(zlib.crc32(GRAPH))]
    assert not cut.exists()
    assert capsys.readouterr().err.splitlines() == [
        f"! compiled-graph cache entry {cut} is damaged (cut or garbled: 500 bytes); removed, the next build compiles it again"
    ]


def test_temporary_graphs_left_by_killed_writes_are_removed_once_stale(tmp_path, capsys):
    stale = tmp_path / "xla_compile_cache__1__XLA_CPU_JIT.pbhost-1-2.tmp"
    fresh = tmp_path / "xla_compile_cache__2__XLA_CPU_JIT.pbhost-3-4.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"x" * 100)
    old = time.time() - xla.STALE_TMP - 60
    os.utime(stale, (old, old))
    assert _prepare(tmp_path, capsys) == (True, [])
    assert not stale.exists() and fresh.exists()  # a fresh one may be another process's, being written


@pytest.fixture
def before_tensorflow(tmp_path, monkeypatch):
    """As in a build's process before TensorFlow starts: no cache flag, no link yet, private folders in tmp_path."""
    monkeypatch.setenv("TF_XLA_FLAGS", "")  # set by the test: restored after it
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    monkeypatch.setattr(xla, "_state", {})
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(xla, "_scratch", lambda: str(scratch))
    return scratch


@pytest.mark.parametrize("case", ["read-only", "a file", "full"])
def test_a_folder_that_cannot_take_graphs_is_one_warning_and_no_cache(tmp_path, monkeypatch, capsys, before_tensorflow, case):
    folder = tmp_path / "xla"
    monkeypatch.setenv("REPORTGEN_XLA_CACHE", str(folder))
    with _read_only(folder) if case == "read-only" else _tmpfs(folder, "size=1m") if case == "full" else open(os.devnull):
        if case == "a file":
            folder.write_text("not a folder")
        xla._enable_cache()
    lines = capsys.readouterr().err.splitlines()
    reason = {"read-only": "cannot be written", "a file": "cannot be written", "full": "MB free, under 64 MB"}[case]
    assert len(lines) == 1 and lines[0].startswith(f"! compiled-graph cache {folder}: ") and reason in lines[0], lines
    assert "--tf_xla_persistent_cache_directory" not in os.environ.get("TF_XLA_FLAGS", "")


def test_tensorflow_is_given_a_private_link_to_a_usable_folder(tmp_path, monkeypatch, capsys, before_tensorflow):
    """The link lets a failed write point TensorFlow elsewhere (see below); the private folders of killed processes go."""
    dead, recent = (before_tensorflow / f"{xla.LINK_PREFIX}99999999{i}-abc" for i in (8, 9))  # no such processes
    for private in (dead, recent):
        private.mkdir()
        (private / "graphs").symlink_to(tmp_path)
    old = time.time() - xla.STALE_TMP - 60
    os.utime(dead, (old, old))
    monkeypatch.setenv("REPORTGEN_XLA_CACHE", str(tmp_path / "xla"))
    xla._enable_cache()
    given = xla.active()
    assert os.environ["TF_XLA_FLAGS"] == f"--tf_xla_persistent_cache_directory={given}"
    assert given.parent.parent == before_tensorflow and given.parent.name.startswith(f"{xla.LINK_PREFIX}{os.getpid()}-")
    assert given.resolve() == (tmp_path / "xla").resolve() and xla.folder() == tmp_path / "xla"
    assert not dead.exists() and recent.exists() and capsys.readouterr().err == ""  # recent: maybe another namespace's


# ---- during training: the engine's graph calls, with TensorFlow's errors stood in for -----------------------------


def _tf_error(kind: str, message: str) -> Exception:
    """An exception named as TensorFlow's (tensorflow.errors.*) with its message, without importing TensorFlow."""
    return type(kind, (Exception,), {})(message)


class _Graph:
    """A graph function that fails its first `failures` calls with the given errors, then returns (state, history)."""

    def __init__(self, *errors):
        self.errors, self.calls = list(errors), 0

    def __call__(self, state, tensors, hyper, start, stop):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return f"{state} advanced to {stop}", "history"


@pytest.fixture
def training(tmp_path, monkeypatch, before_tensorflow):
    """A cache folder given to 'TensorFlow' through its private link, graph calls without TensorFlow, and the traced
    replacements build_trainer made (spec, the function replaced, the new one)."""
    folder = tmp_path / "xla"
    monkeypatch.setenv("REPORTGEN_XLA_CACHE", str(folder))
    xla._enable_cache()
    monkeypatch.setattr(xla, "_recovered", set())
    monkeypatch.setattr(train, "tf", types.SimpleNamespace(constant=lambda v: v))
    traced = []

    def build_trainer(spec, replacing=None):
        traced.append((spec, replacing, _Graph()))
        return traced[-1][2]

    monkeypatch.setattr(engine, "build_trainer", build_trainer)
    return types.SimpleNamespace(folder=folder, link=xla.active(), traced=traced)


def _call(advance):
    return train._called(advance, "spec", "state", "tensors", "hyper", 0, 1)


# TensorFlow 2.21's own words for a graph it failed to write: the path it wrote to (through the link) and the reason
WRITE_FAILURES = {
    "ENOSPC": ("ResourceExhaustedError", "{tmp}; No space left on device"),
    "EDQUOT": ("ResourceExhaustedError", "{tmp}; Disk quota exceeded"),
    "EROFS": ("FailedPreconditionError", "{tmp}; Read-only file system"),
    "EACCES": ("PermissionDeniedError", "{tmp}; Permission denied"),
    "a file where the folder was": ("FailedPreconditionError", "{link} is not a directory"),
}


@pytest.mark.parametrize("case", WRITE_FAILURES)
def test_a_graph_that_cannot_be_written_is_one_warning_and_training_goes_on(training, capsys, case):
    """The call is made again with TensorFlow's link pointed at a private folder; what this process began to write in
    the cache goes; a second thread's failed write is made again without a second warning."""
    tmp = training.link / f"{NAME}host-{os.getpid()}-661b.tmp"
    (training.folder / tmp.name).write_bytes(b"")  # what TensorFlow left when the write failed
    kind, message = WRITE_FAILURES[case]
    error = _tf_error(kind, message.format(tmp=tmp, link=training.link) + " [Op:__inference_advance_7]")
    graph = _Graph(error)
    assert _call(graph) == ("state advanced to 1", "history", graph) and graph.calls == 2 and not training.traced
    lines = capsys.readouterr().err.splitlines()
    reason = message.format(tmp="", link=training.folder).split("; ")[-1]
    assert lines == [
        f"! compiled-graph cache {training.folder}: cannot write a compiled graph ({reason}); this build compiles its "
        "graphs without the cache"
    ]
    assert training.link.resolve() == (training.link.parent / "aside").resolve()  # graphs go there from now on
    assert not any(training.folder.iterdir())
    other = _Graph(error)
    assert _call(other)[0] == "state advanced to 1" and capsys.readouterr().err == ""


# TensorFlow 2.21's words for an entry it read and could not use (each failed every later build before)
LOAD_FAILURES = {
    "another graph's key": ("InvalidArgumentError", "Serialized cache key does not match."),
    "another graph's HLO": ("InvalidArgumentError", "Serialized HLO does not match."),
    "no executable": ("InvalidArgumentError", "No binary found in serialized entry."),
    "executable garbled": ("InternalError", "Failed to parse serialized CpuAotCompilationResult."),
    "another graph's executable": (
        "InvalidArgumentError",
        "Argument does not match host shape or layout of computation parameter 3: want f32[2,2,16]{2,1,0}, got "
        "f32[2,2,128]{2,1,0}",
    ),
    "cut while read": ("OutOfRangeError", "Read less bytes than requested"),
    "unreadable": ("DataLossError", "truncated record"),
}


@pytest.mark.parametrize("case", LOAD_FAILURES)
def test_an_entry_that_cannot_be_loaded_is_removed_and_its_graph_compiled_again(training, capsys, case):
    """The entry made from the failing function goes (the others stay), a new function is traced in the old one's
    place (TensorFlow keeps the failure of the old one), and its call gives the state; one warning."""
    ours, theirs = _graph(1, function="__inference_advance_7"), _graph(2, function="__inference_advance_71")
    entry, other = _entry(training.folder, *ours), _entry(training.folder, *theirs)
    (training.folder / f"{entry.name}{xla.CHECK}").write_text("1 2")
    kind, message = LOAD_FAILURES[case]
    graph = _Graph(_tf_error(kind, f"{message} [Op:__inference_advance_7]"))
    state, history, advance = _call(graph)
    assert [(spec, replaced) for spec, replaced, _ in training.traced] == [("spec", graph)]
    assert advance is training.traced[0][2] and state == "state advanced to 1" and graph.calls == 1
    assert sorted(p.name for p in training.folder.iterdir()) == [other.name]
    assert capsys.readouterr().err.splitlines() == [
        f"! compiled-graph cache entry {entry} could not be loaded ({message}); removed, compiled again"
    ]
    again = _Graph(_tf_error(kind, f"{message} [Op:__inference_advance_7]"))  # another block of the same graph
    assert _call(again)[0] == "state advanced to 1" and capsys.readouterr().err == ""


def test_an_unusable_entry_that_cannot_be_told_apart_removes_every_graph(training, capsys):
    """Another graph's HLO under this graph's key carries the other function's name: every entry goes."""
    _entry(training.folder, *_graph(1, function="__inference_advance_71"))
    _entry(training.folder, *_graph(2, function="__inference_advance_72"))
    graph = _Graph(_tf_error("InvalidArgumentError", "Serialized HLO does not match. [Op:__inference_advance_7]"))
    assert _call(graph)[0] == "state advanced to 1" and not any(training.folder.iterdir())
    assert capsys.readouterr().err.splitlines() == [
        f"! compiled-graph cache {training.folder}: a compiled graph could not be loaded (Serialized HLO does not match.); "
        "the cached graphs were removed, compiled again"
    ]


def test_an_error_of_the_graph_itself_is_raised_and_removes_nothing(training, capsys):
    """A graph compiled here (no entry was made from its function) failing with an error of its own."""
    entry = _entry(training.folder, *_graph(1, function="__inference_advance_9"))
    with pytest.raises(Exception, match="Incompatible shapes"):
        _call(_Graph(_tf_error("InvalidArgumentError", "Incompatible shapes: [2] vs. [3] [Op:__inference_advance_7]")))
    assert entry.exists() and not training.traced and capsys.readouterr().err == ""


def test_a_failure_that_outlives_the_repairs_is_raised_without_a_warning(training, monkeypatch, capsys):
    """Its entry removed and the graph traced again, the new graph fails alike, and again: more than the cache."""
    _entry(training.folder, *_graph(1, function="__inference_advance_9"))
    error = _tf_error("InternalError", "Failed to parse serialized CpuAotCompilationResult. [Op:__inference_advance_9]")
    replacements = []
    monkeypatch.setattr(engine, "build_trainer", lambda spec, replacing=None: replacements.append(1) or _Graph(error))
    with pytest.raises(Exception, match="Failed to parse"):
        _call(_Graph(error))
    assert len(replacements) == train.REPAIRS and capsys.readouterr().err == ""


def test_a_damaged_entry_then_a_full_disk_are_both_repaired(training, capsys):
    """The graph traced again after its entry failed to load cannot be written either: two warnings, one call."""
    entry = _entry(training.folder, *_graph(1))
    unreadable = _tf_error("InternalError", "Failed to parse serialized CpuAotCompilationResult. [Op:__inference_advance_7]")
    full = _tf_error("ResourceExhaustedError", f"{training.link}/x.tmp; No space left on device [Op:__inference_advance_8]")
    training.traced.clear()
    engine_graphs = [_Graph(full)]
    engine.build_trainer = lambda spec, replacing=None: engine_graphs[0]  # restored by the fixture's monkeypatch
    state, _, advance = _call(_Graph(unreadable))
    assert state == "state advanced to 1" and advance is engine_graphs[0] and not entry.exists()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "could not be loaded" in lines[0] and "cannot write a compiled graph" in lines[1], lines


def test_other_errors_of_training_are_not_taken_for_the_graph_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_XLA_FLAGS", f"--tf_xla_persistent_cache_directory={tmp_path}")
    monkeypatch.setattr(xla, "_state", {})
    for error in (
        _tf_error("InvalidArgumentError", "Incompatible shapes [Op:AddV2]"),
        _tf_error("ResourceExhaustedError", "OOM when allocating tensor"),
    ):
        assert xla.cache_failure(error) is None and xla.recover(error) is None
    monkeypatch.delenv("TF_XLA_FLAGS")
    assert xla.cache_failure(_tf_error("OutOfRangeError", "Read less bytes than requested")) is None  # no cache
    assert xla.recover(_tf_error("OutOfRangeError", "Read less bytes than requested")) is None


def test_build_trainer_replaces_a_failed_function_once_for_every_thread(monkeypatch):
    made = []
    monkeypatch.setattr(engine, "tf", types.SimpleNamespace(function=lambda f, **kw: made.append(object()) or made[-1]))
    monkeypatch.setattr(engine, "_trainers", type(engine._trainers)())
    monkeypatch.setattr(engine, "_Trainer", lambda spec: types.SimpleNamespace(advance=None))
    first = engine.build_trainer("spec")
    assert engine.build_trainer("spec") is first and len(made) == 1  # traced once per spec
    second = engine.build_trainer("spec", replacing=first)
    assert second is not first and engine.build_trainer("spec", replacing=first) is second  # the other thread's ask
    assert engine.build_trainer("spec") is second and len(made) == 2


@pytest.mark.parametrize("kind", ["write", "read"])
def test_a_graph_cache_failure_that_cannot_be_repaired_is_one_line_and_keeps_the_runs_stored(tmp_path, monkeypatch, capsys, kind):
    """When the cache cannot be put right during training (TensorFlow was given the folder itself, no link: a failed
    write cannot be pointed elsewhere), the build says so in one line (exit 1), the runs stored so far stay stored, and
    after a read failure the cached graphs are gone, so the next build compiles them again."""
    from reportgen.cache import RunCache, run_keys
    from reportgen.config import load_config
    from reportgen.plan import plan_runs
    from tests.conftest import tiny_raw, write_study
    from tests.fake_training import fake_train
    from tests.test_cache_faults import SMALL, _main

    graphs = tmp_path / "xla"
    graphs.mkdir()
    entry = _entry(graphs)
    monkeypatch.setenv("TF_XLA_FLAGS", f"--tf_xla_persistent_cache_directory={graphs}")
    monkeypatch.setattr(xla, "_state", {})
    monkeypatch.setattr("reportgen.pace.matmul_peak", lambda: 100e9)
    monkeypatch.setattr("reportgen.pace.memory_bandwidth", lambda: 20e9)
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


# ---- with TensorFlow: its entries, its errors, its writes ---------------------------------------------------------

# Three small XLA graphs, traced in the same order in every process (so their entries carry the same keys), then each
# called through the engine's train._called (build_trainer stood in for: a graph traced anew for the same number k).
# 'write': compile and cache them; 'damaged': the same with the cache as the test left it, then a fourth graph after
# the cache folder was replaced by a file (TensorFlow cannot write it). Prints {k: result}, the entries' names by k,
# its pid.
CHILD = """
import json, os, sys
from pathlib import Path
os.environ["REPORTGEN_XLA_CACHE"], mode = sys.argv[1], sys.argv[2]
from reportgen import _tf, xla
from reportgen.training import engine, train
tf = _tf.load()[0]
made = {}
def build_trainer(k, replacing=None):
    if k not in made or made[k] is replacing:
        made[k] = tf.function(lambda state, t, h, start, stop, k=k: (state * k + 1.0, state), jit_compile=True)
    return made[k]
engine.build_trainer = build_trainer
ks = [2.0, 3.0, 4.0, 5.0]
for k in ks:
    build_trainer(k).get_concrete_function(tf.ones(2), None, None, tf.constant(0), tf.constant(1))
cache, results, entries = Path(sys.argv[1]), {}, {}
for k in ks:
    if k == 5.0:
        if mode == "write":
            break
        cache.rename(cache.with_name("moved"))
        cache.write_text("a file where the cache folder was")
    before = set(cache.glob("*.pb")) if cache.is_dir() else set()
    state, _, _ = train._called(build_trainer(k), k, tf.ones(2), None, None, 0, 1)
    results[k] = float(state[0])
    entries[k] = [p.name for p in set(cache.glob("*.pb")) - before] if cache.is_dir() else []
if mode == "damaged":
    cache.unlink()
    cache.with_name("moved").rename(cache)
xla.seal()
print(json.dumps({"results": results, "entries": entries, "pid": os.getpid()}))
"""


def _child(folder, mode: str) -> tuple[dict, list[str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_XLA_FLAGS", "XLA_FLAGS")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), mode], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr.splitlines()


@pytest.mark.slow
def test_with_tensorflow_damaged_entries_and_a_failed_write_are_warnings_and_the_graphs_give_the_same_numbers(tmp_path):
    """Entries TensorFlow wrote pass the checks as they are; one holding another graph's key is removed before
    TensorFlow starts; one whose executable is garbled (the same size, so no check of its bytes can tell before it is
    first loaded) fails its load and is compiled again; a graph that cannot be written (the folder became a file) is
    compiled without the cache. One warning each, the same numbers, nothing left behind."""
    folder = tmp_path / "xla"
    first, lines = _child(folder, "write")
    assert lines == [] and first["results"] == {"2.0": 3.0, "3.0": 4.0, "4.0": 5.0}
    names = {k: v[0] for k, v in first["entries"].items()}
    assert len(set(names.values())) == 3 and all((folder / f"{n}{xla.CHECK}").is_file() for n in names.values())  # sealed

    garbled, elsewhere = folder / names["2.0"], folder / names["3.0"]
    blob = garbled.read_bytes()
    executable = xla._fields(blob)[3]
    garbled.write_bytes(blob[: -len(executable)] + os.urandom(len(executable)))  # the same length: fields intact
    (folder / f"{garbled.name}{xla.CHECK}").unlink()  # as if damaged before it was first seen
    elsewhere.write_bytes((folder / names["4.0"]).read_bytes())  # a valid entry of another graph
    (folder / f"{elsewhere.name}{xla.CHECK}").unlink()  # its check would tell: the key must
    second, lines = _child(folder, "damaged")

    assert second["results"] == {**first["results"], "5.0": 6.0}
    assert sorted(lines) == sorted(
        [
            f"! compiled-graph cache entry {elsewhere} is damaged (another graph's key, "
            + "__".join(names["4.0"].split("__")[1:3])
            + "); removed, compiled again",
            f"! compiled-graph cache entry {garbled} could not be loaded (Failed to parse serialized "
            "CpuAotCompilationResult.); removed, compiled again",
            f"! compiled-graph cache {folder}: cannot write a compiled graph ({folder} is not a directory); this build "
            "compiles its graphs without the cache",
        ]
    ), lines
    assert second["entries"]["3.0"] == [names["3.0"]]  # compiled again under its own name
    assert xla._entry_problem(elsewhere.read_bytes(), elsewhere.name) is None
    assert not garbled.exists() and second["entries"]["2.0"]  # compiled again (under the new function's name)
    assert second["entries"]["4.0"] == []  # loaded: its entry was intact
    assert [p.name for p in folder.iterdir() if not p.name.endswith((".pb", xla.CHECK))] == []  # no temporary file
    scratch = Path(xla._scratch() or tempfile.gettempdir())
    assert not list(scratch.glob(f"{xla.LINK_PREFIX}{second['pid']}-*"))  # the private link's folder went at exit
