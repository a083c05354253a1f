"""Stock Keras model.fit against the fast engine on the default study's variants, in one run.

    .venv/bin/python benchmarks/train_speed.py [--epochs 500] [--seeds 5] [--variants baseline,l1] [--stock-seeds 1]

Each engine runs in its own process (so its peak memory is its own): the engine trains every variant x seed
together, cold (graph compilation included); stock fit trains one model at a time, by default only the first
`--stock-seeds` seeds of each variant, because its time per model does not depend on how many it trains
(30 stock models at 500 epochs would take about 25 minutes). Prints per-model
times, peak memory, test accuracy and L1 sparsity per variant (mean and spread over seeds, to check that
the engines agree), and as its last line `speedup: X` (stock seconds per model / engine seconds per model).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np


def _peak_rss_mib() -> float:
    """Peak resident memory of this process (VmHWM), in MiB."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _train(engine: str, epochs: int, seeds: list[int], variants: list[str], queue) -> None:
    from reportgen.config import StudyConfig, validate
    from reportgen.data import make_dataset
    from reportgen.models import Network, predict_proba
    from reportgen.training import plan_runs, train_runs

    default = StudyConfig()
    chosen = [v.model_dump(mode="json", exclude_none=True) for v in default.variants if v.name in variants]
    config = validate({"training": {"epochs": epochs, "seeds": seeds, "engine": engine}, "variants": chosen,
                       "sweeps": {"l1": [], "l2": [], "dropout": []}})
    data = make_dataset(config.data)
    runs = plan_runs(config)
    times: list[float] = []
    start = time.perf_counter()
    if engine == "keras":
        results = []
        for run in runs:
            t = time.perf_counter()
            results += train_runs([run], data, config)
            times.append(time.perf_counter() - t)
    else:
        results = train_runs(runs, data, config)
    total = time.perf_counter() - start
    rows = []
    for r in results:
        net = Network.of(r.run.variant, config.model)
        acc = float(((predict_proba(net, r.weights, data.x_test) > 0.5) == data.y_test).mean())
        hidden = np.concatenate([np.abs(r.weights[i]).ravel() for i in net.kernel_indices()[:-1]])
        rows.append((r.run.variant.name, r.run.seed, acc, float(np.mean(hidden < 1e-2)), r.epochs_run))
    peak_mib = _peak_rss_mib()
    queue.put({"total": total, "per_model": times or [total / len(runs)], "rows": rows, "peak_mib": peak_mib, "n": len(runs)})


def _run(engine: str, args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    seeds = args.seeds if engine == "fast" else min(args.seeds, args.stock_seeds or args.seeds)
    proc = ctx.Process(target=_train, args=(engine, args.epochs, list(range(seeds)), args.variants.split(","), queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def _agreement(stock: dict, fast: dict) -> None:
    print(f"\n{'variant':<16}{'metric':<16}{'stock mean ± sd':>22}{'engine mean ± sd':>22}  agree?")
    for name in dict.fromkeys(r[0] for r in stock["rows"]):
        for j, metric in ((2, "test accuracy"), (3, "share |w|<0.01")):
            a = np.array([r[j] for r in stock["rows"] if r[0] == name])
            b = np.array([r[j] for r in fast["rows"] if r[0] == name])
            spread = max(a.std(ddof=1) if a.size > 1 else 0.0, b.std(ddof=1) if b.size > 1 else 0.0)
            ok = "yes" if abs(a.mean() - b.mean()) <= 2 * spread else ("no" if spread > 0 else "n/a (1 seed)")
            print(f"{name:<16}{metric:<16}{a.mean():>14.4f} ± {a.std(ddof=1) if a.size > 1 else 0:.4f}"
                  f"{b.mean():>14.4f} ± {b.std(ddof=1) if b.size > 1 else 0:.4f}  {ok}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--seeds", type=int, default=5, help="seeds per variant for the engine (the default study has 5)")
    p.add_argument("--stock-seeds", type=int, default=1, help="seeds per variant for stock fit (0: as many as --seeds)")
    p.add_argument("--variants", default="baseline,l1,l2,dropout,batchnorm,early_stopping")
    args = p.parse_args()
    fast = _run("fast", args)
    print(f"engine: {fast['n']} models in {fast['total']:.2f} s cold (compile included): "
          f"{fast['total'] / fast['n']:.3f} s per model, peak memory {fast['peak_mib']:.0f} MiB")
    stock = _run("keras", args)
    per = stock["per_model"]
    print(f"stock fit: {stock['n']} models, {np.mean(per):.2f} s per model (min {min(per):.2f}, max {max(per):.2f}), "
          f"peak memory {stock['peak_mib']:.0f} MiB")
    _agreement(stock, fast)
    print(f"\nepochs {args.epochs}, variants {args.variants}, seeds: engine {args.seeds}, stock {stock['n'] // len(args.variants.split(','))}")
    print(f"speedup: {np.mean(per) / (fast['total'] / fast['n']):.1f}")


if __name__ == "__main__":
    main()
