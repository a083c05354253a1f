"""results.json's one schema: the pydantic models that reportgen.results writes, that `render`, `compare` and
`build --compare` read back, and that the tests check. results.schema.json beside this file is their JSON Schema, for
readers in other languages; regenerate it with `python -m reportgen.schema` (a test fails while it is out of date).

Required are only the keys every results.json ever had and `compare` needs; a key added later is optional, and absent
means the file was written by a reportgen from before it (its description says what a reader does then). `render`
needs more than `compare`: the study and the data file's digest (reportgen.results.read_build).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_serializer,
    model_validator,
)

from reportgen.errors import ConfigError

FILE = Path(__file__).with_name("results.schema.json")


def _finite_or_none(value: Any) -> Any:
    """NaN and infinities as None (results.json writes them as null), numpy scalars as Python numbers."""
    if isinstance(value, float) or type(value).__module__ == "numpy":
        value = float(value) if not isinstance(value, (bool, int)) else value
        return value if math.isfinite(value) else None
    return value


Number = Annotated[float | None, BeforeValidator(_finite_or_none)]  # null: not a finite number (or not measured)
Scalar = float | int | bool | str | None  # a table cell: a metric's value, a name, a flag
Row = dict[str, Scalar]
Confidence = Annotated[float, Field(gt=0.5, lt=1, allow_inf_nan=False)]  # as a study's analysis.confidence allows


class Record(BaseModel):
    """A part of results.json: unknown keys (from a later reportgen) are ignored; OMIT_WHEN_NONE names the keys the
    writer leaves out rather than writing null (they are there only when they apply)."""

    model_config = ConfigDict(extra="ignore")
    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _serialize(self, handler):
        data = handler(self)
        for key in self.OMIT_WHEN_NONE:
            if data.get(key, 0) is None:
                del data[key]
        return data


class InOrder(Record):
    """A part written as it was read, in its order and with only the keys it had: the study's sections, whose keys
    (and those of an older or later reportgen) are not all declared here."""

    model_config = ConfigDict(extra="allow")
    _keys: tuple[str, ...] | None = PrivateAttr(None)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler):
        made = handler(data)
        if isinstance(data, dict):
            made._keys = tuple(data)
        return made

    @model_serializer(mode="wrap")
    def _serialize(self, handler):
        data = handler(self)
        return data if self._keys is None else {k: data[k] for k in self._keys if k in data}


# ---- the design ------------------------------------------------------------------------------------------------


class Adaptive(Record):
    """An adaptive design's looks and how it spent alpha over them."""

    looks: list[int] = Field(description="replicates judged at each look reached")
    planned_max: int = Field(description="the largest number of replicates the design may take")
    alpha_spent: list[float] = Field(description="the share of alpha spent at each look")
    spending: str = Field(description="the spending function and how p is combined over the looks, in words")


class TestSet(Record):
    """One replicate's test points: how they were drawn and their labels."""

    __test__ = False  # a schema record, not a test class
    draw_seed: int
    labels: str = Field(description="binary: class 1 as set bits (base64 of numpy.packbits); else one byte per point")


class Design(Record):
    """The replicate design: which seeds, what differs between replicates, the test sets."""

    OMIT_WHEN_NONE = frozenset({"adaptive", "runs_from"})
    replicates: int | None = None
    seeds: list[int] | None = Field(None, description="the replicate seeds; absent: compared as unknown")
    resample_data: bool | None = None
    adaptive: Adaptive | None = Field(None, description="present only for an adaptive design (training.budget)")
    varies: list[str] | None = None
    init_twins: list[str] | None = Field(None, description="variants trained twice per replicate from other weights")
    sentence: str | None = None
    test_sets: dict[str, TestSet] | None = Field(None, description="by replicate seed (as text)")
    test_predictions: str | None = Field(None, description="how each run's test_predictions are encoded, in words")
    runs_from: str | None = Field(
        None,
        description="present only when the runs were trained elsewhere and judged by `reportgen judge`: the table of "
        "runs they came from (its runs then have no history, layers or test_predictions, and the design no test_sets)",
    )


# ---- claims ----------------------------------------------------------------------------------------------------


class Effect(Record):
    """An effect's estimate with its confidence interval."""

    mean: Number = None
    ci_low: Number = None
    ci_high: Number = None
    n: int | None = None
    kind: str = Field("difference", description="'difference' (variant − reference) or 'ratio' (of variances)")


