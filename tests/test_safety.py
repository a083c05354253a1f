"""Fault injection: the output folder, all-or-nothing replacement, unique runs, --fail-on, interrupts, limits, messages.

Every failure asserts its exit code, its message, and that the previous outputs are byte for byte as they were.
Builds are few and tiny: one shared build (module fixture), one failing mid-swap, three in subprocesses; only the two
interrupted ones train for real (the others use the fake trainer, tests/fake_training.py).
"""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import reportgen
from reportgen import budget, outdir
from reportgen.cli import main
from reportgen.compare import load_results
from reportgen.errors import Interrupted
from tests.conftest import tiny_raw, write_study

REPO = Path(__file__).resolve().parent.parent
# One seed, one epoch, one variant, a coarse grid: the cheapest build that still writes every file.
MINIMAL = dict(
    training={"epochs": 1, "seeds": [0]}, variants=[{"name": "baseline"}], sweeps={"l1": []}, analysis={"grid_resolution": 20}
)
HOSTILE_NAME = 'out "q" \\ back\nline'


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder (dotfiles included) by relative path, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    """Temporary folders of builds next to an output folder."""
    return [p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.tmp-")]


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


class Reached(Exception):
    """Raised by a stand-in for pipeline.build: every check before training passed."""


def run_main(*args) -> tuple[int | None, str, str]:
    """Run main() in this process: (exit code, or None when it reached the stand-in for training; stdout; stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = main([str(a) for a in args])
    except Reached:
        code = None
    finally:
        sys.stdout, sys.stderr = saved
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def no_training(monkeypatch):
    """Fail loudly if a build gets as far as training; a refusal must come before. No helper process is started, and
    this machine's matmul peak is taken as known (light in tests/conftest.py): a build that passes its checks would
    otherwise measure it for its empty cache folder (about a second) for the plan line's time."""

    def stand_in(*args, **kwargs):
        raise Reached()

    monkeypatch.setattr("reportgen.pipeline.build", stand_in)
    monkeypatch.setattr("reportgen.pace.matmul_peak", lambda: 100e9)
    monkeypatch.setattr("reportgen.pace.memory_bandwidth", lambda: 20e9)
    monkeypatch.setenv("REPORTGEN_NO_HELPER", "1")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One build (made light: fake training, stand-in figures, no helper; this module is about files, exits and
    messages): two variants (one with batch norm and dropout), saved models, the first run marked diverged, `--fail-on
    diverged`, into a folder whose name has a quote, a backslash and a newline."""
    from tests.conftest import light
    from tests.fake_training import fake_train

    root = tmp_path_factory.mktemp("safety")
    raw = tiny_raw(
        training={"epochs": 2, "seeds": [0, 1]},
        sweeps={"l1": []},
        analysis={"grid_resolution": 20},
        variants=[{"name": "baseline"}, {"name": "bn+drop", "batchnorm": True, "dropout": 0.3}],
    )
    study = write_study(root / "study.toml", raw)
    out = root / HOSTILE_NAME
    results = []

    def marked(runs, datasets, config, progress=None, cancel=None, done=None):
        trained = fake_train(runs, datasets, config, progress, cancel=cancel)
        results.extend([dataclasses.replace(trained[0], diverged_at=1)] + trained[1:])
        if done is not None:
            done(results)  # stored as marked
        return results

    with pytest.MonkeyPatch.context() as mp, light(mp):
        mp.setattr("reportgen.executor.train", marked)
        code, stdout, stderr = run_main(
            "build", "--config", study, "--out", out, "--format", "html", "--save-models", "--fail-on", "diverged", "--quiet"
        )
    return dict(code=code, stderr=stderr, out=out, study=study, results=results, root=root)


@pytest.fixture
def previous(built, tmp_path):
    """A copy of the shared build's outputs (manifest included) to build over: (folder, its snapshot)."""
    prev = tmp_path / "prev"
    shutil.copytree(built["out"], prev)
    return prev, snapshot(prev)


# ---- 4. --fail-on, 7. hostile --out, 8. saved models ------------------------------------------------------------


def test_fail_on_diverged_writes_the_report_then_exits_1(built):
    assert built["code"] == 1
    assert built["stderr"].splitlines() == [
        "reportgen: --fail-on diverged: 1 run(s) failed: baseline/seed0 (diverged) (the report was written)"
    ]
    assert {"report.html", "results.json", "summary.md", outdir.MANIFEST} <= {p.name for p in built["out"].iterdir()}
    # the schema reads a run that diverged beside runs that did not (its epoch is a table's float, 1.0)
    doc = load_results(built["out"])
    assert [r.diverged_at for r in doc.runs][:2] == [1.0, None] and doc.failed[0].run == "baseline/seed0"


def test_out_with_quote_backslash_and_newline_is_a_path_not_toml(built):
    doc = json.loads((built["out"] / "results.json").read_text())
    # shared outputs carry the folder relative to the study file's folder, never an absolute path
    assert built["root"] / doc["study"]["output"]["dir"] == built["out"] and built["out"].name == HOSTILE_NAME
    # nothing written elsewhere (the run cache lives next to the study file by design)
    assert sorted(p.name for p in built["root"].iterdir()) == [".reportgen-cache", HOSTILE_NAME, "study.toml"]


def test_saved_models_load_cleanly_and_predict_as_trained(built, capfd):
    from reportgen._tf import keras
    from reportgen.models import Network, predict_proba
    from reportgen.plan import model_file_name

    config = reportgen.config.load_config(built["study"])
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    capfd.readouterr()
    for r in built["results"]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = keras.models.load_model(built["out"] / "models" / model_file_name(r.run.key))
            predicted = model.predict(x, verbose=0)[:, 0]
        assert [str(w.message) for w in caught] == []
        expected = predict_proba(Network.of(r.run.variant, config.model), r.weights, x)
        np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6, err_msg=r.run.key)
    assert capfd.readouterr() == ("", "")  # no warning printed by Keras or TensorFlow either


