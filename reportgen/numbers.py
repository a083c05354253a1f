"""Every number the report, summary.md, the sentences and `reportgen compare` write goes through this module: one
place that decides digits, signs, units and what a missing value looks like.

Two registers: `table` (the report's tables: a few significant digits, thousands separated, an en dash when missing)
and `prose` (sentences: three significant digits, trailing zeros dropped, 'n/a' when missing)."""

from __future__ import annotations

import math
from typing import Any

from typing_extensions import TypeIs

DASH = "–"  # a missing value in a table
NA = "n/a"  # a missing value in a sentence


def _shown(v: Any) -> TypeIs[float]:
    """Whether a value is a number to write (not None, NaN or infinite)."""
    return v is not None and math.isfinite(v)


def table(v: float | None, digits: int = 3) -> str:
    """A number in a table: `digits` significant digits (2.35, 0.0123, 1,234), scientific far from 1; '–' missing."""
    if not _shown(v):
        return DASH
    if v == 0:
        return "0"
    if abs(v) < 1e-2 or abs(v) >= 1e4:
        return f"{v:.{digits}g}"
    return f"{v:,.{max(digits - 1 - int(math.floor(math.log10(abs(v)))), 0)}f}"


def prose(v: float | None) -> str:
    """A number in a sentence: three significant digits without trailing zeros (0.25, 1.50, 2.3e-05); 'n/a' missing."""
    if not _shown(v):
        return NA
    if v == 0:
        return "0"
    if abs(v) < 1e-2 or abs(v) >= 1e3:
        return f"{v:.3g}"
    return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1 else f"{v:.2f}"


def signed(v: float | None, plain=table, missing: str = DASH) -> str:
    """A difference with its sign: '+0.12', '-3.4' ('plain' writes the magnitude's digits)."""
    return missing if not _shown(v) else ("+" if v > 0 else "") + plain(v)


def percent(v: float | None, digits: int = 1, missing: str = DASH) -> str:
    """A share as a percentage: 0.8765 → '87.7%'."""
    return missing if not _shown(v) else f"{v:.{digits}%}"


def points(d: float | None, missing: str = DASH) -> str:
    """A difference of shares in percentage points, signed: -0.021 → '-2.1 pp'."""
    return missing if not _shown(d) else f"{d * 100:+.1f} pp"


def ratio(r: float | None, missing: str = DASH) -> str:
    """A ratio: '×1.42'."""
    return missing if not _shown(r) else f"×{r:.3g}"


def chance(v: float | None) -> str:
    """A probability in whole percent, '<1%' below one percent (a flip probability from simulated reruns)."""
    if not _shown(v):
        return DASH
    return "<1%" if v < 0.005 else f"{v:.0%}"


def p_value(p: float | None, floor: float = 1e-4, digits: int = 2, missing: str = NA) -> str:
    """A p value with `digits` significant digits, '< 0.0001' (the floor) below that."""
    if not _shown(p):
        return missing
    return f"< {floor:g}" if p < floor else f"{p:.{digits}g}"


def count(v: float | None) -> str:
    """A whole number: '12'."""
    return DASH if not _shown(v) else f"{v:.0f}"


def setting(v) -> str:
    """A setting as written in a study file (0.01, not 0.0100)."""
    return f"{v:g}" if isinstance(v, float) else str(v)
