"""A study's runs: what is trained, what comes back, and the rules both engines apply while training (divergence, cancel)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from reportgen.config import DATA_AXES, WIDTH_AXIS, DataConfig, ModelConfig, StudyConfig, VariantConfig, width
from reportgen.datasets import Dataset
from reportgen.errors import ConfigError, Interrupted
from reportgen.models import Network, initial_weights, training_loss
from reportgen.regularizers import REGULARIZERS, SWEPT, regularizer

# Runs per graph: large enough to amortise the per-step cost of a graph, small enough that a block's weights and
# Adam moments stay in cache and that the blocks keep both cores busy (measured best near 32 on a 2-core machine).
BLOCK_RUNS = 32
# ... and fewer for a wide network, so that a block's training state (STATE_BYTES a weight) stays under
# BLOCK_STATE_BYTES: a block of 28 runs of 2-1024-1024-1 moved 112 MB tensors, which the allocator maps afresh at every
# step (11.9 M page faults, 38 of 90 CPU seconds in the kernel); in blocks of 2 the same 56 runs trained in 26.6 to
# 29.0 s instead of 47.2 (2-512-512-1: 10.7 s instead of 16.5; 2-256-256-1 and narrower: no change).
STATE_BYTES = 16  # per weight of a run in training: the weight, its gradient and Adam's two moments
BLOCK_STATE_BYTES = 10 * 2**20
# Per-epoch values every engine records; losses are binary cross-entropy without the penalty term.
HISTORY_KEYS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "penalty")
SWEEP_KINDS = tuple(r.key for r in SWEPT)  # regularizers whose strengths a study may sweep
INIT_STRIDE = 1_000_003  # init k of replicate s draws its weights with seed s + k * INIT_STRIDE: never another replicate's


@dataclass(frozen=True)
class SweepPoint:
    """A point of a study-wide sweep, at which every variant is trained again: one number of points (n_samples), one
    noise level (noise) or one network shape (hidden_units, the capacity sweep), the rest of the study as it is."""

    axis: str  # 'n_samples', 'noise' or 'hidden_units'
    value: float | tuple[int, ...]  # a network shape for 'hidden_units', else a number

    @property
    def label(self) -> str:
        """Say it as a study file would, e.g. 'n_samples=400', 'noise=0.3' or 'hidden_units=64x64'."""
        if isinstance(self.value, tuple):
            return f"{self.axis}={'x'.join(map(str, self.value))}"
        return f"{self.axis}={self.value:g}"

    @property
    def setting(self) -> float:
        """Where the point lies on its axis: its number, or a shape's width (reportgen.config.width)."""
        return width(self.value) if isinstance(self.value, tuple) else float(self.value)

    @property
    def changes_data(self) -> bool:
        """Whether its runs train on other data than the study's own (a data sweep's point)."""
        return self.axis in DATA_AXES

    def apply(self, cfg: DataConfig) -> DataConfig:
        """The study's data settings at this point (a network shape leaves them as they are)."""
        if isinstance(self.value, tuple):
            return cfg
        return cfg.model_copy(update={self.axis: int(self.value) if self.axis == "n_samples" else float(self.value)})

    def model(self, model: ModelConfig) -> ModelConfig:
        """The study's network settings at this point (a data setting leaves them as they are)."""
        if not isinstance(self.value, tuple):
            return model
        return model.model_copy(update={"hidden_units": list(self.value)})


@dataclass(frozen=True)
class Run:
    """One model to train: a variant's settings, a replicate, which initial weights of it, and which sweep point.

    The replicate (seed) fixes the data draw, the batch order and the dropout masks; `init` 0 takes the replicate's
    initial weights, init k > 0 a different draw of them with everything else equal (to measure how much the
    result depends on initialization alone). `point` is a point of a data or capacity sweep, None for the study's
    own data and network.
    """

    variant: VariantConfig
    seed: int
    init: int = 0
    point: SweepPoint | None = None

    @property
    def key(self) -> str:
        """Return a unique readable id such as 'l1/seed3', 'baseline/seed3/init1', 'l2/seed3/n_samples=400' or
        'l2/seed3/hidden_units=64x64'."""
        return (
            f"{self.variant.name}/seed{self.seed}"
            + (f"/init{self.init}" if self.init else "")
            + (f"/{self.point.label}" if self.point else "")
        )

    @property
    def data_key(self):
        """The key of this run's dataset: its seed, or (seed, point) at a data-sweep point (a capacity-sweep point
        trains on the replicate's own data)."""
        return self.seed if self.point is None or not self.point.changes_data else (self.seed, self.point)

    def model(self, model: ModelConfig) -> ModelConfig:
        """The network settings this run trains: the study's (model), at a capacity-sweep point with its shape."""
        return model if self.point is None else self.point.model(model)

    @property
    def init_seed(self) -> int:
        """The seed that draws this run's initial weights (the replicate's own for init 0)."""
        return self.seed if self.init == 0 else self.seed + INIT_STRIDE * self.init


