"""An adaptive number of replicates: train the minimum, then add rounds while a verdict is borderline and more
replicates could make it firm, up to the maximum.

Stopping on the data inflates false verdicts unless the tests are built for it (STATISTICS.md, rule 12). Each claim's
p-value is therefore combined over the looks (decision.combine_looks: the smallest p / w_k, a weighted Bonferroni
bound over the looks whose weights w_k are Lan and DeMets' (1983) O'Brien-Fleming-type alpha-spending shares), which is a
valid p-value whatever the stopping rule; Holm's correction over the claims then holds the family-wise error at alpha.
tests/test_sequential.py shows it by simulation with this module's rule.
"""

from __future__ import annotations

import numpy as np

from reportgen.config import SeedBudget, StudyConfig
from reportgen.stability import BORDERLINE


def at_look(config: StudyConfig, n: int) -> StudyConfig:
    """The study with its first n replicates (an adaptive design's look; the whole study in a fixed one)."""
    if n == len(config.training.seeds):
        return config
    training = config.training.model_copy(update={"seeds": config.training.seeds[:n]})
    return config.model_copy(update={"training": training})


def first_look(config: StudyConfig) -> int:
    """Replicates trained before anything is judged."""
    return config.training.looks[0]


def reachable(budget: SeedBudget | None, flips, firm_at) -> np.ndarray:
    """Which verdicts [..., claims] are borderline and could become firm within the budget (firm_at: 0 when not)."""
    flips, firm_at = np.asarray(flips, float), np.asarray(firm_at, int)
    if budget is None:
        return np.zeros(flips.shape, bool)
    return (flips > BORDERLINE) & (firm_at > 0) & (firm_at <= budget.max)


def more_replicates(budget: SeedBudget | None, n: int, flips, firm_at) -> int | None:
    """Replicates at the next look, or None to stop: stop at the maximum, or when no borderline verdict could become
    firm within it (an effect that sits on a threshold needs far more replicates than the budget: more would not help)."""
    if budget is None or n >= budget.max or not reachable(budget, flips, firm_at).any():
        return None
    return min(n + budget.step, budget.max)
