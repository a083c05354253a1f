"""The schema of a study: every field documented, unknown keys rejected, the seed study as default."""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, get_args

from pydantic import BaseModel, Field, PrivateAttr, ValidationError, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo

from reportgen.datasets import BY_KIND, KINDS, DataConfig, DataSettings
from reportgen.datasets.planar import Moons
from reportgen.datasets.settings import MAX_NOISE, MAX_POINTS, MAX_SEED, MAX_TEXT, split_problem
from reportgen.errors import QUOTE_LIMIT, ConfigError, shorten
from reportgen.regularizers import REGULARIZERS, SWEPT, EarlyStopping, Strict

_Strict = Strict  # every table of a study file is strict (reportgen.regularizers holds the base: its records need it)


Positive = Annotated[float, Field(gt=0)]
DEFAULT_REPLICATES = 20
# Upper bounds: far beyond any study this tool is for, low enough that a typo fails here rather than after hours (the
# data's own, MAX_POINTS and the rest, live with the kinds of data in reportgen.datasets.settings).
MAX_EPOCHS = 100_000
MAX_REPLICATES = 1_000
MAX_WIDTH = 4_096
MAX_LAYERS = 10
MAX_SWEEP_POINTS = 30
MAX_VARIANTS = 100
Rate = Annotated[float, Field(ge=0, lt=1)]


MAX_FACTORY = 500  # characters of model.factory
_FACTORY = re.compile(r"^(?P<file>.*\S\.py):(?P<function>[A-Za-z_][A-Za-z0-9_]*)$")


def factory_parts(spec: str) -> tuple[str, str] | None:
    """A model.factory's file and function ('my_models.py:build' -> ('my_models.py', 'build')), or None when it is
    not of that form."""
    match = _FACTORY.match(spec)
    return (match["file"], match["function"]) if match else None


class ModelConfig(_Strict):
    """The network every variant starts from."""

    hidden_units: list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]] = Field(
        [128, 128],
        min_length=1,
        max_length=MAX_LAYERS,
        description=f"Width of each hidden Dense layer: 1 to {MAX_LAYERS} layers of 1 to {MAX_WIDTH:,} units.",
    )
    learning_rate: float = Field(0.01, gt=0, description="Learning rate of the optimizer.")
    optimizer: Literal["adam", "sgd"] = Field(
        "adam", description="'adam' (Keras Adam, or AdamW with weight decay) or 'sgd' (Keras SGD, with momentum)."
    )
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD's momentum (0 to 1; 0 = plain SGD); 'sgd' only.")
    activation: Literal["relu", "tanh", "gelu"] = Field(
        "relu", description="Activation of the hidden layers: 'relu', 'tanh' or 'gelu' (exact, as Keras' 'gelu')."
    )
    factory: str | None = Field(
        None,
        max_length=MAX_FACTORY,
        description="Your own Keras network instead of the MLP: 'file.py:function' (the file relative to the study "
        "file's folder). The function is called with the input width, the number of classes and the variant (its l1, "
        "l2, dropout, batchnorm, input_noise, max_norm, ... as attributes) and returns an uncompiled Keras model ending "
        "in one sigmoid unit (two classes) or a softmax over the classes, with the variant's layer-level regularizers in "
        "it; reportgen compiles and trains it with stock fit (training.engine 'keras'). hidden_units and activation "
        "are then unused.",
        json_schema_extra={"example": "my_models.py:build"},
    )

    @model_validator(mode="after")
    def _momentum_is_sgd(self) -> ModelConfig:
        if self.momentum and self.optimizer != "sgd":
            raise ValueError("momentum is a setting of optimizer 'sgd'")
        return self

    @field_validator("factory")
    @classmethod
    def _file_and_function(cls, spec: str | None) -> str | None:
        if spec is not None and factory_parts(spec) is None:
            raise ValueError("expected 'file.py:function', e.g. 'my_models.py:build'")
        return spec

    @model_validator(mode="after")
    def _factory_has_its_own_network(self) -> ModelConfig:
        """A factory's network has its own layers: MLP settings other than their defaults would be accepted and
        ignored (their defaults are written back into results.json, so they are allowed)."""
        if self.factory is None:
            return self
        fields = type(self).model_fields
        unused = [name for name in ("hidden_units", "activation") if getattr(self, name) != fields[name].default]
        if unused:
            raise ValueError(
                f"{' and '.join(unused)} {'describes' if len(unused) == 1 else 'describe'} reportgen's MLP; the network "
                f"of factory '{self.factory}' has its own (leave {'it' if len(unused) == 1 else 'them'} out)"
            )
        return self

    def optimizer_phrase(self) -> str:
        """The optimizer in words, e.g. 'Adam (learning rate 0.01)' or 'SGD with momentum 0.9 (learning rate 0.1)'."""
        name = "Adam" if self.optimizer == "adam" else f"SGD with momentum {self.momentum:g}" if self.momentum else "SGD"
        return f"{name} (learning rate {self.learning_rate:g})"

    def activation_name(self) -> str:
        """The hidden layers' activation as written in texts: 'ReLU', 'tanh' or 'GELU'."""
        return {"relu": "ReLU", "tanh": "tanh", "gelu": "GELU"}[self.activation]

    def factory_file(self) -> tuple[Path, str] | None:
        """The factory's file and function name (None: the MLP)."""
        parts = factory_parts(self.factory) if self.factory else None
        return None if parts is None else (Path(parts[0]), parts[1])

    def relocated(self, where) -> ModelConfig:
        """These settings with the factory file's path passed through where(path) (no factory: unchanged)."""
        parts = self.factory_file()
        return self if parts is None else self.model_copy(update={"factory": f"{where(parts[0])}:{parts[1]}"})

    def keyed(self) -> dict:
        """What of the network and its optimizer can change a run's weights, for cache keys: the settings made since the
        first cache keys only when they are not at their default, so that older keys stay the same."""
        made_later = {k: getattr(self, k) for k in ("optimizer", "momentum", "activation")}
        later = {k: v for k, v in made_later.items() if v != type(self).model_fields[k].default}
        return {"hidden_units": list(self.hidden_units), "learning_rate": self.learning_rate, **later}


