"""Measure every run and summarise across replicates: the only place numbers are made; no plotting, no files."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reportgen import data as data_module
from reportgen.config import WIDTH_AXIS, Margins, ModelConfig, StudyConfig, SweepConfig, TrainingConfig, VariantConfig, width
from reportgen.data import Dataset, View
from reportgen.datasets import DataSettings, data_config
from reportgen.datasets.base import TableNotes
from reportgen.datasets.planar import Moons
from reportgen.forward import ACTIVATION_BYTES, logits_many, logits_pruned, pruning_walk
from reportgen.measures import (
    Frame,
    boundary_measures,
    brier_score,
    contour_length,
    expected_calibration_error,
    prunable_share,
    prune_cuts,
    prune_failures,
    rebound,
    reliability_bins,
    roughness,
)
from reportgen.metrics import METRICS, run_columns
from reportgen.metrics import metric as metric_record
from reportgen.models import Network, accuracy_and_loss, at_once, per_core, predict_logits, predicted_class, probabilities
from reportgen.plan import HISTORY_KEYS, SWEEP_KINDS, Run, RunResult, settings_key, sweep_variant
from reportgen.regularizers import REGULARIZERS
from reportgen.stats import estimate, estimate_columns

SPARSITY_CURVE = np.logspace(-5, 0, 41)  # thresholds for the |w| < t curve
PRUNE_FRACTIONS = np.array([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99])
# Fractions tried for the prunable share: 2% steps, then finer ones near the top, where an L1 network's share lies (a
# network that keeps its accuracy with 1% of its weights left and one that needs 0.1% differ tenfold), up to 100%,
# which always fails (no kernel weight left: one class everywhere), so the search is never censored by its end.
PRUNE_SEARCH = np.asarray(np.r_[np.arange(0.0, 0.99, 0.02), 0.99, 0.995, 0.998, 0.999, 1.0]).round(3)
PRUNE_BATCH = 16  # runs whose pruned predictions are held at once ([runs, fractions, points] of them)
PRUNE_CURVE_POINTS = 500  # test points behind the pruning curve: a figure, not a verdict, at a quarter of the cost
REBOUND_SMOOTHING = 0.02  # share of the epochs in the moving average behind the validation-loss rebound


@dataclass(frozen=True)
class BoundarySet:
    """Predicted probabilities on the measuring grid: probs[run, row, col] (NaN outside the data region), and the
    first run's probabilities on the whole grid (the drawn background)."""

    xs: np.ndarray
    ys: np.ndarray
    probs: np.ndarray
    seeds: list[int]
    background: np.ndarray


@dataclass(frozen=True)
class PruneSearch:
    """Where the prunable share was searched and how finely: what the report says about its resolution."""

    points: int = 0  # evaluation points per replicate of the study's own data (0: none measured)
    fresh: bool = True  # fresh points of the generator (else the replicate's training and validation rows)
    tolerance: float = 0.01
    fractions: tuple[float, ...] = ()

    @property
    def resolution(self) -> float:
        """The accuracy one evaluation point is worth."""
        return 1.0 / self.points if self.points else float("nan")


# Why a run failed: it is then left out of every interval and verdict (its metrics are NaN), and named on page one.
FAILURES = {
    "diverged": "diverged (its loss became non-finite or exploded)",
    "no_progress": "ended with a training loss no lower than at initialization",
    "one_class": "predicts one class on all its test points",
}


def failure_reasons(
    diverged_at: int | None, initial_loss: float | None, final_train_loss: float, predictions: np.ndarray
) -> list[str]:
    """Why a run failed, as keys of FAILURES ([] when it did not): it diverged; its training loss at the end (its
    final weights on the training split, no penalty) is no lower than before its first step; it predicts one class on
    every test point. The last uses predictions alone, never test labels: nothing is chosen on the test set."""
    reasons = ["diverged"] if diverged_at is not None else []
    if initial_loss is not None and math.isfinite(initial_loss) and not final_train_loss < initial_loss:
        reasons.append("no_progress")  # a NaN final loss did not improve either
    if np.unique(np.asarray(predictions)).size < 2:
        reasons.append("one_class")
    return reasons


FAILED_SHORT = {
    "diverged": "diverged",
    "no_progress": "training loss no lower than at initialization",
    "one_class": "one class on all test points",
}


def failure_lines(analysis: StudyAnalysis, sweeps: bool = False) -> list[str]:
    """The failed runs, one line per variant (or data point) and initialization, or with sweeps=True per strength-sweep
    point: how many of its replicates failed and why, e.g. 'l1=0.1: 20 of 20 replicates: one class on all test points
    (20)'. A strength far too strong fails in every replicate: one line, not twenty."""
    failed = {key: (reasons, epoch) for key, reasons, epoch in analysis.failed}
    mains = set(analysis.variants)
    lines = []
    for (variant, init), part in analysis.runs.groupby(["variant", "init"], sort=False):
        if (str(variant).split(" @ ")[0] not in mains) != sweeps:
            continue
        bad = part[part["key"].isin(failed)]
        if bad.empty:
            continue
        why = []
        for reason in FAILURES:
            hit = [failed[k][1] for k in bad["key"] if reason in failed[k][0]]
            if hit:
                epochs = sorted({e for e in hit if e is not None})
                when = (
                    (f", epoch {epochs[0]}" if len(epochs) == 1 else f", epochs {epochs[0]} to {epochs[-1]}")
                    if reason == "diverged"
                    else ""
                )
                why.append(f"{FAILED_SHORT[reason]} ({len(hit)}{when})")
        seeds = f" (seed{'s' if len(bad) > 1 else ''} {', '.join(str(s) for s in bad['seed'])})" if len(bad) <= 3 else ""
        who = variant + (f" (initialization {init + 1})" if init else "")
        lines.append(f"{who}: {len(bad)} of {len(part)} replicate{'s' if len(part) != 1 else ''}{seeds}: {', '.join(why)}")
    return lines


@dataclass(frozen=True)
class Design:
    """What varies between replicates, and so what every interval covers."""

    replicates: int
    resample: bool
    twins: list[str]  # variants trained twice per replicate with different initial weights
    varies: list[str]  # the sources of randomness that differ between replicates
    scope: str = ""  # what the intervals are about, when it is not the generator (a table's rows)
    looks: tuple[int, ...] = ()  # an adaptive design's looks reached: replicates judged at each (empty: one fixed look)
    planned: int = 0  # an adaptive design's largest number of replicates (0: a fixed design)
    alpha: float = 0.05  # the level of every test (1 − confidence), which an adaptive design spends over its looks
    correction: float = 0.0  # n_test / n_train when replicates re-split one table's rows (Nadeau-Bengio), else 0
    source: str = ""  # the table of runs judged (reportgen judge: trained elsewhere); "" when the build trained its runs

    @property
    def sequential(self) -> bool:
        """Whether the number of replicates was adaptive (claims are then judged with alpha spent over the looks)."""
        return self.planned > 0

    def look_sizes(self) -> tuple[int, ...]:
        """Replicates at each look reached (one look of every replicate in a fixed design)."""
        return self.looks if self.sequential else (self.replicates,)

    def spending(self) -> tuple[float, ...]:
        """The share of alpha spent at each look reached (all of it at one look in a fixed design)."""
        from reportgen.decision import spending_weights

        return spending_weights(self.looks, self.planned, self.alpha) if self.sequential else (1.0,)

    def sentence(self) -> str:
        """Say in one sentence what the intervals cover."""
        if self.source:  # runs trained elsewhere: what differed between their replicates is the trainer's to say
            return (
                f"Intervals cover what differs between the {self.replicates} replicates of the table of runs "
                f"{self.source}, whatever its trainer varied between them (reportgen did not train these runs and cannot "
                f"tell which sources of randomness that was); variants with the same replicate number are compared as "
                f"pairs, which assumes they shared that replicate's data and initial weights."
            )
        return (
            f"Intervals cover what differs between the {self.replicates} replicates: {', '.join(self.varies[:-1])} "
            f"and {self.varies[-1]}; every variant of one replicate shares them, so comparisons are paired."
            + (f" {self.scope}" if self.scope else "")
        )