class PerReplicate(Record):
    """The per-replicate contrasts behind an effect, in the order of their seeds."""

    seeds: list[int]
    values: list[Number]


class Finding(Record):
    """One measure of one claim (or a sanity check): its test, adjusted p-values, verdict and sentence."""

    role: str | None = Field(None, description="'primary', 'secondary' or 'check'")
    variant: str | None = None
    metric: str | None = None
    measure: str | None = Field(None, description="the measurement in words")
    statistic: str | None = None
    expected_direction: int | None = Field(None, description="+1: the claim expects a larger value, -1 a smaller one")
    variant_mean: Number = None
    reference_mean: Number = None
    effect: Effect | None = None
    null: Number = None
    p_value: Number = None
    p_sequential: Number = None
    p_adjusted: Number = None
    family_size: int | None = None
    margin: Number = None
    p_equivalence: Number = None
    p_equivalence_sequential: Number = None
    p_equivalence_adjusted: Number = None
    verdict: str | None = None
    replicates_to_detect: int | None = None
    replicates_for_equivalence: int | None = None
    sentence: str | None = None
    per_replicate: PerReplicate | None = Field(None, description="absent: written before contrasts were recorded")


class Matched(Record):
    """The L1 and L2 strengths a claim compares at (chosen on validation data)."""

    l1: float
    l2: float


class Claim(Record):
    """A claim with its verdict, its stability and its findings."""

    OMIT_WHEN_NONE = frozenset({"matched"})
    key: str = Field(description="unique, such as 'less_overfitting:l1'")
    claim: str | None = Field(None, description="the claim in words; absent: its key stands for it")
    source: str | None = None
    variant: str | None = None
    reference: str | None = None
    verdict: str = Field(description="'supported', 'contradicted', 'no meaningful effect' or 'inconclusive'")
    flip_probability: Number = Field(None, description="probability that a rerun of the design gives another verdict")
    borderline: bool | None = None
    replicates_to_firm: int | None = None
    note: str | None = None
    matched: Matched | None = Field(None, description="present only for a claim measured at matched strengths")
    primary: Finding | None = Field(None, description="absent: compared by its verdict alone")
    secondary: list[Finding] | None = None


class SweepChoice(Record):
    """A sweep's strength chosen on validation data (one-standard-error rule)."""

    strength: float
    val_loss: Number = None
    n_strengths: int | None = None
    lowest: Number = None
    tied: list[float] | None = None


# ---- runs and the whole file -----------------------------------------------------------------------------------


class Run(InOrder):
    """One trained run: who, its failures, every measured metric (further keys, one number each), its settings,
    layers, per-epoch history and test predictions."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Scalar] = Field(init=False)  # the metrics: a number (null: not measured) or a flag
    variant: str = Field(description="a variant's name, or a sweep point's")
    seed: int
    init: int = Field(0, description="0: the replicate's first initialization; 1: its twin")
    key: str
    diverged_at: float | None = Field(
        None,
        description="the epoch its loss diverged at (1.0 when some runs did not diverge: a table's column); null: it did not",
    )
    initial_loss: Number = None
    failed: list[str] | None = Field(None, description="keys of failure_reasons; absent: written before they were")
    hidden_units: list[int] | None = Field(
        None, description="a capacity-sweep point's hidden layers (units per layer); absent: the study's model.hidden_units"
    )
    settings: dict[str, Any] | None = None
    layers: list[Row] | None = None
    history: dict[str, list[Number]] | None = Field(None, description="per epoch, as the shortest float32 decimals")
    test_predictions: str | None = Field(None, description="encoded as design.test_predictions says")


class Failed(Record):
    """A run that failed, and why."""

    run: str
    reasons: list[str] = Field(description="keys of failure_reasons")
    diverged_at: int | None = None


class Diverged(Record):
    """A run whose loss diverged, and at which epoch."""

    run: str
    epoch: int | None = None


class VariantSettings(InOrder):
    """A variant's settings (its regularizers and their strengths); the name is what claims and runs refer to."""

    name: str


class AnalysisSettings(InOrder):
    """How the build measured and judged; the confidence is checked, the other keys taken as they are."""

    confidence: Confidence | None = Field(None, description="absent: the top-level confidence, else 0.95")


