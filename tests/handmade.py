"""A StudyAnalysis made by hand: exact per-replicate numbers for claims, arrangement and rendering tests (no training)."""

import numpy as np
import pandas as pd

from reportgen.analysis import DataInfo, Design, Setup, StudyAnalysis, _paired_summary, reference_variant, summarise
from reportgen.measures import Frame
from reportgen.metrics import run_columns
from reportgen.plan import settings_key

THRESHOLDS = [1e-3, 1e-2]
REPS = 12
NOISE = np.random.default_rng(7).normal(0, 1, (8, REPS))  # fixed per-replicate noise rows


def _noise(i: int, scale: float) -> np.ndarray:
    return NOISE[i % len(NOISE)] * scale


def hand_made(values: dict, config, twins: dict | None = None) -> StudyAnalysis:
    """A StudyAnalysis whose per-replicate metrics are values[variant][metric] (others: neutral noise)."""
    cols = run_columns(THRESHOLDS)
    rows = []
    for i, v in enumerate(config.variants):
        given = values.get(v.name, {})
        for s in range(REPS):
            row = {
                "variant": v.name,
                "seed": s,
                "init": 0,
                "key": f"{v.name}/seed{s}",
                "diverged_at": None,
                "settings": settings_key(v),
                "epochs_run": 100,
                "best_epoch": None,
                "min_val_epoch": 50,
            }
            for j, m in enumerate(cols):
                if m not in ("epochs_run", "min_val_epoch"):
                    row[m] = float(given[m][s]) if m in given else 0.5 + _noise(i + j, 0.01)[s]
            rows.append(row)
    runs = pd.DataFrame(rows)
    twin_rows = [
        {"variant": v, "seed": s, "acc_diff": d[s], "disagreement": abs(d[s])}
        for v, d in (twins or {}).items()
        for s in range(REPS)
    ]
    names = [v.name for v in config.variants]
    frame = Frame(np.arange(3.0), np.arange(3.0), np.ones((3, 3), bool))
    layers = pd.DataFrame(
        [
            {
                "variant": v,
                "seed": s,
                "init": 0,
                "layer": layer,
                "min": -0.5,
                "max": 0.5,
                "mean_abs": 0.1,
                "l2_norm": 3.0,
                **{f"below_{t:g}": 0.1 * layer for t in THRESHOLDS},
            }
            for v in names
            for s in range(REPS)
            for layer in (1, 2)
        ]
    )
    return StudyAnalysis(
        variants=names,
        reference=reference_variant(config),
        seeds=list(range(REPS)),
        design=Design(REPS, True, sorted(twins or {}), ["the data", "the initial weights"]),
        runs=runs,
        main_runs=runs,
        layers=layers,
        summary=summarise(runs, ["variant"], cols, 0.95),
        paired=_paired_summary(runs, reference_variant(config), cols, 0.95),
        sweeps=_sweeps(runs, config, cols),
        sparsity_curves=pd.DataFrame(),
        pruning=pd.DataFrame(),
        histories={v: {"val_loss": np.ones((REPS, 100))} for v in names},
        loss_bands={},
        boundaries=dict.fromkeys(names),
        sweep_boundaries={},
        snapshots={},
        first_layer={},
        twins=pd.DataFrame(twin_rows, columns=["variant", "seed", "acc_diff", "disagreement"]),
        diverged=[],
        bayes={},
        bayes_grid=None,
        frame=frame,
        thresholds=THRESHOLDS,
        confidence=0.95,
        test_predictions={},
        data=DataInfo(n_train=config.n_train, n_val=config.data.n_samples - config.n_train, n_test=config.data.test_samples),
        setup=Setup.of(config),
        sweep_points=_sweep_points(runs, config),
    )


def _sweep_points(runs: pd.DataFrame, config) -> dict:
    """Each sweep point's variant name, for the points a variant of the study trains (the hand-made runs have no others)."""
    from reportgen.plan import settings_key, sweep_variant

    names = runs.drop_duplicates("settings").set_index("settings")["variant"]
    return {
        (kind, float(s)): str(names[settings_key(sweep_variant(kind, s))])
        for kind in ("l1", "l2", "dropout")
        for s in getattr(config.sweeps, kind)
        if settings_key(sweep_variant(kind, s)) in names.index
    }


def _sweeps(runs: pd.DataFrame, config, cols) -> pd.DataFrame:
    """Sweep summaries from the runs of variants that equal a sweep point (as plan_runs reuses them)."""
    from reportgen.plan import settings_key, sweep_variant

    parts = []
    for kind in ("l1", "l2", "dropout"):
        for strength in getattr(config.sweeps, kind):
            part = runs[runs["settings"] == settings_key(sweep_variant(kind, strength))]
            if len(part):
                parts.append(part.assign(kind=kind, strength=strength))
    return summarise(pd.concat(parts), ["kind", "strength"], cols, 0.95) if parts else pd.DataFrame()