@dataclass(frozen=True)
class DataInfo:
    """What the report says about the data: its name, sizes, classes, features, the plane of its boundary figures,
    and what cannot be measured on it (one sentence each, empty when everything can)."""

    kind: str = "moons"
    title: str = "make_moons"
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    class_names: tuple[str, ...] = ("0", "1")
    feature_names: tuple[str, ...] = ("x1", "x2")
    view_labels: tuple[str, str] = ("x1", "x2")
    view_sentence: str = ""  # how the figures' plane was chosen ("" for the data's own plane)
    bayes_note: str = ""  # why there is no Bayes-optimal reference ("" when there is one)
    boundary_note: str = ""  # why boundaries are not measured ("" when they are)
    notes: TableNotes | None = None  # a file's one-hot encoded columns and missing cells (None: nothing to say)
    image_shape: tuple[int, ...] = ()  # the features are the pixels of an image of this shape (digits; () otherwise)

    @classmethod
    def from_json(cls, doc: dict) -> DataInfo:
        """The data's description back from its JSON form (dataclasses.asdict, lists for tuples)."""
        notes = doc.get("notes")
        plain = {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items() if k != "notes"}
        return cls(**plain, notes=None if notes is None else TableNotes.from_json(notes))

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def n_features(self) -> int:
        """Number of features."""
        return len(self.feature_names)


@dataclass(frozen=True)
class WeightImages:
    """First-layer weights drawn as the input image, for data whose features are an image's pixels: a few hidden units
    of the first replicate, and per pixel the share of its weights near zero, averaged over replicates."""

    units: np.ndarray  # [k, h, w]: the weights from each pixel into hidden units 1..k of the first replicate
    near_zero: np.ndarray  # [h, w]: share of a pixel's weights into every hidden unit with |w| < threshold, mean over
    #                        replicates
    threshold: float
    replicates: int
    hidden: int  # units of the first hidden layer
    seed: int  # the replicate the units are of: the variant's first that trained


@dataclass(frozen=True)
class Setup:
    """The study as claims, figures and the report read it after training: its variants and margins, and its data,
    network, training and sweep settings (paths relative to the study file). Its title and output settings are not
    here: an analysis kept in the cache serves builds that differ in those alone."""

    variants: tuple[VariantConfig, ...] = ()
    margins: Margins = field(default_factory=Margins)
    data: DataSettings = field(default_factory=Moons)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    sweeps: SweepConfig = field(default_factory=SweepConfig)

    @classmethod
    def of(cls, config: StudyConfig) -> Setup:
        """The setup of a study (its shareable form: no home folder travels in it)."""
        from reportgen.config import portable

        shared = portable(config)
        return cls(tuple(config.variants), config.analysis.margins, shared.data, shared.model, config.training, config.sweeps)

    def as_json(self) -> dict:
        """The setup as JSON-ready values (report-data.npz keeps it)."""
        dump = lambda m: m.model_dump(mode="json")  # noqa: E731
        return {
            "variants": [dump(v) for v in self.variants],
            "margins": dump(self.margins),
            "data": dump(self.data),
            "model": dump(self.model),
            "training": dump(self.training),
            "sweeps": dump(self.sweeps),
        }

    @classmethod
    def from_json(cls, doc: dict) -> Setup:
        """The setup back from as_json's values."""
        return cls(
            tuple(VariantConfig.model_validate(v) for v in doc["variants"]),
            Margins.model_validate(doc["margins"]),
            data_config(doc["data"]),
            ModelConfig.model_validate(doc["model"]),
            TrainingConfig.model_validate(doc["training"]),
            SweepConfig.model_validate(doc["sweeps"]),
        )

    def variant(self, name: str) -> VariantConfig | None:
        """A variant's settings by its name."""
        return next((v for v in self.variants if v.name == name), None)


@dataclass(frozen=True)
class StudyAnalysis:
    """Everything measured in one build, ready for claims, figures and the report."""

    variants: list[str]
    reference: str | None  # the unregularized variant comparisons are made against (found by its settings)
    seeds: list[int]
    design: Design
    runs: pd.DataFrame  # one row per trained run: its metrics (NaN for failed runs), why it failed ('failed')
    main_runs: pd.DataFrame  # rows of the main variants (init 0), named as in the study
    layers: pd.DataFrame  # one row per run and hidden layer: weight statistics
    summary: pd.DataFrame  # one row per variant and metric: mean, low, high, n
    paired: pd.DataFrame  # one row per variant and metric: mean, low, high, n of (variant − reference) by replicate
    sweeps: pd.DataFrame  # one row per sweep kind, strength and metric: mean, low, high, n
    sparsity_curves: pd.DataFrame  # variant, layer, threshold, mean, low, high
    pruning: pd.DataFrame  # variant, fraction, mean, low, high (test accuracy after pruning)
    histories: dict[str, dict[str, np.ndarray]]  # variant -> key -> [replicates, epochs] (NaN after a stop)
    loss_bands: dict[str, dict[str, tuple]]  # variant -> train_loss / val_loss -> (mean, low, high) per epoch
    boundaries: dict[str, BoundarySet]  # main variants, every replicate
    sweep_boundaries: dict[tuple[str, float], BoundarySet]  # sweep point -> first replicate only
    snapshots: dict[str, dict[int, np.ndarray]]  # variant -> epoch -> P(class 1) on the grid, first replicate
    first_layer: dict[str, np.ndarray]  # variant -> first-layer kernel weights of every replicate, flattened
    twins: pd.DataFrame  # variant, seed, acc_diff (init 0 − init 1), disagreement (share of test points)
    diverged: list[tuple[str, int]]  # (run key, epoch) of every run that diverged
    bayes: dict  # the generator's Bayes-optimal rule: boundary_length, boundary_pieces, test_accuracy (mean)
    bayes_grid: np.ndarray | None  # its P(class 1) on the frame's grid
    frame: Frame
    thresholds: list[float]
    confidence: float
    test_predictions: dict[str, np.ndarray]  # run key -> predicted class of each of its replicate's test points
    chance: float = 0.5  # accuracy of always predicting the majority class of the test sets
    data: DataInfo = field(default_factory=DataInfo)
    view: View | None = None  # the plane of the boundary figures (None: the data's own two features)
    data_runs: pd.DataFrame = field(default_factory=pd.DataFrame)  # variant, seed, axis, setting, n_train, metrics: the
    #   data sweeps' and the capacity sweep's (axis 'hidden_units', setting the network's width) runs
    data_sweeps: pd.DataFrame = field(default_factory=pd.DataFrame)  # axis, setting, n_train, variant, metric, kind,
    #                                                                  mean, low, high, n (paired difference or value)
    failed: list[tuple[str, list[str], int | None]] = field(default_factory=list)  # (run key, FAILURES keys, diverged_at)
    prune_search: PruneSearch = field(default_factory=PruneSearch)
    setup: Setup = field(default_factory=Setup)  # what was trained, how, and the study file: the only settings read later
    reliability: pd.DataFrame = field(default_factory=pd.DataFrame)  # variant, bin, lo, hi, confidence, accuracy, low,
    #   high, replicates, share: the reliability diagram of each main variant's test points
    first: Dataset | None = None  # the first replicate's data (what the figures draw)
    sweep_points: dict[tuple[str, float], str] = field(default_factory=dict)  # (kind, strength) -> its runs' variant name
    unpaired: tuple[str, ...] = ()  # variants of a factory whose networks could not start from the reference network's
    #   initial kernels (theirs differ in shape): their comparisons are paired by data and batch order only
    unmeasured: tuple[str, ...] = ()  # metrics this build's network offers nothing to measure on (a factory's network
    #   without kernels: reportgen.analysis.unmeasured_metrics); the claims that need them are not judged

    def weight_images(self, variant: str, units: int = 6) -> WeightImages | None:
        """A variant's first-layer weights as images (None: the features are no image, or the variant has no run)."""
        weights = self.first_layer.get(variant)
        if not self.data.image_shape or weights is None or not weights.size or self.setup.model.factory is not None:
            return None  # a factory's first layer need not be a Dense layer from the pixels
        shape, hidden = self.data.image_shape, self.setup.model.hidden_units[0]
        kernels = weights.reshape(-1, int(np.prod(shape)), hidden)  # [replicates, pixels, units], first replicate first
        threshold = max(self.thresholds)
        near_zero = (np.abs(kernels) < threshold).mean(axis=(0, 2)).reshape(shape)
        first = kernels[0][:, :units].T.reshape(-1, *shape)
        runs = self.main_runs[self.main_runs["variant"] == variant]
        seed = int(runs["seed"][~runs["failed"].map(bool)].iloc[0])  # first_layer keeps the runs that trained, in order
        return WeightImages(first, near_zero, threshold, len(kernels), hidden, seed)

    def snapshot_epochs(self) -> list[int]:
        """Every epoch after which some variant's first replicate kept its weights."""
        return sorted({e for v in self.variants if v in self.snapshots for e in self.snapshots[v]})

    def sweep_run(self, key: str) -> bool:
        """Whether a run is a strength-sweep point's (not one of the study's variants, its twins or data-sweep points)."""
        names = self.runs["variant"].to_numpy()[self.runs["key"].to_numpy() == key]
        return bool(names.size) and str(names[0]).split(" @ ")[0] not in set(self.variants)


