"""Property-based tests (Hypothesis): mutated results.json, report-data, study (TOML) and CSV files fed to the readers
(`compare`, `render`, `build`'s checks before training). Whatever the input: exit 0 or 2, never a traceback, a refusal
in one line, and the previous report untouched.

Bounded (a fixed number of examples, derandomized, no example database) so they take seconds in `make test` and
fail the same way everywhere; `--hypothesis-show-statistics` shows what each tried. The readers run in this process
(one test runs the command line in its own interpreter), on a build made with the fake trainer. The stages behind the
readers are stood in for: `render` draws no figures and lays out no PDF, `build` stops where training would begin.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportgen import store
from tests.conftest import tiny_raw
from tests.test_safety import Reached, run_main, snapshot

REPO = Path(__file__).resolve().parent.parent
# Examples per property, from reportgen's branch coverage measured at twice, the same and half these numbers: render's
# 30 reach every line and branch its 60 did; csv's 60 as many as its 120 (each reaches one line the other does not: a
# blank row, a missing label's hint); compare's 50 and study's 75 miss error paths that 100 and 150 reach
# (the schema's 'missing key' line, the study's nesting, encoding and variant-name lines).
EXAMPLES = {"compare": 100, "render": 30, "study": 150, "csv": 60}


def bounded(n: int):
    """Hypothesis settings for n examples: reproducible, no database written into the repository."""
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


DEEP = "DEEPLY-NESTED"  # replaced by a JSON or TOML array nested far deeper than any parser recurses
NASTY = [float("nan"), float("inf"), -1, 0, 1.0, 10**30, "", "x" * 300, [], {}, True, DEEP]
scalars = st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    st.none() | scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=6
)
toml_values = st.recursive(
    scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=6
)


def _pick(data, doc):
    """A container in the document and one of its keys (or indices), reached by a random walk from the top."""
    parent, key = doc, None
    while True:
        keys = sorted(parent) if isinstance(parent, dict) else list(range(len(parent)))
        if not keys:
            return parent, key
        key = data.draw(st.sampled_from(keys))
        child = parent[key]
        if not isinstance(child, (dict, list)) or not child or data.draw(st.booleans()):
            return parent, key
        parent = child


def mutate_tree(data, doc, values):
    """One to three changes anywhere in a parsed document: a key or element removed, a value replaced by another of
    any type, or by a value that has broken readers (NaN, infinity, a huge number, deep nesting)."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        parent, key = _pick(data, doc)
        if key is None:
            continue
        how = data.draw(st.sampled_from(["delete", "replace", "nasty"]))
        if how == "delete":
            del parent[key]
        else:
            parent[key] = data.draw(values if how == "replace" else st.sampled_from(NASTY))
    return doc


def mutate_bytes(data, blob: bytes) -> bytes:
    """The bytes cut short, a byte flipped, a few bytes inserted or a slice removed."""
    how = data.draw(st.sampled_from(["cut", "flip", "insert", "remove"]))
    at = data.draw(st.integers(0, max(len(blob) - 1, 0)))
    if how == "cut":
        return blob[:at]
    if how == "flip" and blob:
        return blob[:at] + bytes([blob[at] ^ data.draw(st.integers(1, 255))]) + blob[at + 1 :]
    if how == "insert":
        return blob[:at] + data.draw(st.binary(min_size=1, max_size=8) | st.text(max_size=8).map(str.encode)) + blob[at:]
    return blob[:at] + blob[at + data.draw(st.integers(1, 64)) :]


def _json_text(doc) -> str:
    """A document as JSON text (NaN and infinities as JavaScript writes them), with DEEP nested 100,000 arrays deep."""
    return json.dumps(doc).replace(json.dumps(DEEP), "[" * 100_000 + "]" * 100_000)


TRIED: dict[str, int] = {}  # inputs each test fed to the readers (checked, and printed with -s, after the module)
OUTCOMES: dict[str, dict] = {}  # per test, how many inputs ended in each exit code (None: a build reached training)


