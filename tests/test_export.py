"""reportgen export mlflow: a finished build (made with the fake trainer) into a local file store in a temporary folder
(MLflow 3 keeps it behind MLFLOW_ALLOW_FILE_STORE; a SQLite store takes 10 s to create its tables), read back with
mlflow.search_runs: one parent per build, one nested run per run, with the study's settings,
verdicts, measures, per-epoch losses and files; a second export adds nothing; bad input is one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import reportgen
from reportgen.cli import main
from reportgen.export import name
from tests.conftest import light, tiny_raw, write_study

mlflow = pytest.importorskip("mlflow")
EXPERIMENT = "export test"
# two variants (one with a name MLflow keys cannot hold as it is), two replicates, three epochs, no sweep: seconds
SMALL = dict(
    training={"epochs": 3, "seeds": [0, 1], "batch_size": 16},
    variants=[{"name": "baseline"}, {"name": "l1+drop <i>", "l1": 0.001, "dropout": 0.2}],
    sweeps={"l1": []},
    analysis={"grid_resolution": 20},
    output={"cache": ""},
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny study built once, light (tests/conftest.py light: the fake trainer, stand-in figures), then exported by
    the command in its own process (as a user runs it: its terminal output is what the test reads). Returns (output
    folder, tracking URI, stdout, stderr)."""
    root = tmp_path_factory.mktemp("export")
    study = write_study(root / "study.toml", tiny_raw(**SMALL))
    with pytest.MonkeyPatch.context() as patch, light(patch):
        built = reportgen.build(reportgen.load_study(study), out=root / "out", quiet=True)
    uri = (root / "mlruns").as_uri()
    command = [sys.executable, "-m", "reportgen", "export", "mlflow", str(built.out_dir), "--tracking-uri", uri]
    proc = subprocess.run(
        [*command, "--experiment", EXPERIMENT], capture_output=True, text=True, cwd=root, timeout=300, env=_env()
    )
    assert proc.returncode == 0, proc.stderr
    return built.out_dir, uri, proc.stdout, proc.stderr


def _env() -> dict:
    """The environment without the user's MLflow settings (the test names its own store), the file store allowed."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}, "MLFLOW_ALLOW_FILE_STORE": "true"}


@pytest.fixture(autouse=True)
def file_store(monkeypatch):
    """The file store allowed in this process too."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _runs(uri: str) -> pd.DataFrame:
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(experiment_names=[EXPERIMENT])
    finally:
        mlflow.set_tracking_uri(None)


def test_one_parent_and_one_nested_run_per_run(exported):
    out, uri, stdout, stderr = exported
    found, runs = _runs(uri), pd.read_csv(out / "runs.csv")
    parents = found[found["tags.mlflow.parentRunId"].isna()]
    children = found[found["tags.mlflow.parentRunId"].notna()]
    assert (
        len(parents) == 1
        and len(children) == len(runs)
        and set(children["tags.mlflow.parentRunId"]) == {parents["run_id"].iloc[0]}
    )
    assert sorted(children["tags.mlflow.runName"]) == sorted(runs["key"])
    assert (found["status"] == "FINISHED").all()
    # one line on the terminal, naming the run; none of MLflow's own log lines
    assert stderr == "" and stdout.splitlines() == [
        f"exported {out} to MLflow experiment {EXPERIMENT!r} ({uri}): run {parents['run_id'].iloc[0]} with "
        f"{len(runs)} nested runs"
    ]


def test_the_parent_holds_the_study_verdicts_and_files(exported, tmp_path):
    out, uri, _, _ = exported
    parent = _runs(uri).query("`tags.reportgen.role` == 'build'").iloc[0]
    results = json.loads((out / "results.json").read_text())
    assert parent["tags.reportgen.build_id"] == results["data_sha256"]
    assert parent["params.training.epochs"] == str(results["study"]["training"]["epochs"])
    assert parent["params.variants.1.l1"] == "0.001" and parent["params.variants.1.name"] == "l1+drop <i>"
    assert parent["params.training.seeds"] == "[0, 1]"
    claims = pd.read_csv(out / "claims.csv")
    for row in claims.itertuples():
        key = name(row.key.replace(":", "."))  # 'simpler_boundary.l1_drop _i_': MLflow's portable characters
        assert parent[f"tags.{key}/verdict"] == row.verdict
        for measure in ("effect", "p_adjusted", "flip_probability"):  # a number each, or no metric where there is none
            value = getattr(row, measure)
            logged = parent.get(f"metrics.{key}/{measure}")
            assert logged == pytest.approx(value) if pd.notna(value) else logged is None or pd.isna(logged)
    assert parent["metrics.claims/supported"] == (claims["verdict"] == "supported").sum()
    listed = {a.path for a in mlflow.MlflowClient(uri).list_artifacts(parent["run_id"])}
    assert listed == {p.name for p in out.iterdir() if not p.name.startswith(".")}  # report, tables, results, data
    copy = mlflow.artifacts.download_artifacts(
        run_id=parent["run_id"], artifact_path="results.json", dst_path=str(tmp_path), tracking_uri=uri
    )
    assert Path(copy).read_bytes() == (out / "results.json").read_bytes()


