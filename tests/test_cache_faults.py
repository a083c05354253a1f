"""The run cache never costs a build its training: checked before training, a failed store is a warning, runs are
stored block by block (a stopped build resumes), and killed stores leave no temporary entries behind."""

import contextlib
import errno
import io
import os
import subprocess
import sys
import threading
import time
import types

import pytest

from reportgen import cache, pipeline
from reportgen.cache import RunCache, entry_bytes, run_keys
from reportgen.cli import main
from reportgen.errors import Interrupted
from reportgen.executor import train as ENGINES  # the real one, before any test replaces it
from reportgen.plan import plan_runs
from tests.conftest import tiny_config, tiny_raw, write_study

SMALL = {"training": {"epochs": 2, "seeds": [0]}, "variants": [{"name": "baseline"}, {"name": "l1", "l1": 0.01}]}


def _main(*args) -> tuple[int, list[str]]:
    """Run the command line in this process: its exit code and the lines it wrote to stderr."""
    err, saved = io.StringIO(), sys.stderr
    sys.stderr = err
    try:
        code = main([str(a) for a in args])
    finally:
        sys.stderr = saved
    return code, err.getvalue().splitlines()


@contextlib.contextmanager
def _tmpfs(folder, options: str):
    """A small tmpfs mounted at folder (we run as root in CI's and developers' sandboxes), or the test is skipped."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and not subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode
    )
    if not mounted:
        pytest.skip("needs a tmpfs mount (root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@contextlib.contextmanager
def _read_only(folder):
    """A folder nobody may write: read-only permissions, or (root ignores them) a read-only tmpfs."""
    if os.geteuid() != 0:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    with _tmpfs(folder, "ro,size=1m"):
        yield folder


@pytest.mark.parametrize("case", ["read-only", "a file", "full"])
def test_a_cache_that_cannot_take_the_runs_is_refused_before_training(tmp_path, monkeypatch, case):
    def never(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr("reportgen.training.train_runs", never)
    study, folder = write_study(tmp_path / "s.toml", tiny_raw(**SMALL)), tmp_path / "cache"
    with contextlib.ExitStack() as stack:
        if case == "a file":
            folder.write_text("not a folder")
        elif case == "read-only":
            stack.enter_context(_read_only(folder))
        else:  # two entries of about 150 kB each do not fit in 64 kB
            stack.enter_context(_tmpfs(folder, "size=64k"))
        code, lines = _main("build", "--config", study, "--out", tmp_path / "out", "--cache-dir", folder, "--quiet")
    reason = {"read-only": "cannot be written", "a file": "is a file, not a folder", "full": "MB free"}[case]
    assert code == 2 and len(lines) == 1 and f"--cache-dir {folder}: " in lines[0] and reason in lines[0], lines
    assert "--no-cache" in lines[0] and not (tmp_path / "out").exists()


def _stored(folder) -> list[str]:
    """Every file and folder in a run cache but this machine's pace.json: run entries, temporary ones, shard folders."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.name != "pace.json")


# the error each store meets from its block on (1: the first block's, during training; 2: the last's, as training ends)
STORE_FAILURES = [(errno.ENOSPC, 1), (errno.EDQUOT, 2), (errno.EROFS, 1), (errno.EACCES, 2)]


@pytest.mark.parametrize("error, block", STORE_FAILURES)
def test_a_store_that_fails_during_or_after_training_is_one_warning_and_the_report_is_written(
    tmp_path, monkeypatch, light_build, error, block
):
    renames = []

    def failing(src, dst):
        renames.append(dst)
        if len(renames) >= block:
            raise OSError(error, os.strerror(error), str(dst))
        return os.replace(src, dst)

    # only the cache's own renames fail (the disk filled up, a quota was reached, or the folder became read-only)
    monkeypatch.setattr(cache, "os", types.SimpleNamespace(**{**vars(os), "replace": failing}))
    study, folder = write_study(tmp_path / "s.toml", tiny_raw(**SMALL)), tmp_path / "cache"
    out = tmp_path / "out"
    code, lines = _main("build", "--config", study, "--out", out, "--cache-dir", folder, "--format", "html", "--quiet")
    assert code == 0 and (out / "report.html").is_file()
    assert len(lines) == 1 and lines[0].startswith(f"! run cache {folder}: cannot store the trained runs"), lines
    assert os.strerror(error) in lines[0] and "the report is written" in lines[0]
    kept = [str(p.relative_to(folder)) for p in renames[: block - 1]]
    assert len(renames) == block and _stored(folder) == sorted({*kept, *(k.split("/")[0] for k in kept)})
    # the entries stored before the failure and nothing else: no temporary entry, no empty shard folder, no derived
    # results (keyed by every run's entry), no pace (its time included the failure)


