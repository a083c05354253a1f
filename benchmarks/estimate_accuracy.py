"""The plan line's training time against real cold trainings, one study after another (the README's "Limits" table).

    .venv/bin/python benchmarks/estimate_accuracy.py [--rows default,csv,...]

For each study: the estimate exactly as the plan line makes it (reportgen.pace.training_seconds of the plan's work,
reportgen.budget.estimate), first from a cache folder that knows only this machine's matrix-product peak and memory
bandwidth (what a first build of a network sees, `rate from: peak`), then, when an earlier row trained a network of
the same shape, from the rate that row kept (`kept`, what every later build sees). The real time is the engine's
training of every run in a new process (TensorFlow's import, tracing and compilation included, with an empty
compiled-graph cache: REPORTGEN_XLA_CACHE pointing at a new folder), as a build's "training" stage counts it.
The last columns give the engine's real rate as a share of the peak, the share the estimate assumed, and the error of
a flat ENGINE_SHARE of the peak for every network (the estimate before memory traffic was counted).
Machine load is printed before each row: a busy machine makes every real time longer than any estimate.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# name: (label, study file or None for the built-in one, --set overrides)
ROWS: dict[str, tuple[str, Path | None, list[str]]] = {
    "default": ("default, 20 replicates (560 models x 500 epochs)", None, ["training.seeds=20"]),
    "short": ("default, 20 replicates, 20 epochs", None, ["training.seeds=20", "training.epochs=20"]),
    "long": ("4 replicates, 3,000 epochs (112 models)", None, ["training.seeds=4", "training.epochs=3000"]),
    "w256": ("two layers of 256 units, 5 replicates (140 models)", None, ["training.seeds=5", "model.hidden_units=[256,256]"]),
    "w1024": (
        "two layers of 1,024 units, 2 replicates, 50 epochs (56 models)",
        None,
        ["training.seeds=2", "training.epochs=50", "model.hidden_units=[1024,1024]"],
    ),
    "csv": (
        "a 10,000-row CSV (8 features, 64 x 64 units, 4 replicates, 100 epochs, 32 models)",
        None,
        [
            "data.label='label'",
            "data.missing='impute'",
            "model.hidden_units=[64,64]",
            "training.seeds=4",
            "training.epochs=100",
            "sweeps.l1=[1e-3]",
            "sweeps.l2=[1e-3]",
            "sweeps.dropout=[]",
        ],
    ),
    "capacity": ("examples/capacity.toml (90 models, widths 16 to 256)", EXAMPLES / "capacity.toml", []),
    "weight_decay": ("examples/weight_decay.toml (80 models, Adam and SGD)", EXAMPLES / "weight_decay.toml", []),
}


def _csv(folder: Path) -> Path:
    """10,000 rows: 8 numeric features (a few cells missing) and a text label, as a practitioner's table."""
    import numpy as np
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=10_000, n_features=8, n_informative=5, random_state=0)
    x[np.random.default_rng(0).random(x.shape) < 0.001] = np.nan
    path = folder / "table.csv"
    with path.open("w") as f:
        f.write(",".join(f"f{i}" for i in range(8)) + ",label\n")
        for row, label in zip(x, y):
            f.write(",".join("" if np.isnan(v) else f"{v:.5f}" for v in row) + f",{'yes' if label else 'no'}\n")
    return path


def _config(name: str, work: Path):
    from reportgen.config import load_config

    _, path, overrides = ROWS[name]
    overrides = list(overrides)
    seeds = next((o for o in overrides if o.startswith("training.seeds=")), None)
    if seeds:  # a number of replicates: seeds 0 .. n-1, fixed (no adaptive looks)
        overrides[overrides.index(seeds)] = f"training.seeds={list(range(int(seeds.split('=')[1])))}"
    if name == "csv":
        overrides.append(f"data.path='{_csv(work)}'")
    return load_config(path, overrides + [f"output.cache='{work / 'cache'}'", f"output.dir='{work / 'out'}'"])