class SeedBudget(_Strict):
    """An adaptive number of replicates: train `min`, then add `step` more while some verdict is borderline and more
    replicates could make it firm, up to `max` (claims are then judged with alpha spent over the looks)."""

    min: int = Field(ge=2, le=MAX_REPLICATES, description=f"Replicates trained first (2 to {MAX_REPLICATES:,}).")
    max: int = Field(ge=2, le=MAX_REPLICATES, description=f"Most replicates a build trains (min to {MAX_REPLICATES:,}).")
    step: int = Field(10, ge=1, le=MAX_REPLICATES, description="Replicates added per round.")
    first: int = Field(
        0,
        ge=0,
        le=MAX_SEED - MAX_REPLICATES,
        description="The first replicate's seed; replicates are numbered from it (seeds first to first + max − 1).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> SeedBudget:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is more than max ({self.max})")
        return self

    def seeds(self, n: int | None = None) -> list[int]:
        """The seeds of the first n replicates (all max of them by default)."""
        return list(range(self.first, self.first + (self.max if n is None else n)))

    def looks(self) -> tuple[int, ...]:
        """Replicates at each planned look: min, min + step, ... up to max."""
        return tuple(sorted({*range(self.min, self.max, self.step), self.max}))


DEFAULT_BUDGET: dict[str, Any] = {"min": DEFAULT_REPLICATES, "max": 2 * DEFAULT_REPLICATES, "step": DEFAULT_REPLICATES // 2}


class TrainingConfig(_Strict):
    """How every run is trained."""

    epochs: int = Field(
        500, ge=1, le=MAX_EPOCHS, description=f"Training epochs, 1 to {MAX_EPOCHS:,} (an early-stopping variant may stop sooner)."
    )
    batch_size: int = Field(32, ge=1, le=MAX_POINTS, description=f"Mini-batch size (1 to {MAX_POINTS:,}).")
    shuffle: bool = Field(True, description="Reshuffle the training rows every epoch, as Keras' fit does.")
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(
        list(range(2 * DEFAULT_REPLICATES)),
        min_length=1,
        max_length=MAX_REPLICATES,
        description="The replicates: a list of seeds, a count N (seeds 0 to N-1), or a budget {min, max, step, first} "
        "that trains min replicates, then adds step more while a verdict is borderline and more replicates could make "
        f"it firm, up to max. A replicate fixes its data draw, initial weights, batch order and dropout masks; every "
        f"variant of one replicate shares them (paired). At most {MAX_REPLICATES:,} replicates; seeds 0 to {MAX_SEED:,}.",
        json_schema_extra={"example": DEFAULT_BUDGET},
    )
    budget: SeedBudget | None = Field(
        SeedBudget(**DEFAULT_BUDGET),
        description="Set by writing seeds as a table ({min, max, step}): the adaptive number "
        "of replicates; seeds then lists the replicates a build used.",
    )
    engine: Literal["fast", "keras"] = Field(
        "fast",
        description="'fast': all runs in compiled TensorFlow graphs; 'keras': stock model.fit, one run at a time "
        "(reference). A model.factory's network trains with 'keras' (then the default), one run per core.",
    )

    @model_validator(mode="before")
    @classmethod
    def _seeds_as_budget(cls, raw: Any) -> Any:
        """seeds = {min, max, step} is a budget: its seeds, numbered from its first; a count or a list is a fixed design."""
        if not isinstance(raw, dict) or "seeds" not in raw:
            return raw
        seeds = raw["seeds"]
        if isinstance(seeds, dict):
            budget = seeds
            top = budget.get("max")
            first = budget.get("first", 0)
            whole = [isinstance(v, int) and not isinstance(v, bool) for v in (top, first)]
            ok = all(whole) and isinstance(top, int) and 0 < top <= MAX_REPLICATES
            return {**raw, "budget": budget, "seeds": list(range(first, first + top)) if ok else [0]}
        if "budget" in raw and raw["budget"] is not None:
            return raw  # a study as results.json writes it: the seeds a build used and its budget
        return {**raw, "budget": None}

    @model_validator(mode="after")
    def _seeds_fit_the_budget(self) -> TrainingConfig:
        b = self.budget
        if b is not None and (self.seeds != b.seeds(len(self.seeds)) or not b.min <= len(self.seeds) <= b.max):
            raise ValueError(f"seeds: a budget's replicates are numbered from {b.first}, {b.min} to {b.max} of them")
        return self

    @property
    def looks(self) -> tuple[int, ...]:
        """Replicates at each planned look: a budget's, or every replicate at once."""
        return self.budget.looks() if self.budget else (len(self.seeds),)

    @field_validator("seeds", mode="before")
    @classmethod
    def _count_means_range(cls, seeds: Any) -> Any:
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if not 1 <= seeds <= MAX_REPLICATES:  # checked before list(range(seeds)) would allocate a huge list
                raise ValueError(f"a replicate count must be 1 to {MAX_REPLICATES:,}")
            return list(range(seeds))
        return seeds

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        return seeds


class _Variant(_Strict):
    """One model variant: the base network plus regularizers (one setting per record of reportgen.regularizers)."""

    name: str = Field(
        description="Short unique name, used in tables and figures (at most 40 characters).", min_length=1, max_length=40
    )
    label: str = Field(
        "",
        max_length=MAX_TEXT,
        description=f"Longer human name (at most {MAX_TEXT} characters); defaults to a description of the settings.",
    )

    def setting(self, key: str) -> Any:
        """A regularizer's setting by its record's key."""
        return getattr(self, key)

    def regularizers(self) -> tuple[str, ...]:
        """The regularizers this variant uses, in a fixed order: what claims look at, never the name."""
        return tuple(r.key for r in REGULARIZERS if r.on(self.setting(r.key)))

    def describe(self) -> str:
        """Say what regularizers this variant adds, in a few words."""
        return ", ".join(r.describe(self.setting(r.key)) for r in REGULARIZERS if r.key in self.regularizers()) or (
            "no regularization"
        )


if TYPE_CHECKING:  # its fields come from the regularizer records, which a type checker cannot follow
    VariantConfig: TypeAlias = Any
else:
    VariantConfig = create_model(
        "VariantConfig",
        __base__=_Variant,
        __module__=__name__,
        __doc__=_Variant.__doc__,
        **{r.key: (r.annotation, r.field) for r in REGULARIZERS},
    )


def _default_variants() -> list[VariantConfig]:
    return [
        VariantConfig(name="baseline"),
        VariantConfig(name="l1", l1=0.001),
        VariantConfig(name="l2", l2=0.001),
        VariantConfig(name="dropout", dropout=0.2),
        VariantConfig(name="batchnorm", batchnorm=True),
        VariantConfig(name="early_stopping", early_stopping=EarlyStopping()),
    ]


DEFAULT_SWEEPS = ("l1", "l2", "dropout")  # the regularizers the default study sweeps (others: none by default)


DATA_AXES = ("n_samples", "noise")
WIDTH_AXIS = "hidden_units"  # the capacity sweep: every variant at other network shapes
AXES = (*DATA_AXES, WIDTH_AXIS)  # the study-wide sweeps: every variant trained again at each of their points


def width(hidden_units) -> float:
    """A network's width: the units per hidden layer, and for layers of unequal width their geometric mean (so log2 of
    the width is the mean of the layers' log2 units: doubling every layer doubles it, and [32, 128] is as wide as
    [64, 64])."""
    units = [int(u) for u in hidden_units]
    if len(set(units)) == 1:
        return float(units[0])
    return float(math.prod(units) ** (1 / len(units)))


def capacity_shapes(model: ModelConfig, sweeps) -> list[list[int]]:
    """The network shapes of a capacity sweep, narrowest first: the study's own (model.hidden_units) and the sweep's
    (sweeps.hidden_units), each once; just the study's own without a capacity sweep."""
    own = list(model.hidden_units)
    others = [list(h) for h in sweeps.hidden_units if list(h) != own]
    return sorted([own, *others], key=width)


def shape_name(hidden_units) -> str:
    """A network shape as the report writes it: '64×64', '256'."""
    return "×".join(str(int(u)) for u in hidden_units)


class _Sweeps(_Strict):
    """Strength sweeps (the baseline with one regularizer at many strengths), data sweeps (every variant at other
    data sizes or noise levels) and the capacity sweep (every variant at other network shapes)."""

    @field_validator("n_samples", "noise", "hidden_units", check_fields=False)
    @classmethod
    def _distinct(cls, values: list) -> list:
        seen = [tuple(v) if isinstance(v, list) else v for v in values]
        if len(set(seen)) != len(seen):
            raise ValueError("values must be distinct")
        return values

    @field_validator("hidden_units", mode="before", check_fields=False)
    @classmethod
    def _shapes_not_units(cls, values: Any) -> Any:
        """A list of numbers is one shape written without its brackets: say so once, rather than once per number."""
        if isinstance(values, list) and values and all(isinstance(v, int | float) for v in values):
            units = ", ".join(map(str, values))
            raise ValueError(
                f"a list of network shapes, each a list of units per hidden layer: [[{units}]] for one shape of "
                f"{len(values)} layer{'s' if len(values) > 1 else ''}, or [{', '.join(f'[{v}]' for v in values)}] for "
                f"{len(values)} shape{'s' if len(values) > 1 else ''} of one layer"
            )
        return values

    def data_axes(self) -> list[str]:
        """The data sweeps this study has ('n_samples', 'noise')."""
        return [axis for axis in DATA_AXES if getattr(self, axis)]

    def axes(self) -> list[str]:
        """The study-wide sweeps this study has: its data sweeps, then the capacity sweep ('hidden_units')."""
        return [axis for axis in AXES if getattr(self, axis)]

    def strengths(self) -> dict[str, list[float]]:
        """The strength sweeps this study has: regularizer key -> strengths (those with none left out)."""
        return {r.key: list(getattr(self, r.key)) for r in SWEPT if getattr(self, r.key)}


def _strength_sweep(r) -> tuple:
    """The sweep setting of a regularizer's record: a list of strengths (the default study sweeps L1, L2, dropout)."""
    axis = r.sweep.axis[0].upper() + r.sweep.axis[1:]
    default = list(r.sweep.default) if r.key in DEFAULT_SWEEPS else []
    return list[r.sweep.values], Field(
        default, max_length=MAX_SWEEP_POINTS, description=f"{axis}s to train (at most {MAX_SWEEP_POINTS})."
    )


if TYPE_CHECKING:  # as VariantConfig
    SweepConfig: TypeAlias = Any
else:
    SweepConfig = create_model(
        "SweepConfig",
        __base__=_Sweeps,
        __module__=__name__,
        __doc__=_Sweeps.__doc__,
        **{r.key: _strength_sweep(r) for r in SWEPT},
        n_samples=(
            list[Annotated[int, Field(ge=10, le=MAX_POINTS)]],
            Field(
                [],
                max_length=MAX_SWEEP_POINTS,
                description="Data-size sweep: every variant is trained, replicated, at each of these numbers of "
                f"training-plus-validation points (at most {MAX_SWEEP_POINTS}, each 10 to {MAX_POINTS:,}; a table samples "
                "them from its rows outside the test split); with two or more sizes the claim 'regularization helps more "
                "when data is scarce' is tested.",
            ),
        ),
        noise=(
            list[Annotated[float, Field(ge=0, le=MAX_NOISE)]],
            Field(
                [],
                max_length=MAX_SWEEP_POINTS,
                description=f"Noise sweep (generators only): every variant is trained, replicated, at each of these "
                f"data.noise values (at most {MAX_SWEEP_POINTS}, each 0 to {MAX_NOISE:g}).",
            ),
        ),
        hidden_units=(
            list[Annotated[list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]], Field(min_length=1, max_length=MAX_LAYERS)]],
            Field(
                [],
                max_length=MAX_SWEEP_POINTS,
                description="Capacity sweep: every variant is trained, replicated, at each of these network shapes "
                f"(model.hidden_units lists, e.g. [[16, 16], [64, 64], [256, 256]]; at most {MAX_SWEEP_POINTS}, each 1 "
                f"to {MAX_LAYERS} layers of 1 to {MAX_WIDTH:,} units). The study's own network counts as a point. A "
                "shape's width is its units per hidden layer (the geometric mean for unequal layers), one width per "
                "shape; with two or more widths the claim 'regularization helps more in bigger networks' is tested "
                "(per doubling of the width).",
                json_schema_extra={"example": [[16, 16], [64, 64], [256, 256]]},
            ),
        ),
    )


