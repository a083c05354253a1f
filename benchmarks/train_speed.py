"""Stock Keras model.fit against the fast engine at the default study's scale, in one run.

    .venv/bin/python benchmarks/train_speed.py [--epochs 500] [--seeds 20] [--stock-seeds 1] [--agree-seeds 0]
                                               [--variants baseline,l1,...] [--snapshot-cost 0]

Three phases, each in its own process (so each peak memory is its own):
1. the engine trains the default study (its variants and strength sweeps) x --seeds replicates together, cold
   (a new process; graph tracing and compilation included, with the compilation cache as it is on this machine);
2. stock fit, the way the seed notebook trains (numpy arrays into model.fit, one model at a time), on the
   first --stock-seeds seeds of each of --variants: its time per model does not depend on how many it trains;
3. with --agree-seeds K: the reference engine (engine = "keras": model.fit fed batches reshuffled every
   epoch) on K seeds of --variants, and a table of test accuracy and L1 sparsity per variant, mean and spread over
   seeds, against the engine's runs of the same variants, to check that the engines agree.
With --snapshot-cost K (instead of the phases above): the engine's cold training of the study K times with the
first replicate's epoch snapshots (as a build keeps them) and K times without, alternating, and the ratio of the
medians (`snapshots/plain: X`).
The last lines are `engine efficiency: X% of matmul peak` (the engine's floating-point work, counted as the plan line
counts it (reportgen.budget.estimate: 6 per weight and training example and 2 per validation example, every epoch),
over its cold time, against this machine's float32 matrix-product peak measured in the same run: numpy's @ of two
4,096 x 4,096 matrices, best of five, with as many BLAS threads as numpy takes) and `speedup: X` (stock seconds per
model / engine seconds per model).
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


def _plain_fit(run, data, config) -> list[np.ndarray]:
    """Train one run as the notebook does: numpy arrays straight into model.fit."""
    from reportgen._tf import keras
    from reportgen.models import Network, build_model, initial_dense_weights, initial_weights

    keras.utils.set_random_seed(run.seed)
    model = build_model(run.variant, config.model)
    model.set_weights(initial_weights(Network.of(run.variant, config.model), initial_dense_weights(config.model, run.seed)))
    es = run.variant.early_stopping
    callbacks = [keras.callbacks.EarlyStopping(patience=es.patience, restore_best_weights=es.restore_best_weights)] if es else []
    model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=config.training.epochs,
        batch_size=config.training.batch_size,
        verbose=0,
        callbacks=callbacks,
    )
    return model.get_weights()


def _study(phase: str, epochs: int, seeds: list[int], variants: list[str]):
    """The engine's study is the default one (variants and sweeps); the others train the chosen variants alone."""
    from reportgen.config import StudyConfig, validate

    engine = "fast" if phase.startswith("engine") else "keras"
    raw = {"training": {"epochs": epochs, "seeds": seeds, "engine": engine}}
    if engine == "keras":
        chosen = [v.model_dump(mode="json", exclude_none=True) for v in StudyConfig().variants if v.name in variants]
        raw.update(variants=chosen, sweeps={"l1": [], "l2": [], "dropout": []})
    return validate(raw)


def _train(phase: str, epochs: int, seeds: list[int], variants: list[str], queue) -> None:
    from reportgen.data import make_datasets
    from reportgen.models import Network, predict_proba
    from reportgen.plan import plan_runs
    from reportgen.training import train_runs

    if phase == "engine-plain":  # no run keeps epoch snapshots
        import reportgen.training.train as train_module

        train_module.snapshotted = lambda run, config: False
    config = _study(phase, epochs, seeds, variants)
    datasets = make_datasets(config.data, config.training.seeds)
    runs = plan_runs(config)
    times: list[float] = []
    start = time.perf_counter()
    if phase.startswith("engine"):
        weights = [r.weights for r in train_runs(runs, datasets, config)]
    else:
        weights = []
        for run in runs:
            t = time.perf_counter()
            data = datasets[run.seed]
            weights.append(_plain_fit(run, data, config) if phase == "stock" else train_runs([run], datasets, config)[0].weights)
            times.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    rows = []
    for run, w in zip(runs, weights):
        net, data = Network.of(run.variant, config.model), datasets[run.seed]
        acc = float(((predict_proba(net, w, data.x_test) > 0.5) == data.y_test).mean())
        hidden = np.concatenate([np.abs(w[i]).ravel() for i in net.kernel_indices()[:-1]])
        rows.append((run.variant.name, run.seed, acc, float(np.mean(hidden < 1e-2))))
    flops = 0.0
    if phase.startswith("engine"):
        from reportgen.budget import estimate
        from reportgen.datasets import DataShape

        flops = estimate(config, len(runs), DataShape.of(datasets[config.training.seeds[0]])).flops
    queue.put(
        {
            "flops": flops,
            "total": total,
            "per_model": times or [total / len(runs)],
            "rows": rows,
            "peak_mib": _peak_rss_mib(),
            "n": len(runs),
        }
    )