def test_each_nested_run_holds_its_measures_and_losses_per_epoch(exported):
    out, uri, _, _ = exported
    children = _runs(uri).query("`tags.reportgen.role` == 'run'").set_index("tags.reportgen.key")
    results = json.loads((out / "results.json").read_text())
    client = mlflow.MlflowClient(uri)
    for run in results["runs"]:
        child = children.loc[run["key"]]
        assert child["tags.reportgen.variant"] == run["variant"] and child["params.replicate"] == str(run["seed"])
        assert child["metrics.test_accuracy"] == pytest.approx(run["test_accuracy"])
        assert child["params.settings.l1"] == json.dumps(run["settings"]["l1"])
        history = client.get_metric_history(child["run_id"], "epoch/val_loss")
        assert [m.step for m in history] == list(range(1, len(run["history"]["val_loss"]) + 1))
        assert [m.value for m in history] == pytest.approx(run["history"]["val_loss"])


def test_exporting_again_adds_nothing_unless_asked(exported, capsys):
    out, uri, _, _ = exported
    parent = _runs(uri).query("`tags.reportgen.role` == 'build'")["run_id"].iloc[0]
    before = len(_runs(uri))
    assert main(["export", "mlflow", str(out), "--tracking-uri", uri, "--experiment", EXPERIMENT]) == 0
    assert f"is already in MLflow experiment {EXPERIMENT!r} as run {parent}; nothing exported" in capsys.readouterr().out
    assert len(_runs(uri)) == before
    assert main(["export", "mlflow", str(out), "--tracking-uri", uri, "--experiment", EXPERIMENT, "--again"]) == 0
    again = _runs(uri)
    assert len(again) == 2 * before and (again["tags.reportgen.role"] == "build").sum() == 2


def test_a_judged_folder_exports_its_runs_without_histories(exported, tmp_path):
    _, uri, _, _ = exported
    rows = [
        {"variant": v, "replicate": s, "train_accuracy": 0.9 - d, "test_accuracy": 0.8 + d / 2 + s / 100}
        for s in range(3)
        for v, d in (("plain", 0.0), ("strong", 0.05))
    ]
    study = reportgen.load_study(variants=[{"name": "plain"}, {"name": "strong", "l2": 0.01}], title="judged")
    reportgen.judge(pd.DataFrame(rows), study, out=tmp_path / "judged")
    assert main(["export", "mlflow", str(tmp_path / "judged"), "--tracking-uri", uri, "--experiment", "judged"]) == 0
    mlflow.set_tracking_uri(uri)
    try:
        found = mlflow.search_runs(experiment_names=["judged"])
    finally:
        mlflow.set_tracking_uri(None)
    assert len(found) == 1 + len(rows) and found["tags.reportgen.runs_from"].dropna().tolist() == ["runs"]
    assert not [c for c in found.columns if c.startswith("metrics.epoch/")]


def test_without_mlflow_one_line_says_how_to_install_it(exported, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    assert main(["export", "mlflow", str(exported[0]), "--tracking-uri", exported[1]]) == 2
    assert capsys.readouterr().err.splitlines() == ["reportgen: error: MLflow is not installed: pip install 'reportgen[mlflow]'"]


@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_a_folder_that_is_not_a_build_is_one_line(tmp_path, capsys, folder):
    (tmp_path / "empty").mkdir()
    assert main(["export", "mlflow", str(tmp_path / folder), "--tracking-uri", f"sqlite:///{tmp_path / 'db'}"]) == 2
    err = capsys.readouterr().err.splitlines()
    where = tmp_path / folder / ("results.json" if folder == "empty" else "")
    assert err == [f"reportgen: error: {where}: not found (give a build's output folder or its results.json)"]
    assert not (tmp_path / "db").exists()


def test_an_export_that_fails_part_way_leaves_no_runs(exported, tmp_path, monkeypatch, capsys):
    uri = (tmp_path / "mlruns").as_uri()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mlflow.MlflowClient, "log_artifact", full)
    assert main(["export", "mlflow", str(exported[0]), "--tracking-uri", uri, "--experiment", "full"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"reportgen: error: --tracking-uri {uri}: [Errno 28] No space left on device (the runs made so far were deleted)"
    ]
    mlflow.set_tracking_uri(uri)
    try:
        assert mlflow.search_runs(experiment_names=["full"]).empty  # deleted: no search finds half a build
    finally:
        mlflow.set_tracking_uri(None)


def test_a_file_store_mlflow_refuses_is_one_line(exported, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    uri = (tmp_path / "mlruns").as_uri()
    assert main(["export", "mlflow", str(exported[0]), "--tracking-uri", uri]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"reportgen: error: --tracking-uri {uri}: MLflow 3 opens a file store only with MLFLOW_ALLOW_FILE_STORE=true set; "
        "or use a database, e.g. sqlite:///mlflow.db"
    ]
