"""The seed study's claims as a registry: each claim one entry, with its primary measure (chosen before looking),
its secondary measures, where the notebook makes it and where page one shows it; sanity checks from the regularizers'
records. A claim finds its variants by what they do (their regularizers), never by their names."""

from __future__ import annotations

from dataclasses import dataclass

from reportgen.config import VariantConfig
from reportgen.decision import Verdict
from reportgen.regularizers import REGULARIZERS, regularizer

SUPPORTED, CONTRADICTED, NO_EFFECT, INCONCLUSIVE = (
    Verdict.SUPPORTED,
    Verdict.CONTRADICTED,
    Verdict.NO_EFFECT,
    Verdict.INCONCLUSIVE,
)
VERDICTS = tuple(Verdict)
PRIMARY, SECONDARY, CHECK = "primary", "secondary", "check"


@dataclass(frozen=True)
class Measure:
    """How one claim is measured: a metric, the direction the claim expects, and the comparison."""

    metric: str
    direction: int  # +1: the claim expects a larger value, -1: a smaller one
    how: str  # the measurement in words
    statistic: str = "paired"  # 'paired' (variant − reference by replicate), 'value' (the value itself),
    #                            'init_ratio' (initialization variances), 'disagreement' (twins), 'matched' (L1 vs L2),
    #                            'slope' (per-replicate slope of the paired difference across the data-size or the
    #                            capacity sweep: SLOPE_OF),
    #                            'pair' (a per-replicate distance between two variants' runs, judged as a value)
    needs: str | None = None  # what the study must offer to measure it: 'bayes' (a generator's Bayes rule),
    #                           'boundary' (a 2-D input space), 'data_size' (a sweep of two or more training-set sizes),
    #                           'width' (a capacity sweep of two or more widths)
    against_margin: bool = False  # tested against the smallest effect of interest instead of zero (a claim that an
    #                               effect is large enough to matter, which any nonzero effect would otherwise pass)


@dataclass(frozen=True)
class ClaimDef:
    """A claim of the seed study and how it is measured."""

    key: str
    statement: str  # with {who}: the variant's name and regularizers
    source: str  # where the seed study makes it
    subject: str  # 'reference' (the unregularized variant), 'variant' (each variant `applies` accepts), 'sweeps',
    #               'matched_l2' (each weight-decay variant against the variant with L2 of matched strength instead)
    primary: Measure
    secondary: tuple[Measure, ...] = ()
    why: str = ""  # why the primary measure is the one it is, when a reader may ask
    column: str = ""  # its column in page one's verdict matrix ("" : listed under the matrix)
    headline: int = 99  # its place among page one's findings (lower first)

    def applies(self, v: VariantConfig) -> bool:
        """Whether a variant gets this claim, by what it does (reportgen.regularizers): any regularizer, none that
        excludes the claim, and one that brings it when some regularizer's record does."""
        used = [regularizer(k) for k in v.regularizers()]
        bringers = [r for r in REGULARIZERS if self.key in r.claims]
        return bool(used) and not any(self.key in r.excludes for r in used) and (not bringers or any(r in bringers for r in used))


