"""Train a 1,000-model study here and on a local 2-worker Dask cluster; print both times and the cost per task.

    .venv/bin/python benchmarks/dask_scaling.py [--models 1000] [--epochs 500] [--runs-per-task 48]

The study is the default network and variants with as many replicates as make --models runs. Training only (no
analysis or report), cold in both cases (a fresh process each, compilation included). The per-task overhead is
measured separately: tasks of one run trained for one epoch, where scheduling is nearly all there is.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

CODE = """
import sys, time
from reportgen.config import validate
from reportgen.data import make_datasets
from reportgen.plan import plan_runs
from reportgen import executor
models, epochs, per_task, address = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
base = validate({"sweeps": {"l1": [], "l2": [], "dropout": []}})
per_replicate = len(plan_runs(base.model_copy(update={"training": base.training.model_copy(update={"seeds": [0]})})))
config = validate({"sweeps": {"l1": [], "l2": [], "dropout": []},
                   "training": {"epochs": epochs, "seeds": max(1, models // per_replicate)},
                   "execution": {"scheduler": None if address == "-" else address, "runs_per_task": per_task}})
runs = plan_runs(config)[:models]
data = make_datasets(config.data, config.training.seeds)
start = time.perf_counter()
executor.train(runs, data, config)
print(len(runs), len(executor.tasks(runs, config)), time.perf_counter() - start)
"""


def timed(models: int, epochs: int, per_task: int, address: str) -> tuple[int, int, float]:
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(models), str(epochs), str(per_task), address], check=True, capture_output=True, text=True
    ).stdout.split()
    return int(out[-3]), int(out[-2]), float(out[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--runs-per-task", type=int, default=48)
    args = p.parse_args()
    from distributed import LocalCluster

    n, _, local = timed(args.models, args.epochs, args.runs_per_task, "-")
    print(f"local:   {n} models in {local:.1f} s ({local / n:.3f} s per model)")
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=50
    ) as cluster:
        time.sleep(1)
        n, tasks, remote = timed(args.models, args.epochs, args.runs_per_task, cluster.scheduler_address)
        print(
            f"cluster: {n} models in {remote:.1f} s ({remote / n:.3f} s per model), {tasks} tasks of up to "
            f"{args.runs_per_task} runs, 2 workers"
        )
        k, small_tasks, tiny = timed(64, 1, 1, cluster.scheduler_address)
        _, _, tiny_local = timed(64, 1, 1, "-")
        print(
            f"overhead per task: {(tiny - tiny_local) / small_tasks * 2:.3f} s of a worker's time "
            f"({small_tasks} one-run, one-epoch tasks: {tiny:.1f} s on the cluster, {tiny_local:.1f} s here)"
        )
    print(f"cluster/local: {remote / local:.2f}")


if __name__ == "__main__":
    main()
