import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.cli import main
from tests.conftest import tiny_raw, write_study


def _run(*args, cwd):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.run(
        [sys.executable, "-m", "reportgen", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.parametrize(
    "raw_change, needle",
    [
        ({"training": {"epochs": 0}}, "training.epochs"),
        ({"variants": [{"name": "x", "dropout": 1.5}]}, "variants.0.dropout"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_study_exits_2_without_traceback_and_leaves_output(tmp_path, capsys, raw_change, needle):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("previous report")
    study = write_study(tmp_path / "s.toml", tiny_raw(output={"dir": "out"}, **raw_change))
    assert main(["build", "--config", str(study)]) == 2  # the command's own exit path: test_python_dash_m_version
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert needle in err and str(study) in err
    assert [p.name for p in out.iterdir()] == ["report.html"] and (out / "report.html").read_text() == "previous report"


def test_missing_file_and_bad_format_and_bad_set(tmp_path, capsys):
    assert main(["build", "--config", str(tmp_path / "nope.toml")]) == 2
    assert main(["build", "--format", "html,docx", "--out", str(tmp_path / "o")]) == 2
    assert main(["build", "--set", "training.epochs"]) == 2
    err = capsys.readouterr().err
    assert "nope.toml: study file not found" in err
    assert "output.formats" in err and "docx" in err
    assert "expected key=value" in err
    assert not (tmp_path / "o").exists()


def test_python_dash_m_version_and_a_refused_study(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "reportgen", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("reportgen ")
    study = write_study(tmp_path / "s.toml", tiny_raw(training={"epochs": 0}))
    proc = _run("build", "--config", str(study), cwd=tmp_path)
    assert proc.returncode == 2 and "training.epochs" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_terminal_shows_only_stages_and_files(tmp_path):
    """A fresh process: TensorFlow's start-up chatter and library warnings stay off the terminal, the helper process's
    (half the figures, the PDF) included."""
    raw = tiny_raw(training={"epochs": 2}, variants=[{"name": "baseline"}], sweeps={"l1": []}, output={"dir": "out"})
    proc = _run("build", "--config", str(write_study(tmp_path / "s.toml", raw)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    wrote = sorted(Path(line.split()[1]).name for line in proc.stdout.splitlines() if line.startswith("wrote "))
    assert len(wrote) == len(proc.stdout.splitlines())  # nothing but the files written
    expected = ["claims.csv", "report-data.npz", "report.html", "report.pdf", "results.json", "runs.csv", "summary.md"]
    assert wrote == expected
    # the helper always imports what drawing needs and lays out the PDF; whether it also draws half the figures depends
    # on its imports being done by then (on a busy machine they may not be: the build draws them all, the same bytes,
    # as tests/test_figures.py checks), so either figures line is right here
    assert "PDF (laid out in parallel)" in proc.stderr
    assert re.search(r"^✓ figures( \(in 2 processes\))? [0-9.]+ s$", proc.stderr, re.M), proc.stderr
    assert (tmp_path / "out" / "report.pdf").read_bytes().startswith(b"%PDF")
    noise = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("✓")]
    assert noise == []


def test_output_under_a_file_is_one_line_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    raw = tiny_raw(training={"epochs": 1}, variants=[{"name": "baseline"}], sweeps={"l1": []})
    study = write_study(tmp_path / "s.toml", raw)
    assert main(["build", "--config", str(study), "--out", str(blocker / "out"), "--format", "html", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"reportgen: error: --out {blocker / 'out'}: {blocker} is a file, not a folder"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "s.toml"]


@pytest.mark.parametrize("thread", [False, True])
def test_the_command_skips_only_the_interpreters_teardown(tmp_path, thread):
    """run() leaves with os._exit after main(): atexit functions still run, buffered output is flushed, the exit code
    is main's, and a live non-daemon thread (which a normal exit waits for) keeps the normal exit."""
    code = (
        "import atexit, sys, threading, time\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "if sys.argv[1] == 'thread':\n"
        "    threading.Thread(target=lambda: (time.sleep(0.5), print('thread done', flush=True))).start()\n"
        "sys.argv = ['reportgen', 'init', sys.argv[2]]\n"
        "print('buffered', end='')\n"
        "from reportgen.cli import run\n"
        "run()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "thread" if thread else "-", str(tmp_path / "s.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("buffered") and "wrote" in proc.stdout and "atexit ran" in proc.stdout
    assert ("thread done" in proc.stdout) == thread and (tmp_path / "s.toml").is_file()
    again = subprocess.run(
        [sys.executable, "-c", code, "-", str(tmp_path / "s.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert again.returncode == 2 and "already exists" in again.stderr and "atexit ran" in again.stdout