def test_a_file_where_the_cache_has_a_folder_is_one_warning_and_the_report_is_written(tmp_path, light_build):
    """No stand-in: the second run's shard folder is a file when its block is stored."""
    from reportgen.config import load_config

    study, folder = write_study(tmp_path / "s.toml", tiny_raw(**SMALL)), tmp_path / "cache"
    config = load_config(study, [f"output.cache={folder}"])
    keys = list(run_keys(plan_runs(config), config).values())
    assert keys[0][:2] != keys[1][:2]  # two shards
    folder.mkdir()
    (folder / keys[1][:2]).write_text("a file where a folder should be")
    code, lines = _main(
        "build", "--config", study, "--out", tmp_path / "out", "--cache-dir", folder, "--format", "html", "--quiet"
    )
    assert code == 0 and (tmp_path / "out" / "report.html").is_file()
    assert len(lines) == 1 and lines[0].startswith(f"! run cache {folder}: cannot store the trained runs ("), lines
    assert _stored(folder) == sorted([keys[0][:2], f"{keys[0][:2]}/{keys[0]}.run", keys[1][:2]])


def test_a_run_cache_disk_that_fills_up_during_training_is_one_warning_and_the_report_is_written(tmp_path, light_build):
    """A real small file system (a tmpfs: root only) with room for the runs when the build checks it, full when they are
    stored; the report goes to --out, on another file system."""
    from tests.fake_training import fake_train

    folder, out = tmp_path / "cache", tmp_path / "out"
    with _tmpfs(folder, "size=1m"):

        def filling(runs, datasets, config, progress=None, cancel=None, done=None):
            with contextlib.suppress(OSError), open(folder / "filler", "wb") as f:
                while True:
                    f.write(bytes(65536))
            return fake_train(runs, datasets, config, progress, cancel, done)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("reportgen.executor.train", filling)
            study = write_study(tmp_path / "s.toml", tiny_raw(**SMALL))
            code, lines = _main("build", "--config", study, "--out", out, "--cache-dir", folder, "--format", "html", "--quiet")
        assert code == 0 and (out / "report.html").is_file()
        assert lines == [
            f"! run cache {folder}: cannot store the trained runs (No space left on device); the report is written, and "
            "the next build trains them again"
        ]
        assert _stored(folder) == ["filler"]


def test_a_store_that_failed_is_not_tried_again_by_the_next_look(tmp_path, capsys):
    """The looks of an adaptive build share one failed store: one warning per build, not one per look."""
    from rich.console import Console

    class Failing:
        folder, tried = tmp_path, 0

        def store(self, results, keys):
            self.tried += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    failed, store, console = threading.Event(), Failing(), Console(stderr=True, soft_wrap=True)
    for _ in range(2):  # two looks
        saver = pipeline._Saver(store, {}, console, failed)
        saver([])
        saver([])
    assert store.tried == 1 and failed.is_set() and len(capsys.readouterr().err.splitlines()) == 1


@pytest.mark.parametrize("stop", ["interrupted", "crashed"])
def test_a_build_stopped_halfway_resumes_and_trains_only_the_runs_not_stored(tmp_path, monkeypatch, light_build, stop):
    """The fake trainer hands each run to the store as the engines hand each block: a build stopped after 3 of 8 runs
    (SIGINT, or an error in training) kept those 3, and the next build trains the other 5 only."""
    from tests.fake_training import fake_train

    config = tiny_config(
        training={"epochs": 2, "seeds": [0, 1, 2, 3]},
        variants=[{"name": "baseline"}, {"name": "l1", "l1": 0.01}],
        sweeps={"l1": [], "l2": [], "dropout": []},
        output={"dir": str(tmp_path / "out"), "cache": str(tmp_path / "c"), "formats": ["html"]},
    )
    runs, cancel, trained = plan_runs(config), threading.Event(), []

    def stopping(runs, datasets, config, progress=None, cancel=None, done=None):
        def counted(results):
            done(results)
            trained.extend(r.run.key for r in results)
            if len(trained) == 3:
                if stop == "crashed":
                    raise RuntimeError("a worker crashed")
                cancel.set()  # as SIGINT does: training stops before its next run

        return fake_train(runs, datasets, config, progress, cancel, done=counted)

    monkeypatch.setattr("reportgen.executor.train", stopping)
    with pytest.raises(RuntimeError if stop == "crashed" else Interrupted):
        pipeline.build(config, quiet=True, cancel=cancel)
    assert len(runs) == 8 and len(trained) == 3 and not (tmp_path / "out" / "report.html").exists()
    kept = RunCache(config.output.cache).lookup(runs, run_keys(runs, config))
    assert sorted(kept.hits) == sorted(trained) and not kept.damaged

    again = []
    monkeypatch.setattr("reportgen.executor.train", lambda runs, *a, **k: again.extend(runs) or fake_train(runs, *a, **k))
    result = pipeline.build(config, quiet=True)
    assert sorted(r.key for r in again) == sorted(r.key for r in runs if r.key not in trained)
    assert (result.cached, result.trained) == (3, 5) and (tmp_path / "out" / "report.html").is_file()


