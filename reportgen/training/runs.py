"""What is trained (runs) and what comes back (results)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reportgen.config import StudyConfig, VariantConfig

# Per-epoch values every engine records; losses are binary cross-entropy without the penalty term.
HISTORY_KEYS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "penalty")
SWEEP_KINDS = ("l1", "l2", "dropout")


@dataclass(frozen=True)
class Run:
    """One model to train: a variant's settings and a seed."""

    variant: VariantConfig
    seed: int

    @property
    def key(self) -> str:
        """Return a unique readable id such as 'l1/seed3'."""
        return f"{self.variant.name}/seed{self.seed}"


@dataclass(frozen=True)
class RunResult:
    """A trained run: final weights (Keras order), per-epoch history and when it stopped."""

    run: Run
    weights: list[np.ndarray]
    history: dict[str, np.ndarray]
    epochs_run: int
    best_epoch: int | None = None
    extras: dict = field(default_factory=dict)


def settings_key(variant: VariantConfig) -> str:
    """Identify a variant by its settings alone, so identical settings are trained once."""
    return variant.model_dump_json(exclude={"name", "label"})


def sweep_variant(kind: str, strength: float) -> VariantConfig:
    """Return the baseline with one regularizer of a sweep at a given strength."""
    return VariantConfig(name=f"{kind}={strength:g}", **{kind: strength})


def plan_runs(config: StudyConfig) -> list[Run]:
    """List every run: each variant, then each sweep point not already a variant, times each seed."""
    variants = list(config.variants)
    known = {settings_key(v) for v in variants}
    for kind in SWEEP_KINDS:
        for strength in getattr(config.sweeps, kind):
            v = sweep_variant(kind, strength)
            if settings_key(v) not in known:  # a sweep point equal to a variant reuses that variant's runs
                known.add(settings_key(v))
                variants.append(v)
    return [Run(v, seed) for v in variants for seed in config.training.seeds]