def reference_variant(config: StudyConfig) -> str | None:
    """The first variant without any regularizer: what 'the baseline' means, whatever it is called."""
    plain = [v.name for v in config.variants if v.regularizers() == ()]
    return plain[0] if plain else None


def kernel_indices(result: RunResult, network: Network | None) -> list[int]:
    """Positions of a run's kernels among its weights, hidden layers first and the output layer's last: the MLP's
    Dense kernels, or for a factory's network every variable named kernel (Dense, convolution, ...) in its order,
    as its run stored them (reportgen.training.factory_fit)."""
    stored = result.outputs.get("kernels")
    if stored is not None:
        return [int(i) for i in stored]
    if network is None:
        raise ValueError(f"{result.run.key}: neither a network shape nor stored kernel positions")
    return network.kernel_indices()


def _hidden_kernels(result: RunResult, network: Network | None) -> list[np.ndarray]:
    """The kernels of every layer but the last (for a factory's network: every kernel but the last layer's)."""
    return [result.weights[i] for i in kernel_indices(result, network)[:-1]]


# what a network without hidden kernels (or without any kernel) cannot be measured on; a factory's network may be one
HIDDEN_KERNEL_METRICS = ("kernel_l1", "kernel_l2", "first_min_abs", "first_max_abs")


def _no_layers(thresholds: list[float]) -> pd.DataFrame:
    """The layer table of networks without hidden kernels (a factory's may have none): its columns, no row."""
    stats = ["weights", "min", "max", "min_abs", "max_abs", "exact_zeros", "mean_abs", "l1_norm", "l2_norm"]
    return pd.DataFrame(columns=["variant", "seed", "init", "key", "layer", *stats, *(f"below_{t:g}" for t in thresholds)])


def _layer_rows(result: RunResult, network: Network | None, thresholds: list[float]) -> list[dict]:
    rows = []
    for layer, kernel in enumerate(_hidden_kernels(result, network)):
        signed = kernel.ravel()
        w = np.abs(signed)
        row = {
            "layer": layer + 1,
            "weights": w.size,
            "min": float(signed.min()),
            "max": float(signed.max()),
            "min_abs": float(w.min()),
            "max_abs": float(w.max()),
            "exact_zeros": int(np.sum(signed == 0)),
            "mean_abs": float(w.mean()),
            "l1_norm": float(w.sum()),
            "l2_norm": float(np.sqrt(np.sum(w**2))),
        }
        row.update({f"below_{t:g}": float(np.mean(w < t)) for t in thresholds})
        rows.append(row)
    return rows


