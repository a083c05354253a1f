"""Save a build's StudyAnalysis (and the data its figures draw) as one .npz, and load it back: `reportgen render`
re-renders a report from a previous build's outputs alone, with no training and no TensorFlow.

Only arrays and JSON text go in (np.load with allow_pickle=False), so opening a report-data file from a CI artifact
cannot run code.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict

import numpy as np
import pandas as pd

from reportgen.analysis import BoundarySet, DataInfo, Design, PruneSearch, Setup, StudyAnalysis, log_bands
from reportgen.data import Dataset, View
from reportgen.measures import Frame

FILE = "report-data.npz"
TABLES = (
    "runs",
    "layers",
    "summary",
    "paired",
    "sweeps",
    "sparsity_curves",
    "pruning",
    "twins",
    "data_runs",
    "data_sweeps",
    "reliability",
)
# 4: where the prunable share was searched; 5: the failed runs; 6: the study's setup and sweep points; 7: reliability
FORMAT = 7


def _table(df: pd.DataFrame) -> str:
    """A table as JSON with every float exact (pandas' own JSON keeps 15 digits: a sweep strength of 0.3 read back
    would no longer find its runs) and its column types."""
    if not len(df.columns):
        return "{}"
    split = df.to_dict(orient="split", index=False)
    return json.dumps({"columns": split["columns"], "data": split["data"], "dtypes": [str(t) for t in df.dtypes]})


def _frame_of(text: str) -> pd.DataFrame:
    if text == "{}":
        return pd.DataFrame()
    table = json.loads(text)
    df = pd.DataFrame(table["data"], columns=table["columns"])
    for column, dtype in zip(table["columns"], table["dtypes"]):
        if dtype != "object":
            df[column] = df[column].astype(dtype)
    return df


def save(analysis: StudyAnalysis, data: Dataset) -> bytes:
    """The analysis and the first replicate's points as .npz bytes."""
    a = analysis
    arrays: dict[str, np.ndarray] = {"frame_xs": a.frame.xs, "frame_ys": a.frame.ys, "frame_region": a.frame.region}
    if a.bayes_grid is not None:
        arrays["bayes_grid"] = a.bayes_grid
    for split in ("train", "val", "test"):
        arrays[f"data_x_{split}"], arrays[f"data_y_{split}"] = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
    if a.view is not None:
        arrays["view_origin"], arrays["view_axes"] = a.view.origin, a.view.axes
    names = list(a.variants)
    for i, v in enumerate(names):
        for key, values in a.histories[v].items():
            arrays[f"hist_{i}_{key}"] = values
        if v in a.boundaries:
            b = a.boundaries[v]
            arrays[f"bound_{i}_probs"], arrays[f"bound_{i}_background"] = (
                b.probs.astype(np.float32),
                b.background.astype(np.float32),
            )
        if v in a.first_layer:
            arrays[f"first_{i}"] = a.first_layer[v]
        for epoch, grid in a.snapshots.get(v, {}).items():
            arrays[f"snap_{i}_{epoch}"] = grid.astype(np.float32)
    sweep_points = list(a.sweep_boundaries)
    for j, point in enumerate(sweep_points):
        b = a.sweep_boundaries[point]
        arrays[f"sweep_{j}_probs"], arrays[f"sweep_{j}_background"] = b.probs.astype(np.float32), b.background.astype(np.float32)
    keys = list(a.test_predictions)
    bits = all(p.dtype == bool for p in a.test_predictions.values())  # two classes: one bit per point, else a byte
    for j, key in enumerate(keys):
        arrays[f"pred_{j}"] = np.packbits(a.test_predictions[key]) if bits else a.test_predictions[key].astype(np.uint8)
    meta = {
        "format": FORMAT,
        "variants": names,
        "reference": a.reference,
        "seeds": a.seeds,
        "design": {k: v for k, v in asdict(a.design).items() if k != "source" or v},  # a build's file as before
        "diverged": a.diverged,
        "failed": a.failed,
        "prune_search": asdict(a.prune_search),
        "bayes": a.bayes,
        "thresholds": a.thresholds,
        "confidence": a.confidence,
        "chance": a.chance,
        "boundary_seeds": {v: b.seeds for v, b in a.boundaries.items()},
        "sweep_points": [[k, s, a.sweep_boundaries[(k, s)].seeds] for k, s in sweep_points],
        "prediction_keys": keys,
        "prediction_sizes": [int(a.test_predictions[k].size) for k in keys],
        "prediction_bits": bits,
        "data_info": asdict(a.data),
        "dataset": {
            "class_names": list(data.class_names),
            "feature_names": list(data.feature_names),
            "has_generator": data.has_generator,
        },
        "view": None
        if a.view is None
        else {"labels": list(a.view.labels), "measured": a.view.measured, "sentence": a.view.sentence},
        "tables": {t: _table(getattr(a, t)) for t in TABLES},
        "setup": a.setup.as_json(),
        "sweep_names": [[k, s, name] for (k, s), name in a.sweep_points.items()],
        "unmeasured": list(a.unmeasured),
        "unpaired": list(a.unpaired),
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


class DataFileError(ValueError):
    """A report-data file that cannot be read: not a zip of arrays, cut short, of another format, or damaged inside."""


def load(blob: bytes) -> tuple[StudyAnalysis, Dataset]:
    """The analysis and the first replicate's points back from save()'s bytes; anything else raises DataFileError."""
    if not blob.startswith(b"PK"):  # else numpy would try it as a pickle, and suggest allow_pickle
        raise DataFileError("not a reportgen data file (not a zip archive of arrays)" if blob else "empty file")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(bytes(arrays.pop("meta")).decode("utf-8"))
    except Exception as err:  # zipfile, zlib, numpy's header parser, json: a damaged file fails in any of them
        raise DataFileError(f"damaged ({type(err).__name__}: {str(err)[:120]})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise DataFileError(f"report data of format {found}, this reportgen reads format {FORMAT}")
    try:
        return _analysis(arrays, meta)
    except Exception as err:  # keys or shapes that are not what save() writes
        raise DataFileError(f"damaged ({type(err).__name__}: {str(err)[:120]})") from None


def _analysis(arrays: dict[str, np.ndarray], meta: dict) -> tuple[StudyAnalysis, Dataset]:
    """The analysis and the first replicate's points from the file's arrays and its metadata."""
    names = meta["variants"]
    frame = Frame(arrays["frame_xs"], arrays["frame_ys"], arrays["frame_region"].astype(bool))
    histories = {v: {k.split("_", 2)[2]: arrays[k] for k in arrays if k.startswith(f"hist_{i}_")} for i, v in enumerate(names)}
    tables = {t: _frame_of(text) for t, text in meta["tables"].items()}
    runs = tables["runs"]
    ds = meta["dataset"]
    data = Dataset(
        *(arrays[f"data_{xy}_{s}"] for s in ("train", "val", "test") for xy in ("x", "y")),
        class_names=tuple(ds["class_names"]),
        feature_names=tuple(ds["feature_names"]),
        has_generator=ds["has_generator"],
    )
    unpack = (lambda b, n: np.unpackbits(b)[:n].astype(bool)) if meta["prediction_bits"] else (lambda b, n: b)  # noqa: E731
    preds = {k: unpack(arrays[f"pred_{j}"], n) for j, (k, n) in enumerate(zip(meta["prediction_keys"], meta["prediction_sizes"]))}
    view = (
        None
        if meta["view"] is None
        else View(
            arrays["view_origin"],
            arrays["view_axes"],
            tuple(meta["view"]["labels"]),
            meta["view"]["measured"],
            meta["view"]["sentence"],
        )
    )
    info = DataInfo.from_json(meta["data_info"])
    analysis = StudyAnalysis(
        variants=names,
        reference=meta["reference"],
        seeds=meta["seeds"],
        design=Design(**{**meta["design"], "looks": tuple(meta["design"].get("looks", ()))}),
        runs=runs,
        main_runs=runs[runs["variant"].isin(names) & (runs["init"] == 0)] if len(runs) else runs,
        **{t: tables[t] for t in TABLES if t != "runs"},
        histories=histories,
        loss_bands={  # none for a table of runs judged (reportgen judge): it has no losses per epoch
            v: log_bands(h, meta["confidence"], meta["design"].get("correction", 0.0)) if h else {} for v, h in histories.items()
        },
        boundaries={
            v: BoundarySet(
                frame.xs, frame.ys, arrays[f"bound_{i}_probs"], meta["boundary_seeds"][v], arrays[f"bound_{i}_background"]
            )
            for i, v in enumerate(names)
            if f"bound_{i}_probs" in arrays
        },
        sweep_boundaries={
            (k, s): BoundarySet(frame.xs, frame.ys, arrays[f"sweep_{j}_probs"], seeds, arrays[f"sweep_{j}_background"])
            for j, (k, s, seeds) in enumerate(meta["sweep_points"])
        },
        snapshots={
            v: {int(k.rsplit("_", 1)[1]): arrays[k] for k in arrays if k.startswith(f"snap_{i}_")}
            for i, v in enumerate(names)
            if any(k.startswith(f"snap_{i}_") for k in arrays)
        },
        first_layer={v: arrays[f"first_{i}"] for i, v in enumerate(names) if f"first_{i}" in arrays},
        diverged=[tuple(d) for d in meta["diverged"]],
        failed=[tuple(f) for f in meta["failed"]],
        prune_search=PruneSearch(**{**meta["prune_search"], "fractions": tuple(meta["prune_search"]["fractions"])}),
        bayes=meta["bayes"],
        bayes_grid=arrays.get("bayes_grid"),
        frame=frame,
        thresholds=meta["thresholds"],
        confidence=meta["confidence"],
        test_predictions=preds,
        chance=meta["chance"],
        data=info,
        view=view,
        setup=Setup.from_json(meta["setup"]),
        first=data,
        sweep_points={(k, float(strength)): name for k, strength, name in meta["sweep_names"]},
        unmeasured=tuple(meta.get("unmeasured", ())),
        unpaired=tuple(meta.get("unpaired", ())),
    )
    return analysis, data
