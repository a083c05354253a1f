"""The tidy tables every build writes beside results.json: runs.csv (one row per run) and claims.csv (one row per claim).

Both are made from what results.json holds (its runs' scalar fields, its claims' records), so a build and a `render`
of it write the same bytes, and `reportgen.load` reads them back as pandas DataFrames (or makes them from the
results.json of a build from before these files).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

RUNS_FILE = "runs.csv"
CLAIMS_FILE = "claims.csv"
# runs.csv: these first, then every scalar measure of a run in results.json's order (README: "Output files")
RUN_COLUMNS = ("variant", "replicate", "init", "key", "failed")
# a run's fields that are not one scalar each: they stay in results.json
NOT_SCALAR = frozenset({"settings", "layers", "history", "test_predictions"})
# claims.csv, in this order (README: "Output files")
CLAIM_COLUMNS = (
    "key",
    "claim",
    "variant",
    "reference",
    "verdict",
    "metric",
    "effect",
    "ci_low",
    "ci_high",
    "effect_kind",
    "p_value",
    "p_adjusted",
    "margin",
    "p_equivalence_adjusted",
    "flip_probability",
    "borderline",
    "replicates_to_firm",
)


def _scalar(value: Any) -> Any:
    """A cell: None for a missing or non-finite number, a failure list as 'a;b' ('' when the run did not fail)."""
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def runs_table(runs: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run: variant, replicate (its seed), init (0, or 1 for a twin), key, failed (reasons joined by ';',
    empty when it did not fail), then every scalar measure (and a capacity-sweep point's shape, hidden_units, as
    '16x16'). runs: results.json's run records (or the analysis' rows)."""
    rows = []
    for run in runs:
        row = {"variant": run["variant"], "replicate": run["seed"], "init": run.get("init", 0), "key": run["key"]}
        row["failed"] = _scalar(run.get("failed") or [])
        row.update({k: _scalar(v) for k, v in run.items() if k not in NOT_SCALAR and k not in row and k != "seed"})
        if run.get("hidden_units"):  # a capacity-sweep point's network shape, written as its run key writes it
            row["hidden_units"] = "x".join(map(str, run["hidden_units"]))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(dict.fromkeys([*RUN_COLUMNS, *(k for r in rows for k in r)])))


def claims_table(claims: Iterable[Any]) -> pd.DataFrame:
    """One row per claim (reportgen.schema.Claim records): its key, words, variant and reference, verdict, the primary
    measure's metric, effect (variant − reference, or a ratio: effect_kind) with its interval, raw and Holm-adjusted
    p, equivalence margin and adjusted p, flip probability, whether it is borderline and the replicates to make it firm."""
    rows = []
    for c in claims:
        f = c.primary
        e = f.effect if f is not None and f.effect is not None else None
        rows.append(
            {
                "key": c.key,
                "claim": c.claim,
                "variant": c.variant,
                "reference": c.reference,
                "verdict": c.verdict,
                "metric": f.metric if f else None,
                "effect": e.mean if e else None,
                "ci_low": e.ci_low if e else None,
                "ci_high": e.ci_high if e else None,
                "effect_kind": e.kind if e else None,
                "p_value": f.p_value if f else None,
                "p_adjusted": f.p_adjusted if f else None,
                "margin": f.margin if f else None,
                "p_equivalence_adjusted": f.p_equivalence_adjusted if f else None,
                "flip_probability": c.flip_probability,
                "borderline": c.borderline,
                "replicates_to_firm": c.replicates_to_firm,
            }
        )
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A table as CSV: a header row, no index, '\\n' line ends, numbers as the shortest decimals that read back the same."""
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def read_table(path) -> pd.DataFrame:
    """runs.csv or claims.csv back as a DataFrame (an empty failed cell is '', not NaN)."""
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if "failed" in frame.columns:
        frame["failed"] = frame["failed"].astype(object).where(frame["failed"].notna(), "").astype(str)
    return frame


def tables_of(results) -> dict[str, bytes]:
    """Both files' bytes from a results.json's records (reportgen.schema.Results)."""
    runs = [r.model_dump(exclude=set(NOT_SCALAR)) for r in results.runs]
    return {RUNS_FILE: csv_bytes(runs_table(runs)), CLAIMS_FILE: csv_bytes(claims_table(results.claims))}