def _outcome(test: str, args, one_line: bool = True) -> int | None:
    """Run the command line in this process: its exit code, or None when a build reached training. A traceback fails
    the test, and so does a refusal in more than one line (a study file's problems are one line each: all at once)."""
    TRIED[test] = TRIED.get(test, 0) + 1
    code, _, err = run_main(*args)
    OUTCOMES.setdefault(test, {}).setdefault(code, 0)
    OUTCOMES[test][code] += 1
    assert code in (0, 2, None), err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    if code == 2:
        assert lines and all(line.startswith("reportgen: error: ") for line in lines) and len(lines) <= (1 if one_line else 99), (
            err
        )
    return code


@pytest.fixture(scope="module", autouse=True)
def every_input_tried():
    """After the module: say how many inputs each property fed its readers, and check that Hypothesis ran as many as
    asked (not one example and out)."""
    yield
    for test, n in TRIED.items():
        print(f"{test}: {n} inputs, exit codes {OUTCOMES.get(test)}")
    short = {test: n for test, n in TRIED.items() if n < EXAMPLES[test]}
    assert not short, f"fewer inputs than asked: {short}"


@pytest.fixture(scope="module")
def workspace(light_tiny_build, tmp_path_factory):
    """A folder for the module's inputs, and the stand-ins for what lies behind the readers, for the whole module (a
    fixture per example would be made anew for each): `render` starts no helper process (a new interpreter in the
    tests), draws no figures and lays out no PDF; `build` stops where training would begin, connects to no cluster and
    takes the matmul peak of its plan line as known (measured for every study without a run cache). None reads a file."""

    class NoHelper:
        pid, alive = None, False

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, *args):
            pass

    def present(measured, study, n_runs, stages, **kwargs):
        return {"report.html": f"{study.title}: {len(measured.variants)} variants, {n_runs} runs".encode()}

    def stand_in(*args, **kwargs):
        raise Reached()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("reportgen.helper.Helper", NoHelper)
        mp.setattr("reportgen.pipeline.present", present)
        mp.setattr("reportgen.pipeline.build", stand_in)
        mp.setattr("reportgen.executor.connect", stand_in)
        mp.setattr("reportgen.pace.matmul_peak", lambda: 100e9)
        mp.setattr("reportgen.pace.memory_bandwidth", lambda: 20e9)
        yield tmp_path_factory.mktemp("fuzz")


# ---- compare and render --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair(light_tiny_build) -> tuple[dict, bytes]:
    """A build's results.json (parsed) and its data file."""
    out = light_tiny_build[0]
    return json.loads((out / "results.json").read_text()), (out / store.FILE).read_bytes()


@pytest.fixture(scope="module")
def compared(workspace, pair) -> Path:
    """A folder holding the good results.json (base.json) beside which each mutated one is written."""
    folder = workspace / "compare"
    folder.mkdir()
    (folder / "base.json").write_text(json.dumps(pair[0]))
    return folder


@bounded(EXAMPLES["compare"])
@given(data=st.data())
def test_compare_reads_any_mutated_results_json_without_a_traceback(pair, compared, data):
    base = compared / "base.json"
    if data.draw(st.booleans()):
        text = _json_text(mutate_tree(data, pair[0], json_values)).encode()
    else:
        text = mutate_bytes(data, base.read_bytes())
    bad = compared / "bad.json"
    bad.write_bytes(text)
    before = snapshot(compared)
    _outcome("compare", ["compare", base, bad] if data.draw(st.booleans()) else ["compare", bad, base])
    assert snapshot(compared) == before


@pytest.fixture(scope="module")
def pristine(workspace, light_tiny_build) -> Path:
    """A copy of a finished build's folder, copied again for each mutated pair."""
    folder = workspace / "pristine"
    shutil.copytree(light_tiny_build[0], folder)
    return folder