def test_unknown_fail_on_condition_suggests_the_nearest(no_training):
    code, _, err = run_main("build", "--fail-on", "divergd,sometimes")
    assert code == 2
    assert err.splitlines() == [
        "reportgen: error: --fail-on: unknown condition 'divergd'; did you mean 'diverged'?",
        "reportgen: error: --fail-on: unknown condition 'sometimes'; choose from: diverged, contradicted, changed, regressed",
    ]


# ---- 1. the output folder belongs to reportgen only where its manifest says so -------------------------------------


def _refusal_cases(tmp: Path, study: Path) -> dict[str, tuple[Path, str]]:
    (tmp / "theirs").mkdir()
    (tmp / "theirs" / "notes.txt").write_text("the user's notes")
    (tmp / "a-file").write_text("not a folder")
    (tmp / "nested").mkdir()
    return {
        "root": (Path("/"), "is the root folder"),
        "system": (Path("/usr/share/reportgen-out"), "is inside the system folder /usr"),
        "package": (Path(reportgen.__file__).parent, "is inside reportgen's package folder"),
        "templates": (REPO / "templates", "is inside reportgen's templates folder"),
        "study file": (study, "is the study file"),
        "foreign folder": (tmp / "theirs", "holds files reportgen did not write (notes.txt)"),
        "a file": (tmp / "a-file", "is a file, not a folder"),
        "under a file": (tmp / "a-file" / "out", "a-file is a file, not a folder"),
    }


@pytest.mark.parametrize(
    "case", ["root", "system", "package", "templates", "study file", "foreign folder", "a file", "under a file"]
)
def test_refused_output_folders_exit_2_before_training(tmp_path, no_training, case):
    study = write_study(tmp_path / "s.toml", tiny_raw(**MINIMAL))
    out, reason = _refusal_cases(tmp_path, study)[case]
    before = snapshot(tmp_path)
    code, _, err = run_main("build", "--config", study, "--out", out)
    assert code == 2
    assert err.splitlines() == [line for line in err.splitlines() if line.startswith(f"reportgen: error: --out {out}: ")]
    assert len(err.splitlines()) == 1 and reason in err
    assert snapshot(tmp_path) == before


