"""Measure every run and summarise across seeds: pure numpy / pandas, no plotting, no files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reportgen.config import StudyConfig
from reportgen.data import Dataset, grid
from reportgen.models import Network, accuracy_and_loss, predict_logits, predict_proba
from reportgen.stats import estimate, estimate_columns
from reportgen.training import HISTORY_KEYS, RunResult, settings_key, sweep_variant
from reportgen.training.runs import SWEEP_KINDS

SPARSITY_CURVE = np.logspace(-5, 0, 41)  # thresholds for the |w| < t curve
PRUNE_FRACTIONS = np.array([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99])
COMPLEXITY_RESOLUTION = 100  # grid used for the boundary-length measure of every run

# Per-run metrics summarised in the results table: column -> (label, how to read it).
METRICS = {
    "train_accuracy": "Train accuracy",
    "test_accuracy": "Test accuracy",
    "gap": "Generalization gap (train − test accuracy)",
    "train_loss": "Train loss",
    "test_loss": "Test loss",
    "loss_gap": "Loss gap (test − train loss)",
    "val_loss": "Validation loss",
    "epochs_run": "Epochs run",
    "boundary_length": "Decision-boundary length",
    "val_loss_tv": "Validation-loss roughness",
    "val_loss_slope": "Late validation-loss trend (per 100 epochs)",
    "kernel_l1": "L1 norm of hidden kernels",
    "kernel_l2": "L2 norm of hidden kernels",
}


def metric_label(metric: str) -> str:
    """Human label of a metric column, including the sparsity columns below_<t>."""
    if metric.startswith("below_"):
        return f"Share of hidden weights with |w| < {metric.removeprefix('below_')}"
    return METRICS.get(metric, metric)


def metric_kind(metric: str) -> str:
    """How a metric reads: 'pct' (a share, shown in percent), 'int' (a count) or 'num'."""
    if metric.endswith("accuracy") or metric == "gap" or metric.startswith("below_"):
        return "pct"
    return "int" if metric == "epochs_run" else "num"


@dataclass(frozen=True)
class BoundarySet:
    """Predicted probabilities on a grid: probs[seed, row, col]."""

    xs: np.ndarray
    ys: np.ndarray
    probs: np.ndarray


@dataclass(frozen=True)
class StudyAnalysis:
    """Everything measured in one build, ready for figures and the report."""

    variants: list[str]
    seeds: list[int]
    runs: pd.DataFrame  # one row per trained run (main variants and sweep points): its metrics
    main_runs: pd.DataFrame  # the rows of the main variants, named as in the study (a run may serve a sweep too)
    layers: pd.DataFrame  # one row per run and hidden layer: weight statistics
    summary: pd.DataFrame  # one row per variant and metric: mean, low, high, n
    sweeps: pd.DataFrame  # one row per sweep kind, strength and metric: mean, low, high, n
    sparsity_curves: pd.DataFrame  # variant, layer, threshold, mean, low, high
    pruning: pd.DataFrame  # variant, fraction, mean, low, high
    histories: dict[str, dict[str, np.ndarray]]  # variant -> key -> [seeds, epochs] (NaN after a stop)
    boundaries: dict[str, BoundarySet]  # main variants, every seed
    sweep_boundaries: dict[tuple[str, float], BoundarySet]  # sweep point -> first seed only
    first_layer: dict[str, np.ndarray]  # variant -> first-layer kernel weights of every seed, flattened
    thresholds: list[float]
    confidence: float
    chance: float = 0.5  # accuracy of always predicting the test set's majority class


def boundary_length(probs: np.ndarray, dx: float, dy: float) -> float:
    """Length of the 0.5 contour, measured as class changes between neighbouring grid cells (Manhattan length)."""
    cls = probs > 0.5
    return float(np.sum(cls[:, 1:] != cls[:, :-1]) * dy + np.sum(cls[1:, :] != cls[:-1, :]) * dx)


def roughness(val_loss: np.ndarray, window: float) -> float:
    """Mean absolute epoch-to-epoch change of the validation loss over the last `window` share of training."""
    tail = val_loss[int(len(val_loss) * (1 - window)):]
    return float(np.mean(np.abs(np.diff(tail)))) if tail.size > 1 else float("nan")


def late_slope(val_loss: np.ndarray, window: float) -> float:
    """Least-squares slope of the validation loss over the last `window` share of training, per 100 epochs."""
    tail = val_loss[int(len(val_loss) * (1 - window)):]
    return float(np.polyfit(np.arange(tail.size), tail, 1)[0] * 100) if tail.size > 2 else float("nan")


def _layer_rows(result: RunResult, network: Network, thresholds: list[float]) -> list[dict]:
    rows = []
    for layer, idx in enumerate(network.kernel_indices()[:-1]):
        signed = result.weights[idx].ravel()
        w = np.abs(signed)
        row = {"layer": layer + 1, "weights": w.size, "min": float(signed.min()), "max": float(signed.max()),
               "min_abs": float(w.min()), "max_abs": float(w.max()), "exact_zeros": int(np.sum(signed == 0)),
               "mean_abs": float(w.mean()), "l1_norm": float(w.sum()), "l2_norm": float(np.sqrt(np.sum(w**2)))}
        row.update({f"below_{t:g}": float(np.mean(w < t)) for t in thresholds})
        rows.append(row)
    return rows


def _run_row(result: RunResult, network: Network, data: Dataset, config: StudyConfig, cgrid) -> dict:
    xs, ys, pts = cgrid
    row = {"variant": result.run.variant.name, "seed": result.run.seed, "settings": settings_key(result.run.variant)}
    for split in ("train", "val", "test"):
        z = predict_logits(network, result.weights, getattr(data, f"x_{split}"))
        row[f"{split}_accuracy"], row[f"{split}_loss"] = accuracy_and_loss(z, getattr(data, f"y_{split}"))
    row["gap"] = row["train_accuracy"] - row["test_accuracy"]
    row["loss_gap"] = row["test_loss"] - row["train_loss"]
    row["epochs_run"] = result.epochs_run
    row["best_epoch"] = result.best_epoch
    probs = predict_proba(network, result.weights, pts).reshape(len(ys), len(xs))
    row["boundary_length"] = boundary_length(probs, float(xs[1] - xs[0]), float(ys[1] - ys[0]))
    row["val_loss_tv"] = roughness(result.history["val_loss"], config.analysis.stability_window)
    row["val_loss_slope"] = late_slope(result.history["val_loss"], config.analysis.stability_window)
    hidden = [np.abs(result.weights[i]) for i in network.kernel_indices()[:-1]]
    row["kernel_l1"] = float(sum(w.sum() for w in hidden))
    row["kernel_l2"] = float(np.sqrt(sum(np.sum(w**2) for w in hidden)))
    first = hidden[0].ravel()
    row["first_min_abs"], row["first_max_abs"] = float(first.min()), float(first.max())
    for t in config.analysis.sparsity_thresholds:
        row[f"below_{t:g}"] = float(np.mean(np.concatenate([w.ravel() for w in hidden]) < t))
    return row


def _is_share(metric: str) -> bool:
    """Accuracies and fractions live in [0, 1]; their t intervals are clipped there."""
    return metric.endswith("accuracy") or metric.startswith("below_")


def summarise(df: pd.DataFrame, keys: list[str], metrics: list[str], confidence: float) -> pd.DataFrame:
    """Mean, interval and count of each metric for each group of rows (one row per group and metric)."""
    rows = []
    for group, part in df.groupby(keys, sort=False):
        group = group if isinstance(group, tuple) else (group,)
        for metric in metrics:
            e = estimate(part[metric].to_numpy(dtype=float), confidence)
            low, high = (max(e.low, 0.0), min(e.high, 1.0)) if _is_share(metric) else (e.low, e.high)
            rows.append({**dict(zip(keys, group)), "metric": metric, "mean": e.mean, "low": low, "high": high, "n": e.n})
    return pd.DataFrame(rows)


def _stacked(results: list[RunResult]) -> list[np.ndarray]:
    return [np.stack(arrays) for arrays in zip(*(r.weights for r in results))]


def _pruning(results: list[RunResult], network: Network, data: Dataset, confidence: float) -> list[dict]:
    """Test accuracy after zeroing the smallest share of all kernel weights (global magnitude pruning)."""
    acc = np.zeros((len(results), len(PRUNE_FRACTIONS)))
    kernels = network.kernel_indices()
    for s, result in enumerate(results):
        mags = np.sort(np.concatenate([np.abs(result.weights[i]).ravel() for i in kernels]))
        for j, frac in enumerate(PRUNE_FRACTIONS):
            cut = mags[int(frac * (mags.size - 1))] if frac > 0 else -1.0
            pruned = [np.where(np.abs(w) <= cut, 0.0, w) if i in kernels else w for i, w in enumerate(result.weights)]
            acc[s, j] = accuracy_and_loss(predict_logits(network, pruned, data.x_test), data.y_test)[0]
    mean, low, high = estimate_columns(acc, confidence)
    return [{"fraction": f, "mean": m, "low": lo, "high": hi} for f, m, lo, hi in zip(PRUNE_FRACTIONS, mean, low, high)]


def _sparsity_curves(results: list[RunResult], network: Network, confidence: float) -> list[dict]:
    rows = []
    for layer, idx in enumerate(network.kernel_indices()[:-1]):
        below = np.array([[np.mean(np.abs(r.weights[idx]) < t) for t in SPARSITY_CURVE] for r in results])
        mean, low, high = estimate_columns(below, confidence)
        rows += [{"layer": layer + 1, "threshold": t, "mean": m, "low": lo, "high": hi}
                 for t, m, lo, hi in zip(SPARSITY_CURVE, mean, low, high)]
    return rows


def _padded_histories(results: list[RunResult], epochs: int) -> dict[str, np.ndarray]:
    out = {}
    for key in HISTORY_KEYS:
        arr = np.full((len(results), epochs), np.nan)
        for s, r in enumerate(results):
            arr[s, : len(r.history[key])] = r.history[key]
        out[key] = arr
    return out


def _boundaries(results: list[RunResult], network: Network, data: Dataset, resolution: int) -> BoundarySet:
    xs, ys, pts = grid(data.bounds(), resolution)
    probs = predict_proba(network, _stacked(results), pts).reshape(len(results), len(ys), len(xs))
    return BoundarySet(xs=xs, ys=ys, probs=probs)


def analyse(results: list[RunResult], data: Dataset, config: StudyConfig) -> StudyAnalysis:
    """Measure every run, then summarise variants, sweeps, sparsity and pruning across seeds."""
    conf, thresholds = config.analysis.confidence, config.analysis.sparsity_thresholds
    cgrid = grid(data.bounds(), COMPLEXITY_RESOLUTION)
    by_settings: dict[str, list[RunResult]] = {}
    by_name: dict[str, list[RunResult]] = {}
    for r in results:
        by_settings.setdefault(settings_key(r.run.variant), []).append(r)
        by_name.setdefault(r.run.variant.name, []).append(r)
    net = lambda rs: Network.of(rs[0].run.variant, config.model)  # noqa: E731
    rows, layer_rows = [], []
    for r in results:
        network = Network.of(r.run.variant, config.model)
        rows.append(_run_row(r, network, data, config, cgrid))
        layer_rows += [{"variant": r.run.variant.name, "seed": r.run.seed, **lr} for lr in _layer_rows(r, network, thresholds)]
    runs = pd.DataFrame(rows)
    names = [v.name for v in config.variants]
    main = {n: by_name[n] for n in names}
    metric_cols = list(METRICS) + [f"below_{t:g}" for t in thresholds] + ["first_min_abs", "first_max_abs"]
    main_rows = runs[runs["variant"].isin(names)]
    summary = summarise(main_rows, ["variant"], metric_cols, conf)
    sweep_rows, sweep_bounds = [], {}
    for kind in SWEEP_KINDS:
        for strength in getattr(config.sweeps, kind):
            key = settings_key(sweep_variant(kind, strength))
            members = by_settings[key]
            first = members[0].run.variant.name  # runs of the first variant with these settings
            members = [m for m in members if m.run.variant.name == first]
            part = runs[runs["variant"] == first].assign(kind=kind, strength=strength)
            sweep_rows.append(part)
            sweep_bounds[(kind, strength)] = _boundaries(members[:1], net(members), data, config.analysis.grid_resolution)
    sweeps = summarise(pd.concat(sweep_rows), ["kind", "strength"], metric_cols, conf) if sweep_rows else pd.DataFrame()
    curves = pd.DataFrame([{"variant": n, **row} for n in names for row in _sparsity_curves(main[n], net(main[n]), conf)])
    pruning = pd.DataFrame([{"variant": n, **row} for n in names for row in _pruning(main[n], net(main[n]), data, conf)])
    return StudyAnalysis(
        variants=names,
        seeds=list(config.training.seeds),
        runs=runs,
        main_runs=main_rows,
        layers=pd.DataFrame(layer_rows),
        summary=summary,
        sweeps=sweeps,
        sparsity_curves=curves,
        pruning=pruning,
        histories={n: _padded_histories(main[n], config.training.epochs) for n in names},
        boundaries={n: _boundaries(main[n], net(main[n]), data, config.analysis.grid_resolution) for n in names},
        sweep_boundaries=sweep_bounds,
        first_layer={n: np.concatenate([r.weights[0].ravel() for r in main[n]]) for n in names},
        thresholds=list(thresholds),
        confidence=conf,
        chance=float(max(data.y_test.mean(), 1 - data.y_test.mean())),
    )


def summary_value(analysis: StudyAnalysis, variant: str, metric: str) -> dict:
    """Return the summary row of one variant and metric as a dict (mean, low, high, n)."""
    row = analysis.summary[(analysis.summary["variant"] == variant) & (analysis.summary["metric"] == metric)]
    return row.iloc[0].to_dict()


def per_seed(analysis: StudyAnalysis, variant: str, metric: str) -> np.ndarray:
    """Values of a metric for a main variant, ordered by seed."""
    rows = analysis.main_runs[analysis.main_runs["variant"] == variant].sort_values("seed")
    return rows[metric].to_numpy(dtype=float)