@bounded(EXAMPLES["render"])
@given(data=st.data())
def test_render_reads_any_mutated_pair_without_a_traceback_and_keeps_the_report_on_refusal(pair, pristine, data):
    good, blob = pair
    folder = pristine.parent / "build"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(pristine, folder)
    doc, data_file = good, blob
    if data.draw(st.booleans()):
        data_file = mutate_bytes(data, blob)
        doc = {**good, "data_sha256": hashlib.sha256(data_file).hexdigest()}  # so that the file itself is read
    if data.draw(st.booleans()) or data_file is blob:
        doc = mutate_tree(data, doc, json_values)
    (folder / "results.json").write_text(_json_text(doc))
    (folder / store.FILE).write_bytes(data_file)
    before = snapshot(folder)
    if _outcome("render", ["render", folder, "--quiet"]) == 2:
        assert snapshot(folder) == before


# ---- study files and CSV data, read before training ---------------------------------------------------------


@pytest.fixture(scope="module")
def previous(workspace, light_tiny_build) -> tuple[Path, dict[str, bytes]]:
    """An output folder holding a previous build's report, and its snapshot: every refusal must leave it so."""
    out = workspace / "out"
    shutil.copytree(light_tiny_build[0], out)
    return out, snapshot(out)


@bounded(EXAMPLES["study"])
@given(data=st.data())
def test_build_reads_any_mutated_study_file_without_a_traceback(previous, data):
    out, before = previous
    raw = tiny_raw()
    if data.draw(st.booleans()):
        text = tomli_w.dumps(mutate_tree(data, raw, toml_values)).encode()
        text = text.replace(json.dumps(DEEP).encode(), b"[" * 100_000 + b"]" * 100_000)
    else:
        text = mutate_bytes(data, tomli_w.dumps(raw).encode())
    study = out.parent / "study.toml"
    study.write_bytes(text)
    _outcome("study", ["build", "--config", study, "--out", out, "--no-cache", "--quiet"], one_line=False)
    assert snapshot(out) == before


CSV = (REPO / "examples" / "iris.csv").read_bytes()
CSV_STUDY = tiny_raw(data={"path": "data.csv", "label": "species"})
del CSV_STUDY["data"]["n_samples"], CSV_STUDY["data"]["test_samples"]  # a file's size is its own
NAMES = iter(range(10**6))  # a new name for each CSV: the parsed file is cached by name, size and time


@bounded(EXAMPLES["csv"])
@given(data=st.data())
def test_build_reads_any_mutated_csv_file_without_a_traceback(previous, data):
    out, before = previous
    lines = CSV.split(b"\n")
    if data.draw(st.booleans()):  # a row removed, doubled or replaced by random text
        i = data.draw(st.integers(0, len(lines) - 1))
        how = data.draw(st.sampled_from(["remove", "double", "replace"]))
        new = [] if how == "remove" else [lines[i]] * 2 if how == "double" else [data.draw(st.text(max_size=40)).encode()]
        lines[i : i + 1] = new
    blob = b"\n".join(lines)
    for _ in range(data.draw(st.integers(0, 3))):
        blob = mutate_bytes(data, blob)
    name = f"data-{next(NAMES)}.csv"
    (out.parent / name).write_bytes(blob)
    (out.parent / name).with_suffix(".toml").write_text(tomli_w.dumps({**CSV_STUDY, "data": {**CSV_STUDY["data"], "path": name}}))
    _outcome("csv", ["build", "--config", (out.parent / name).with_suffix(".toml"), "--out", out, "--no-cache", "--quiet"])
    assert snapshot(out) == before


def test_the_command_line_refuses_a_mutated_study_in_its_own_interpreter(tmp_path):
    """The properties above run the command line in this process; once as a user runs it: a study cut short is exit 2
    with one line naming the file, and no traceback."""
    study = tmp_path / "study.toml"
    study.write_bytes(tomli_w.dumps(tiny_raw()).encode()[:-30])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "reportgen", "build", "--config", str(study), "--out", str(tmp_path / "out"), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith(f"reportgen: error: {study}: "), proc.stderr
    assert not (tmp_path / "out").exists()