GAP = "generalization gap (train − test accuracy)"
REGISTRY: tuple[ClaimDef, ...] = (
    ClaimDef(
        "overfits",
        "The model without regularization ({who}) overfits the training data.",
        "notebook, Observations 1",
        "reference",
        Measure("gap", +1, f"{GAP}, above the smallest effect of interest", "value", against_margin=True),
        secondary=(
            Measure("test_rebound", +1, "test loss at the end minus at the epoch of lowest validation loss, above zero", "value"),
            Measure(
                "train_over_bayes",
                +1,
                "train accuracy minus the Bayes-optimal rule's on the same points, above zero",
                "value",
                needs="bayes",
            ),
            Measure("loss_gap", +1, "test loss minus train loss, above zero", "value"),
        ),
        why="tested against the margin, not against zero: every network that fits its training data has some gap",
        headline=0,
    ),
    ClaimDef(
        "less_overfitting",
        "{who} reduces overfitting.",
        "notebook, Observations 2 and Why use regularization",
        "variant",
        Measure("gap", -1, f"{GAP}, smaller than the baseline's"),
        secondary=(
            Measure("test_rebound", -1, "test-loss rebound after the best validation epoch, smaller than the baseline's"),
            Measure("loss_gap", -1, "test loss minus train loss, smaller than the baseline's"),
        ),
        column="Less overfitting",
        headline=2,
    ),
    ClaimDef(
        "better_generalization",
        "{who} improves generalization to unseen data.",
        "notebook, Why use regularization and Conclusion",
        "variant",
        Measure("test_accuracy", +1, "test accuracy on fresh points, higher than the baseline's"),
        secondary=(Measure("test_loss", -1, "test loss, lower than the baseline's"),),
        column="Higher test accuracy",
        headline=1,
    ),
    ClaimDef(
        "simpler_boundary",
        "{who} gives a simpler, smoother decision boundary.",
        "notebook, Observations 1 and 2",
        "variant",
        Measure(
            "boundary_length",
            -1,
            "length of the 0.5 contour inside the data region, shorter than the baseline's",
            needs="boundary",
        ),
        secondary=(
            Measure(
                "boundary_pieces",
                -1,
                "number of pieces of the 0.5 contour inside the data region, fewer than the baseline's",
                needs="boundary",
            ),
        ),
        column="Simpler boundary",
        headline=4,
    ),
    ClaimDef(
        "stable_loss",
        "{who} gives more stable loss curves.",
        "notebook, Observations 4",
        "variant",
        Measure(
            "val_roughness",
            -1,
            "roughness of the validation loss late in training, in loss units (RMS of "
            "its deviations from a local quadratic trend: an additive noise model), lower than the baseline's",
        ),
        column="Steadier loss",
        headline=6,
    ),
    ClaimDef(
        "sparsity",
        "{who} enforces sparsity: more of the network can be removed without harm.",
        "notebook, Observations 3 and Conclusion",
        "variant",
        Measure(
            "prunable",
            +1,
            "largest share of weights removable by magnitude before the first share that "
            "costs more than the tolerated accuracy on its evaluation points (or leaves one class), "
            "larger than the baseline's",
        ),
        column="Sparser network",
        headline=5,
    ),
    ClaimDef(
        "init_dependence",
        "{who} reduces dependence on initialization.",
        "notebook, What is regularization",
        "variant",
        Measure(
            "disagreement",
            -1,
            "share of test points on which two initializations on the same data disagree, smaller than the baseline's",
            "disagreement",
        ),
        secondary=(
            Measure(
                "test_accuracy",
                -1,
                "variance of test accuracy between two initializations on the same data, as a ratio to the baseline's (below 1)",
                "init_ratio",
            ),
        ),
        why="test-point disagreement is a paired share per replicate; the variance ratio of twin accuracies "
        "(secondary) can be carried by one replicate",
        column="Less init. dependence",
        headline=7,
    ),
    ClaimDef(
        "l1_sparser_than_l2",
        "L1 gives sparser networks than L2 at the same validation loss.",
        "textbook contrast the notebook's weight analysis invokes",
        "sweeps",
        Measure(
            "prunable",
            +1,
            "prunable share of L1 at its validation-chosen strength minus L2's at the strength matching that validation loss",
            "matched",
        ),
        secondary=(
            Measure(
                "first_below_{t}",
                +1,
                "share of first-layer weights with |w| < {t}, L1 minus L2 at matched validation loss",
                "matched",
            ),
        ),
        headline=8,
    ),
    ClaimDef(
        "scarce_data",
        "{who} helps more when data is scarce: its benefit over the baseline shrinks as the training set grows.",
        "a common expectation about regularization (not made by the notebook), tested when the study sweeps the data size",
        "variant",
        Measure(
            "benefit_slope",
            -1,
            "slope of the paired test-accuracy difference from the baseline on log2 of "
            "the training-set size, per replicate across the data-size sweep, below zero",
            "slope",
            needs="data_size",
        ),
        secondary=(
            Measure(
                "gap_benefit_slope",
                +1,
                "slope of the paired generalization-gap difference from the baseline "
                "on log2 of the training-set size, above zero",
                "slope",
                needs="data_size",
            ),
        ),
        column="Helps more with less data",
        headline=3,
    ),
    ClaimDef(
        "bigger_networks",
        "{who} helps more in bigger networks: its benefit over the baseline grows as the hidden layers widen.",
        "a common expectation about regularization (larger networks overfit more, as TensorFlow's 'Overfit and underfit' "
        "tutorial shows before it regularizes; not made by the notebook), tested when the study sweeps the network's width",
        "variant",
        Measure(
            "width_benefit_slope",
            +1,
            "slope of the paired test-accuracy difference from the baseline on log2 of the network's width (units per "
            "hidden layer, their geometric mean for unequal layers), per replicate across the capacity sweep, above zero",
            "slope",
            needs="width",
        ),
        secondary=(
            Measure(
                "width_gap_benefit_slope",
                -1,
                "slope of the paired generalization-gap difference from the baseline on log2 of the network's width, below zero",
                "slope",
                needs="width",
            ),
        ),
        why="the same rule as the scarce-data claim, along the other axis of a network's capacity: a slope per "
        "replicate, so that every replicate's widths are paired",
        column="Helps more in bigger networks",
        headline=3,
    ),
    ClaimDef(
        "better_calibration",
        "{who} improves calibration: its predicted probabilities match how often it is right.",
        "Guo et al. (2017), On Calibration of Modern Neural Networks (not made by the notebook)",
        "variant",
        Measure(
            "brier",
            -1,
            "Brier score of the test points (mean squared error of the predicted probabilities), lower than the baseline's",
        ),
        secondary=(
            Measure(
                "ece",
                -1,
                "expected calibration error of the test points (15 equal-width confidence bins), lower than the baseline's",
            ),
        ),
        why="the Brier score is a proper scoring rule measured on every point; the calibration error depends on a binning",
        column="Better calibrated",
        headline=9,
    ),
    ClaimDef(
        "decoupled_decay",
        "{who} and L2 of matched strength (l2 = weight_decay / 2) give different networks with Adam; with plain SGD "
        "they do not (trained here with {optimizer}).",
        "Loshchilov and Hutter (2019), Decoupled Weight Decay Regularization (not made by the notebook)",
        "matched_l2",
        Measure(
            "weights_distance",
            +1,
            "largest difference between the two networks' shares of first-layer weights with |w| below each sparsity "
            "threshold (a distance between their first-layer weight distributions), per replicate, above the "
            "smallest effect of interest",
            "pair",
            against_margin=True,
        ),
        secondary=(
            Measure(
                "accuracy_distance",
                +1,
                "absolute difference of the two networks' test accuracies, per replicate, above the smallest effect of interest",
                "pair",
                against_margin=True,
            ),
        ),
        why="with plain SGD the two updates are the same arithmetic (lr·wd·w = lr·2·l2·w), so 'supported' is the "
        "expected verdict with Adam and 'no meaningful effect' the expected one with SGD",
        headline=10,
    ),
)
# a slope metric: the sweep it is taken along and the metric whose paired difference it is the slope of
SLOPE_OF = {
    "benefit_slope": ("n_samples", "test_accuracy"),
    "gap_benefit_slope": ("n_samples", "gap"),
    "width_benefit_slope": ("hidden_units", "test_accuracy"),
    "width_gap_benefit_slope": ("hidden_units", "gap"),
}
# Sanity checks: what a regularizer does by construction (its record's check). Shown with their raw test, never counted.
CHECKS = {r.key: Measure(r.check.metric, r.check.direction, r.check.how) for r in REGULARIZERS if r.check is not None}