class Study(InOrder):
    """The study as the build read it (see `reportgen init` for every key); compare reads it as dotted settings."""

    title: str | None = None
    data: dict[str, Any]
    model: dict[str, Any]
    training: dict[str, Any]
    variants: list[VariantSettings]
    analysis: AnalysisSettings | None = None


class Results(Record):
    """results.json: everything a build measured. A top-level key per line, and each element of a list on a line of
    its own, so that a diff shows which run or claim changed."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"})
    OMIT_WHEN_NONE = frozenset({"data_sweeps"})
    reportgen: str = Field(description="the version of reportgen that wrote the file")
    data_sha256: str | None = Field(
        None,
        pattern="^[0-9a-f]{64}$",
        description="the build's id: the SHA-256 of the report-data.npz written with it; render refuses a data file "
        "with another digest (a mixed or damaged folder); absent: written before it was recorded (render refuses it)",
    )
    study: Study
    design: Design
    confidence: Confidence | None = None
    bayes: dict[str, Scalar] | None = Field(None, description="the generator's Bayes-optimal rule; null: none")
    diverged: list[Diverged] | None = None
    failed: list[Failed] | None = None
    failure_reasons: dict[str, str] | None = Field(None, description="each failure's key and its meaning")
    summary: list[Row] | None = Field(None, description="per variant and metric: mean, interval, n")
    sweeps: list[Row] | None = Field(None, description="per sweep point and metric: mean, interval, n")
    data_sweeps: list[Row] | None = Field(
        None,
        description="per point of a data or capacity sweep and metric (axis 'n_samples', 'noise' or 'hidden_units'; "
        "setting: the data setting, or the network's width, its units per hidden layer, their geometric mean for "
        "unequal layers); present with such a sweep",
    )
    sweep_choices: dict[str, SweepChoice] | None = Field(None, description="by sweep kind; absent: not recorded")
    claims: list[Claim]
    checks: list[Finding] | None = None
    observations: list[str] | None = None
    runs: list[Run]
    timings_seconds: dict[str, float] | None = Field(
        None,
        description="per stage, in order; a stage run again (each look of an adaptive build) is named with its count, "
        "'analysis (2)'; null in a reproducible build",
    )


def json_schema() -> dict:
    """results.json's JSON Schema, as shipped in results.schema.json."""
    return Results.model_json_schema()


def schema_text() -> str:
    """The JSON Schema file's text."""
    return json.dumps(json_schema(), indent=1, ensure_ascii=False) + "\n"


def problem(err: ValidationError) -> str:
    """A validation error as one line: the first problem's dotted key and message, and how many more there are."""
    errors = err.errors(include_url=False)
    first = errors[0]
    key = ".".join(str(part) for part in first["loc"])
    key = key if len(key) <= 100 else key[:99] + "…"  # dictionary keys come from the file: any length
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    if first["type"] == "missing":
        return f"key '{key}' is missing{more}"
    return f"{f'key {key!r}' if key else 'the top level'}: {first['msg']}{more}"


def parse(text: bytes | str, label: str) -> Results:
    """Validate results.json's text; a problem is a one-line ConfigError naming label and the key. Types are checked
    strictly (a seed must be a number, not a string that looks like one), nesting is bounded by the JSON parser."""
    try:
        return Results.model_validate_json(text, strict=True)
    except ValidationError as err:
        first = err.errors()[0]
        if first["type"] == "json_invalid":
            what = "nested too deeply to read" if "recursion limit" in first["msg"] else "not valid JSON"
            raise ConfigError([f"{label}: {what} ({first['msg']})"]) from None
        raise ConfigError([f"{label}: not a reportgen results.json: {problem(err)}"]) from None


def locate(path: Path) -> Path:
    """The results.json a path names: a build's output folder, or the file itself."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise ConfigError([f"{file}: not found (give a build's output folder or its results.json)"])
    return file


def read_bytes(file: Path) -> bytes:
    """A file's bytes; a problem reading it is one line naming it."""
    try:
        return file.read_bytes()
    except OSError as err:
        raise ConfigError([f"{file}: cannot be read ({err.strerror or err})"]) from None


def read(path: Path) -> Results:
    """Read and validate a build's results.json (a folder or the file itself)."""
    file = locate(path)
    return parse(read_bytes(file), str(file))