def test_a_build_stopped_after_its_first_block_resumes_with_the_other_blocks(tmp_path, monkeypatch, light_build):
    """The fast engine's blocks, trained two at a time on threads, are each stored as they finish. The engine's own
    scheduling (reportgen.training.train: blocks, threads, each block handed to the store, cancel between graph calls)
    with each block's graph work done by the fake trainer (tests/test_engine.py trains and cancels real blocks)."""
    from reportgen import training
    from reportgen.training import train
    from tests.fake_training import fake_run

    def block(b, datasets, config, init, progress, check):
        results = []
        for run in b.runs[: b.real]:
            check()  # as between graph calls
            results.append(fake_run(run, datasets[run.data_key], config))
        return results

    monkeypatch.setattr("reportgen.executor.train", ENGINES)  # light_build gave builds the fake trainer
    monkeypatch.setattr(training, "train_runs", train.train_runs)
    monkeypatch.setattr(train, "initial_dense_weights", lambda model, seed, data=None: [])
    monkeypatch.setattr(train, "_trace", lambda *args: None)
    monkeypatch.setattr(train, "_train_block", block)
    monkeypatch.setattr(train, "BLOCK_RUNS", 4)  # 16 runs in 4 blocks, two at a time on two threads
    monkeypatch.setattr(train.os, "cpu_count", lambda: 2)
    config = tiny_config(
        training={"epochs": 2, "seeds": [0, 1, 2, 3]},
        output={"dir": str(tmp_path / "out"), "cache": str(tmp_path / "c"), "formats": ["html"]},
    )
    cancel, stored = threading.Event(), []
    real = pipeline._Saver.__call__

    def stop_after_first(self, results):
        real(self, results)
        stored.extend(r.run.key for r in results)
        cancel.set()  # as SIGINT does: the blocks under way stop at their next graph call

    monkeypatch.setattr(pipeline._Saver, "__call__", stop_after_first)
    with pytest.raises(Interrupted):
        pipeline.build(config, quiet=True, cancel=cancel)
    monkeypatch.setattr(pipeline._Saver, "__call__", real)
    runs = plan_runs(config)
    assert len(runs) == 16 and len(stored) in (4, 8)  # the block that finished first, and the one beside it if it also did
    kept = RunCache(config.output.cache).lookup(runs, run_keys(runs, config))
    assert sorted(kept.hits) == sorted(stored) and not kept.damaged
    result = pipeline.build(config, quiet=True)
    assert (result.cached, result.trained) == (len(stored), 16 - len(stored))


def test_temporary_entries_of_killed_stores_are_removed_once_stale(tmp_path):
    folder = tmp_path / "cache" / "ab"
    folder.mkdir(parents=True)
    stale, fresh, entry = folder / ".tmp-old.run", folder / ".tmp-new.run", folder / "ab12.run"
    for path in (stale, fresh, entry):
        path.write_bytes(b"x")
    old = time.time() - cache.STALE_TMP - 60
    os.utime(stale, (old, old))
    os.utime(entry, (old, old))
    RunCache(tmp_path / "cache").lookup([], {})
    assert not stale.exists() and fresh.exists() and entry.exists()  # a fresh one may be another build's, being written


def test_the_entry_size_estimate_bounds_the_real_entries(light_tiny_build):
    """The tiny study's entries (snapshots, early stopping, a sweep), stored as any build stores them: the light tiny
    build's (read only)."""
    from reportgen.budget import network_weights
    from reportgen.config import load_config

    config = load_config(light_tiny_build[1])
    runs = plan_runs(config)
    keys, weights = run_keys(runs, config), network_weights(config)
    assert any(run.key.startswith("l1+drop") for run in runs) and config.training.epochs > 2
    for run in runs:
        size = (config.output.cache / keys[run.key][:2] / f"{keys[run.key]}.run").stat().st_size
        assert size <= entry_bytes(run, config, weights) <= 1.2 * size + 20_000, run.key