class Margins(_Strict):
    """Smallest effects of interest, fixed before looking: an effect shown to lie inside one is 'no meaningful effect'."""

    accuracy: float = Field(
        0.01, gt=0, le=1, description="Accuracies and the generalization gap, as a share: 0.01 is 1 percentage point."
    )
    loss: float = Field(
        0.05, gt=0, description="Cross-entropy differences (test loss, its rebound after the best validation epoch), in nats."
    )
    boundary: float = Field(
        0.10, gt=0, le=1, description="Decision-boundary length and pieces, relative to the reference's mean: 0.1 is 10%."
    )
    roughness: float = Field(0.10, gt=0, le=1, description="Roughness of the validation loss, relative to the reference's mean.")
    sparsity: float = Field(0.05, gt=0, le=1, description="Shares of weights (near zero, prunable): 0.05 is 5 percentage points.")
    weights: float = Field(0.10, gt=0, le=1, description="Kernel norms, relative to the reference's mean.")
    calibration: float = Field(
        0.01, gt=0, le=1, description="Brier score and expected calibration error (shares): 0.01 is one point."
    )
    init_variance: float = Field(
        2.0, gt=1, description="Ratio of initialization variances: inside [1/r, r] counts as no meaningful difference."
    )


class AnalysisConfig(_Strict):
    """How results are measured and judged."""

    sparsity_thresholds: list[Positive] = Field(
        [1e-3, 1e-2],
        min_length=1,
        max_length=10,
        description="|w| below each of these counts as (near) zero in the tables (1 to 10 thresholds).",
    )
    confidence: float = Field(
        0.95, gt=0.5, lt=1, description="Level of the confidence intervals; 1 − confidence is the level of every test."
    )
    margins: Margins = Field(default_factory=Margins, description="Smallest effects of interest, per kind of measure.")
    prune_tolerance: float = Field(
        0.01,
        ge=0,
        lt=1,
        description="Accuracy a pruned network may lose and still count as unharmed (0.01 = 1 pp), on "
        "2,000 fresh points of the generator per replicate (a table: its training and validation rows).",
    )
    grid_resolution: int = Field(
        150, ge=20, le=600, description="Points per side of the drawn probability background (20 to 600)."
    )
    stability_window: float = Field(
        0.5, gt=0, le=1, description="Last share of training over which the roughness of the validation loss is measured."
    )