def test_unusable_paths_are_refused_with_a_short_quote(tmp_path, no_training):
    study = write_study(tmp_path / "s.toml", tiny_raw(**MINIMAL, output={"dir": "a\u0000b"}))
    code, _, err = run_main("build", "--config", study)
    assert (code, err) == (
        2,
        f"reportgen: error: {study}: output.dir {tmp_path}/a\0b: contains a NUL character; choose another output folder\n",
    )
    for out, reason in (
        (tmp_path / ("d" * 300), "is longer than 241 bytes"),
        (tmp_path.joinpath(*["d"] * 3000), "the path is longer"),
    ):
        code, _, err = run_main("build", "--config", study, "--out", out)
        assert code == 2 and len(err.splitlines()) == 1 and reason in err and len(err) < 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_refusals_name_the_folder_as_the_study_or_set_gave_it(tmp_path, no_training):
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("x")
    study = write_study(tmp_path / "s.toml", tiny_raw(**MINIMAL, output={"dir": "theirs"}))
    code, _, err = run_main("build", "--config", study)
    assert code == 2 and err.startswith(f"reportgen: error: {study}: output.dir {tmp_path / 'theirs'}: holds files")
    code, _, err = run_main("build", "--config", study, "--set", "output.dir=/")
    assert code == 2 and err == "reportgen: error: --set: output.dir /: is the root folder; choose another output folder\n"


def test_force_takes_a_foreign_folder_but_never_a_system_one(tmp_path, no_training):
    study = write_study(tmp_path / "s.toml", tiny_raw(**MINIMAL))
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("x")
    assert run_main("build", "--config", study, "--out", tmp_path / "theirs", "--force")[0] is None
    for forbidden in ("/", "/etc/reportgen", study):
        code, _, err = run_main("build", "--config", study, "--out", forbidden, "--force")
        assert code == 2 and "choose another output folder" in err


def test_study_inside_the_output_folder_under_an_output_name_is_refused(tmp_path, no_training):
    (tmp_path / "out").mkdir()
    study = write_study(tmp_path / "out" / "summary.md", tiny_raw(**MINIMAL))  # odd, but it must survive
    code, _, err = run_main("build", "--config", study, "--out", tmp_path / "out", "--force")
    assert code == 2 and f"would replace the study file {study}" in err
    assert study.read_text().startswith("title")


def test_a_foreign_report_in_a_reportgen_folder_is_refused(previous, no_training):
    prev, _ = previous
    (prev / "report.pdf").write_text("the user's own PDF")  # the shared build wrote no PDF
    code, _, err = run_main("build", "--out", prev, *_minimal_set())
    assert code == 2
    assert err.strip() == (
        f"reportgen: error: --out {prev}: report.pdf was not written by reportgen (not in its "
        f"{outdir.MANIFEST}); move it away or use --force to replace it"
    )


@pytest.mark.parametrize("content", [{".gitkeep": ""}, {"report.html": "old", "results.json": '{"reportgen": "0.0.9"}'}])
def test_empty_repo_folder_and_pre_manifest_outputs_are_accepted(tmp_path, monkeypatch, no_training, content):
    """The repository's output/ (only .gitkeep) and a folder from a reportgen before manifests need no --force."""
    (tmp_path / "output").mkdir()
    for name, text in content.items():
        (tmp_path / "output" / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    assert run_main("build", *_minimal_set())[0] is None


def _minimal_set() -> list[str]:
    return [
        "--set",
        "training.epochs=1",
        "--set",
        "training.seeds=[0]",
        "--set",
        "variants=[{name='baseline'}]",
        "--set",
        "sweeps.l1=[]",
        "--set",
        "sweeps.l2=[]",
        "--set",
        "sweeps.dropout=[]",
        "--set",
        "analysis.grid_resolution=20",
        "--set",
        "data.test_samples=200",
        "--format",
        "html",
    ]


# ---- 2. all or nothing: the swap, checked at every step ------------------------------------------------------------


def _fill(files: dict[str, str]):
    def fill(folder: Path) -> None:
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)

    return fill


