"""`reportgen export mlflow OUT_DIR`: a finished output folder (a build's, or a judged table's) into an MLflow
tracking store, with no retraining: everything comes from the folder's validated results.json and its runs.csv.

What it writes, in the experiment named by --experiment (default: the study's title):

- one parent run per build: the study's settings as parameters (flattened to dotted keys, within MLflow's limits),
  each claim's verdict as a tag and its effect, interval, p-values and flip probability as metrics, the verdict counts,
  and the folder's report, summary.md, results.json, report-data.npz and CSV tables as artifacts;
- one nested run per run of the build (variant, replicate and initialization): its variant's settings as parameters,
  its final measures as metrics, and its losses and accuracies per epoch as steps of the metrics `epoch/...`.

Exporting a build that is already in the experiment (a finished parent run tagged with the same reportgen.build_id)
exports nothing and says which run holds it; --again exports another copy. An export that fails part way deletes
the runs it made, so a search never finds half a build.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import re
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportgen.errors import ConfigError, ReportgenError, shorten

INSTALL = "MLflow is not installed: pip install 'reportgen[mlflow]'"
BUILD_ID = "reportgen.build_id"  # the parent run's tag that says which build it holds
ROLE = "reportgen.role"  # 'build' on the parent run, 'run' on the nested ones
MAX_KEY = 250  # MLflow's longest param, metric and tag key
MAX_PARAM = 6000  # its longest param value
MAX_TAG = 8000  # its longest tag value
BATCH_METRICS = 1000  # what one log_batch call takes at most
BATCH_PARAMS_TAGS = 100
ARTIFACTS = ("report.html", "report.pdf", "summary.md", "results.json", "report-data.npz", "runs.csv", "claims.csv")
NOT_MEASURES = frozenset({"replicate", "init"})  # columns of runs.csv that say who a run is, not what it measured


class MissingMlflow(ReportgenError):
    """MLflow is not installed (the optional extra reportgen[mlflow])."""

    exit_code = 2


@dataclass(frozen=True)
class Exported:
    """What an export did: the experiment, the parent run, how many nested runs; already: the build was there before
    and nothing was written (parent_run_id is then the earlier run's)."""

    experiment_id: str
    experiment: str
    parent_run_id: str
    children: int
    build_id: str
    tracking_uri: str
    already: bool = False


def name(text: str) -> str:
    """Any text as an MLflow key part that is valid on every platform: letters, digits, '_', '-', '.', ' ' kept,
    anything else (':', '/', '+', '<', ...) as '_', never a path that resolves elsewhere ('.', '..')."""
    out = re.sub(r"[^\w\-. ]", "_", text).strip() or "_"
    return "_" * len(out) if set(out) == {"."} else out


def unique_names(texts: list[str]) -> dict[str, str]:
    """Each text's name(), made unique by a suffix where two would otherwise be the same."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for text in texts:
        base = name(text)[: MAX_KEY - 40]  # room for the prefix and suffix the key is built with
        candidate, k = base, 1
        while candidate in used:
            k += 1
            candidate = f"{base}_{k}"
        used.add(candidate)
        out[text] = candidate
    return out


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """A JSON value as (dotted key, text) pairs: tables by key, lists of tables by index, other lists as JSON text."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
        for i, item in enumerate(value):
            yield from flatten(item, f"{prefix}.{i}")
    else:
        yield prefix, value if isinstance(value, str) else json.dumps(value)


def params_of(value: Any, prefix: str = "") -> tuple[dict[str, str], list[str]]:
    """A JSON value as MLflow params (keys made valid, values within MLflow's length limit) and the keys whose value
    had to be cut (their whole value is in results.json)."""
    params: dict[str, str] = {}
    cut: list[str] = []
    for key, text in flatten(value, prefix):
        key = "/".join(name(part) for part in key.split("/"))[:MAX_KEY]
        if len(text) > MAX_PARAM:
            text, cut = text[: MAX_PARAM - 1] + "…", [*cut, key]
        params[key] = text
    return params, cut


def _finite(value: Any) -> float | None:
    """A number MLflow can store as a metric (a flag as 0 or 1), or None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


@contextlib.contextmanager
def _quiet():
    """Keep MLflow's own log lines, warnings and prints (database migrations, 'View run ...') off the terminal."""
    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic", "sqlalchemy", "urllib3", "git")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _mlflow():
    """The mlflow package, or MissingMlflow (one line: how to install it)."""
    try:
        with _quiet():
            import mlflow  # noqa: F401
            from mlflow import MlflowClient
    except ImportError:
        raise MissingMlflow(INSTALL) from None
    return MlflowClient


def _first_line(err: Exception) -> str:
    """An MLflow error as one short line."""
    text = str(getattr(err, "message", None) or err).strip()
    if "MLFLOW_ALLOW_FILE_STORE" in text:  # MLflow 3 refuses a file store unless told otherwise
        return (
            "MLflow 3 opens a file store only with MLFLOW_ALLOW_FILE_STORE=true set; or use a database, e.g. sqlite:///mlflow.db"
        )
    return shorten(text.splitlines()[0] if text else type(err).__name__, 300)


def schema_file(path: Path) -> Path:
    """The results.json an output folder (or the file itself) names: a one-line ConfigError when there is none."""
    from reportgen import schema

    return schema.locate(path)


def read(path: Path):
    """A finished folder's results.json (validated: a problem is one line naming the file and key), its bytes, and
    its runs.csv as a DataFrame (made from results.json for a build from before the tables), as reportgen.load reads
    them; a folder a killed build left half-swapped is restored first."""
    from reportgen import schema, tables
    from reportgen.outdir import recover

    folder = path.parent if path.is_file() else path
    if folder.is_dir():
        recover(folder.resolve())
    file = schema_file(path)
    text = schema.read_bytes(file)
    results = schema.parse(text, str(file))
    table = file.parent / tables.RUNS_FILE
    runs = tables.read_table(table if table.is_file() else io.BytesIO(tables.tables_of(results)[tables.RUNS_FILE]))
    return results, text, runs


def build_id(results, results_bytes: bytes) -> str:
    """A build's id: the SHA-256 of its report-data.npz that results.json records, or (a results.json from before it
    did) the SHA-256 of results.json itself."""
    return results.data_sha256 or hashlib.sha256(results_bytes).hexdigest()


def to_mlflow(out_dir: Path, tracking_uri: str | None = None, experiment: str | None = None, again: bool = False) -> Exported:
    """Export a finished output folder into MLflow (the module's docstring says what goes where). tracking_uri: None
    for MLflow's own default (MLFLOW_TRACKING_URI, else its default store); experiment: None for the study's title.
    Problems are one line each: a folder that is not a finished build (ConfigError), no MLflow (MissingMlflow), a
    store MLflow cannot open or write (ConfigError naming the URI)."""
    results, text, runs = read(Path(out_dir))
    folder = schema_file(Path(out_dir)).parent.resolve()
    ident = build_id(results, text)
    Client = _mlflow()
    where = f"--tracking-uri {tracking_uri}" if tracking_uri else "the MLflow tracking store"
    title = results.study.title or folder.name
    experiment = experiment if experiment is not None else title
    if not experiment.strip():
        raise ConfigError(["--experiment: an experiment needs a name"])
    with _quiet():
        try:
            client = Client(tracking_uri=tracking_uri)
            uri = str(client.tracking_uri)
            found = client.get_experiment_by_name(experiment[:500])
            experiment_id = found.experiment_id if found is not None else client.create_experiment(experiment[:500])
            if not again:
                earlier = client.search_runs(
                    [experiment_id],
                    filter_string=f"tags.`{BUILD_ID}` = '{ident}' and attributes.status = 'FINISHED'",
                    max_results=1,
                )
                if earlier:
                    return Exported(experiment_id, experiment, earlier[0].info.run_id, 0, ident, uri, already=True)
        except Exception as err:  # MLflow's own errors, and those of its store's drivers
            raise ConfigError([f"{where}: {_first_line(err)}"]) from None
        made: list[str] = []
        try:
            parent = _parent(client, experiment_id, results, runs, folder, ident, made)
            children = _children(client, experiment_id, parent, results, runs, made)
            for run_id in [*made[1:], parent]:
                client.set_terminated(run_id, "FINISHED")
        except BaseException as err:
            for run_id in made:  # nothing half-exported: a search finds the whole build or none of it
                with contextlib.suppress(Exception):
                    client.delete_run(run_id)
            if isinstance(err, Exception) and not isinstance(err, ReportgenError):  # an interruption stays one
                raise ConfigError([f"{where}: {_first_line(err)} (the runs made so far were deleted)"]) from None
            raise
    return Exported(experiment_id, experiment, parent, children, ident, uri)


def _log(client, run_id: str, metrics=(), params=(), tags=()) -> None:
    """Log in batches of the sizes MLflow takes."""
    from mlflow.entities import Metric, Param, RunTag

    metrics, params, tags = list(metrics), list(params), list(tags)
    for start in range(0, len(metrics), BATCH_METRICS):
        client.log_batch(run_id, metrics=[Metric(*m) for m in metrics[start : start + BATCH_METRICS]])
    for start in range(0, len(params), BATCH_PARAMS_TAGS):
        client.log_batch(run_id, params=[Param(k, v) for k, v in params[start : start + BATCH_PARAMS_TAGS]])
    for start in range(0, len(tags), BATCH_PARAMS_TAGS):
        client.log_batch(run_id, tags=[RunTag(k, v[:MAX_TAG]) for k, v in tags[start : start + BATCH_PARAMS_TAGS]])


def _parent(client, experiment_id: str, results, runs, folder: Path, ident: str, made: list[str]) -> str:
    """The build's run: the study as params, the verdicts as tags and metrics, the folder's files as artifacts."""
    from reportgen import __version__

    now = int(time.time() * 1000)
    title = results.study.title or folder.name
    tags = {
        "mlflow.runName": shorten(title, 200),
        BUILD_ID: ident,
        ROLE: "build",
        "reportgen.version": __version__,
        "reportgen.built_with": results.reportgen,
        "reportgen.out_dir": str(folder),
    }
    if results.design.runs_from:
        tags["reportgen.runs_from"] = results.design.runs_from
    run = client.create_run(experiment_id, start_time=now, tags=tags)
    run_id = run.info.run_id
    made.append(run_id)
    params, cut = params_of(results.study.model_dump(mode="json"))
    claim_tags, metrics = {}, []
    names = unique_names([c.key.replace(":", ".") for c in results.claims])  # 'less_overfitting.l1' (':' is not portable)
    for c in results.claims:
        key = names[c.key.replace(":", ".")]
        claim_tags[f"{key}/verdict"] = c.verdict
        f = c.primary
        e = f.effect if f is not None else None
        values = {
            "effect": e.mean if e else None,
            "ci_low": e.ci_low if e else None,
            "ci_high": e.ci_high if e else None,
            "p_value": f.p_value if f else None,
            "p_adjusted": f.p_adjusted if f else None,
            "flip_probability": c.flip_probability,
            "borderline": c.borderline,
        }
        metrics += [(f"{key}/{k}", v, now, 0) for k, value in values.items() if (v := _finite(value)) is not None]
    verdicts = [c.verdict for c in results.claims]
    for verdict in ("supported", "contradicted", "no meaningful effect", "inconclusive"):
        metrics.append((f"claims/{name(verdict)}", float(verdicts.count(verdict)), now, 0))
    metrics.append(("runs/count", float(len(runs)), now, 0))
    metrics.append(("runs/failed", float((runs["failed"].astype(str) != "").sum()), now, 0))
    if cut:
        claim_tags["reportgen.params_cut"] = ", ".join(cut)  # their whole values are in results.json
    _log(client, run_id, metrics, sorted(params.items()), sorted(claim_tags.items()))
    for artifact in ARTIFACTS:
        if (folder / artifact).is_file():
            client.log_artifact(run_id, str(folder / artifact))
    return run_id


def _children(client, experiment_id: str, parent: str, results, runs, made: list[str]) -> int:
    """One nested run per run of the build: who it is, its variant's settings, its final measures and its per-epoch
    history as steps."""
    now = int(time.time() * 1000)
    histories = {r.key: r.history or {} for r in results.runs}
    settings = {r.key: r.settings for r in results.runs}
    measures = [c for c in runs.columns if c not in (*NOT_MEASURES, "variant", "key", "failed")]
    for row in runs.to_dict(orient="records"):
        key = str(row["key"])
        tags = {
            "mlflow.parentRunId": parent,
            "mlflow.runName": shorten(key, 200),
            ROLE: "run",
            "reportgen.key": key,
            "reportgen.variant": str(row["variant"]),
            "reportgen.replicate": str(row["replicate"]),
            "reportgen.init": str(row["init"]),
        }
        if row["failed"]:
            tags["reportgen.failed"] = str(row["failed"])
        run = client.create_run(experiment_id, start_time=now, tags=tags)
        made.append(run.info.run_id)
        params, _ = params_of(settings.get(key) or {}, "settings")
        params |= {"variant": str(row["variant"])[:MAX_PARAM], "replicate": str(row["replicate"]), "init": str(row["init"])}
        metrics = [(name(m), v, now, 0) for m in measures if (v := _finite(row[m])) is not None]
        for series, values in histories.get(key, {}).items():
            metrics += [
                (f"epoch/{name(series)}", v, now, epoch)
                for epoch, value in enumerate(values, start=1)
                if (v := _finite(value)) is not None
            ]
        _log(client, run.info.run_id, metrics, sorted(params.items()))
    return len(runs)