class OutputConfig(_Strict):
    """What is written, and where."""

    dir: Annotated[Path, Field(strict=False)] = Field(
        Path("output"), description="Output folder (relative to the study file's folder)."
    )
    formats: list[Literal["html", "pdf"]] = Field(["html", "pdf"], min_length=1, description="Report formats.")
    save_models: bool = Field(False, description="Also write each run's trained model as a .keras file.")
    cache: Annotated[Path | None, Field(strict=False)] = Field(
        Path(".reportgen-cache"),
        description="Folder of trained runs reused by later builds (relative to the study file's "
        "folder); a changed title, threshold or template retrains nothing. --no-cache or an empty string switches it off.",
    )

    @field_validator("cache", mode="before")
    @classmethod
    def _empty_means_off(cls, value: Any) -> Any:
        return None if value in ("", False) else value


class ExecutionConfig(_Strict):
    """Where training runs."""

    scheduler: str | None = Field(
        None,
        max_length=500,
        description="Address of a Dask distributed scheduler (e.g. 'tcp://10.0.0.5:8786') to train on "
        "a cluster; unset trains here. Workers need reportgen installed (pip install 'reportgen[dask]').",
    )
    runs_per_task: int = Field(
        48,
        ge=1,
        le=10_000,
        description="Runs of one network shape per cluster task (a task of "
        "48 default runs lasts about ten seconds: long enough to amortise the scheduling).",
    )