OLD = {
    "report.html": "old html",
    "report.pdf": "old pdf",
    "results.json": '{"reportgen": "old"}',
    "report-data.npz": "old data",
    "models/a-seed0.keras": "old model",
}
NEW = {
    "report.html": "new html",
    "summary.md": "new summary",
    "results.json": '{"reportgen": "new"}',
    "report-data.npz": "new data",
}


@pytest.fixture
def old_set(tmp_path):
    """An output folder with a build's outputs, the repository's .gitkeep and a file of the user's."""
    out = tmp_path / "out"
    outdir.replace_outputs(out, _fill(OLD))
    (out / ".gitkeep").write_text("")
    (out / "notes.txt").write_text("the user's")
    return out, snapshot(out)


def _failing_replace(monkeypatch, fail_at: int, error: BaseException):
    """Make the fail_at-th os.replace call raise `error`, as a failing disk or a signal's handler would."""
    real, calls = os.replace, []

    def replace(src, dst, **kwargs):
        calls.append((src, dst))
        if len(calls) == fail_at:
            raise error
        return real(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return calls


@pytest.mark.parametrize("fail_at", range(1, 11))  # 5 old entries out, 4 new in, the manifest: every step of the swap
@pytest.mark.parametrize("error", [OSError(errno.EIO, "Input/output error"), Interrupted("SIGTERM")])
def test_a_failure_at_any_step_of_the_swap_leaves_the_old_set(old_set, monkeypatch, fail_at, error):
    out, before = old_set
    calls = _failing_replace(monkeypatch, fail_at, error)
    with pytest.raises(type(error)):
        outdir.replace_outputs(out, _fill(NEW))
    monkeypatch.undo()
    assert len(calls) >= fail_at and snapshot(out) == before and leftovers(out) == []


def test_a_swap_that_succeeds_replaces_only_reportgen_files(old_set):
    out, _ = old_set
    written = outdir.replace_outputs(out, _fill(NEW))
    assert [p.name for p in written] == ["report-data.npz", "report.html", "results.json", "summary.md"]
    assert snapshot(out) == {
        ".gitkeep": b"",
        "notes.txt": b"the user's",
        **{k: v.encode() for k, v in NEW.items()},
        outdir.MANIFEST: (out / outdir.MANIFEST).read_bytes(),
    }
    assert outdir.read_manifest(out)["files"] == ["report.html", "summary.md", "results.json", "report-data.npz"]
    assert leftovers(out) == []


def test_a_disk_error_names_the_output_folder_not_the_temporary_one(old_set, monkeypatch):
    out, before = old_set

    def full(folder: Path) -> None:
        (folder / "report.html").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "report.pdf"))

    with pytest.raises(OSError) as err:
        outdir.replace_outputs(out, full)
    assert err.value.filename == str(out / "report.pdf") and err.value.errno == errno.ENOSPC
    assert snapshot(out) == before and leftovers(out) == []


