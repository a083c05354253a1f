"""The schema of a study: every field documented, unknown keys rejected, the seed study as default."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from reportgen.errors import ConfigError


class _Strict(BaseModel):
    # strict: "500" is not an epoch count and "yes" is not a boolean; a study file says what it means
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True)


Positive = Annotated[float, Field(gt=0)]
DEFAULT_REPLICATES = 20
Rate = Annotated[float, Field(ge=0, lt=1)]


class DataConfig(_Strict):
    """Where the points come from and how they are split."""

    n_samples: int = Field(100, ge=10, description="Points drawn by make_moons for training plus validation.")
    noise: float = Field(0.25, ge=0, description="Standard deviation of the Gaussian noise make_moons adds.")
    seed: int = Field(42, ge=0, description="Base seed of the data draws; replicate r draws its points from (seed, r).")
    resample: bool = Field(
        True, description="Each replicate draws its own training, validation and test points (true), or every replicate "
        "uses the one draw of data.seed (false: intervals then cover initial weights, batch order and dropout only)."
    )
    validation_fraction: float = Field(
        0.2, gt=0, lt=1, description="Share of the points held out for validation (the last ones, as Keras' validation_split)."
    )
    test_samples: int = Field(
        2000, ge=10, description="Fresh points from the same generator for each replicate's test set."
    )

    @model_validator(mode="after")
    def _both_splits_have_points(self) -> DataConfig:
        n_val = round(self.n_samples * self.validation_fraction)
        if not 1 <= n_val <= self.n_samples - 2:
            raise ValueError(f"validation_fraction {self.validation_fraction:g} of {self.n_samples} points leaves "
                             f"{n_val} for validation and {self.n_samples - n_val} for training; both need points")
        return self


class ModelConfig(_Strict):
    """The network every variant starts from."""

    hidden_units: list[Annotated[int, Field(ge=1)]] = Field(
        [128, 128], min_length=1, description="Width of each hidden Dense layer (ReLU)."
    )
    learning_rate: float = Field(0.01, gt=0, description="Adam learning rate.")


class TrainingConfig(_Strict):
    """How every run is trained."""

    epochs: int = Field(500, ge=1, description="Training epochs (an early-stopping variant may stop sooner).")
    batch_size: int = Field(32, ge=1, description="Mini-batch size.")
    shuffle: bool = Field(True, description="Reshuffle the training rows every epoch, as Keras' fit does.")
    seeds: list[Annotated[int, Field(ge=0)]] = Field(
        list(range(DEFAULT_REPLICATES)), min_length=1,
        description="The replicates, as a list of seeds or a count N (seeds 0 to N-1). A replicate fixes its data draw, "
        "initial weights, batch order and dropout masks; every variant of one replicate shares them (paired).",
    )
    engine: Literal["fast", "keras"] = Field(
        "fast", description="'fast': all runs in compiled TensorFlow graphs; 'keras': stock model.fit, one run at a time (reference)."
    )

    @field_validator("seeds", mode="before")
    @classmethod
    def _count_means_range(cls, seeds: Any) -> Any:
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise ValueError("a replicate count must be at least 1")
            return list(range(seeds))
        return seeds

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        return seeds


class EarlyStopping(_Strict):
    """Keras EarlyStopping on the validation loss."""

    patience: int = Field(50, ge=1, description="Epochs without improvement of the validation loss before stopping.")
    restore_best_weights: bool = Field(True, description="Go back to the weights of the best epoch when stopping.")


class VariantConfig(_Strict):
    """One model variant: the base network plus regularizers."""

    name: str = Field(description="Short unique name, used in tables and figures.", min_length=1, max_length=40)
    label: str = Field("", description="Longer human name; defaults to a description of the settings.")
    l1: float = Field(0.0, ge=0, description="L1 penalty on the kernels of the hidden layers.")
    l2: float = Field(0.0, ge=0, description="L2 penalty on the kernels of the hidden layers.")
    dropout: Rate = Field(0.0, description="Dropout rate after each hidden layer (0 = none).")
    batchnorm: bool = Field(False, description="Batch normalization after each hidden layer.")
    early_stopping: EarlyStopping | None = Field(None, description="Stop on the validation loss.")

    def regularizers(self) -> tuple[str, ...]:
        """The regularizers this variant uses, in a fixed order: what claims look at, never the name."""
        used = {"l1": self.l1 > 0, "l2": self.l2 > 0, "dropout": self.dropout > 0, "batchnorm": self.batchnorm,
                "early_stopping": self.early_stopping is not None}
        return tuple(name for name, on in used.items() if on)

    def describe(self) -> str:
        """Say what regularizers this variant adds, in a few words."""
        parts = [f"L1 {self.l1:g}" if self.l1 else "", f"L2 {self.l2:g}" if self.l2 else ""]
        parts += [f"dropout {self.dropout:g}" if self.dropout else "", "batch norm" if self.batchnorm else ""]
        if self.early_stopping:
            parts.append(f"early stopping (patience {self.early_stopping.patience})")
        return ", ".join(p for p in parts if p) or "no regularization"


def _default_variants() -> list[VariantConfig]:
    return [
        VariantConfig(name="baseline"),
        VariantConfig(name="l1", l1=0.001),
        VariantConfig(name="l2", l2=0.001),
        VariantConfig(name="dropout", dropout=0.2),
        VariantConfig(name="batchnorm", batchnorm=True),
        VariantConfig(name="early_stopping", early_stopping=EarlyStopping()),
    ]


_HALF_DECADES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


class SweepConfig(_Strict):
    """Strength sweeps: the baseline with one regularizer at many strengths."""

    l1: list[Positive] = Field(list(_HALF_DECADES), description="L1 strengths to train.")
    l2: list[Positive] = Field(list(_HALF_DECADES), description="L2 strengths to train.")
    dropout: list[Annotated[float, Field(gt=0, lt=1)]] = Field([0.1, 0.2, 0.3, 0.4, 0.5], description="Dropout rates to train.")


class Margins(_Strict):
    """Smallest effects of interest, fixed before looking: an effect shown to lie inside one is 'no meaningful effect'."""

    accuracy: float = Field(0.01, gt=0, le=1, description="Accuracies and the generalization gap, as a share: 0.01 is 1 percentage point.")
    loss: float = Field(0.05, gt=0, description="Cross-entropy differences (test loss, its rebound after the best validation epoch), in nats.")
    boundary: float = Field(0.10, gt=0, le=1, description="Decision-boundary length and pieces, relative to the reference's mean: 0.1 is 10%.")
    roughness: float = Field(0.10, gt=0, le=1, description="Roughness of the validation loss, relative to the reference's mean.")
    sparsity: float = Field(0.05, gt=0, le=1, description="Shares of weights (near zero, prunable): 0.05 is 5 percentage points.")
    weights: float = Field(0.10, gt=0, le=1, description="Kernel norms, relative to the reference's mean.")
    init_variance: float = Field(2.0, gt=1, description="Ratio of initialization variances: inside [1/r, r] counts as no meaningful difference.")


class AnalysisConfig(_Strict):
    """How results are measured and judged."""

    sparsity_thresholds: list[Positive] = Field(
        [1e-3, 1e-2], min_length=1, description="|w| below each of these counts as (near) zero in the tables."
    )
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Level of the confidence intervals; 1 − confidence is the level of every test.")
    margins: Margins = Field(default_factory=Margins, description="Smallest effects of interest, per kind of measure.")
    prune_tolerance: float = Field(
        0.01, ge=0, lt=1, description="Validation accuracy a pruned network may lose and still count as unharmed (0.01 = 1 pp)."
    )
    grid_resolution: int = Field(150, ge=20, le=600, description="Points per side of the drawn probability background.")
    stability_window: float = Field(
        0.5, gt=0, le=1, description="Last share of training over which the roughness of the validation loss is measured."
    )


class OutputConfig(_Strict):
    """What is written, and where."""

    dir: Annotated[Path, Field(strict=False)] = Field(Path("output"), description="Output folder (relative to the study file's folder).")
    formats: list[Literal["html", "pdf"]] = Field(["html", "pdf"], min_length=1, description="Report formats.")
    save_models: bool = Field(False, description="Also write each run's trained model as a .keras file.")
    cache: Annotated[Path | None, Field(strict=False)] = Field(
        Path(".reportgen-cache"), description="Folder of trained runs reused by later builds (relative to the study file's "
        "folder); a changed title, threshold or template retrains nothing. --no-cache or an empty string switches it off.")

    @field_validator("cache", mode="before")
    @classmethod
    def _empty_means_off(cls, value: Any) -> Any:
        return None if value in ("", False) else value


class StudyConfig(_Strict):
    """A regularization study: data, network, training, variants, sweeps, analysis and output."""

    _base: Path | None = PrivateAttr(default=None)  # the study file's folder: paths in shared outputs are relative to it

    title: str = Field("Regularization in deep learning: make_moons", min_length=1, max_length=200, description="Report title.")
    data: DataConfig = Field(default_factory=DataConfig, description="The dataset.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="The base network.")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="Training settings.")
    variants: list[VariantConfig] = Field(default_factory=_default_variants, min_length=1, description="The variants to compare.")
    sweeps: SweepConfig = Field(default_factory=SweepConfig, description="Strength sweeps (empty lists switch one off).")
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig, description="Measurement settings.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="Output settings.")

    @model_validator(mode="after")
    def _unique_names(self) -> StudyConfig:
        names = [v.name for v in self.variants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate variant names: {', '.join(dupes)}")
        return self

    @property
    def n_train(self) -> int:
        """Rows used for training (the rest of n_samples is validation)."""
        return self.data.n_samples - round(self.data.n_samples * self.data.validation_fraction)


def _parse_value(text: str) -> Any:
    """Read an override value as TOML (numbers, booleans, lists), else as a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict, overrides: list[str], source: str) -> dict:
    """Set dotted keys (`training.epochs=5`) in a raw study dict."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError([f"{source}: --set {item!r}: expected key=value"])
        node = raw
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError([f"{source}: --set {key}: '{part}' is not a table"])
        node[leaf] = _parse_value(value.strip())
    return raw


def _format_errors(err: ValidationError, source: str, raw: dict) -> list[str]:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if loc.startswith("variants.") and isinstance(raw.get("variants"), list):
            idx = e["loc"][1]
            name = raw["variants"][idx].get("name") if isinstance(idx, int) and idx < len(raw["variants"]) else None
            if isinstance(name, str):
                loc = f"{loc} (variant '{name}')"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        value = e.get("input")
        shown = "" if e["type"] == "missing" or isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"{source}: {loc}: {msg}{shown}")
    return lines


def _duplicate_names(raw: dict, source: str) -> list[str]:
    """Duplicate variant names, found on the raw file so they are reported with every other problem."""
    variants = raw.get("variants")
    names = [v.get("name") for v in variants if isinstance(v, dict)] if isinstance(variants, list) else []
    dupes = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    return [f"{source}: variants: duplicate variant names: {', '.join(dupes)}"] if dupes else []


def validate(raw: dict, source: str = "study") -> StudyConfig:
    """Validate a raw study dict, reporting every problem at once."""
    dupes = _duplicate_names(raw, source)
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(dupes + [line for line in _format_errors(err, source, raw) if "duplicate variant names" not in line]) from None


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> StudyConfig:
    """Load a study file (or the built-in default), apply overrides, and resolve the output folder."""
    overrides = overrides or []
    if path is None:
        raw, source, base = {}, "default study", Path.cwd()
    else:
        source, base = str(path), path.resolve().parent
        if not path.is_file():
            raise ConfigError([f"{path}: study file not found"])
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ConfigError([f"{path}: TOML syntax error: {err}"]) from None
        except UnicodeDecodeError as err:
            raise ConfigError([f"{path}: not UTF-8 text: {err}"]) from None
    config = validate(apply_overrides(raw, overrides, source), source)
    resolve = lambda p: p if p is None or p.is_absolute() else base / p  # noqa: E731
    resolved = config.model_copy(update={"output": config.output.model_copy(update={"dir": resolve(config.output.dir),
                                                                                     "cache": resolve(config.output.cache)})})
    resolved._base = base
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
    return config.model_copy(update={"output": out})


def _toml_value(value: Any) -> str:
    import tomli_w

    if isinstance(value, list):  # inline, one line per key: easier to edit than tomli_w's multi-line arrays
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).strip().removeprefix("v = ")


def _table_lines(model: BaseModel, header: str | None, comments: bool) -> list[str]:
    lines = [f"[{header}]"] if header else []
    dumped = model.model_dump(mode="json")
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel) or name == "variants" or value is None:
            continue
        lines += ([f"# {info.description}"] if comments else []) + [f"{name} = {_toml_value(dumped[name])}"]
    return lines


def study_toml(config: StudyConfig, comments: bool = False) -> str:
    """A study as a TOML file, optionally with a comment on every key; loading it gives the same study."""
    lines = ["# reportgen study file: every key is optional; a missing key takes the value shown here.",
             "# Build it with: reportgen build --config study.toml", ""] if comments else []
    lines += _table_lines(config, None, comments)
    for name in ("data", "model", "training", "sweeps", "analysis", "output"):
        section = getattr(config, name)
        head = ["", f"# {StudyConfig.model_fields[name].description}"] if comments else [""]
        lines += head + _table_lines(section, name, comments)
        for sub, info in type(section).model_fields.items():  # nested tables such as [analysis.margins]
            if isinstance(getattr(section, sub), BaseModel):
                lines += ["", *([f"# {info.description}"] if comments else []), *_table_lines(getattr(section, sub), f"{name}.{sub}", comments)]
    if comments:
        lines += ["", "# The variants to compare; add your own (e.g. l1 = 0.001 with dropout = 0.2) with no code change.",
                  "# Keys of a variant:"] + [f"#   {k}: {f.description}" for k, f in VariantConfig.model_fields.items()]
    for v in config.variants:
        lines += ["", "[[variants]]"]
        lines += [f"{k} = {_toml_value(val)}" for k, val in v.model_dump(mode="json", exclude_defaults=True).items() if k != "early_stopping"]
        if v.early_stopping:
            lines += ["[variants.early_stopping]"]
            lines += [f"{k} = {_toml_value(val)}" for k, val in v.early_stopping.model_dump(mode="json").items()]
    return "\n".join(lines) + "\n"


def commented_study() -> str:
    """The default study as a TOML file with a comment on every key."""
    return study_toml(StudyConfig(), comments=True)