class StudyConfig(_Strict):
    """A regularization study: data, network, training, variants, sweeps, analysis and output."""

    _base: Path | None = PrivateAttr(default=None)  # the study file's folder: paths in shared outputs are relative to it
    _file: Path | None = PrivateAttr(default=None)  # the study file itself (None: the default study), which no build replaces

    title: str = Field(
        "Regularization in deep learning: make_moons",
        min_length=1,
        max_length=MAX_TEXT,
        description=f"Report title (at most {MAX_TEXT} characters).",
    )
    data: DataConfig = Field(default_factory=Moons, description="The dataset.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="The base network.")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="Training settings.")
    variants: list[VariantConfig] = Field(
        default_factory=_default_variants,
        min_length=1,
        max_length=MAX_VARIANTS,
        description=f"The variants to compare (1 to {MAX_VARIANTS}).",
    )
    sweeps: SweepConfig = Field(default_factory=SweepConfig, description="Strength sweeps (empty lists switch one off).")
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig, description="Measurement settings.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="Output settings.")
    execution: ExecutionConfig = Field(
        default_factory=ExecutionConfig, description="Where training runs (this machine or a Dask cluster)."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> StudyConfig:
        names = [v.name for v in self.variants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate variant names: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _factory_trains_with_fit(self) -> StudyConfig:
        """A network from a factory trains with stock fit (validate() makes 'keras' the default then)."""
        if self.model.factory is not None and self.training.engine != "keras":
            raise ValueError(f"training.engine: '{self.training.engine}' cannot train model.factory's network; use 'keras'")
        if self.model.factory is not None and self.sweeps.hidden_units:
            raise ValueError(
                f"sweeps.hidden_units: a capacity sweep changes the MLP's layers, and model.factory '{self.model.factory}' "
                "builds its own network (leave the sweep out, or vary the width inside the factory)"
            )
        return self

    @model_validator(mode="after")
    def _data_sweeps_fit_the_data(self) -> StudyConfig:
        for value in self.sweeps.noise:
            problem = self.data.sweep_problem("noise", value)
            if problem:
                raise ValueError(f"sweeps.noise: {problem}")
        for n in self.sweeps.n_samples:
            try:
                split_problem(n, self.data.validation_fraction)
            except ValueError as err:
                raise ValueError(f"sweeps.n_samples: {err}") from None
        return self

    @model_validator(mode="after")
    def _one_shape_per_width(self) -> StudyConfig:
        """The capacity sweep's shapes (the study's own among them) have one width each: the slope of a benefit on
        log2 of the width needs distinct widths, and the figure one point per width."""
        own = list(self.model.hidden_units)
        by_width: dict[float, list[int]] = {width(own): own}
        for shape in self.sweeps.hidden_units:
            other = by_width.setdefault(width(shape), list(shape))
            if other != list(shape):
                whose = " (model.hidden_units)" if other == own else ""
                raise ValueError(
                    f"sweeps.hidden_units: {list(shape)} and {other}{whose} have the same width, {width(shape):g} units "
                    "per hidden layer (their geometric mean); the capacity sweep needs one shape per width"
                )
        return self

    @property
    def n_train(self) -> int | None:
        """Rows used for training (the rest of n_samples is validation); None for a table that uses all its rows."""
        n = self.data.n_samples
        return None if n is None else n - round(n * self.data.validation_fraction)


FLAG_NAMES = {
    "output.dir": "--out",
    "output.formats": "--format",
    "output.save_models": "--save-models",
    "output.cache": "--cache-dir",
    "execution.scheduler": "--scheduler",
}


def printable(text: str) -> str:
    """Text with line breaks and other control characters written as escapes (\\r, \\x1c): a key or name from a file
    then stays on its problem's one line."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _parse_value(text: str) -> Any:
    """Read an override value as TOML (numbers, booleans, lists), else as a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _set_key(raw: dict, key: str, value: Any, label: str) -> None:
    """Set a dotted key (`training.epochs`) in a raw study dict; `label` names where the value came from."""
    node = raw
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError([f"{label}: {shorten(key)}: '{shorten(part)}' is not a table"])
    node[leaf] = value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply --set KEY=VALUE items (values read as TOML) to a raw study dict."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError([f"--set {shorten(item)!r}: expected key=value, e.g. --set training.epochs=50"])
        _set_key(raw, key.strip(), _parse_value(value.strip()), "--set")
    return raw


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """Find the schema table at a location of the study (list indices skipped), or None. Inside [data] pydantic's
    location names the kind after 'data' (('data', 'iris', 'test_fraction')): that kind's table."""
    model: type[BaseModel] | None = StudyConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if model is DataSettings and part in BY_KIND:
            model = BY_KIND[part]
            continue
        field = model.model_fields.get(part) if model else None
        if field is None:
            return None
        model = DataSettings if part == "data" and model is StudyConfig else _inner_model(field.annotation)
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """Find the table type inside a field's type (list[VariantConfig], EarlyStopping | None, ...), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_inner_model, get_args(annotation)) if m), None)


_DOTTED = re.compile(r"[a-z_]+(\.[a-z_]+)+")


def _as_written(e: dict) -> tuple[tuple, str, Any]:
    """An error's location, message and value as the study file has them: a budget is written in training.seeds, and
    [data] has no level of its kind's name; an unknown kind is the kind's error."""
    loc, msg, value = e["loc"], e["msg"].removeprefix("Value error, "), e.get("input")
    key, sep, rest = msg.partition(": ")
    if not loc and sep and _DOTTED.fullmatch(key):  # a check across sections names the key it is about first
        loc, msg = tuple(key.split(".")), rest
    if loc[:2] == ("training", "budget"):
        loc = ("training", "seeds", *loc[2:])
    if loc[:1] == ("data",) and len(loc) > 1 and loc[1] in BY_KIND:
        loc = ("data", *loc[2:])
    if e["type"] == "union_tag_invalid" and loc == ("data",):
        kinds = [f"'{k}'" for k in BY_KIND]
        loc, msg = ("data", "kind"), f"Input should be {', '.join(kinds[:-1])} or {kinds[-1]}"
        value = value.get("kind") if isinstance(value, dict) else value
    return loc, msg, value


def _did_you_mean(loc: tuple) -> str:
    """Suggest the valid key nearest to an unknown one."""
    model = _model_at(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1) if model else []
    return f"; did you mean '{close[0]}'?" if close else ""


def _origin(loc: tuple, origins: dict[str, str], source: str) -> str:
    """Name where a value came from: the flag or --set that set it or a table around it, else the study file."""
    dotted = ".".join(str(p) for p in loc)
    for key, label in origins.items():
        if dotted == key or dotted.startswith(key + ".") or key.startswith(dotted + "."):
            return label
    return source


def _where(loc: tuple, raw: dict) -> str:
    """Write a dotted location, with the variant's name when it is inside one."""
    where = shorten(".".join(str(p) for p in loc) or "(top level)", 2 * QUOTE_LIMIT)
    variants = raw.get("variants")
    if loc[:1] == ("variants",) and len(loc) > 1 and isinstance(variants, list) and isinstance(loc[1], int):
        name = variants[loc[1]].get("name") if loc[1] < len(variants) and isinstance(variants[loc[1]], dict) else None
        if isinstance(name, str):
            where += f" (variant '{shorten(name)}')"
    return where


def _format_errors(err: ValidationError, source: str, raw: dict, origins: dict[str, str]) -> list[str]:
    """Turn pydantic's errors into one line each: where the value came from, the key, the problem, the value."""
    lines = []
    for e in err.errors():
        loc, msg, value = _as_written(dict(e))
        if e["type"] == "extra_forbidden":
            msg = "unknown key" + _did_you_mean(e["loc"])
        shown = "" if e["type"] == "missing" or isinstance(value, dict) else f" (got {shorten(repr(value))})"
        lines.append(printable(f"{_origin(loc, origins, source)}: {_where(loc, raw)}: {msg}{shown}"))
    return lines


def _duplicate_names(raw: dict, source: str) -> list[str]:
    """Duplicate variant names, found on the raw file so they are reported with every other problem."""
    variants = raw.get("variants")
    names = [v.get("name") for v in variants if isinstance(v, dict)] if isinstance(variants, list) else []
    dupes = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    return [f"{source}: variants: duplicate variant names: {shorten(', '.join(dupes))}"] if dupes else []


def _factory_engine(raw: dict, source: str, origins: dict[str, str]) -> tuple[dict, list[str]]:
    """A study with model.factory trains with engine 'keras': the engine when none is given (the raw study is then a
    copy with it), and a problem naming the key when 'fast' is."""
    model, training = raw.get("model"), raw.get("training", {})
    if not isinstance(model, dict) or model.get("factory") is None or not isinstance(training, dict):
        return raw, []
    engine = training.get("engine")
    if engine is None:
        return {**raw, "training": {**training, "engine": "keras"}}, []
    if engine == "fast":
        where = _origin(("training", "engine"), origins, source)
        return raw, [
            f"{where}: training.engine: 'fast' cannot train the network of model.factory (its own Keras model trains "
            f"with stock fit: set engine = 'keras' or leave it out)"
        ]
    return raw, []


def validate(raw: dict, source: str = "study", origins: dict[str, str] | None = None) -> StudyConfig:
    """Validate a raw study dict, reporting every problem at once; origins name the flags that set keys."""
    dupes = _duplicate_names(raw, source)
    raw, engine = _factory_engine(raw, source, origins or {})
    if engine:
        raise ConfigError([printable(line) for line in engine])
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as err:
        lines = _format_errors(err, source, raw, origins or {})
        raise ConfigError(
            [printable(d) for d in dupes] + [line for line in lines if "duplicate variant names" not in line]
        ) from None


def _read_study(path: Path | None) -> tuple[dict, str, Path]:
    """Read the raw study, the name it goes by in messages, and the folder relative paths start from."""
    if path is None:
        return {}, "default study", Path.cwd()
    shown = shorten(str(path), 2 * QUOTE_LIMIT)
    if not path.is_file():
        raise ConfigError([f"{shown}: study file not found"])
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), str(path), path.resolve().parent
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"{shown}: TOML syntax error: {err}"]) from None
    except UnicodeDecodeError as err:
        raise ConfigError([f"{shown}: not UTF-8 text: {err}"]) from None
    except RecursionError:  # arrays or inline tables nested thousands deep: tomllib parses them recursively
        raise ConfigError([f"{shown}: TOML syntax error: values nested too deeply"]) from None