class _Evaluator:
    """Run a network on the points every measure needs, keeping the test predictions."""

    def __init__(self, frame: Frame, view: View, datasets: dict, first: Dataset, config: StudyConfig, known: dict | None = None):
        self.frame, self.view, self.datasets, self.first, self.config = frame, view, datasets, first, config
        # a run's grids for the figures, kept from one look of an adaptive build to the next (_measure_runs' known):
        # every look draws the same first replicates
        self.known = {} if known is None else known
        self.multiclass = first.n_classes > 2
        inside = _dilate(frame.region)
        self.grid_mask = inside.ravel()
        self.grid_points = frame.points[self.grid_mask]
        self._pruning: dict = {}

    def pruning_points(self, data_key) -> tuple[np.ndarray, np.ndarray]:
        """The points a run's prunable share is measured on: fresh points of the generator for its replicate (and data
        setting), or a table's training and validation rows (it has no others); never its test points."""
        if data_key not in self._pruning:
            seed, point = data_key if isinstance(data_key, tuple) else (data_key, None)
            data = self.datasets[data_key]
            cfg = point.apply(self.config.data) if point is not None else self.config.data
            fresh = data_module.pruning_points(cfg, seed, data)
            self._pruning[data_key] = (
                fresh
                if fresh is not None
                else (np.vstack([data.x_train, data.x_val]), np.concatenate([data.y_train, data.y_val]))
            )
        return self._pruning[data_key]

    def prune_search(self) -> PruneSearch:
        """Where the study's own runs' prunable shares are searched."""
        x, _ = self.pruning_points(self.config.training.seeds[0])
        return PruneSearch(
            len(x), self.config.data.generated, self.config.analysis.prune_tolerance, tuple(float(f) for f in PRUNE_SEARCH)
        )

    def inputs(self, points: np.ndarray, data: Dataset) -> np.ndarray:
        """Points of the view's plane as the inputs of one replicate's networks."""
        return self.view.inputs(points, self.first, data)

    def full_grid(self, result: RunResult, weights=None, epoch: int | None = None) -> np.ndarray:
        """P(class 1) [rows, cols] (P(each class) [rows, cols, K] beyond two) of a run, or of other weights of its
        network, on the whole grid, for drawing. A factory's run has its logits there stored (at the end of training,
        or after a snapshot epoch)."""
        if weights is None and epoch is None:
            return self._kept(("whole grid", result.run.key), lambda: self._full_grid(result, None, None))
        return self._full_grid(result, weights, epoch)

    def _kept(self, key: tuple, make):
        """What an earlier look kept under key, else make() kept there now."""
        if key not in self.known:
            self.known[key] = make()
        return self.known[key]

    def _full_grid(self, result: RunResult, weights, epoch: int | None) -> np.ndarray:
        if result.outputs:
            z = result.outputs["grid" if epoch is None else f"snap{epoch}"]
        else:
            data = self.datasets[result.run.data_key]
            network = Network.of(result.run.variant, result.run.model(self.config.model), data)
            z = predict_logits(network, result.weights if weights is None else weights, self.inputs(self.frame.points, data))
        return probabilities(z, self.multiclass).reshape(len(self.frame.ys), len(self.frame.xs), *z.shape[1:])

    def snapshot_grids(self, result: RunResult) -> dict[int, np.ndarray]:
        """A run's probabilities on the whole grid after each snapshot epoch it kept (its weights, or a factory's run's
        stored logits)."""
        if result.outputs:
            epochs = sorted(int(k[4:]) for k in result.outputs if k.startswith("snap"))
            make = lambda: {e: self._full_grid(result, None, e) for e in epochs}  # noqa: E731
        else:
            snaps = sorted(result.snapshots.items())

            def make() -> dict[int, np.ndarray]:  # the epochs one per core
                network = Network.of(result.run.variant, result.run.model(self.config.model), self.datasets[result.run.data_key])
                most = at_once(network, len(self.frame.points))  # as many as a batched call's activations allow
                grids = per_core(lambda snap: self._full_grid(result, snap[1], None), snaps, most)
                return {epoch: grid for (epoch, _), grid in zip(snaps, grids, strict=True)}

        return self._kept(("snapshot grids", result.run.key), make)

    def grid_probs(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities on the measuring grid from logits at grid_points, NaN outside the (slightly widened) data region."""
        out = np.full((self.grid_mask.size, *logits.shape[1:]), np.nan)
        out[self.grid_mask] = probabilities(logits, self.multiclass)
        return out.reshape(len(self.frame.ys), len(self.frame.xs), *logits.shape[1:])


def _dilate(region: np.ndarray) -> np.ndarray:
    """Grow a mask by one cell in every direction, so marching squares sees both sides of the region's edge."""
    grown = region.copy()
    grown[1:] |= region[:-1]
    grown[:-1] |= region[1:]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    return grown


def _grid_inputs(ev: _Evaluator, data: list[Dataset]):
    """The measuring grid as each run's inputs: one shared array when every replicate sees the plane as it is."""
    inputs = [ev.inputs(ev.grid_points, d) for d in data]
    return ev.grid_points if all(x is ev.grid_points for x in inputs) else inputs


def _group_logits(network: Network, results: list[RunResult], datasets: dict, ev: _Evaluator, full: list[bool]) -> list[dict]:
    """Every run's logits on its train, validation and test points; for the main variants' runs (full) also on the
    test points at the best validation epoch and on the measuring grid. A few batched passes per network shape."""
    weights = [r.weights for r in results]
    data = [datasets[r.run.data_key] for r in results]
    z = {s: logits_many(network, weights, [getattr(d, f"x_{s}") for d in data]) for s in ("train", "val", "test")}
    main = [m for m, f in enumerate(full) if f]  # sweep points and twins need neither: half the arithmetic saved
    extra = {
        "test_min": logits_many(
            network, [results[m].min_val_weights or weights[m] for m in main], [data[m].x_test for m in main]
        ),
        "grid": logits_many(network, [weights[m] for m in main], _grid_inputs(ev, [data[m] for m in main])),
    }
    z["prunable"] = _prunable(
        results, network, [ev.pruning_points(r.run.data_key) for r in results], ev.config.analysis.prune_tolerance, ev.multiclass
    )
    rows = [{k: v[m] for k, v in z.items()} for m in range(len(results))]
    for i, m in enumerate(main):
        rows[m].update({k: v[i] for k, v in extra.items()})
    return rows


def _stored_logits(result: RunResult, ev: _Evaluator, main: bool) -> dict:
    """What _group_logits computes, from what a factory's run stored where it trained (reportgen.training.factory_fit):
    its logits on its points (and for a main variant at the best validation epoch and on the measuring grid), and its
    prunable share from the accuracies of its pruning levels (NaN for a network without kernels)."""
    o = result.outputs
    z: dict[str, Any] = {split: o[split] for split in ("train", "val", "test")}
    if main:
        z["test_min"] = o.get("test_min", o["test"])
        z["grid"] = o["grid"][ev.grid_mask]
    if "prune_accuracy" in o:
        acc = o["prune_accuracy"]
        single = [bool(v) for v in o["prune_one_class"]]
        share = prunable_share(PRUNE_SEARCH[: len(acc)], acc, ev.config.analysis.prune_tolerance, single)
        z["prunable"] = (share, single[0])
    else:
        z["prunable"] = (math.nan, False)
    return z


def row_name(run: Run) -> str:
    """A run's name in the tables: its variant's, with the data-sweep point when it has one ('l2 @ n_samples=400')."""
    return run.variant.name + (f" @ {run.point.label}" if run.point else "")


def _run_row(
    result: RunResult, network: Network | None, data: Dataset, config: StudyConfig, ev: _Evaluator, bayes_acc: dict, z: dict
) -> tuple[dict, np.ndarray, np.ndarray | None, np.ndarray]:
    """Measure one run from its logits; return its metrics, its test predictions, its grid probabilities and its test
    points' reliability bins (measures.reliability_bins)."""
    run = result.run
    row: dict[str, Any] = {
        "variant": row_name(run),
        "seed": run.seed,
        "init": run.init,
        "key": run.key,
        "settings": settings_key(run.variant) + (f" @ {run.point.label}" if run.point else ""),
        **({"hidden_units": list(run.point.value)} if run.point and isinstance(run.point.value, tuple) else {}),
        "diverged_at": result.diverged_at,
        "initial_loss": np.nan if result.initial_loss is None else result.initial_loss,
        "failed": [],
    }
    for split in ("train", "val", "test"):
        row[f"{split}_accuracy"], row[f"{split}_loss"] = accuracy_and_loss(z[split], getattr(data, f"y_{split}"))
    row["gap"] = row["train_accuracy"] - row["test_accuracy"]
    row["loss_gap"] = row["test_loss"] - row["train_loss"]
    row["train_over_bayes"] = row["train_accuracy"] - bayes_acc.get("train", np.nan)
    row["excess_error"] = bayes_acc.get("test", np.nan) - row["test_accuracy"]
    if result.min_val_weights is not None and "test_min" in z:
        row["test_rebound"] = row["test_loss"] - accuracy_and_loss(z["test_min"], data.y_test)[1]
    epochs = config.training.epochs
    row["val_rebound"], _ = rebound(result.history["val_loss"], max(1, round(REBOUND_SMOOTHING * epochs)))
    row["min_val_epoch"] = result.min_val_epoch
    row["epochs_run"], row["best_epoch"] = result.epochs_run, result.best_epoch
    probs = ev.grid_probs(z["grid"]) if "grid" in z else None
    if probs is not None and ev.view.measured:
        row["boundary_length"], row["boundary_pieces"] = boundary_measures(probs, ev.frame)
    row["val_roughness"] = roughness(result.history["val_loss"], config.analysis.stability_window)
    hidden = _hidden_kernels(result, network)
    if hidden:  # a factory's network may have no kernel before its last layer's: these are then not measured
        row["kernel_l1"] = float(sum(np.abs(w).sum() for w in hidden))
        row["kernel_l2"] = float(np.sqrt(sum(np.sum(w**2) for w in hidden)))
        first = np.abs(hidden[0]).ravel()
        row["first_min_abs"], row["first_max_abs"] = float(first.min()), float(first.max())
        for t in config.analysis.sparsity_thresholds:
            row[f"first_below_{t:g}"] = float(np.mean(first < t))
        for r in REGULARIZERS:  # what a sanity check measures itself (max-norm's largest unit norm)
            if r.check is not None and r.check.measure is not None:
                row[r.check.metric] = r.check.measure(hidden)
    row["prunable"], row["prune_one_class"] = z["prunable"]
    test_probs = probabilities(z["test"], ev.multiclass)
    bins = reliability_bins(test_probs, data.y_test, ev.multiclass)
    row["brier"] = brier_score(test_probs, data.y_test, ev.multiclass)
    row["ece"] = expected_calibration_error(bins)
    row["confidence"] = float(bins[:, 1].sum() / bins[:, 0].sum())
    pred = predicted_class(z["test"], ev.multiclass)
    row["failed"] = failure_reasons(result.diverged_at, result.initial_loss, row["train_loss"], pred)
    return row, pred, probs, bins


def _pruned_scores(
    network: Network, weights: list, x: list[np.ndarray], y: list[np.ndarray], fractions: np.ndarray, multiclass: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy, and whether every point gets one class, [runs, fractions], after global magnitude pruning at each
    fraction. PRUNE_BATCH runs at a time, so that the predictions of every level do not pile up, and as many levels
    per call as keep one run's activations and masked weights within forward.ACTIVATION_BYTES (a wide network on
    2,000 points would need 450 MB for all levels at once)."""
    kernels = network.kernel_indices()
    per_level = len(x[0]) * max((*network.hidden, network.outputs)) * 4 + 8 * sum(w.size for w in weights[0])
    step = max(1, int(ACTIVATION_BYTES // per_level))
    acc, single = [], []
    for s in range(0, len(weights), PRUNE_BATCH):
        part, xs, ys = weights[s : s + PRUNE_BATCH], x[s : s + PRUNE_BATCH], np.stack(y[s : s + PRUNE_BATCH])
        cuts = np.array([prune_cuts(w, kernels, fractions) for w in part])
        a, one = [], []
        for level in range(0, len(fractions), step):
            pred = predicted_class(
                logits_pruned(network, part, cuts[:, level : level + step], xs), multiclass
            )  # [runs, levels, points]
            a.append(np.mean(pred == ys[:, None, :], axis=2))
            one.append((pred == pred[..., :1]).all(axis=2))
        acc.append(np.concatenate(a, axis=1))
        single.append(np.concatenate(one, axis=1))
    return np.concatenate(acc), np.concatenate(single)


def _prunable(
    results: list[RunResult], network: Network, points: list[tuple[np.ndarray, np.ndarray]], tolerance: float, multiclass: bool
) -> list[tuple[float, bool]]:
    """Per run: the prunable share on its evaluation points (measures.prunable_share) and whether the unpruned network
    already predicts one class there (its share is then 0: not prunable without harm).

    Each run on its own, one per core, with single-threaded BLAS: these are small matrices (2,000 points through layers
    of 128 units), which two BLAS threads multiplied 5 times slower than one while other builds shared the cores (the
    default study's analysis took 250 s with all runs batched, 35 s so). Each run's arithmetic is the same either way."""
    search = lambda pair: _search_prunable(network, pair[0].weights, *pair[1], tolerance, multiclass)  # noqa: E731
    with _one_blas_thread():
        return per_core(search, zip(results, points, strict=True))


def _search_prunable(
    network: Network, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, tolerance: float, multiclass: bool
) -> tuple[float, bool]:
    """One run's prunable share: the fractions of PRUNE_SEARCH one at a time, up to its first failure (what comes after
    it cannot change the share). forward.pruning_walk makes each level from the one before (a third of a forward pass
    in the default network; the default study's 1,120 shares came out the same as with a forward pass per level, in
    half the time), and no level past the failure is computed."""
    acc: list[float] = []
    one: list[bool] = []
    for logits in pruning_walk(network, weights, prune_cuts(weights, network.kernel_indices(), PRUNE_SEARCH), x):
        pred = predicted_class(logits, multiclass)
        acc.append(float(np.mean(pred == y)))
        one.append(bool((pred == pred[0]).all()))
        if prune_failures(acc, tolerance, one).any():
            break
    return prunable_share(PRUNE_SEARCH[: len(acc)], acc, tolerance, one), bool(one[0])


@contextlib.contextmanager
def _one_blas_thread():
    """BLAS limited to one thread meanwhile (threadpoolctl comes with scikit-learn; without it, as configured)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _paired_summary(
    main: pd.DataFrame, reference: str | None, metrics: list[str], confidence: float, correction: float = 0.0
) -> pd.DataFrame:
    """Mean and interval of each variant's per-replicate difference from the reference, metric by metric."""
    if reference is None:
        return pd.DataFrame(columns=["variant", "metric", "mean", "low", "high", "n"])
    ref = main[main["variant"] == reference].set_index("seed")[metrics]
    diffs = [
        (part.set_index("seed")[metrics] - ref).dropna(how="all").reset_index().assign(variant=v)
        for v, part in main.groupby("variant", sort=False)
        if v != reference
    ]
    if not diffs:
        return pd.DataFrame(columns=["variant", "metric", "mean", "low", "high", "n"])
    rows = []
    for v, part in pd.concat(diffs).groupby("variant", sort=False):
        for metric in metrics:
            e = estimate(part[metric].to_numpy(float), confidence, correction)
            rows.append({"variant": v, "metric": metric, "mean": e.mean, "low": e.low, "high": e.high, "n": e.n})
    return pd.DataFrame(rows)


def summarise(df: pd.DataFrame, keys: list[str], metrics: list[str], confidence: float, correction: float = 0.0) -> pd.DataFrame:
    """Mean, interval and count of each metric for each group of rows (one row per group and metric)."""
    rows = []
    bounded = np.array([metric_record(m).bounded for m in metrics])
    for group, part in df.groupby(keys, sort=False):
        group = group if isinstance(group, tuple) else (group,)
        values = part[metrics].to_numpy(dtype=float)
        mean, low, high = estimate_columns(values, confidence, correction)
        low, high = np.where(bounded, np.maximum(low, 0.0), low), np.where(bounded, np.minimum(high, 1.0), high)
        n = np.isfinite(values).sum(axis=0)
        rows += [
            {
                **dict(zip(keys, group)),
                "metric": m,
                "mean": mean[j] if n[j] else np.nan,
                "low": low[j],
                "high": high[j],
                "n": int(n[j]),
            }
            for j, m in enumerate(metrics)
        ]
    return pd.DataFrame(rows)


def _pruning_curve(
    results: list[RunResult],
    network: Network | None,
    datasets: dict[int, Dataset],
    confidence: float,
    correction: float = 0.0,
    known: dict | None = None,
) -> list[dict]:
    """Test accuracy (first PRUNE_CURVE_POINTS test points) after zeroing the smallest share of all kernel weights.
    known: each run's accuracies from an earlier look of the build, under ("pruning curve", its key), taken as they
    are and filled with this look's (a run's accuracies are its own forward passes, whatever runs it is batched with)."""
    known = {} if known is None else known
    todo = [r for r in results if ("pruning curve", r.run.key) not in known]
    known.update({("pruning curve", r.run.key): r.outputs["pruning_curve"] for r in todo if "pruning_curve" in r.outputs})
    todo = [r for r in todo if not r.outputs]  # a factory's run pruned its network where it trained
    if todo and network is not None:
        data = [datasets[r.run.data_key] for r in todo]
        acc, _ = _pruned_scores(
            network,
            [r.weights for r in todo],
            [d.x_test[:PRUNE_CURVE_POINTS] for d in data],
            [d.y_test[:PRUNE_CURVE_POINTS] for d in data],
            PRUNE_FRACTIONS,
            network.outputs > 1,
        )
        known.update({("pruning curve", r.run.key): a for r, a in zip(todo, acc)})
    if not results or ("kernels" in results[0].outputs and "pruning_curve" not in results[0].outputs):
        return []  # a factory's network without kernels: nothing to prune
    acc = np.stack([known["pruning curve", r.run.key] for r in results])
    mean, low, high = estimate_columns(acc, confidence, correction)
    return [{"fraction": f, "mean": m, "low": lo, "high": hi} for f, m, lo, hi in zip(PRUNE_FRACTIONS, mean, low, high)]


def _sparsity_curves(results: list[RunResult], network: Network | None, confidence: float, correction: float = 0.0) -> list[dict]:
    rows = []
    for layer, idx in enumerate(kernel_indices(results[0], network)[:-1]):
        below = np.array([[np.mean(np.abs(r.weights[idx]) < t) for t in SPARSITY_CURVE] for r in results])
        mean, low, high = estimate_columns(below, confidence, correction)
        rows += [
            {"layer": layer + 1, "threshold": t, "mean": m, "low": lo, "high": hi}
            for t, m, lo, hi in zip(SPARSITY_CURVE, mean, low, high)
        ]
    return rows


def _padded_histories(results: list[RunResult], epochs: int, ok) -> dict[str, np.ndarray]:
    """Per history key, [replicates, epochs] (NaN after a stop, and throughout for a failed run: not in the bands)."""
    out = {}
    for key in HISTORY_KEYS:
        arr = np.full((len(results), epochs), np.nan)
        for s, r in enumerate(results):
            if r.run.key not in ok:
                continue
            h = np.asarray(r.history[key], float)[:epochs]
            arr[s, : len(h)] = np.where(np.isfinite(h), h, np.nan)
        out[key] = arr
    return out


def _data_varies(config: StudyConfig) -> list[str]:
    """What a replicate redraws of the data."""
    return list(config.data.redraws) if config.data.resample else []


def _design(config: StudyConfig, twins: list[str], info: DataInfo, unpaired: tuple[str, ...] = ()) -> Design:
    varies = _data_varies(config) + ["the initial weights", "the batch order"]
    used = {k for v in config.variants for k in v.regularizers()} | set(config.sweeps.strengths())
    varies += [r.varies for r in REGULARIZERS if r.varies and r.key in used]  # dropout's masks
    one = len(unpaired) == 1
    scope = (
        f"The network{'' if one else 's'} of {', '.join(unpaired)} {'differs' if one else 'differ'} in "
        f"{'its' if one else 'their'} kernels' shapes from the reference network's and "
        f"{'draws its' if one else 'draw their'} own initial weights: {'its' if one else 'their'} comparisons are "
        f"paired by data and batch order only."
        if unpaired
        else ""
    )
    correction = resampling_correction(config, info)
    if not config.data.generated:
        rows = info.n_train + info.n_val + info.n_test
        scope += " " if scope else ""
        scope += (
            f"Every replicate draws its rows from the same {rows} rows of {info.title}, so the intervals are about "
            f"this data set, not about new data from its source; and because the replicates re-split the same rows, "
            f"their scores are correlated: every interval and test uses Nadeau and Bengio's (2003) corrected "
            f"resampled variance, s² · (1/J + n_test/n_train) over J replicates, with n_test/n_train = "
            f"{info.n_test}/{info.n_train} = {correction:.3g}."
            if config.data.resample
            else f"Every replicate uses one split of the {rows} rows of {info.title}, so the intervals are about this "
            f"split of this data set."
        )
    budget, n = config.training.budget, len(config.training.seeds)
    looks = tuple(k for k in budget.looks() if k <= n) if budget else ()
    return Design(
        n,
        config.data.resample,
        twins,
        varies,
        scope,
        looks,
        budget.max if budget else 0,
        1 - config.analysis.confidence,
        correction,
    )


def resampling_correction(config: StudyConfig, info: DataInfo) -> float:
    """n_test / n_train of the first replicate when replicates re-split one table's rows (their training sets overlap,
    so their scores are correlated: Nadeau and Bengio's corrected variance needs it); 0 for data drawn afresh."""
    if not config.data.reuses_rows or not info.n_train:
        return 0.0
    return info.n_test / info.n_train


def _data_info(config: StudyConfig, first: Dataset, view: View, has_bayes: bool) -> DataInfo:
    """What the report says about the data, from the study and its first replicate."""
    d = config.data
    title = d.name()
    bayes = "" if has_bayes else d.bayes_note()
    boundary = (
        ""
        if view.measured
        else (
            f"With {first.n_features} features the length of a decision boundary depends on which 2-D slice it is measured "
            f"in, so boundary length and pieces are not measured and the claim of a simpler boundary is not tested; the "
            f"boundary figures show one slice, for orientation only."
        )
    )
    return DataInfo(
        d.kind,
        title,
        len(first.y_train),
        len(first.y_val),
        len(first.y_test),
        tuple(first.class_names),
        tuple(first.feature_names),
        view.labels,
        view.sentence,
        bayes,
        boundary,
        first.notes,
        tuple(d.image_shape or ()),
    )


def _bayes(config: StudyConfig, datasets: dict, ev: _Evaluator) -> tuple[dict, dict, np.ndarray | None]:
    """The generator's Bayes-optimal rule: its boundary in the frame, its accuracy on each replicate's points, its grid
    (P(class 1) for two classes, P(each class) beyond)."""
    grid = data_module.bayes_proba(config.data, ev.frame.points)
    if grid is None:
        return {}, {}, None
    grid = grid[:, 1] if grid.shape[1] == 2 else grid
    grid = grid.reshape(len(ev.frame.ys), len(ev.frame.xs), *grid.shape[1:])
    length, pieces = contour_length(grid, ev.frame) if grid.ndim == 2 else boundary_measures(grid, ev.frame)
    per_rep = {}
    for seed in config.training.seeds:  # a replicate's, as an earlier look of the build measured it
        d = datasets[seed]
        per_rep[seed] = ev._kept(
            ("Bayes accuracy", seed),
            lambda d=d: {
                s: float(np.mean(_bayes_class(config, getattr(d, f"x_{s}")) == getattr(d, f"y_{s}"))) for s in ("train", "test")
            },
        )
    test = float(np.mean([a["test"] for a in per_rep.values()]))
    return {"boundary_length": length, "boundary_pieces": pieces, "test_accuracy": test}, per_rep, grid


def log_bands(history: dict[str, np.ndarray], confidence: float, correction: float = 0.0) -> dict[str, tuple]:
    """Per epoch, the geometric mean of the train and validation loss over replicates and its interval: the figures
    draw losses on a log axis, where an arithmetic band dives to zero whenever one replicate's loss is tiny."""
    out = {}
    for key in ("train_loss", "val_loss"):
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(np.where(history[key] > 0, history[key], np.nan))
        out[key] = tuple(np.exp(a) for a in estimate_columns(logs, confidence, correction))
    return out


def _bayes_class(config: StudyConfig, x: np.ndarray) -> np.ndarray:
    """The Bayes-optimal rule's class at points x."""
    p = data_module.bayes_proba(config.data, x)
    return p[:, 1] > 0.5 if p.shape[1] == 2 else np.argmax(p, axis=1)


def _twins(runs: pd.DataFrame, predictions: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per twinned variant and replicate: test-accuracy difference and prediction disagreement of init 0 and init 1."""
    rows = []
    for (variant, seed), part in runs.groupby(["variant", "seed"], sort=False):
        if set(part["init"]) >= {0, 1}:
            a, b = (part[part["init"] == i].iloc[0] for i in (0, 1))
            ok = not a["failed"] and not b["failed"]
            rows.append(
                {
                    "variant": variant,
                    "seed": seed,
                    "acc_diff": a["test_accuracy"] - b["test_accuracy"] if ok else np.nan,
                    "disagreement": float(np.mean(predictions[a["key"]] != predictions[b["key"]])) if ok else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=["variant", "seed", "acc_diff", "disagreement"])


def _majority_share(y: np.ndarray) -> float:
    """Accuracy of always predicting the most common class."""
    return float(np.bincount(y.astype(int)).max() / len(y))


def _measure_runs(
    results: list[RunResult], datasets: dict, config: StudyConfig, ev: _Evaluator, bayes_acc: dict, known: dict | None = None
):
    """Every run's metrics row, layer rows, test predictions and grid probabilities (batched per engine graph). known:
    run key -> what an earlier look of the same build measured of that run (a run's measures do not depend on the
    other runs), taken as it is and filled with the runs measured now."""
    known = {} if known is None else known
    names = {v.name for v in config.variants}
    net = lambda r: _network(r, config, datasets)  # noqa: E731
    todo = [r for r in results if r.run.key not in known]
    groups: dict[tuple, list[RunResult]] = {}
    for r in (r for r in todo if not r.outputs):  # one batch per network shape and data size: the arrays of a batch
        #                                          are stacked (a capacity sweep's widths apart)
        d = datasets[r.run.data_key]
        groups.setdefault((net(r), len(d.y_train), len(d.y_val), len(d.y_test)), []).append(r)
    is_main = lambda r: r.run.variant.name in names and r.run.init == 0 and r.run.point is None  # noqa: E731
    logits = {
        r.run.key: z
        for (network, *_), rs in groups.items()
        for r, z in zip(rs, _group_logits(network, rs, datasets, ev, [is_main(r) for r in rs]))
    }
    logits.update({r.run.key: _stored_logits(r, ev, is_main(r)) for r in todo if r.outputs})
    for r in todo:
        data = datasets[r.run.data_key]
        row, pred, probs, run_bins = _run_row(
            r, net(r), data, config, ev, bayes_acc.get(r.run.data_key, {}), logits.pop(r.run.key)
        )
        layers = [
            {"variant": row_name(r.run), "seed": r.run.seed, "init": r.run.init, "key": r.run.key, **lr}
            for lr in _layer_rows(r, net(r), config.analysis.sparsity_thresholds)
        ]
        known[r.run.key] = (row, layers, pred, probs, run_bins)
    rows, layer_rows, predictions, grids, bins = [], [], {}, {}, {}
    for r in results:
        row, layers, predictions[r.run.key], grids[r.run.key], bins[r.run.key] = known[r.run.key]
        rows.append(dict(row))
        layer_rows += layers
    return rows, layer_rows, predictions, grids, bins


def analyse(results: list[RunResult], datasets: dict, config: StudyConfig, known: dict | None = None) -> StudyAnalysis:
    """Measure every run, then summarise variants, sweeps, sparsity and pruning across replicates. known: what an
    earlier look of the same build measured of its runs (filled with this look's; see _measure_runs).

    BLAS keeps to one thread throughout: the analysis multiplies small matrices (hundreds to a few thousand points
    through layers of 128 units), which two BLAS threads multiplied up to ten times slower than one while anything
    else used the other core (the default study's pruning curves: 8.4 s against 0.8 s). One thread also keeps the
    last bits the same whatever the caller set: with two, OpenBLAS gave some grid probabilities 1 ulp apart."""
    with _one_blas_thread():
        return _analyse(results, datasets, config, {} if known is None else known)


def _network(result: RunResult, config: StudyConfig, datasets: dict) -> Network | None:
    """The MLP shape of a run (None for a factory's network: its run stored what needs its shape)."""
    if result.outputs:
        return None
    return Network.of(result.run.variant, result.run.model(config.model), datasets[result.run.data_key])


def unmeasured_metrics(rows: list[dict], thresholds: list[float]) -> tuple[str, ...]:
    """The metrics that no run's network offers what they are measured on (a factory's network without kernels before
    its last layer, or without any): every run's value is missing for want of it, not because the run failed."""
    if not rows:
        return ()
    out: list[str] = []
    if all("kernel_l2" not in row for row in rows):
        checked = [r.check.metric for r in REGULARIZERS if r.check is not None and r.check.measure is not None]
        out += [*HIDDEN_KERNEL_METRICS, *(f"first_below_{t:g}" for t in thresholds), *checked]
    if all(not np.isfinite(row.get("prunable", np.nan)) for row in rows):
        out.append("prunable")
    return tuple(out)


def _analyse(results: list[RunResult], datasets: dict, config: StudyConfig, known: dict) -> StudyAnalysis:
    conf, thresholds = config.analysis.confidence, config.analysis.sparsity_thresholds
    first = datasets[config.training.seeds[0]]
    view, frame = data_module.reference_view(config.data, first)
    ev = _Evaluator(frame, view, datasets, first, config, known)
    bayes, bayes_acc, bayes_grid = _bayes(config, datasets, ev)
    info = _data_info(config, first, view, bayes_grid is not None)
    c = resampling_correction(config, info)  # every interval over replicates of one table's re-split rows is corrected
    rows, layer_rows, predictions, grids, bins = _measure_runs(results, datasets, config, ev, bayes_acc, known)
    names = [v.name for v in config.variants]
    net = lambda r: None if r.outputs else Network.of(r.run.variant, config.model, first)  # noqa: E731
    unmeasured = unmeasured_metrics(rows, thresholds)
    unpaired = tuple(
        dict.fromkeys(r.run.variant.name for r in results if "shared_init" in r.outputs and not r.outputs["shared_init"])
    )
    shaped = ["hidden_units"] if any("hidden_units" in row for row in rows) and "hidden_units" not in rows[0] else []
    columns = [*rows[0].keys(), *shaped, *[c for c in run_columns(thresholds) if c not in rows[0]]]
    runs = pd.DataFrame(rows).reindex(columns=columns)  # a capacity sweep's runs carry their shape (the others NaN)
    cols = run_columns(thresholds)
    failed = {row["key"]: row["failed"] for row in rows}
    runs.loc[runs["failed"].map(bool).to_numpy(), cols] = np.nan  # a failed run is a result, not a number
    main_rows = runs[runs["variant"].isin(names) & (runs["init"] == 0)]
    ok = {r.run.key: r for r in results if not failed[r.run.key]}
    own = [r for r in results if r.run.init == 0 and r.run.point is None]
    main = {n: [r for r in own if r.run.variant.name == n and r.run.key in ok] for n in names}
    points = sweep_point_names(runs, config)
    sweep_rows, sweep_bounds = _sweep_rows(runs, results, points, ev)
    twins = _twins(runs, predictions)
    live = {n: rs for n, rs in main.items() if rs}
    histories = {n: _padded_histories([r for r in own if r.run.variant.name == n], config.training.epochs, ok) for n in names}
    data_runs = _data_runs(runs, results, config, datasets)
    return StudyAnalysis(
        variants=names,
        reference=reference_variant(config),
        seeds=list(config.training.seeds),
        design=_design(config, sorted(set(twins["variant"])), info, unpaired),
        runs=runs,
        main_runs=main_rows,
        layers=pd.DataFrame(layer_rows) if layer_rows else _no_layers(thresholds),
        summary=summarise(main_rows, ["variant"], cols, conf, c),
        paired=_paired_summary(main_rows, reference_variant(config), cols, conf, c),
        sweeps=summarise(sweep_rows, ["kind", "strength"], cols, conf, c) if len(sweep_rows) else pd.DataFrame(),
        sparsity_curves=pd.DataFrame(
            [{"variant": n, **row} for n, rs in live.items() for row in _sparsity_curves(rs, net(rs[0]), conf, c)]
        ),
        pruning=pd.DataFrame(
            [{"variant": n, **row} for n, rs in live.items() for row in _pruning_curve(rs, net(rs[0]), datasets, conf, c, known)]
        ),
        histories=histories,
        loss_bands={n: log_bands(h, conf, c) for n, h in histories.items()},
        boundaries={
            n: BoundarySet(
                frame.xs, frame.ys, np.stack([grids[r.run.key] for r in rs]), [r.run.seed for r in rs], ev.full_grid(rs[0])
            )
            for n, rs in live.items()
        },
        sweep_boundaries=sweep_bounds,
        snapshots={n: grids for n, rs in live.items() if (grids := ev.snapshot_grids(rs[0]))},
        first_layer={
            n: np.concatenate([r.weights[kernel_indices(r, net(r))[0]].ravel() for r in rs])
            for n, rs in live.items()
            if len(kernel_indices(rs[0], net(rs[0]))) > 1
        },
        twins=twins,
        diverged=[(r.run.key, r.diverged_at) for r in results if r.diverged_at is not None],
        failed=[(r.run.key, failed[r.run.key], r.diverged_at) for r in results if failed[r.run.key]],
        prune_search=ev.prune_search(),
        bayes=bayes,
        bayes_grid=bayes_grid,
        frame=frame,
        thresholds=list(thresholds),
        confidence=conf,
        test_predictions=predictions,
        chance=float(np.mean([_majority_share(datasets[s].y_test) for s in config.training.seeds])),
        data=info,
        view=None if view.identity else view,
        data_runs=data_runs,
        data_sweeps=_data_sweep_summary(data_runs, reference_variant(config), conf, c),
        setup=Setup.of(config),
        first=first,
        sweep_points=points,
        reliability=_reliability(live, bins, conf, c),
        unmeasured=unmeasured,
        unpaired=unpaired,
    )


def _reliability(live: dict[str, list[RunResult]], bins: dict[str, np.ndarray], confidence: float, correction: float):
    """Per main variant and confidence bin: the mean confidence and the accuracy of its test points (mean and interval
    over the replicates with points in the bin) and the share of test points in it (the reliability diagram)."""
    rows = []
    for name, results in live.items():
        stacked = np.stack([bins[r.run.key] for r in results])  # [replicates, bins, (points, confidence, correct)]
        n = stacked[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            conf, acc = stacked[..., 1] / n, stacked[..., 2] / n  # NaN where a replicate has no point in the bin
        mean, low, high = estimate_columns(acc, confidence, correction)
        for b in range(n.shape[1]):
            rows.append(
                {
                    "variant": name,
                    "bin": b,
                    "lo": b / n.shape[1],
                    "hi": (b + 1) / n.shape[1],
                    "confidence": float(np.nanmean(conf[:, b])) if np.isfinite(conf[:, b]).any() else np.nan,
                    "accuracy": mean[b],
                    "low": low[b],
                    "high": high[b],
                    "replicates": int(np.isfinite(acc[:, b]).sum()),
                    "share": float(n[:, b].sum() / n.sum()),
                }
            )
    return pd.DataFrame(rows)


DATA_METRICS = [m.key for m in METRICS.values() if m.data_sweep]  # what the data and capacity sweeps compare with the baseline


def _own_setting(config: StudyConfig, axis: str, data: Dataset) -> float:
    """The study's own value on a sweep axis: its data setting (a table that uses all its rows: their number), or its
    network's width (reportgen.config.width)."""
    if axis == WIDTH_AXIS:
        return width(config.model.hidden_units)
    value = getattr(config.data, axis)
    return float(len(data.y_train) + len(data.y_val) if value is None else value)


def _data_runs(runs: pd.DataFrame, results: list[RunResult], config: StudyConfig, datasets: dict) -> pd.DataFrame:
    """Test accuracy and gap of every variant's first-initialization run at every point of the data and capacity
    sweeps (the study's own data and network count as a point on each axis): variant, seed, axis, setting (the data
    setting, or the network's width), n_train and the metrics."""
    axes = config.sweeps.axes()
    if not axes:
        return pd.DataFrame()
    values = runs.set_index("key")
    names = {v.name for v in config.variants}
    rows = []
    for r in (r for r in results if r.run.init == 0 and r.run.variant.name in names):
        d = datasets[r.run.data_key]
        points = (
            [(a, _own_setting(config, a, d)) for a in axes] if r.run.point is None else [(r.run.point.axis, r.run.point.setting)]
        )
        rows += [
            {
                "variant": r.run.variant.name,
                "seed": r.run.seed,
                "axis": axis,
                "setting": setting,
                "n_train": len(d.y_train),
                **{m: values.at[r.run.key, m] for m in DATA_METRICS},
            }
            for axis, setting in points
        ]
    return pd.DataFrame(rows)


def _data_sweep_summary(
    data_runs: pd.DataFrame, reference: str | None, confidence: float, correction: float = 0.0
) -> pd.DataFrame:
    """Per axis, setting and variant: the reference's own mean (kind 'value') and every other variant's paired
    difference from it by replicate (kind 'difference'), each with its interval over replicates."""
    if data_runs.empty or reference is None:
        return pd.DataFrame()
    rows = []
    for (axis, setting), part in data_runs.groupby(["axis", "setting"], sort=True):
        ref = part[part["variant"] == reference].set_index("seed")
        for variant, vp in part.groupby("variant", sort=False):
            values = vp.set_index("seed")
            for metric in DATA_METRICS:
                own = variant == reference
                e = estimate(values[metric] if own else (values[metric] - ref[metric]).dropna(), confidence, correction)
                rows.append(
                    {
                        "axis": axis,
                        "setting": setting,
                        "n_train": int(part["n_train"].iloc[0]),
                        "variant": variant,
                        "metric": metric,
                        "kind": "value" if own else "difference",
                        "mean": e.mean,
                        "low": e.low,
                        "high": e.high,
                        "n": e.n,
                    }
                )
    return pd.DataFrame(rows)


SLOPE_AXES = {"n_samples": "n_train", WIDTH_AXIS: "setting"}  # the sweeps a benefit's slope is taken along, and the
#   column of data_runs whose log2 it is on: the training-set size (rows left for training), the network's width


def benefit_slopes(analysis: StudyAnalysis, variant: str, metric: str = "test_accuracy", axis: str = "n_samples") -> pd.Series:
    """Per replicate: the least-squares slope of the paired difference (variant − reference) in a metric on log2 of
    the training-set size across the data-size sweep (axis 'n_samples': per doubling of the training set), or on log2
    of the network's width across the capacity sweep (axis 'hidden_units': per doubling of the width); NaN with
    fewer than two points."""
    d = analysis.data_runs
    if d.empty or analysis.reference is None:
        return pd.Series(dtype=float)
    x = SLOPE_AXES[axis]
    part = d[d["axis"] == axis].pivot_table(index=["seed", x], columns="variant", values=metric, dropna=False)
    if variant not in part or analysis.reference not in part:
        return pd.Series(dtype=float)
    diff = (part[variant] - part[analysis.reference]).reset_index(name="diff").rename(columns={x: "x"})
    return diff.groupby("seed", sort=True).apply(_slope, include_groups=False).astype(float)


def _slope(part: pd.DataFrame) -> float:
    """Slope of diff on log2(x) over the finite points (NaN with fewer than two values of x)."""
    ok = part[np.isfinite(part["diff"])]
    if ok["x"].nunique() < 2:
        return float("nan")
    return float(np.polyfit(np.log2(ok["x"].to_numpy(float)), ok["diff"].to_numpy(float), 1)[0])


def _sweep_rows(runs: pd.DataFrame, results: list[RunResult], points: dict, ev: _Evaluator):
    """The run rows of every sweep point (tagged with kind and strength) and the first replicate's boundary of each."""
    parts, bounds = [], {}
    for (kind, strength), name in points.items():
        parts.append(runs[(runs["variant"] == name) & (runs["init"] == 0)].assign(kind=kind, strength=strength))
        first = next(r for r in results if r.run.variant.name == name and r.run.init == 0 and r.run.point is None)
        full = ev.full_grid(first)
        mask = ev.grid_mask.reshape(full.shape[:2])
        inside = np.where(mask if full.ndim == 2 else mask[..., None], full, np.nan)
        bounds[(kind, strength)] = BoundarySet(ev.frame.xs, ev.frame.ys, inside[None], [first.run.seed], full)
    return (pd.concat(parts) if parts else pd.DataFrame()), bounds


def summary_value(analysis: StudyAnalysis, variant: str, metric: str) -> dict | None:
    """Return the summary row of one variant and metric as a dict (mean, low, high, n), or None."""
    s = analysis.summary
    rows = s[(s["variant"] == variant) & (s["metric"] == metric)] if not s.empty else s
    return None if rows.empty else rows.iloc[0].to_dict()


def per_replicate(analysis: StudyAnalysis, variant: str, metric: str) -> pd.Series:
    """Values of a metric for a main variant, indexed by replicate seed (NaN for failed runs).

    Taken from the two columns alone: filtering the whole (wide) frame for each of the claims' 146 calls took 0.3 s."""
    runs = analysis.main_runs
    rows = runs["variant"].to_numpy() == variant
    return pd.Series(
        runs[metric].to_numpy()[rows], index=pd.Index(runs["seed"].to_numpy()[rows], name="seed"), name=metric
    ).astype(float)


def sweep_values(analysis: StudyAnalysis, kind: str, strength: float, metric: str) -> pd.Series:
    """Values of a metric at one sweep point, indexed by replicate seed."""
    runs = analysis.runs
    rows = (runs["variant"].to_numpy() == analysis.sweep_points[(kind, float(strength))]) & (runs["init"].to_numpy() == 0)
    return pd.Series(
        runs[metric].to_numpy()[rows], index=pd.Index(runs["seed"].to_numpy()[rows], name="seed"), name=metric
    ).astype(float)


def sweep_point_names(runs: pd.DataFrame, config: StudyConfig) -> dict[tuple[str, float], str]:
    """Each sweep point's runs by the variant name they carry: a point equal to a variant is that variant's runs
    (plan_runs trains equal settings once, under the first name)."""
    first_name = runs.drop_duplicates("settings").set_index("settings")["variant"]
    return {
        (kind, float(strength)): str(first_name[settings_key(sweep_variant(kind, strength))])
        for kind in SWEEP_KINDS
        for strength in getattr(config.sweeps, kind)
    }


def sweep_strengths(analysis: StudyAnalysis) -> dict[str, list[float]]:
    """The strengths of each sweep, weakest first."""
    if analysis.sweeps.empty:
        return {}
    return {
        kind: sorted(float(s) for s in part["strength"].unique()) for kind, part in analysis.sweeps.groupby("kind", sort=False)
    }


@dataclass(frozen=True)
class SweepChoice:
    """A sweep's strength chosen on validation data by the one-standard-error rule: the strongest setting whose mean
    validation loss is within one standard error (of its paired difference, over replicates) of the lowest."""

    kind: str
    strength: float
    val_loss: float  # the chosen strength's mean validation loss
    n_strengths: int
    lowest: float = math.nan  # the strength with the lowest mean validation loss
    tied: tuple[float, ...] = ()  # every strength within one standard error of the lowest (the chosen one among them)


def _val_loss_table(analysis: StudyAnalysis, kind: str, strengths: list[float]) -> pd.DataFrame:
    """Validation loss per replicate (rows) and strength (columns) of one sweep; a strength at which some replicate's
    run failed is left all NaN (never chosen, never matched): judged by its survivors alone, it would look better."""
    table = pd.DataFrame({s: sweep_values(analysis, kind, s, "val_loss") for s in strengths})
    return table.where(~table.isna().any(axis=0), np.nan, axis=1) if len(table) else table


def choose_strength(kind: str, table: pd.DataFrame) -> SweepChoice | None:
    """The one-standard-error rule on a table of validation losses (replicates × strengths, weakest first)."""
    means = table.mean()
    if means.isna().all():
        return None
    lowest = float(means.idxmin())
    diffs = table.sub(table[lowest], axis=0)
    n = diffs.notna().sum()
    se = diffs.std(ddof=1) / np.sqrt(n)
    gap = diffs.mean()  # paired: the mean difference over the replicates both strengths have
    tied = [float(s) for s in table.columns if np.isfinite(means[s]) and (s == lowest or gap[s] <= se[s])]
    chosen = max(tied)
    return SweepChoice(kind, chosen, float(means[chosen]), int(table.shape[1]), lowest, tuple(tied))


def sweep_choices(analysis: StudyAnalysis) -> dict[str, SweepChoice]:
    """Per sweep, the strength chosen on validation data by the one-standard-error rule (never on the test set)."""
    out = {}
    for kind, strengths in sweep_strengths(analysis).items():
        choice = choose_strength(kind, _val_loss_table(analysis, kind, strengths))
        if choice is not None:
            out[kind] = choice
    return out


@dataclass(frozen=True)
class Match:
    """L2 at the strength whose mean validation loss equals L1's at its chosen strength, interpolated on a log scale
    between the two sweep points around it; refused (with the reason) when L2 never comes within the margin."""

    l1: SweepChoice
    l2_strength: float  # the matched strength (between two sweep points, or one of them)
    l2_val_loss: float  # L2's mean validation loss there
    below: float  # the sweep points it lies between (equal when it is one of them)
    above: float
    weight: float  # the share of `above` in the interpolation (0: exactly `below`)
    refused: str = ""  # why no match is made ("" when matched)

    def values(self, analysis: StudyAnalysis, metric: str) -> pd.Series:
        """L2's per-replicate values of a metric at the matched strength (interpolated between the two points)."""
        low = sweep_values(analysis, "l2", self.below, metric)
        if self.weight == 0:
            return low
        return (1 - self.weight) * low + self.weight * sweep_values(analysis, "l2", self.above, metric)


def matched_l1_l2(analysis: StudyAnalysis, margin: float = math.inf) -> Match | None:
    """L1 at its validation-chosen strength, and L2 where its mean validation-loss curve (linear in log strength
    between sweep points) reaches L1's validation loss: the crossing nearest L2's own chosen strength; without a
    crossing, L2's sweep point closest in validation loss, refused when that is more than `margin` away."""
    choices = sweep_choices(analysis)
    if not {"l1", "l2"} <= set(choices):
        return None
    l1, target = choices["l1"], choices["l1"].val_loss
    strengths = sweep_strengths(analysis)["l2"]
    means = _val_loss_table(analysis, "l2", strengths).mean().to_numpy(float)
    x = np.log10(strengths)
    crossings = []
    for j in range(len(strengths) - 1):
        a, b = means[j] - target, means[j + 1] - target
        if np.isfinite(a) and np.isfinite(b) and a * b <= 0:
            w = 0.0 if a == b else a / (a - b)
            crossings.append((abs(x[j] + w * (x[j + 1] - x[j]) - math.log10(choices["l2"].strength)), j, w))
    if crossings:
        _, j, w = min(crossings)
        w = float(w)
        below, above, w = (strengths[j + 1], strengths[j + 1], 0.0) if w == 1 else (strengths[j], strengths[j + 1], w)
        return Match(l1, float(10 ** ((1 - w) * math.log10(below) + w * math.log10(above))), target, below, above, w)
    j = int(np.nanargmin(np.abs(means - target)))
    gap = abs(means[j] - target)
    why = (
        ""
        if gap <= margin
        else (
            f"L2's mean validation loss comes no closer than {gap:.3f} to L1's ({target:.3f}), more than the margin of {margin:g}"
        )
    )
    return Match(l1, strengths[j], float(means[j]), strengths[j], strengths[j], 0.0, why)


def restricted(analysis: StudyAnalysis, seeds: list[int]) -> StudyAnalysis:
    """The analysis as the claims see it with only some replicates (an earlier look of an adaptive design): the per-run
    tables cut to those seeds; summaries, figures' data and curves are left as they are (claims do not read them)."""
    from dataclasses import replace

    keep = set(seeds)
    cut = lambda df: df[df["seed"].isin(keep)] if len(df) and "seed" in df else df  # noqa: E731
    return replace(
        analysis,
        seeds=[s for s in analysis.seeds if s in keep],
        runs=cut(analysis.runs),
        main_runs=cut(analysis.main_runs),
        twins=cut(analysis.twins),
        data_runs=cut(analysis.data_runs),
        layers=cut(analysis.layers),
    )
