"""What a user sees when something around a build is odd: a second build into the same folder, an ASCII-only locale
with a non-ASCII folder, a HOME that cannot be written, a narrow CI log. Fake training: none of this is about learning."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.cache import RunCache, run_keys
from reportgen.config import load_config
from reportgen.plan import plan_runs
from tests.conftest import tiny_raw, write_study
from tests.fake_training import FAKE_CLI, fake_train
from tests.test_cache_faults import SMALL, _main

REPO = Path(__file__).resolve().parent.parent


def _fake_cli(*args, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """`reportgen ARGS` with the fake trainer, in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", FAKE_CLI, *map(str, args)],
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        timeout=300,
        **kwargs,
    )


def test_a_second_build_into_the_same_folder_is_refused_at_once_naming_the_first(tmp_path, monkeypatch):
    study, out = write_study(tmp_path / "s.toml", tiny_raw(**SMALL)), tmp_path / "out"
    base = ("build", "--config", study, "--out", out, "--format", "html", "--quiet")
    args = (*base, "--cache-dir", tmp_path / "c2")
    second = []

    def training(runs, *rest, **kwargs):  # the first build holds its folder while it trains
        second.append(_fake_cli(*args, text=True))
        return fake_train(runs, *rest, **kwargs)

    monkeypatch.setattr("reportgen.executor.train", training)
    code, lines = _main(*base, "--cache-dir", tmp_path / "c1")
    assert code == 0 and lines == [] and (out / "report.html").is_file()
    assert len(second) == 1 and second[0].returncode == 2 and second[0].stdout == ""
    assert second[0].stderr.splitlines() == [
        f"reportgen: error: --out {out}: another build (process {os.getpid()}) is writing into it; wait for it to finish"
    ]
    assert not (tmp_path / "c2").exists()  # refused before its cache was even looked at
    assert not (tmp_path / ".out.lock").exists()  # released with the build: the next one goes ahead
    again = _fake_cli(*args, text=True)
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"LC_ALL": "C"},
        {"LANG": "C"},
        {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},  # an ASCII file system encoding
        {"LC_ALL": "C", "PYTHONIOENCODING": "ascii"},  # output streams that cannot show the path
    ],
    ids=["LC_ALL=C", "LANG=C", "ascii file names", "ascii streams"],
)
def test_a_non_ascii_folder_works_under_an_ascii_locale(tmp_path, env):
    out = tmp_path / "résumé-報告 ✓"
    study = write_study(tmp_path / "s.toml", tiny_raw(**SMALL))
    base = {k: v for k, v in os.environ.items() if k not in ("LANG", "LANGUAGE") and not k.startswith("LC_")}
    done = subprocess.run(
        [sys.executable, "-c", FAKE_CLI, "build", "--config", study, "--out", out, "--cache-dir", tmp_path / "c"],
        env={**base, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr.decode("utf-8", "replace")
    assert (out / "report.html").is_file() and (out / "report.pdf").is_file()
    assert out.name in (out / "report.html").read_text(encoding="utf-8")  # the folder as typed, in the study shown
    wrote = f"wrote {out}/summary.md"
    assert (wrote.encode("ascii", "backslashreplace") if "PYTHONIOENCODING" in env else wrote.encode()) in done.stdout


def test_matplotlib_gets_a_private_folder_removed_at_exit_when_home_cannot_be_written(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    study = write_study(tmp_path / "s.toml", tiny_raw(**SMALL))
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "MPLCONFIGDIR")}
    env.update(HOME="/dev/null", TMPDIR=str(temp), PYTHONPATH=str(REPO))  # HOME a file: nothing can be made under it
    done = subprocess.run(
        [sys.executable, "-c", FAKE_CLI, "build", "--config", study, "--out", tmp_path / "out", "--cache-dir", temp / "c"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and (tmp_path / "out" / "report.pdf").is_file(), done.stderr
    assert "atplotlib" not in done.stderr and "mkdir" not in done.stderr, done.stderr
    assert all(line.startswith("✓ ") for line in done.stderr.splitlines()), done.stderr
    assert [p.name for p in temp.iterdir()] == ["c"]  # the run cache (the fake trainer's must be in TMPDIR), no other


def test_a_damaged_run_entry_is_one_warning_line_in_a_narrow_log(tmp_path, monkeypatch, fake_training):
    folder = tmp_path / ("a-long-cache-folder-name-" * 4)
    study = write_study(tmp_path / "s.toml", tiny_raw(**SMALL))
    args = ("build", "--config", study, "--out", tmp_path / "out", "--cache-dir", folder, "--format", "html")
    assert _main(*args, "--quiet")[0] == 0
    config = load_config(study, [f"output.cache={folder}"])
    runs = plan_runs(config)
    key = run_keys(runs, config)[runs[0].key]
    entry = RunCache(folder)._path(key)
    entry.write_bytes(entry.read_bytes()[:-10])
    monkeypatch.setenv("COLUMNS", "40")  # a CI log's width, as rich reads it
    code, lines = _main(*args)
    warnings = [line for line in lines if not line.startswith("✓ ")]
    assert code == 0 and len(warnings) == 1, lines
    assert warnings[0].startswith(f"! cache entry {entry} for run '{runs[0].key}' is damaged (")
    assert warnings[0].endswith("training it again")