def merge_tables(raw: dict, tables: dict[str, Any], label: str, origins: dict[str, str], prefix: str = "") -> None:
    """Merge typed values into a raw study dict: a dict merges into the table at its key, anything else replaces the
    value there (reportgen.load_study(training={"epochs": 20})); origins record label for every key set."""
    for key, value in tables.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(raw.get(key), dict | None):
            merge_tables(raw.setdefault(key, {}), value, label, origins, dotted + ".")
        else:
            raw[key] = value
            origins[dotted] = label.format(key=dotted.partition(".")[0])


def load_config(
    path: Path | None = None,
    overrides: list[str] | None = None,
    flags: dict[str, Any] | None = None,
    tables: dict[str, Any] | None = None,
    tables_label: str = "{key}",
) -> StudyConfig:
    """Load a study file (or the built-in default), apply --set overrides and typed flag values, resolve the output folder.

    flags: typed values by dotted key, e.g. {"output.dir": Path("out")}; they are never parsed as TOML text.
    tables: typed values by top-level section, merged into the study (merge_tables); problems with them are named
    tables_label.format(key=section).
    """
    raw, source, base = _read_study(path)
    overrides = overrides or []
    apply_overrides(raw, overrides)
    origins = {item.partition("=")[0].strip(): "--set" for item in overrides}
    merge_tables(raw, tables or {}, tables_label, origins)
    for key, value in (flags or {}).items():
        _set_key(raw, key, value, FLAG_NAMES.get(key, key))
        origins[key] = FLAG_NAMES.get(key, key)
    config = validate(raw, source, origins)
    resolve = lambda p: p if p is None or p.is_absolute() else base / p  # noqa: E731
    resolved = config.model_copy(
        update={
            "output": config.output.model_copy(update={"dir": resolve(config.output.dir), "cache": resolve(config.output.cache)}),
            "data": config.data.relocated(resolve),
            "model": config.model.relocated(resolve),
        }
    )
    resolved._base = base
    resolved._file = path.resolve() if path is not None else None
    return resolved