def _run(phase: str, seeds: int, args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_train, args=(phase, args.epochs, list(range(seeds)), args.variants.split(","), queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def matmul_peak() -> float:
    """This machine's float32 matrix-product rate in FLOP/s: the best of five products of two 4,096 x 4,096 matrices
    with numpy's @ and its BLAS threads as configured (reportgen.pace measures it the same way, smaller)."""
    from reportgen.pace import matmul_peak as measured

    return measured(n=4096, repeats=5)


def _sd(a: np.ndarray) -> float:
    return float(a.std(ddof=1)) if a.size > 1 else 0.0


def _agreement(ref: dict, fast: dict) -> None:
    print(f"\n{'variant':<16}{'metric':<16}{'reference mean ± sd':>24}{'engine mean ± sd':>22}  within 2 sd?")
    for name in dict.fromkeys(r[0] for r in ref["rows"]):
        for j, metric in ((2, "test accuracy"), (3, "share |w|<0.01")):
            a = np.array([r[j] for r in ref["rows"] if r[0] == name])
            b = np.array([r[j] for r in fast["rows"] if r[0] == name])
            spread = max(_sd(a), _sd(b))
            ok = "yes" if abs(a.mean() - b.mean()) <= 2 * spread else "no"
            print(f"{name:<16}{metric:<16}{a.mean():>16.4f} ± {_sd(a):.4f}{b.mean():>14.4f} ± {_sd(b):.4f}  {ok}")


def _snapshot_cost(args) -> None:
    times: dict[str, list[float]] = {"engine": [], "engine-plain": []}
    for _ in range(args.snapshot_cost):
        for phase in times:
            out = _run(phase, args.seeds, args)
            times[phase].append(out["total"])
            print(f"{phase:<13} {out['n']} models: {out['total']:.2f} s")
    with_snaps, plain = (float(np.median(t)) for t in times.values())
    print(f"median with snapshots {with_snaps:.2f} s, without {plain:.2f} s")
    print(f"snapshots/plain: {with_snaps / plain:.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--seeds", type=int, default=20, help="replicates of the default study for the engine (its default: 20)")
    p.add_argument("--stock-seeds", type=int, default=1, help="seeds per variant for the plain model.fit timing")
    p.add_argument("--agree-seeds", type=int, default=0, help="seeds per variant for the reference-engine agreement check")
    p.add_argument(
        "--variants",
        default="baseline,l1,l2,dropout,batchnorm,early_stopping",
        help="variants for stock fit and the reference engine",
    )
    p.add_argument(
        "--snapshot-cost",
        type=int,
        default=0,
        metavar="K",
        help="time the engine K times with epoch snapshots and K times without, instead of the comparison",
    )
    args = p.parse_args()
    if args.snapshot_cost:
        _snapshot_cost(args)
        return
    peak = matmul_peak()
    fast = _run("engine", args.seeds, args)
    engine_per_model = fast["total"] / fast["n"]
    print(
        f"engine: {fast['n']} models in {fast['total']:.2f} s cold (compile included): "
        f"{engine_per_model:.3f} s per model, peak memory {fast['peak_mib']:.0f} MiB"
    )
    stock = _run("stock", args.stock_seeds, args)
    per = stock["per_model"]
    print(
        f"stock model.fit: {stock['n']} models, {np.mean(per):.2f} s per model (min {min(per):.2f}, max {max(per):.2f}), "
        f"peak memory {stock['peak_mib']:.0f} MiB"
    )
    for (name, seed, *_), t in zip(stock["rows"], per):
        print(f"  {name}/seed{seed}: {t:.2f} s")
    if args.agree_seeds:
        _agreement(_run("reference", args.agree_seeds, args), fast)
    print(
        f"\nepochs {args.epochs}, engine: default study x {args.seeds} seeds ({fast['n']} models); "
        f"stock: {args.variants} x {args.stock_seeds} seeds"
    )
    peak = max(peak, matmul_peak())  # before and after the phases: the better of two looks at a shared machine
    rate = fast["flops"] / fast["total"]
    print(
        f"engine: {fast['flops'] / 1e12:.2f} TFLOP (as the plan line counts) in {fast['total']:.2f} s = "
        f"{rate / 1e9:.0f} GFLOP/s; float32 matmul peak {peak / 1e9:.0f} GFLOP/s"
    )
    print(f"engine efficiency: {100 * rate / peak:.1f}% of matmul peak")
    print(f"speedup: {np.mean(per) / engine_per_model:.1f}")


if __name__ == "__main__":
    main()