@dataclass(frozen=True)
class RunResult:
    """A trained run: final weights (Keras order), per-epoch history and when it stopped.

    min_val_epoch / min_val_weights: the epoch (1-based) with the lowest validation loss (without the penalty) and
    the weights at its end, kept for every run so overfitting can be measured on the test set at an epoch chosen on
    validation data. initial_loss: the training loss before the first step (the initial weights on the training
    split, inference mode, no penalty), what divergence is judged against. diverged_at: the epoch (1-based) at which
    a loss became non-finite or the training loss exploded beyond DIVERGENCE_FACTOR times initial_loss (diverged); such a run
    stops there and is excluded from intervals and verdicts.
    """

    run: Run
    weights: list[np.ndarray]
    history: dict[str, np.ndarray]
    epochs_run: int
    best_epoch: int | None = None
    min_val_epoch: int | None = None
    min_val_weights: list[np.ndarray] | None = None
    diverged_at: int | None = None
    initial_loss: float | None = None
    snapshots: dict[int, list[np.ndarray]] = field(default_factory=dict)  # epoch -> weights at its end (some runs only)
    extras: dict = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # a factory's network only: what the analysis would
    #   compute by forward passes of the MLP's weights, computed by the Keras model where it trained
    #   (reportgen.training.factory_fit); empty for reportgen's own MLP