def test_build_failing_mid_swap_exits_1_and_keeps_the_previous_report(previous, monkeypatch, tmp_path, light_build):
    """A whole build whose second move into place fails (as a full disk would): one line, exit 1, old set intact."""
    prev, before = previous
    monkeypatch.chdir(tmp_path)  # the default study's run cache goes next to it, here, not into the repository
    real, calls = os.replace, []

    def replace(src, dst, **kwargs):
        if str(prev) in f"{src}{dst}" or f".{prev.name}.tmp-" in f"{src}{dst}":
            calls.append(dst)
            if len(calls) == 2:
                raise OSError(errno.EIO, "Input/output error", str(dst))
        return real(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    code, _, err = run_main("build", "--out", prev, "--quiet", *_minimal_set())
    monkeypatch.undo()
    assert code == 1 and calls[2] == prev / "claims.csv"  # claims.csv moved out, models/ failed, claims.csv moved back
    assert err.strip().splitlines() == [f"reportgen: error: Input/output error: {prev}/models"]
    assert snapshot(prev) == before and leftovers(prev) == []


KILL_MID_SWAP = """
import os, signal, sys
from pathlib import Path
from reportgen import outdir
out, calls, real = Path(sys.argv[1]), [], os.replace
def replace(src, dst, **kw):
    calls.append(dst)
    if len(calls) == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, **kw)
os.replace = replace
def fill(folder):
    for name in ("report.html", "results.json", "summary.md", "report-data.npz"):
        (folder / name).write_text("new " + name)
outdir.replace_outputs(out, fill)
"""


# 5 old entries move out, 4 new ones in (report-data.npz first, at 6), then the manifest. Before report-data.npz was
# one of them, a build killed after moving its new one in left it in place of the old one, which it had overwritten:
# the old report beside the killed build's numbers.
@pytest.mark.parametrize("kill_at", [1, 3, 6, 7, 9, 10])
def test_a_build_killed_mid_swap_is_undone_by_the_next_one(old_set, kill_at):
    out, before = old_set
    proc = subprocess.run([sys.executable, "-c", KILL_MID_SWAP, str(out), str(kill_at)], env=env(), timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert len(leftovers(out)) == 1  # the kill left a temporary folder (and, past the first move, a mix)
    outdir.check(out, None, False, "--out out")  # what the next build does first
    assert snapshot(out) == before and leftovers(out) == []


def test_stale_temporary_folders_go_but_a_live_build_keeps_its_own(old_set):
    out, before = old_set
    stale = out.parent / f".{out.name}.tmp-abc123"  # left by a reportgen from before journals
    stale.mkdir()
    (stale / "report.html").write_text("half")
    live = outdir._new_temp(out)
    lock = outdir._lock(live)
    try:
        outdir.check(out, None, False, "--out out")
        assert leftovers(out) == [live.name]
    finally:
        os.close(lock)
    outdir.check(out, None, False, "--out out")
    assert leftovers(out) == [] and snapshot(out) == before


# ---- 3. unique identities ------------------------------------------------------------------------------------------


def test_a_variant_named_like_a_different_sweep_point_is_refused(tmp_path, no_training):
    raw = tiny_raw(
        **{
            **MINIMAL,
            "variants": [{"name": "baseline"}, {"name": "l1=0.01", "l1": 0.02}],
            "sweeps": {"l1": [0.01], "l2": [], "dropout": []},
        }
    )
    study = write_study(tmp_path / "s.toml", raw)
    code, _, err = run_main("build", "--config", study)
    assert code == 2
    assert err.splitlines() == [
        f"reportgen: error: {study}: variants: variant 'l1=0.01' (L1 0.02) and the l1 sweep point 0.01 would share "
        "the run key 'l1=0.01/seed0' and one would replace the other; rename the variant"
    ]


def test_names_that_save_to_one_file_are_refused_only_when_models_are_saved(tmp_path, no_training):
    raw = tiny_raw(**{**MINIMAL, "variants": [{"name": "a/b"}, {"name": "a-b", "l2": 0.01}, {"name": "A_b"}]})
    study = write_study(tmp_path / "s.toml", raw)
    code, _, err = run_main("build", "--config", study, "--save-models")
    assert code == 2
    assert err.splitlines() == [
        f"reportgen: error: {study}: variants: 'a/b' and 'a-b' would both save their models as models/a-b-seed0.keras; rename one"
    ]
    assert run_main("build", "--config", study)[0] is None
    assert not (tmp_path / "output").exists()


# ---- 6. limits and estimates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting, needle",
    [
        ("training.epochs=5000000", "training.epochs: Input should be less than or equal to 100000 (got 5000000)"),
        ("training.seeds=1000000000000", "training.seeds: a replicate count must be 1 to 1,000 (got 1000000000000)"),
        ("model.hidden_units=[100000]", "model.hidden_units.0: Input should be less than or equal to 4096 (got 100000)"),
        ("model.hidden_units=[8,8,8,8,8,8,8,8,8,8,8]", "model.hidden_units: List should have at most 10 items"),
        ("data.test_samples=10000000", "data.test_samples: Input should be less than or equal to 100000"),
        ("training.batch_size=1000000", "training.batch_size: Input should be less than or equal to 100000"),
        (f"sweeps.l1=[{', '.join(['0.1'] * 31)}]", "sweeps.l1: List should have at most 30 items"),
    ],
)
def test_values_beyond_the_limits_are_refused(no_training, setting, needle):
    code, _, err = run_main("build", "--set", setting)
    assert code == 2 and err.splitlines() == [line for line in err.splitlines() if line.startswith("reportgen: error: --set: ")]
    assert needle in err and len(err.splitlines()) == 1


def test_a_huge_value_is_quoted_as_a_short_prefix(tmp_path, no_training):
    study = write_study(tmp_path / "s.toml", tiny_raw(title="x" * 1_000_000, variants=[{"name": "v", "label": "é" * 5000}]))
    code, _, err = run_main("build", "--config", study)
    assert code == 2 and len(err.splitlines()) == 2
    assert all(len(line) < 300 and "…" in line for line in err.splitlines())


def test_a_build_that_cannot_fit_in_memory_is_refused_with_its_estimate(tmp_path, monkeypatch, no_training):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(budget, "available_memory", lambda: 200e6)
    code, _, err = run_main("build", *_minimal_set())
    assert code == 2 and len(err.splitlines()) == 1
    assert re.match(
        r"reportgen: error: default study: this build \(1 models × 1 epochs × 17k weights\) needs about "
        r"[\d.]+ [MG]B of memory but this machine has 200 MB available; lower training.epochs",
        err,
    )


def test_the_estimate_is_shown_before_training(tmp_path, monkeypatch, no_training):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main("build", *_minimal_set(), "--set", "model.hidden_units=[16]")
    assert code is None
    assert re.fullmatch(
        r"✓ plan: 1 models × 1 epochs × 65 weights ≈ 33.8 kFLOP, ≈ [\d.]+ [MG]B of memory; training ≈ \d+ s here\n", err
    )


def test_the_estimate_grows_with_every_factor():
    from reportgen.config import validate

    base = dict(training={"epochs": 100, "seeds": 5}, model={"hidden_units": [64, 64]})
    small = budget.estimate(validate(base), 50)
    for change in (
        {"training": {"epochs": 1000, "seeds": 5}},
        {"model": {"hidden_units": [512, 512]}},
        {"analysis": {"grid_resolution": 400}},
    ):
        bigger = budget.estimate(validate({**base, **change}), 50)
        assert bigger.memory > small.memory
    assert budget.estimate(validate(base), 500).flops == pytest.approx(10 * small.flops)
    assert budget.available_memory() is None or budget.available_memory() > 0


# ---- 7. messages ---------------------------------------------------------------------------------------------------


def test_unknown_keys_suggest_the_key_meant(tmp_path, no_training):
    study = write_study(tmp_path / "s.toml", tiny_raw(training={"epocs": 5}, variants=[{"name": "b", "dropuot": 0.1}]))
    code, _, err = run_main("build", "--config", study, "--set", "trainig.epochs=3")
    assert code == 2
    assert f"reportgen: error: {study}: training.epocs: unknown key; did you mean 'epochs'? (got 5)" in err.splitlines()
    assert f"reportgen: error: {study}: variants.0.dropuot (variant 'b'): unknown key; did you mean 'dropout'? (got 0.1)" in err
    assert "reportgen: error: --set: trainig: unknown key; did you mean 'training'?" in err.splitlines()


def test_set_and_flag_errors_name_the_flag_not_the_study(tmp_path, no_training):
    study = write_study(tmp_path / "s.toml", tiny_raw(**MINIMAL))
    code, _, err = run_main("build", "--config", study, "--set", "training.epochs=0", "--format", "html,docx")
    assert code == 2 and str(study) not in err
    assert sorted(err.splitlines()) == [
        "reportgen: error: --format: output.formats.1: Input should be 'html' or 'pdf' (got 'docx')",
        "reportgen: error: --set: training.epochs: Input should be greater than or equal to 1 (got 0)",
    ]


# ---- 5. interrupts and closed pipes (real signals, real processes) -------------------------------------------------


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.slow
def test_an_interrupt_leaves_the_previous_report_and_no_temporary_files(previous, tmp_path, sig, code):
    prev, before = previous
    study = write_study(tmp_path / "s.toml", tiny_raw(**{**MINIMAL, "training": {"epochs": 40, "seeds": [0, 1]}}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "reportgen", "build", "--config", str(study), "--out", str(prev), "--format", "html"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    seen = []
    for line in proc.stderr:  # wait until TensorFlow is up and the build is under way
        seen.append(line)
        if "start-up" in line:
            break
    proc.send_signal(sig)
    stdout, rest = proc.communicate(timeout=120)
    after = [line for line in rest.splitlines() if line.strip() and not line.startswith("✓")]
    assert proc.returncode == code, "".join(seen) + rest
    assert after == [f"reportgen: interrupted ({sig.name}); the previous report was left as it was"]
    assert stdout == "" and snapshot(prev) == before and leftovers(prev) == []


def test_closed_stdout_and_stderr_do_not_fail_a_build(tmp_path):
    """`reportgen build | head -1`: the reader goes away; the build still succeeds and writes everything."""
    from tests.test_cache import LIGHT_CLI  # fake training, stand-in figures, no helper: this is about the streams

    study = write_study(tmp_path / "s.toml", tiny_raw(**MINIMAL))
    proc = subprocess.Popen(
        [sys.executable, "-c", LIGHT_CLI, "build", "--config", str(study), "--out", str(tmp_path / "out"), "--format", "html"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
    )
    proc.stdout.close()  # every write to stdout or stderr now fails with EPIPE
    proc.stderr.close()
    assert proc.wait(timeout=300) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        outdir.MANIFEST,
        "claims.csv",
        "report-data.npz",
        "report.html",
        "results.json",
        "runs.csv",
        "summary.md",
    ]


def test_handlers_are_removed_after_a_build():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    run_main("build", "--set", "training.epochs=0")
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_interrupt_handler_sets_the_cancel_event_once():
    from reportgen.cli import _interrupts
    from reportgen.errors import Interrupted

    with _interrupts() as cancel:
        with pytest.raises(Interrupted) as err:
            signal.raise_signal(signal.SIGTERM)
        assert cancel.is_set() and cancel.signal_name == "SIGTERM" and err.value.exit_code == 143
        signal.raise_signal(signal.SIGINT)  # a second signal is ignored: the clean-up of the first goes on
    assert str(err.value) == "interrupted (SIGTERM); the previous report was left as it was"


def test_a_build_under_way_counts_what_it_holds_as_available(monkeypatch):
    """The in-build memory check (runs trained again after a damaged entry, builds called from Python) adds what the
    build's processes already hold to the available memory: it is part of the estimate, and would otherwise count
    twice."""
    import os

    from reportgen.config import validate
    from reportgen.errors import ConfigError

    est = budget.estimate(validate({"training": {"epochs": 10, "seeds": 2}}), 4)
    held = budget.resident(os.getpid())
    assert held > 10e6 and budget.resident(2**31 - 1) == 0  # this interpreter; a process that does not exist
    monkeypatch.setattr(budget, "available_memory", lambda: est.memory - held / 2)
    budget.check_fits_now(est, [os.getpid()])  # fits: half of what it holds is still to come
    with pytest.raises(ConfigError, match="needs about"):
        budget.check_fits(est, budget.available_memory())  # the same numbers, counted as a build not yet started
    monkeypatch.setattr(budget, "available_memory", lambda: est.memory - 2 * held)
    with pytest.raises(ConfigError, match="needs about"):
        budget.check_fits_now(est, [os.getpid()])
