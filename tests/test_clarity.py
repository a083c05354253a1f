"""What a user sees when something around a build is odd: a second build into the same folder, an ASCII-only locale
with a non-ASCII folder, a HOME that cannot be written, a narrow CI log. Fake training: none of this is about learning;
light builds (tests/conftest.py light: stand-in figures, no helper process) and HTML alone wherever the figures or the
PDF are not what is looked at, fresh interpreters wherever the process is (its locale, HOME, a second build's refusal)."""

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
# `python -c LIGHT_CLI build ...` with the repository on PYTHONPATH: the reportgen command, its builds light (made so
# as the build starts: what light imports is imported after the command's start-up, as a build imports it)
LIGHT_CLI = """
import pytest
from reportgen import cli
from tests.conftest import light
build = cli._build
def light_build(args):
    with pytest.MonkeyPatch.context() as mp, light(mp):
        return build(args)
cli._build = light_build
cli.run()
"""
# one epoch (no frames of training) and no sweep: where figures are drawn, the fewest a report has
STUDY = tiny_raw(**{**SMALL, "training": {"epochs": 1, "seeds": [0]}, "sweeps": {"l1": []}})


def _fake_cli(*args, env: dict | None = None, code: str = FAKE_CLI, **kwargs) -> subprocess.CompletedProcess:
    """`reportgen ARGS` with the fake trainer (code: LIGHT_CLI for a light build), in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        timeout=300,
        **kwargs,
    )


def test_a_second_build_into_the_same_folder_is_refused_at_once_naming_the_first(tmp_path, monkeypatch, light_build):
    study, out = write_study(tmp_path / "s.toml", STUDY), tmp_path / "out"
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
    # (in this process: the lock is a flock, which a lock still held by the first build's open file meets here too)
    monkeypatch.setattr("reportgen.executor.train", fake_train)
    code, lines = _main(*args)
    assert code == 0 and lines == [], lines


@pytest.mark.parametrize(
    "env, formats",
    [
        # LC_ALL=C alone (Python's UTF-8 mode, file names and streams UTF-8, the C library's locale C) is what "ascii
        # file names" runs as once reportgen.cli has started it again with -X utf8: that case covers it, the PDF too
        ({"LANG": "C"}, ["html"]),  # coerced to C.UTF-8
        ({"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}, ["html", "pdf"]),  # an ASCII file system encoding
        ({"LC_ALL": "C", "PYTHONIOENCODING": "ascii"}, ["html"]),  # output streams that cannot show the path
    ],
    ids=["LANG=C", "ascii file names", "ascii streams"],
)
def test_a_non_ascii_folder_works_under_an_ascii_locale(tmp_path, env, formats):
    out = tmp_path / "résumé-報告 ✓"
    study = write_study(tmp_path / "s.toml", {**STUDY, "output": {"formats": formats}})
    base = {k: v for k, v in os.environ.items() if k not in ("LANG", "LANGUAGE") and not k.startswith("LC_")}
    done = subprocess.run(
        [sys.executable, "-c", LIGHT_CLI, "build", "--config", study, "--out", out, "--cache-dir", tmp_path / "c"],
        env={**base, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr.decode("utf-8", "replace")
    assert (out / "report.html").is_file() and (out / "report.pdf").is_file() == ("pdf" in formats)
    assert out.name in (out / "report.html").read_text(encoding="utf-8")  # the folder as typed, in the study shown
    wrote = f"wrote {out}/summary.md"
    assert (wrote.encode("ascii", "backslashreplace") if "PYTHONIOENCODING" in env else wrote.encode()) in done.stdout


# FAKE_CLI with this machine's matmul peak taken as known (a build measures it for an empty cache folder, for a second)
FAKE_KNOWN_PEAK_CLI = (
    "from reportgen import pace\npace.matmul_peak = lambda: 100e9\npace.memory_bandwidth = lambda: 20e9\n" + FAKE_CLI
)


def test_matplotlib_gets_a_private_folder_removed_at_exit_when_home_cannot_be_written(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    study = write_study(tmp_path / "s.toml", STUDY)  # figures drawn (matplotlib's folder) and the PDF (fontconfig's)
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "MPLCONFIGDIR")}
    env.update(HOME="/dev/null", TMPDIR=str(temp), PYTHONPATH=str(REPO))  # HOME a file: nothing can be made under it
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            FAKE_KNOWN_PEAK_CLI,
            "build",
            "--config",
            study,
            "--out",
            tmp_path / "out",
            "--cache-dir",
            temp / "c",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and (tmp_path / "out" / "report.pdf").is_file(), done.stderr
    assert "atplotlib" not in done.stderr and "mkdir" not in done.stderr, done.stderr
    assert all(line.startswith("✓ ") for line in done.stderr.splitlines()), done.stderr
    assert [p.name for p in temp.iterdir()] == ["c"]  # the run cache (the fake trainer's must be in TMPDIR), no other


def test_a_damaged_run_entry_is_one_warning_line_in_a_narrow_log(tmp_path, monkeypatch, light_build):
    folder = tmp_path / ("a-long-cache-folder-name-" * 4)
    study = write_study(tmp_path / "s.toml", STUDY)
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