def block_runs(weights: int, most: int = BLOCK_RUNS) -> int:
    """Runs of a network of `weights` weights trained together in one graph: up to `most`, fewer for a wide network
    (BLOCK_STATE_BYTES), never fewer than two (XLA compiles a stack of one run differently)."""
    return max(2, min(most, BLOCK_STATE_BYTES // (weights * STATE_BYTES)))


def settings_key(variant: VariantConfig) -> str:
    """Identify a variant by its settings alone, so identical settings are trained once. A regularizer whose record
    is not keyed when off is left out when off: keys (and cache keys) made before it existed stay the same."""
    off = {r.key for r in REGULARIZERS if not r.keyed_off and not r.on(variant.setting(r.key))}
    return variant.model_dump_json(exclude={"name", "label", *off})


def sweep_variant(kind: str, strength: float) -> VariantConfig:
    """Return the baseline with one regularizer of a sweep at a given strength."""
    return VariantConfig(name=f"{kind}={strength:g}", **{kind: strength})


def plan_runs(config: StudyConfig) -> list[Run]:
    """List every run: each variant, then each sweep point not already a variant, times each replicate; then twins."""
    variants = list(config.variants)
    known = {settings_key(v) for v in variants}
    for kind in SWEEP_KINDS:
        for strength in getattr(config.sweeps, kind):
            v = sweep_variant(kind, strength)
            if settings_key(v) not in known:  # a sweep point equal to a variant reuses that variant's runs
                known.add(settings_key(v))
                variants.append(v)
    runs = [Run(v, seed) for v in variants for seed in config.training.seeds]
    runs += [Run(v, seed, init=1) for v in twinned(config) for seed in config.training.seeds]
    return runs + [
        Run(v, seed, point=point) for point in sweep_points(config) for v in config.variants for seed in config.training.seeds
    ]


def sweep_points(config: StudyConfig) -> list[SweepPoint]:
    """The points of the data and capacity sweeps to train, in sweep order; a point equal to the study's own data and
    network reuses its runs."""
    points = [
        SweepPoint(axis, tuple(value) if axis == WIDTH_AXIS else value)
        for axis in config.sweeps.axes()
        for value in getattr(config.sweeps, axis)
    ]
    return [p for p in points if (p.apply(config.data), p.model(config.model)) != (config.data, config.model)]


def data_points(config: StudyConfig) -> list[SweepPoint]:
    """The points of the data sweeps to train (each has data of its own to draw)."""
    return [p for p in sweep_points(config) if p.changes_data]


def shapes(config: StudyConfig) -> list[tuple[int, ...]]:
    """Every network shape a study trains: its own, then its capacity sweep's others, in sweep order."""
    own = tuple(config.model.hidden_units)
    return [own, *(p.value for p in sweep_points(config) if isinstance(p.value, tuple))]


def twinned(config: StudyConfig) -> list[VariantConfig]:
    """Variants trained a second time per replicate with other initial weights: batch-norm variants and the reference.

    A claim about dependence on initialization needs the variance due to initialization alone, with the data held
    fixed: two initializations per replicate measure it however much the data draws differ.
    """
    plain = [v for v in config.variants if not v.regularizers()]
    twins = [v for v in config.variants if any(regularizer(k).twinned for k in v.regularizers())]
    return plain[:1] + twins if plain and twins else []


# of the epochs: every 10 to 100 and every 50 to 450 of 500, the frames of training you can watch in the HTML report
SNAPSHOT_SHARES = tuple(k / 50 for k in range(1, 11)) + tuple(k / 10 for k in range(3, 10))


def snapshot_epochs(config: StudyConfig) -> tuple[int, ...]:
    """Epochs (1-based) after which the snapshotted runs keep their weights (the last epoch is the result itself)."""
    epochs = config.training.epochs
    return tuple(sorted({e for e in (max(1, round(s * epochs)) for s in SNAPSHOT_SHARES) if e < epochs}))


STILL_SHARES = (0.02, 0.1, 0.3)  # of the epochs: the snapshots a printed report keeps (10, 50 and 150 of 500), and the end


def still_epochs(epochs: list[int], total: int) -> list[int]:
    """The snapshot epochs a printed report shows: the one nearest each of STILL_SHARES of the training epochs."""
    if not epochs:
        return []
    return sorted({min(epochs, key=lambda e: (abs(e - share * total), e)) for share in STILL_SHARES})


def snapshotted(run: Run, config: StudyConfig) -> bool:
    """Whether a run keeps snapshots: each main variant's first replicate, for the training-you-can-watch figure."""
    return (
        run.init == 0
        and run.point is None
        and run.seed == config.training.seeds[0]
        and any(v.name == run.variant.name for v in config.variants)
    )


def model_file_name(key: str) -> str:
    """Name the file a run's saved model gets: its key with '/' as '-' and anything unusual as '_'."""
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in key.replace("/", "-")) + ".keras"


def _origin(variant: VariantConfig) -> str:
    """Name a run's variant as the study file does: a variant by its name, a sweep point by its sweep."""
    kind, _, value = variant.name.partition("=")
    try:
        if kind in SWEEP_KINDS and variant == sweep_variant(kind, float(value)):
            return f"the {kind} sweep point {value}"
    except ValueError:
        pass
    return f"variant '{variant.name}' ({variant.describe()})"


def check_unique(runs: list[Run], model_files: bool = True, source: str = "study") -> None:
    """Refuse two different runs with one key, or (when models are saved) one model file name, naming both."""
    problems, by_key, by_file = [], {}, {}
    for run in runs:
        other = by_key.setdefault(run.key, run)
        if other != run:
            problems.append(
                f"{source}: variants: {_origin(other.variant)} and {_origin(run.variant)} would share the "
                f"run key '{run.key}' and one would replace the other; rename the variant"
            )
            continue
        other = by_file.setdefault(model_file_name(run.key).casefold(), run)  # case-insensitive file systems exist
        if model_files and other.key != run.key:
            problems.append(
                f"{source}: variants: '{other.variant.name}' and '{run.variant.name}' would both save "
                f"their models as models/{model_file_name(run.key)}; rename one"
            )
    if problems:
        per_pair: dict[str, str] = {}
        for line in problems:  # one line per pair of variants, not one per seed
            per_pair.setdefault(line.split(" would ")[0], line)
        raise ConfigError(list(per_pair.values()))


# A run has diverged when a loss (training, validation or penalty) is not finite or its training loss exceeds this many
# times its training loss at initialization, before any step; it is then frozen like an early-stopped run and marked
# (RunResult.diverged_at). Judged against the first epoch's losses, a run whose first epoch already took it to 1e10
# never diverged. Healthy runs of the default study peak at 8 times their initial loss (a spike of L2 1e-5).
DIVERGENCE_FACTOR = 100.0


def initial_loss(run: Run, data: Dataset, config: StudyConfig, dense: list[np.ndarray]) -> float:
    """A run's training loss before its first step: its initial weights on its training split, in inference mode (no
    dropout; batch norm's fresh statistics), without the penalty. Computed here in numpy for both engines alike."""
    network = Network.of(run.variant, run.model(config.model), data)
    return training_loss(network, initial_weights(network, dense), data)


def loss_limit(initial: float) -> np.float32:
    """The training loss beyond which a run has diverged, in float32 as both engines compare it."""
    return np.float32(DIVERGENCE_FACTOR) * np.float32(initial)


def diverged(train_loss: float, val_loss: float, penalty: float, limit: np.float32) -> bool:
    """Whether an epoch's losses end a run: one is not finite, or the training loss is beyond its loss_limit. A
    growing validation loss is overfitting, which the report measures: only its finiteness is judged. (The fast
    engine applies this rule inside its graph: reportgen.training.engine._divergence.)"""
    losses = np.array([train_loss, val_loss], np.float32)  # compared in float32, as the engine does
    return not (np.isfinite(losses).all() and np.isfinite(penalty) and losses[0] <= limit)


class Cancel(threading.Event):
    """The event that stops training: set by a signal (its name kept for the message) or an interrupted kernel."""

    def __init__(self, signal_name: str | None = None) -> None:
        super().__init__()
        self.signal_name = signal_name


def check_cancel(cancel) -> None:
    """Raise Interrupted if the cancel event is set (engines call it between graph calls or epochs)."""
    if cancel.is_set():
        raise Interrupted(getattr(cancel, "signal_name", None) or "SIGINT")