def portable(config: StudyConfig) -> StudyConfig:
    """The study with its output and cache paths relative to the study file's folder, for outputs that are shared.

    A CI runner's home folder or a laptop's user name must not travel in a report.
    """
    import os

    def rel(p: Path | None) -> Path | None:
        if p is None or not p.is_absolute():
            return p
        return Path(os.path.relpath(p, config._base)) if config._base else Path(p.name)

    out = config.output.model_copy(update={"dir": rel(config.output.dir), "cache": rel(config.output.cache)})
    return config.model_copy(update={"output": out, "data": config.data.relocated(rel), "model": config.model.relocated(rel)})


def _toml_value(value: Any) -> str:
    import tomli_w

    if isinstance(value, list):  # inline, one line per key: easier to edit than tomli_w's multi-line arrays
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).strip().removeprefix("v = ")


def _example(info: FieldInfo) -> Any:
    """A setting's example value for the commented study file (None: it has none)."""
    extra = info.json_schema_extra
    return extra.get("example") if isinstance(extra, dict) else None


def _table_lines(model: BaseModel, header: str | None, comments: bool) -> list[str]:
    lines = [f"[{header}]"] if header else []
    dumped = model.model_dump(mode="json")
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel) or name == "variants":
            continue
        if getattr(model, "factory", None) and name in ("hidden_units", "activation"):
            continue  # the MLP's, unused with a factory's network
        if value is None:  # a setting of other kinds of data: shown, commented out, with an example value
            example = _example(info)
            if comments and example is not None:
                lines += [f"# {info.description}", f"# {name} = {_toml_value(example)}"]
            continue
        shown = dumped[name]
        if name == "seeds" and shown == list(range(len(shown))):
            shown = len(shown)  # 'seeds = 20' reads better than twenty numbers, and means the same
        text = _toml_value(shown)
        budget = getattr(model, "budget", None) if name == "seeds" else None
        if budget is not None:  # a budget is written as the user writes it
            text = "{ " + ", ".join(f"{k} = {v}" for k, v in budget.model_dump().items() if k != "first" or v) + " }"
        lines += ([f"# {info.description}"] if comments else []) + [f"{name} = {text}"]
    return lines


