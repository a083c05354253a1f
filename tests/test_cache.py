"""The run cache: what its key covers, damaged entries, reuse without TensorFlow, reproducible outputs, re-rendering."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from reportgen import markdown, pipeline
from reportgen.cache import RunCache, run_key, run_keys
from reportgen.config import load_config
from reportgen.plan import Run, RunResult, plan_runs
from tests.conftest import light, tiny_config, tiny_raw, write_study


def _key(**changes) -> str:
    config = tiny_config(**changes)
    return run_key(plan_runs(config)[1], config)


def test_key_covers_what_changes_weights_and_nothing_else():
    base = _key()
    for same in (
        {"title": "Another title"},
        {"analysis": {"confidence": 0.9, "margins": {"accuracy": 0.02}}},
        {"output": {"formats": ["html"]}},
        {"data": {"n_samples": 60, "test_samples": 900}},
    ):
        assert _key(**same) == base, same
    for other in (
        {"model": {"learning_rate": 0.02}},
        {"training": {"epochs": 7, "seeds": [0, 1], "batch_size": 16}},
        {"data": {"noise": 0.3, "n_samples": 60, "test_samples": 200}},
        {"data": {"seed": 1, "n_samples": 60, "test_samples": 200}},
    ):
        assert _key(**other) != base, other


def _result(run: Run) -> RunResult:
    rng = np.random.default_rng(0)
    w = [rng.normal(size=s).astype(np.float32) for s in ((2, 4), (4,), (4, 1), (1,))]
    history = {k: rng.normal(size=5) for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "penalty")}
    return RunResult(run, w, history, 5, None, 3, [x * 2 for x in w], None, 0.6931, {2: [x * 3 for x in w]})


def test_entries_round_trip_and_a_flipped_byte_is_noticed(tmp_path):
    config = tiny_config()
    run = plan_runs(config)[0]
    keys = {run.key: run_key(run, config)}
    cache = RunCache(tmp_path)
    cache.store([_result(run)], keys)
    got = cache.lookup([run], keys).hits[run.key]
    want = _result(run)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(
            got.weights + got.min_val_weights + got.snapshots[2], want.weights + want.min_val_weights + want.snapshots[2]
        )
    )
    assert (got.epochs_run, got.min_val_epoch, got.diverged_at, got.initial_loss) == (5, 3, None, 0.6931)
    entry = next(tmp_path.rglob("*.run"))
    blob = bytearray(entry.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    entry.write_bytes(bytes(blob))
    found = cache.lookup([run], keys)
    assert not found.hits and len(found.damaged) == 1 and "damaged" in found.damaged[0] and run.key in found.damaged[0]


def test_entries_of_earlier_versions_are_not_read(tmp_path, monkeypatch):
    """Entries written before runs kept their loss at initialization (format 1: .npz or .run files) sit under other
    keys: their runs are trained again, never judged without it. An entry at the current key without one is damaged."""
    from reportgen import cache as cache_module

    config = tiny_config()
    run = plan_runs(config)[0]
    with monkeypatch.context() as patched:
        patched.setattr(cache_module, "CACHE_FORMAT", 1)
        old = {run.key: run_key(run, config)}
    keys = {run.key: run_key(run, config)}
    assert old != keys
    RunCache(tmp_path / "old").store([_result(run)], old)
    assert not RunCache(tmp_path / "old").lookup([run], keys).hits
    payload = cache_module._pack(_result(run))  # the same entry with its header's initial loss taken out
    size = int.from_bytes(payload[4:8], "little")
    header = json.loads(payload[8 : 8 + size])
    del header["meta"]["initial_loss"]
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % cache_module.ALIGN)
    bare = cache_module.MAGIC + len(text).to_bytes(4, "little") + text + payload[8 + size :]
    monkeypatch.setattr(cache_module, "_pack", lambda r: bare)
    RunCache(tmp_path / "bare").store([_result(run)], keys)
    found = RunCache(tmp_path / "bare").lookup([run], keys)
    assert not found.hits and "damaged" in found.damaged[0]


HEAVY = ("scipy.stats", "sklearn", "statsmodels", "matplotlib", "tensorflow")


def _subprocess_build(args, cwd, env_extra=None):
    """A build in a fresh process; its stdout also says which heavy libraries were imported when the HTML was made
    ('BEFORE-HTML: ...') and whether TensorFlow was imported at all ('TF-LOADED' or 'NO-TF', last)."""
    code = (
        "import sys\nfrom reportgen import report\nhtml = report.render_html\n"
        "def seen(ctx):\n"
        f"    print('BEFORE-HTML:', *[m for m in {HEAVY!r} if m in sys.modules])\n"
        "    return html(ctx)\n"
        "report.render_html = seen\n"
        "from reportgen.cli import main\ncode = main(sys.argv[1:])\n"
        "print('TF-LOADED' if 'tensorflow' in sys.modules else 'NO-TF')\nsys.exit(code)"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd(), **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def light_cache(light_tiny_build, tmp_path):
    """A copy of the light tiny build's run cache (fake-trained runs: a cached run is read back the same whichever
    trainer stored it) with its kept analysis, claims and stand-in figures, for a test whose builds read and write one."""
    cache = tmp_path / "tiny-cache"
    shutil.copytree(light_tiny_build[1].parent / ".reportgen-cache", cache)
    return cache


# the tiny study cut to what every figure kind needs (two variants, one with early stopping and dropout; two replicates;
# a sweep point; frames of training after epoch 1 and at the end) on a coarse grid: what is drawn for real below
SMALL_STUDY = tiny_raw(
    training={"epochs": 2, "seeds": [0, 1], "batch_size": 16},
    variants=[{"name": "baseline"}, {"name": "l1+drop <i>", "l1": 0.001, "dropout": 0.2, "early_stopping": {"patience": 2}}],
    analysis={"grid_resolution": 20},
    output={"dir": "out", "formats": ["html"]},
)


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    """A light build (tests/conftest.py light: fake training, stand-in figures) of SMALL_STUDY; return (output folder,
    study file). Read-only: for the tests below that draw its figures for real (rebuild, render) or retrain its runs."""
    from reportgen.cli import main

    root = tmp_path_factory.mktemp("small-build")
    study = write_study(root / "study.toml", SMALL_STUDY)
    with pytest.MonkeyPatch.context() as mp, light(mp):
        assert main(["build", "--config", str(study), "--quiet"]) == 0
    return root / "out", study


def test_cached_rebuild_imports_no_tensorflow_and_is_byte_identical(small_build, tmp_path):
    """Every run comes from the cache, so which trainer stored the entries does not matter: the small light build's
    fake-trained entries (its kept analysis and stand-in figures left out) are rebuilt as real ones would be."""
    _, study = small_build
    cache = tmp_path / "cache"
    shutil.copytree(study.parent / ".reportgen-cache", cache, ignore=shutil.ignore_patterns("derived"))
    outs = [tmp_path / "first", tmp_path / "out"]
    # the same build twice into one folder (the first's files kept aside): first measuring and drawing, with the helper
    # process (drawing half the figures if its imports are done in time; tests/test_figures.py compares its figures'
    # bytes for certain); then, without the helper, taking the analysis and figures the first kept (reportgen.memo)
    # then twice more without the helper: once drawing the figures from the analysis read back (their kept copy removed),
    # once taking both analysis and figures as kept; both take the runs' texts of results.json as the first kept them;
    # every report is the same bytes
    for helper, kept in (("", ()), ("1", ("analysis",)), ("1", ("analysis", "figures"))):
        if kept == ("analysis",):
            [entry.unlink() for entry in (cache / "derived").glob("figures-*")]
            assert len(list((cache / "derived").glob("runs-*"))) == 1
        proc = _subprocess_build(
            [
                "build",
                "--config",
                str(study),
                "--out",
                str(tmp_path / "out"),
                "--format",
                "html",
                "--cache-dir",
                str(cache),
                "--set",
                'title="A new title"',
            ],
            tmp_path,
            {"SOURCE_DATE_EPOCH": "1700000000", "REPORTGEN_NO_HELPER": helper},
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().endswith("NO-TF") and "models from the cache" in proc.stderr
        assert ("every one and their analysis in the run cache" in proc.stderr) == bool(kept)  # no data or memory check
        for stage in ("analysis", "figures"):
            assert (f"{stage} (from the cache)" in proc.stderr) == (stage in kept), proc.stderr
        assert ("claims (from the cache)" in proc.stderr) == bool(kept)  # made from the same analysis
        if len(kept) == 2:  # nothing to measure, judge or draw: the report is made before scipy and the data are loaded
            assert "BEFORE-HTML:\n" in proc.stdout, proc.stdout
            assert proc.stderr.index("✓ report") < proc.stderr.index("✓ data"), proc.stderr
        if not outs[0].exists():
            shutil.copytree(tmp_path / "out", outs[0])
        for name in ("report.html", "results.json", "summary.md"):  # report-data.npz is the kept bytes themselves
            assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), (name, kept)
    html = (outs[0] / "report.html").read_text()
    assert "A new title" in html and str(tmp_path) not in html and str(study.parent) not in html
    assert str(study.parent) not in (outs[0] / "results.json").read_text()


def test_changes_retrain_exactly_the_runs_they_touch(small_build, tmp_path, light_build):
    _, study = small_build
    cache = tmp_path / "cache"  # a copy of the small build's run cache, its kept analysis included
    shutil.copytree(study.parent / ".reportgen-cache", cache)
    base = [f'output.dir="{tmp_path / "o"}"', f'output.cache="{cache}"', 'output.formats=["html"]']
    config = load_config(study, base)
    total = len(plan_runs(config))
    changed = load_config(
        study, base + ['variants=[{name="baseline"}, {name="l1+drop <i>", l1=0.002, dropout=0.2, early_stopping={patience=2}}]']
    )
    assert pipeline.build(changed, quiet=True).trained == 2  # the two replicates of the changed variant
    key = min(run_keys(plan_runs(config), config).values())  # an entry of the first study's (not the changed variant's)
    entry = cache / key[:2] / f"{key}.run"
    entry.write_bytes(entry.read_bytes()[:-7] + b"garbage")
    result = pipeline.build(config, quiet=True)
    assert result.trained == 1 and result.cached == total - 1
    lr = load_config(study, base + ["model.learning_rate=0.02"])
    assert pipeline.build(lr, quiet=True).trained == total


# `python -c LIGHT_CLI build ...` with the repository on PYTHONPATH: the reportgen command with its builds made light
# (tests/conftest.py light: the fake trainer, stand-in figures, no helper process), for a test of what several processes
# do to the files they share, not of their figures
LIGHT_CLI = (
    "import pytest\nfrom tests.conftest import light\nfrom reportgen.cli import run\n"
    "with pytest.MonkeyPatch.context() as mp, light(mp):\n    run()"
)


def test_two_builds_sharing_a_cache_do_not_corrupt_it(tmp_path):
    study = write_study(
        tmp_path / "s.toml",
        tiny_raw(
            training={"epochs": 2, "seeds": [0, 1]},
            variants=[{"name": "baseline"}],
            sweeps={"l1": [0.01]},
            analysis={"grid_resolution": 20},  # the coarsest grid: what they measure does not matter
            output={"dir": "out"},
        ),
    )
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                LIGHT_CLI,  # two processes storing the same entries at once: what they store does not matter
                "build",
                "--config",
                str(study),
                "--out",
                str(tmp_path / f"o{i}"),
                "--format",
                "html",
                "--quiet",
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        for i in range(2)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    config = load_config(study)
    runs = plan_runs(config)
    found = RunCache(config.output.cache).lookup(runs, run_keys(runs, config))
    assert len(found.hits) == len(runs) and not found.damaged
    assert not list((tmp_path / ".reportgen-cache").rglob(".tmp-*"))


def test_render_rebuilds_the_report_from_outputs_alone(small_build, tmp_path, capsys):
    """From the small light build's outputs (its analysis is real; render draws the figures itself, for real, without a
    helper process: this is about what render reads and imports)."""
    out, _ = small_build
    args = ["render", str(out), "--out", str(tmp_path / "r"), "--format", "html"]
    proc = _subprocess_build(args, tmp_path, {"REPORTGEN_NO_HELPER": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("NO-TF")
    html = (tmp_path / "r" / "report.html").read_text()
    assert "What this build found" in html and html.count("data:image/png;base64,") >= 8
    assert json.loads((tmp_path / "r" / "results.json").read_text()) == json.loads((out / "results.json").read_text())
    from reportgen.cli import main

    assert main(["render", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a reportgen output folder" in err and "Traceback" not in err


@pytest.mark.parametrize("flag", ["--no-cache"])
def test_no_cache_writes_no_cache(tmp_path, flag, light_build):
    from reportgen.cli import main

    study = write_study(
        tmp_path / "s.toml",
        tiny_raw(training={"epochs": 1, "seeds": [0]}, variants=[{"name": "baseline"}], sweeps={"l1": []}, output={"dir": "out"}),
    )
    assert main(["build", "--config", str(study), "--format", "html", "--quiet", flag]) == 0
    assert not (tmp_path / ".reportgen-cache").exists() and (tmp_path / "out" / "report.html").exists()


def test_compare_opens_the_report_and_fail_on_changed_exits_1_only_beyond_noise(light_tiny_build, light_cache, tmp_path, capsys):
    from reportgen.cli import main

    out, study = light_tiny_build
    old = json.loads((out / "results.json").read_text())
    assert set(old["sweep_choices"]) == {"l1"} and old["sweep_choices"]["l1"]["strength"] == 0.01  # the one L1 sweep point
    claim = next(c for c in old["claims"] if len(c["primary"]["per_replicate"]["values"]) >= 2)
    was = claim["verdict"]
    claim["verdict"] = "contradicted" if was != "contradicted" else "supported"  # as if main had said otherwise
    (tmp_path / "old.json").write_text(json.dumps(old))
    args = [
        "build",
        "--config",
        str(study),
        "--out",
        str(tmp_path / "new"),
        "--format",
        "html",
        "--cache-dir",
        str(light_cache),
        "--quiet",
        "--compare",
        str(tmp_path / "old.json"),
        "--fail-on",
        "changed",
    ]
    assert main(args) == 0  # the same runs: the effect did not move, so the other label is a borderline change
    summary = (tmp_path / "new" / "summary.md").read_text()
    shown = markdown.escape(str(tmp_path / "old.json"))  # as summary.md shows a path: its underscores escaped
    assert summary.startswith(f"### Changes since {shown}") and "**Borderline changes**" in summary
    assert f"(`{claim['key']}`) | {claim['verdict']} | **{was}** |" in summary
    assert 'id="changes"' in (tmp_path / "new" / "report.html").read_text()
    claim["primary"]["per_replicate"]["values"] = [v - 1.0 for v in claim["primary"]["per_replicate"]["values"]]
    (tmp_path / "old.json").write_text(json.dumps(old))  # and now its effect too, by far more than the noise
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"--fail-on changed: 1 verdict(s) changed: {claim['key']}: {claim['verdict']} → {was} (effect " in err
    assert "moved beyond noise" in err
    assert main(["build", "--config", str(study), "--fail-on", "regressed"]) == 2
    assert "--fail-on regressed: needs --compare OLD" in capsys.readouterr().err


def test_stored_tables_keep_every_float_exactly():
    """A sweep strength read back must find its runs again (0.3 once came back as 0.30000000000000004)."""
    import pandas as pd

    from reportgen import store

    df = pd.DataFrame(
        {
            "strength": [0.3, 0.1, 3e-4, 1e-3 * 3, 0.30000000000000004, 2 / 3],
            "kind": ["dropout", None, *"abcd"],
            "n": range(6),
            "kept": [True, False] * 3,
            "low": [float("nan"), *range(5)],
        }
    )
    back = store._frame_of(store._table(df))
    assert back["strength"].tolist() == df["strength"].tolist() and back.equals(df)


def test_kept_analysis_and_figures_follow_what_they_are_made_of(tmp_path):
    """The memo's key ignores the title and output settings and follows measurement settings and the runs; a damaged
    entry is a miss; only the newest entries of a kind stay."""
    from reportgen import memo

    config = tiny_config()
    digests = [f"{i:064x}" for i in range(len(plan_runs(config)))]  # the SHA-256 of each run's entry
    same = memo.key("analysis", memo.study_settings(config), digests)
    for changes in ({"title": "Another"}, {"output": {"formats": ["html"], "dir": "elsewhere"}}):
        assert memo.key("analysis", memo.study_settings(tiny_config(**changes)), digests) == same, changes
    assert memo.key("analysis", memo.study_settings(tiny_config(analysis={"confidence": 0.9})), digests) != same
    assert memo.key("analysis", memo.study_settings(config), digests[::-1]) != same  # the runs' order
    assert memo.key("analysis", memo.study_settings(config), [*digests[:-1], "f" * 64]) != same  # one run retrained
    versions = {**memo._versions(), "contourpy": "0.0"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(memo, "_versions", lambda: versions)
        assert memo.key("analysis", memo.study_settings(config), digests) != same  # a library's version
        mp.setattr(memo, "code_digest", lambda: "edited")
        assert memo.key("analysis", memo.study_settings(config), digests) != same  # reportgen's code
    store = memo.Memo(tmp_path)
    store.put("analysis", same, b"measured")
    assert store.get("analysis", same) == b"measured" and store.get("analysis", "other") is None
    entry = next((tmp_path / memo.FOLDER).glob("*.memo"))
    entry.write_bytes(entry.read_bytes()[:-1] + b"X")
    assert store.get("analysis", same) is None
    for i in range(memo.KEEP + 3):
        store.put("figures", f"k{i}", b"png")
        entry = tmp_path / memo.FOLDER / f"figures-k{i}.memo"
        os.utime(entry, (1_000_000 + i, 1_000_000 + i))  # one second apart, however coarse the file system's clock
    kept = sorted(p.name for p in (tmp_path / memo.FOLDER).glob("figures-*.memo"))
    assert kept == sorted(f"figures-k{i}.memo" for i in range(3, memo.KEEP + 3))  # the newest stay
    assert memo.Memo(None).get("analysis", same) is None  # --no-cache keeps nothing
    assert memo.unpack_figures(b"\x05\x00\x00\x00[[1]]") is None  # not pack_figures' bytes: drawn again


def test_a_build_skips_its_checks_only_when_every_run_and_the_analysis_are_kept(light_tiny_build, light_cache):
    """The command line skips the data and memory checks (there is nothing to train or measure) only when every run
    has an entry and the analysis of those entries is kept; a missing entry, a missing analysis or a changed setting
    that the analysis depends on brings the checks back."""
    _, study = light_tiny_build
    cache = light_cache
    at = [f'output.cache="{cache}"']
    config = load_config(study, at)
    runs = plan_runs(config)
    assert pipeline.kept_throughout(config, runs)
    assert pipeline.kept_throughout(load_config(study, [*at, 'title="another title"']), runs)
    assert not pipeline.kept_throughout(load_config(study, [*at, "analysis.grid_resolution=41"]), runs)
    assert not pipeline.kept_throughout(load_config(study, [*at, "model.learning_rate=0.02"]), runs)
    key = min(run_keys(runs, config).values())  # an entry of this study's runs
    entry = cache / key[:2] / f"{key}.run"
    entry.rename(entry.with_suffix(".away"))
    assert not pipeline.kept_throughout(config, runs)
    entry.with_suffix(".away").rename(entry)
    [kept.unlink() for kept in (cache / "derived").glob("analysis-*")]
    assert not pipeline.kept_throughout(config, runs)
