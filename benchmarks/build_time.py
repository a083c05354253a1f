"""Time the default `reportgen build` cold (a new process, HTML and PDF) and the engine's cost per model.

    .venv/bin/python benchmarks/build_time.py [--skip-build | --fixed-only] [--models 1,6,30,130,500] [--cache both|empty|warm]

Prints the wall time of the whole build, a first build (no run cache, an empty XLA compilation cache), with its
per-stage times and the peak memory of its process tree, then a table of the engine's cold time (a new
process, tracing and compilation included) against the number of models, so that the fixed cost and the marginal
cost are both visible. N models are the first N runs of the default study taken replicate by replicate: 1 is the
baseline, 6 the six variants of one replicate, and larger N every setting of ceil(N / settings) replicates.
Each N runs with an empty compilation cache (REPORTGEN_XLA_CACHE pointing at a new folder) and again with the
cache that run left (what a later build of the same study pays); CPU is the process's user + system time.
Last, one stock model.fit of the baseline (500 epochs, numpy arrays, as the seed notebook trains; TensorFlow's import
not counted) in a new process, and the build's wall time over the stock fit's, a line per build: first
`build/stock (560 models, 20 replicates fixed): X`, the default study with its adaptive design held at its first 20
replicates (the scale the speed goal was set at), then `build/stock: X` for the default build as it is (adaptive: up to
1,120 models; the replicates it adds are on this line alone). --fixed-only times the first build only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (the build and its helper process), from /proc."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def run_measured(args: list[str]) -> tuple[float, int]:
    """Run a command; return its wall seconds and the peak of its process tree's summed RSS (sampled every 20 ms)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.02)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, args)
    return time.perf_counter() - start, peak


FIXED = ["--set", "training.seeds=20"]  # the default study's first 20 replicates, none added


def time_build(extra: list[str] | None = None, name: str = "default build") -> tuple[float, int]:
    """The default build as a first build: no run cache (--no-cache) and an empty XLA compilation cache; its wall
    seconds and how many models it trained."""
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as xla:
        os.environ["REPORTGEN_XLA_CACHE"] = xla
        command = [sys.executable, "-m", "reportgen", "build", "--out", tmp, "--quiet", "--no-cache", *(extra or [])]
        try:
            wall, peak = run_measured(command)
        finally:
            del os.environ["REPORTGEN_XLA_CACHE"]
        doc = json.loads((Path(tmp) / "results.json").read_text())
        pages = _pdf_pages(Path(tmp) / "report.pdf")
    print(
        f"{name}, cold (no run cache, empty XLA cache): {wall:.1f} s wall, {len(doc['runs'])} models trained, "
        f"PDF {pages} pages, "
        f"peak memory {peak / 2**30:.2f} GiB (the build and its helper process together)"
    )
    for stage, seconds in doc["timings_seconds"].items():
        print(f"  {stage:<45}{seconds:7.1f} s")
    return wall, len(doc["runs"])


def stock_fit() -> float:
    """Seconds of one stock 500-epoch model.fit of the default study's baseline, on its first replicate's data."""
    sys.path.insert(0, str(Path(__file__).parent))
    from train_speed import _plain_fit

    from reportgen.config import validate
    from reportgen.data import make_datasets
    from reportgen.plan import plan_runs

    config = validate({"training": {"seeds": 1}})
    run = next(r for r in plan_runs(config) if r.variant.name == "baseline")
    data = make_datasets(config.data, config.training.seeds)[run.data_key]
    from reportgen._tf import load

    load()  # TensorFlow starts before the clock does

    start = time.perf_counter()
    _plain_fit(run, data, config)
    return time.perf_counter() - start


def _pdf_pages(path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(path).pages)


def _first_runs(n: int):
    """The first n runs of the default study, replicate by replicate, and the study that plans them."""
    import math

    from reportgen.config import validate
    from reportgen.plan import plan_runs

    settings = len(plan_runs(validate({"training": {"seeds": 1}})))
    config = validate({"training": {"seeds": max(1, math.ceil(n / settings))}})
    runs = sorted(plan_runs(config), key=lambda r: r.seed)  # stable: the plan's order within a replicate
    return config, runs[:n]


def measure(n: int) -> dict:
    """Train the first n runs in this process; return wall and CPU seconds of train_runs and the peak memory."""
    import resource

    from reportgen.data import make_datasets
    from reportgen.training import train_runs

    config, runs = _first_runs(n)
    datasets = make_datasets(config.data, config.training.seeds)
    usage = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # noqa: E731  user + system
    started = time.perf_counter()
    from reportgen._tf import load

    load()  # TensorFlow starts with its settings, the XLA cache among them
    imported = time.perf_counter() - started
    wall, cpu = time.perf_counter(), usage()
    train_runs(runs, datasets, config)
    wall, cpu = time.perf_counter() - wall, usage() - cpu
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024
    return {"models": len(runs), "wall": wall, "cpu": cpu, "peak_mib": peak, "import": imported}


def _child(n: int, cache: str) -> dict:
    env = {**os.environ, "REPORTGEN_XLA_CACHE": cache}
    out = subprocess.run([sys.executable, __file__, "--child", str(n)], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def engine_table(sizes: list[int], shown: str) -> None:
    print("engine, a new process per row (train_runs only: tracing and compilation included, TensorFlow's import not):")
    print(
        f"  {'models':>6} {'cache':>6} {'wall s':>8} {'s/model':>8} {'cpu s':>8} {'cpu/model':>9} {'peak MiB':>9}"
        f" {'TF import s':>11}"
    )
    for n in sizes:
        with tempfile.TemporaryDirectory() as folder:
            for cache in ("empty",) if shown == "empty" else ("empty", "warm"):
                r = _child(n, folder)
                if shown not in ("both", cache):
                    continue
                print(
                    f"  {r['models']:>6} {cache:>6} {r['wall']:8.2f} {r['wall'] / r['models']:8.3f} {r['cpu']:8.2f} "
                    f"{r['cpu'] / r['models']:9.3f} {r['peak_mib']:9.0f} {r['import']:11.1f}",
                    flush=True,
                )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip-build", action="store_true")
    p.add_argument("--fixed-only", action="store_true", help="time the 560-model build, not the adaptive one")
    p.add_argument("--models", default="1,6,30,130,500")
    p.add_argument(
        "--cache",
        choices=["both", "empty", "warm"],
        default="both",
        help="warm alone still fills the cache first, without printing that run",
    )
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--stock-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    if args.stock_child:
        print(json.dumps(stock_fit()))
        return
    walls = {}
    if args.skip_build and args.fixed_only:
        p.error("--fixed-only times a build; --skip-build times none")
    if not args.skip_build:
        wall, models = time_build(FIXED, "default study, 20 replicates fixed")
        walls[f"build/stock ({models} models, 20 replicates fixed)"] = wall
        if not args.fixed_only:
            walls["build/stock"] = time_build()[0]
    if args.models:
        engine_table([int(x) for x in args.models.split(",")], args.cache)
    out = subprocess.run([sys.executable, __file__, "--stock-child"], check=True, capture_output=True, text=True)
    stock = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"stock model.fit of the baseline, 500 epochs: {stock:.1f} s")
    for line, wall in walls.items():
        print(f"{line}: {wall / stock:.2f}")


if __name__ == "__main__":
    main()