def _data_lines(data: DataSettings, comments: bool) -> list[str]:
    """The [data] table: its settings in the order every build writes them; with comments, every other kind's settings
    too, commented out with an example value."""
    fields = {name: info for kind in reversed(KINDS) for name, info in kind.model_fields.items()}  # first kind's wins
    fields.update(type(data).model_fields)
    dumped = data.model_dump(mode="json")
    lines = ["[data]"]
    for name in [*dumped, *(n for n in fields if n not in dumped)]:
        info, value = fields[name], dumped.get(name)
        if value is None:  # a setting of other kinds of data: shown, commented out, with an example value
            example = _example(info)
            if comments and example is not None:
                lines += [f"# {info.description}", f"# {name} = {_toml_value(example)}"]
            continue
        lines += ([f"# {info.description}"] if comments else []) + [f"{name} = {_toml_value(value)}"]
    return lines


def study_toml(config: StudyConfig, comments: bool = False) -> str:
    """A study as a TOML file, optionally with a comment on every key; loading it gives the same study."""
    lines = (
        [
            "# reportgen study file: every key is optional; a missing key takes the value shown here.",
            "# Build it with: reportgen build --config study.toml",
            "",
        ]
        if comments
        else []
    )
    lines += _table_lines(config, None, comments)
    for name in ("data", "model", "training", "sweeps", "analysis", "output", "execution"):
        section = getattr(config, name)
        head = ["", f"# {StudyConfig.model_fields[name].description}"] if comments else [""]
        lines += head + (_data_lines(section, comments) if name == "data" else _table_lines(section, name, comments))
        for sub, info in type(section).model_fields.items():  # nested tables such as [analysis.margins]
            if isinstance(getattr(section, sub), BaseModel) and sub != "budget":  # a budget is written in seeds
                lines += [
                    "",
                    *([f"# {info.description}"] if comments else []),
                    *_table_lines(getattr(section, sub), f"{name}.{sub}", comments),
                ]
    if comments:
        lines += [
            "",
            "# The variants to compare; add your own (e.g. l1 = 0.001 with dropout = 0.2) with no code change.",
            "# Keys of a variant:",
        ] + [f"#   {k}: {f.description}" for k, f in VariantConfig.model_fields.items()]
    for v in config.variants:
        lines += ["", "[[variants]]"]
        lines += [
            f"{k} = {_toml_value(val)}"
            for k, val in v.model_dump(mode="json", exclude_defaults=True).items()
            if k != "early_stopping"
        ]
        if v.early_stopping:
            lines += ["[variants.early_stopping]"]
            lines += [f"{k} = {_toml_value(val)}" for k, val in v.early_stopping.model_dump(mode="json").items()]
    return "\n".join(lines) + "\n"


def commented_study() -> str:
    """The default study as a TOML file with a comment on every key."""
    return study_toml(StudyConfig(), comments=True)
