"""What judging a claim gives: findings (one measure's test, adjusted p-values, verdict, sentence), claims with their
primary and secondary findings and their stability, and the build's verdicts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from reportgen import stability
from reportgen.claims.registry import INCONCLUSIVE, VERDICTS, ClaimDef, Measure
from reportgen.decision import Verdict
from reportgen.stats import (
    Test,
)


@dataclass(frozen=True)
class Finding:
    """One measure of one claim: its test, adjusted p-values, verdict and the sentence that reports it."""

    role: str
    variant: str | None
    measure: Measure
    metric: str
    value: float  # the variant's mean (or ratio numerator's variance)
    reference_value: float | None
    test: Test
    p_adjusted: float = math.nan
    p_equivalence_adjusted: float = math.nan
    verdict: Verdict = INCONCLUSIVE
    family_size: int = 0
    needed: int | None = None  # replicates that would detect an effect of the observed size
    needed_equivalence: int | None = None  # replicates that would show a true effect of zero inside the margin
    sentence: str = ""
    p_sequential: float = math.nan  # an adaptive design's p over its looks (min of p / alpha share); else the p-value
    p_equivalence_sequential: float = math.nan
    looks: tuple[int, ...] = ()  # replicates at each look of an adaptive design (empty: one fixed look)
    names: tuple[str, str] = ()  # how sentences name the two sides, when not the variant and the baseline

    def __post_init__(self):
        object.__setattr__(self, "verdict", Verdict(self.verdict))  # a verdict read back from JSON is its words


@dataclass(frozen=True)
class ClaimResult:
    """A claim about one variant (or about the sweeps), with its primary finding, secondary findings and checks."""

    definition: ClaimDef
    variant: str | None
    reference: str | None
    text: str
    primary: Finding
    secondary: list[Finding] = field(default_factory=list)
    note: str = ""  # e.g. which strengths were compared
    flip: float = math.nan  # probability that an independent rerun of the design gives another verdict
    firm_at: int | None = None  # replicates that would bring that probability under stability.BORDERLINE
    matched: tuple[float, float] | None = None  # the L1 and L2 strengths compared (the claim about the sweeps)

    @property
    def key(self) -> str:
        """A unique id such as 'less_overfitting:l1'."""
        return f"{self.definition.key}:{self.variant}" if self.variant else self.definition.key

    @property
    def verdict(self) -> Verdict:
        """The claim's verdict: its primary finding's."""
        return self.primary.verdict

    @property
    def borderline(self) -> bool:
        """Whether a rerun would change the verdict with a probability above stability.BORDERLINE."""
        return math.isfinite(self.flip) and self.flip > stability.BORDERLINE


@dataclass(frozen=True)
class Verdicts:
    """Every claim of this build with its verdict, and the sanity checks."""

    claims: list[ClaimResult]
    checks: list[Finding]
    alpha: float
    confidence: float
    looks: tuple[int, ...] = ()  # replicates at each look of an adaptive design (empty: one fixed look)
    refused: str = ""  # why the claim about the sweeps was not tested, when it was not

    def tally(self) -> dict[str, int]:
        """How many claims (primary findings) got each verdict."""
        return {v: sum(c.verdict == v for c in self.claims) for v in VERDICTS}

    def family_sizes(self) -> tuple[int, int]:
        """Tests in the primary (Holm) and secondary (BH) families."""
        prim = sum(math.isfinite(c.primary.test.p_value) for c in self.claims)
        sec = sum(math.isfinite(f.test.p_value) for c in self.claims for f in c.secondary)
        return prim, sec

    def borderline(self) -> list[ClaimResult]:
        """The claims whose verdict a rerun would change with a probability above stability.BORDERLINE."""
        return [c for c in self.claims if c.borderline]
