"""Train every run of a study: the plan of runs, their results, and the two engines."""

from reportgen.training.runs import (
    HISTORY_KEYS,
    Run,
    RunResult,
    plan_runs,
    settings_key,
    snapshot_epochs,
    snapshotted,
    sweep_variant,
)
from reportgen.training.train import train_runs

__all__ = [
    "HISTORY_KEYS",
    "Run",
    "RunResult",
    "plan_runs",
    "settings_key",
    "snapshot_epochs",
    "snapshotted",
    "sweep_variant",
    "train_runs",
]
