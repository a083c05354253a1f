"""Verdicts kept in the cache (reportgen.memo): a JSON form that gives back equal objects."""

from __future__ import annotations

import json

import numpy as np

from reportgen.claims.findings import ClaimResult, Finding, Verdicts
from reportgen.claims.observations import Observation
from reportgen.claims.registry import REGISTRY, ClaimDef, Measure
from reportgen.stats import (
    Estimate,
    Test,
)

_KEPT_TYPES = {cls.__name__: cls for cls in (Verdicts, ClaimResult, Finding, Measure, Test, Estimate, Observation)}


def dump_verdicts(verdicts: Verdicts, notes: list[Observation]) -> bytes:
    """Verdicts and observations as JSON: every dataclass by type name and fields, a claim's definition by its key in
    REGISTRY (its `applies` rule is code), tuples marked as such, floats as repr (NaN and infinities included)."""

    def enc(value):
        if isinstance(value, ClaimDef):
            return {"claim": value.key}
        if type(value).__name__ in _KEPT_TYPES and type(value) is _KEPT_TYPES[type(value).__name__]:
            return {"type": type(value).__name__, "fields": {f: enc(getattr(value, f)) for f in value.__dataclass_fields__}}
        if isinstance(value, tuple):
            return {"tuple": [enc(v) for v in value]}
        if isinstance(value, list):
            return [enc(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, (str, int, float)):
            return value
        raise TypeError(f"cannot keep a {type(value).__name__} of the verdicts")

    return json.dumps({"verdicts": enc(verdicts), "notes": enc(notes)}).encode("utf-8")


def load_verdicts(payload: bytes) -> tuple[Verdicts, list[Observation]] | None:
    """dump_verdicts' verdicts and observations back, or None when the payload is not what it wrote (a claim no longer
    in REGISTRY, a field that changed)."""
    definitions = {d.key: d for d in REGISTRY}

    def dec(value):
        if isinstance(value, list):
            return [dec(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "claim" in value:
            return definitions[value["claim"]]
        if "tuple" in value:
            return tuple(dec(v) for v in value["tuple"])
        return _KEPT_TYPES[value["type"]](**{k: dec(v) for k, v in value["fields"].items()})

    try:
        doc = json.loads(payload)
        verdicts, notes = dec(doc["verdicts"]), dec(doc["notes"])
    except (ValueError, KeyError, TypeError):
        return None
    ok = isinstance(verdicts, Verdicts) and isinstance(notes, list) and all(isinstance(n, Observation) for n in notes)
    return (verdicts, notes) if ok else None