def _train(name: str, work: str, queue) -> None:
    """In a new process: train every run of the study with an empty compiled-graph cache; the seconds it took."""
    os.environ["REPORTGEN_XLA_CACHE"] = tempfile.mkdtemp(dir=work, prefix="xla-")
    from reportgen.data import make_datasets
    from reportgen.plan import plan_runs
    from reportgen.training import train_runs

    config = _config(name, Path(work))
    runs = plan_runs(config)
    datasets = make_datasets(config.data, dict.fromkeys([*config.training.seeds, *(r.data_key for r in runs)]))
    start = time.perf_counter()
    train_runs(runs, datasets, config)
    queue.put(time.perf_counter() - start)


def _real(name: str, work: Path) -> float:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_train, args=(name, str(work), queue))
    proc.start()
    while True:  # the child's seconds, or its failure (its traceback is on stderr)
        try:
            seconds = queue.get(timeout=5)
            break
        except Exception:  # queue.Empty
            if not proc.is_alive():
                raise SystemExit(f"estimate_accuracy: training {name} failed (exit {proc.exitcode})") from None
    proc.join()
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    args = p.parse_args()
    names = [n.strip() for n in args.rows.split(",") if n.strip()]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        raise SystemExit(f"estimate_accuracy: unknown rows {unknown}; choose from {', '.join(ROWS)}")

    from reportgen import budget, pace
    from reportgen.data import make_datasets
    from reportgen.datasets import DataShape
    from reportgen.plan import plan_runs

    with tempfile.TemporaryDirectory(prefix="reportgen-estimate-") as tmp:
        root = Path(tmp)
        machine, kept = root / "machine", root / "kept"  # pace folders: the peak alone; the rates rows kept
        peak, bandwidth = pace.machine(machine)
        print(f"matmul peak {peak / 1e9:.0f} GFLOP/s, memory bandwidth {bandwidth / 1e9:.1f} GB/s")
        kept.mkdir()
        (kept / pace.FILE).write_text((machine / pace.FILE).read_text())
        head = f"{'study':<84}{'work':>11}{'from':>6}{'estimate':>10}{'real':>9}{'error':>8}"
        print(f"{head}{'real share':>12}{'assumed':>9}{'flat':>7}")
        measured: dict[str, tuple[float, float]] = {}
        for name in names:
            work = root / name
            work.mkdir()
            config = _config(name, work)
            runs = plan_runs(config)
            datasets = make_datasets(config.data, [config.training.seeds[0]])
            flops = budget.estimate(config, runs, DataShape.of(datasets[config.training.seeds[0]])).flops
            estimates = {"peak": pace.training_seconds(flops, config, machine)}
            if pace.rate(config, kept)[1] == "kept":
                estimates["kept"] = pace.training_seconds(flops, config, kept)
            load = os.getloadavg()[0]
            real = _real(name, work)
            share = flops / max(real - pace.FIXED_SECONDS, 1e-9) / peak
            assumed = pace.rate(config, machine)[0] / peak
            flat = pace.FIXED_SECONDS + flops / (pace.ENGINE_SHARE * peak)
            for source, estimate in estimates.items():
                row = f"{ROWS[name][0]:<84}{flops / 1e12:>8.2f} TF{source:>6}{estimate:>9.1f}s{real:>8.1f}s"
                row += f"{(estimate - real) / real:>+8.0%}{share:>12.0%}{assumed:>9.0%}{(flat - real) / real:>+7.0%}"
                print(f"{row}   (load {load:.1f})")
            pace.record(config, kept, flops, real)
            measured[name] = (flops, real)
        if {"default", "short"} <= measured.keys():  # the constants the README's method fits to these two rows
            (f_long, t_long), (f_short, t_short) = measured["default"], measured["short"]
            rate = (f_long - f_short) / (t_long - t_short)
            print(f"fitted to default and short: ENGINE_SHARE {rate / peak:.3f}, FIXED_SECONDS {t_short - f_short / rate:.1f}")


if __name__ == "__main__":
    main()
