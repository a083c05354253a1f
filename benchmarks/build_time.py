"""Time the default `reportgen build` cold (a new process, HTML and PDF) and the engine's cost per run.

    .venv/bin/python benchmarks/build_time.py [--skip-build] [--runs 1,10,30]

Prints the wall time of the whole build with its per-stage times, then the engine's cold time (compile
included) for growing numbers of runs, to check that cost grows linearly, not with a compile per run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def time_build() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "reportgen", "build", "--out", tmp, "--quiet"], check=True)
        wall = time.perf_counter() - start
        doc = json.loads((Path(tmp) / "results.json").read_text())
        pages = _pdf_pages(Path(tmp) / "report.pdf")
    print(f"default build, cold: {wall:.1f} s wall, {len(doc['runs'])} models trained, PDF {pages} pages")
    for stage, seconds in doc["timings_seconds"].items():
        print(f"  {stage:<45}{seconds:7.1f} s")


def _pdf_pages(path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(path).pages)


def _engine_time(n_runs: int) -> float:
    code = f"""
import time
from reportgen.config import validate
from reportgen.data import make_dataset
from reportgen.training import Run, train_runs
config = validate({{"sweeps": {{"l1": [], "l2": [], "dropout": []}}}})
data = make_dataset(config.data)
runs = [Run(config.variants[1], seed) for seed in range({n_runs})]
t = time.perf_counter(); train_runs(runs, data, config); print(time.perf_counter() - t)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip-build", action="store_true")
    p.add_argument("--runs", default="1,10,30,90")
    args = p.parse_args()
    if not args.skip_build:
        time_build()
    print("engine, cold, L1 variant, 500 epochs:")
    base = None
    for n in (int(x) for x in args.runs.split(",")):
        seconds = _engine_time(n)
        base = base or seconds
        print(f"  {n:>3} runs: {seconds:6.2f} s ({seconds / n:.3f} s per run; {seconds / base:.1f}x the time of 1 run)")


if __name__ == "__main__":
    main()
