"""Every measure as one record: its label, how it reads, its smallest effect of interest, what a study must offer to
measure it, and how tables and comparisons between builds use it.

Adding a metric is a record here and the code that measures it (analysis.py or measures.py); the tables, the claims'
margins, the report's formatting and `reportgen compare` all read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass

from reportgen.regularizers import REGULARIZERS


@dataclass(frozen=True)
class Metric:
    """A measure of a run (or, with across set, of a variant across runs)."""

    key: str
    label: str
    kind: str = "num"  # 'pct' (a share, shown in percent, differences in points), 'int' (a count) or 'num'
    margin: str | None = None  # the field of analysis.margins that holds its smallest effect of interest
    relative: bool = False  # that margin is a share of the reference's mean
    bounded: bool = False  # a share in [0, 1]: intervals are clipped there
    needs: str | None = None  # what a study must offer: 'bayes' (a generator's Bayes rule), 'boundary' (2-D inputs)
    across: str | None = None  # measured across runs, not on one: 'data_size' (a slope over the data-size sweep),
    #                            'width' (a slope over the capacity sweep), 'twins' (two initializations of one
    #                            replicate), 'pair' (two variants' runs)
    worse: int = 0  # for comparisons between builds: +1 larger is a regression, -1 smaller is, 0 a change only
    compared: str = ""  # its short name when `reportgen compare` checks it between builds ("" : not compared)
    key_number: bool = False  # one of the numbers each regularizer's section shows against the baseline
    data_sweep: bool = False  # compared with the baseline at every point of the data and capacity sweeps


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("train_accuracy", "Train accuracy", "pct", "accuracy", bounded=True),
        Metric("val_accuracy", "Validation accuracy", "pct", "accuracy", bounded=True),
        Metric(
            "test_accuracy",
            "Test accuracy",
            "pct",
            "accuracy",
            bounded=True,
            worse=-1,
            compared="test accuracy",
            key_number=True,
            data_sweep=True,
        ),
        Metric(
            "gap",
            "Generalization gap (train − test accuracy)",
            "pct",
            "accuracy",
            worse=+1,
            compared="generalization gap",
            key_number=True,
            data_sweep=True,
        ),
        Metric("train_loss", "Train loss", "num", "loss"),
        Metric("val_loss", "Validation loss", "num", "loss"),
        Metric("test_loss", "Test loss", "num", "loss", worse=+1, compared="test loss"),
        Metric("loss_gap", "Loss gap (test − train loss)", "num", "loss"),
        Metric("test_rebound", "Test-loss rebound (final − at the best validation epoch)", "num", "loss", key_number=True),
        Metric("val_rebound", "Validation-loss rebound (final − minimum, smoothed)", "num", "loss"),
        Metric("min_val_epoch", "Epoch of the lowest validation loss", "int"),
        Metric("train_over_bayes", "Train accuracy above the Bayes-optimal rule's", "pct", "accuracy", needs="bayes"),
        Metric("excess_error", "Test error above the Bayes-optimal rule's", "pct", "accuracy", needs="bayes"),
        Metric("epochs_run", "Epochs run", "int"),
        Metric(
            "boundary_length",
            "Decision-boundary length (in the data region)",
            "num",
            "boundary",
            True,
            needs="boundary",
            compared="boundary length",
            key_number=True,
        ),
        Metric("boundary_pieces", "Decision-boundary pieces (in the data region)", "num", "boundary", True, needs="boundary"),
        Metric(
            "val_roughness",
            "Validation-loss roughness (RMS of the detrended loss, in loss units)",
            "num",
            "roughness",
            True,
            compared="validation-loss roughness",
            key_number=True,
        ),
        Metric(
            "prunable",
            "Share of weights prunable by magnitude without losing accuracy",
            "pct",
            "sparsity",
            bounded=True,
            compared="prunable share",
            key_number=True,
        ),
        Metric(
            "brier",
            "Brier score of the test points (mean squared error of the predicted probabilities)",
            "num",
            "calibration",
            key_number=True,
        ),
        Metric(
            "ece",
            "Expected calibration error of the test points (15 equal-width confidence bins)",
            "pct",
            "calibration",
            bounded=True,
        ),
        Metric("confidence", "Mean confidence on test points (probability of the predicted class)", "pct", "calibration"),
        Metric("kernel_l1", "L1 norm of hidden kernels", "num", "weights", True),
        Metric("kernel_l2", "L2 norm of hidden kernels", "num", "weights", True),
        Metric("first_min_abs", "Smallest first-layer |w|"),
        Metric("first_max_abs", "Largest first-layer |w|"),
        Metric(
            "benefit_slope",
            "Change of the test-accuracy difference from the baseline per doubling of the training set",
            "pct",
            "accuracy",
            across="data_size",
        ),
        Metric(
            "gap_benefit_slope",
            "Change of the generalization-gap difference from the baseline per doubling of the training set",
            "pct",
            "accuracy",
            across="data_size",
        ),
        Metric(
            "width_benefit_slope",
            "Change of the test-accuracy difference from the baseline per doubling of the network's width",
            "pct",
            "accuracy",
            across="width",
        ),
        Metric(
            "width_gap_benefit_slope",
            "Change of the generalization-gap difference from the baseline per doubling of the network's width",
            "pct",
            "accuracy",
            across="width",
        ),
        Metric(
            "disagreement",
            "Share of test points on which two initializations on the same data disagree",
            "pct",
            "accuracy",
            bounded=True,
            across="twins",
        ),
        Metric(
            "weights_distance",
            "Largest difference of the shares of first-layer weights below each sparsity threshold, between a "
            "weight-decay variant and its matched L2 variant",
            "pct",
            "sparsity",
            bounded=True,
            across="pair",
        ),
        Metric(
            "accuracy_distance",
            "Absolute test-accuracy difference between a weight-decay variant and its matched L2 variant",
            "pct",
            "accuracy",
            bounded=True,
            across="pair",
        ),
    )
}
# What a regularizer's sanity check measures itself (its record's Check.measure): a weights metric like the norms.
METRICS.update(
    {
        r.check.metric: Metric(r.check.metric, r.check.label, "num", "weights", True)
        for r in REGULARIZERS
        if r.check is not None and r.check.measure is not None
    }
)
# The report's results tables: their titles and columns ('first_below' stands for one column per sparsity threshold).
RESULTS_TABLES = (
    (
        "Accuracy and overfitting",
        (
            "test_accuracy",
            "train_accuracy",
            "gap",
            "test_loss",
            "test_rebound",
            "val_rebound",
            "min_val_epoch",
            "excess_error",
            "epochs_run",
        ),
    ),
    (
        "Weights, boundary and loss curves",
        ("first_below", "prunable", "kernel_l2", "boundary_length", "boundary_pieces", "val_roughness"),
    ),
    ("Calibration", ("brier", "ece", "confidence")),
)


def metric(key: str) -> Metric:
    """The record of a metric column, including the first-layer sparsity columns first_below_<t> (unknown: plain)."""
    if key.startswith("first_below_"):
        threshold = key.removeprefix("first_below_")
        return Metric(key, f"Share of first-layer weights with |w| < {threshold}", "pct", "sparsity", bounded=True)
    return METRICS.get(key, Metric(key, key))


def run_columns(thresholds: list[float]) -> list[str]:
    """Every metric measured on one run, in table order, with a sparsity column per threshold."""
    return [m.key for m in METRICS.values() if m.across is None] + [f"first_below_{t:g}" for t in thresholds]


def compared() -> list[Metric]:
    """The metrics `reportgen compare` checks between builds, in order."""
    return [m for m in METRICS.values() if m.compared]


def table_columns(thresholds: list[float]) -> list[tuple[str, list[str]]]:
    """The results tables' titles and metric columns, the sparsity placeholder expanded per threshold."""
    expand = lambda key: [f"first_below_{t:g}" for t in thresholds] if key == "first_below" else [key]  # noqa: E731
    return [(title, [k for key in keys for k in expand(key)]) for title, keys in RESULTS_TABLES]
