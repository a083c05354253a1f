"""Property-based tests (Hypothesis): mutated results.json, report-data, study (TOML) and CSV files fed to the readers
(`compare`, `render`, `build`'s checks before training). Whatever the input: exit 0 or 2, never a traceback, a refusal
in one line, and the previous report untouched.

Bounded (a fixed number of examples, derandomized, no example database) so they take seconds in `make test` and
fail the same way everywhere. The expensive stages behind the readers are stood in for: `render` draws no figures
and lays out no PDF, `build` stops where training would begin.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportgen import store
from tests.conftest import tiny_raw
from tests.test_safety import Reached, run_main, snapshot

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = {"compare": 100, "render": 60, "study": 150, "csv": 120}  # about 15 s in all on a busy 2-core machine


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


TRIED: dict[str, int] = {}  # inputs each test fed to the readers (printed with -s, checked at its end)
OUTCOMES: dict[str, dict] = {}  # per test, how many inputs ended in each exit code (None: a build reached training)


def _outcome(test: str, args, one_line: bool = True) -> int | None:
    """Run the command line: its exit code, or None when a build reached training. A traceback fails the test, and
    so does a refusal in more than one line (a study file's problems are one line each: all of them at once)."""
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


def _tried(test: str, at_least: int) -> None:
    """Say how many inputs a test tried, and check that Hypothesis ran as many as asked (not one example and out)."""
    print(f"{test}: {TRIED.get(test, 0)} inputs, exit codes {OUTCOMES.get(test)}")
    assert TRIED.get(test, 0) >= at_least


# ---- compare and render --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair(tiny_build) -> tuple[dict, bytes]:
    """A real build's results.json (parsed) and its data file."""
    out = tiny_build[0]
    return json.loads((out / "results.json").read_text()), (out / store.FILE).read_bytes()


def test_compare_reads_any_mutated_results_json_without_a_traceback(pair):
    good, _ = pair
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.json"
        base.write_text(json.dumps(good))

        @bounded(EXAMPLES["compare"])
        @given(st.data())
        def check(data):
            if data.draw(st.booleans()):
                text = _json_text(mutate_tree(data, good, json_values)).encode()
            else:
                text = mutate_bytes(data, base.read_bytes())
            bad = Path(tmp) / "bad.json"
            bad.write_bytes(text)
            before = snapshot(Path(tmp))
            _outcome("compare", ["compare", base, bad] if data.draw(st.booleans()) else ["compare", bad, base])
            assert snapshot(Path(tmp)) == before

        check()
    _tried("compare", EXAMPLES["compare"])


@contextmanager
def _light_render(monkeypatch_context):
    """render with its reading, checks and writing, but no helper process, figures or PDF: seconds for hundreds."""

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

    monkeypatch_context.setattr("reportgen.helper.Helper", NoHelper)
    monkeypatch_context.setattr("reportgen.pipeline.present", present)
    yield


def test_render_reads_any_mutated_pair_without_a_traceback_and_keeps_the_report_on_refusal(tiny_build, pair):
    good, blob = pair
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp, _light_render(mp):
        pristine, folder = Path(tmp) / "pristine", Path(tmp) / "build"
        shutil.copytree(tiny_build[0], pristine)

        @bounded(EXAMPLES["render"])
        @given(st.data())
        def check(data):
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

        check()
    _tried("render", EXAMPLES["render"])


# ---- study files and CSV data, read before training ---------------------------------------------------------


@contextmanager
def _no_training(monkeypatch_context):
    """build stops where training would begin; a study that names a cluster is not connected to."""

    def stand_in(*args, **kwargs):
        raise Reached()

    monkeypatch_context.setattr("reportgen.pipeline.build", stand_in)
    monkeypatch_context.setattr("reportgen.executor.connect", stand_in)
    yield


def _previous_report(tiny_build, folder: Path) -> dict[str, bytes]:
    """An output folder holding a previous build's report; returns its snapshot."""
    shutil.copytree(tiny_build[0], folder)
    return snapshot(folder)


def test_build_reads_any_mutated_study_file_without_a_traceback(tiny_build):
    raw = tiny_raw()
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp, _no_training(mp):
        out = Path(tmp) / "out"
        before = _previous_report(tiny_build, out)
        study = Path(tmp) / "study.toml"

        @bounded(EXAMPLES["study"])
        @given(st.data())
        def check(data):
            if data.draw(st.booleans()):
                text = tomli_w.dumps(mutate_tree(data, raw, toml_values)).encode()
                text = text.replace(json.dumps(DEEP).encode(), b"[" * 100_000 + b"]" * 100_000)
            else:
                text = mutate_bytes(data, tomli_w.dumps(raw).encode())
            study.write_bytes(text)
            _outcome("study", ["build", "--config", study, "--out", out, "--no-cache", "--quiet"], one_line=False)
            assert snapshot(out) == before

        check()
    _tried("study", EXAMPLES["study"])


def test_build_reads_any_mutated_csv_file_without_a_traceback(tiny_build):
    csv = (REPO / "examples" / "iris.csv").read_bytes()
    raw = tiny_raw(data={"path": "data.csv", "label": "species"})
    del raw["data"]["n_samples"], raw["data"]["test_samples"]  # a file's size is its own
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp, _no_training(mp):
        out = Path(tmp) / "out"
        before = _previous_report(tiny_build, out)
        counter = iter(range(10**6))

        @bounded(EXAMPLES["csv"])
        @given(st.data())
        def check(data):
            lines = csv.split(b"\n")
            if data.draw(st.booleans()):  # a row removed, doubled or replaced by random text
                i = data.draw(st.integers(0, len(lines) - 1))
                how = data.draw(st.sampled_from(["remove", "double", "replace"]))
                new = [] if how == "remove" else [lines[i]] * 2 if how == "double" else [data.draw(st.text(max_size=40)).encode()]
                lines[i : i + 1] = new
            blob = b"\n".join(lines)
            for _ in range(data.draw(st.integers(0, 3))):
                blob = mutate_bytes(data, blob)
            name = f"data-{next(counter)}.csv"  # a new name each time: the parsed file is cached by name, size and time
            (Path(tmp) / name).write_bytes(blob)
            study = Path(tmp) / "study.toml"
            study.write_text(tomli_w.dumps({**raw, "data": {**raw["data"], "path": name}}))
            _outcome("csv", ["build", "--config", study, "--out", out, "--no-cache", "--quiet"])
            assert snapshot(out) == before

        check()
    _tried("csv", EXAMPLES["csv"])
