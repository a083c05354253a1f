"""Training on a Dask cluster: a LocalCluster of two worker processes on loopback gives the local build's numbers."""

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from reportgen import executor  # noqa: E402
from reportgen.cli import main  # noqa: E402
from reportgen.data import make_datasets  # noqa: E402
from reportgen.plan import plan_runs  # noqa: E402
from reportgen.training import train_runs  # noqa: E402
from tests.conftest import tiny_config  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=50
    ) as c:
        yield c


@pytest.mark.slow
def test_a_cluster_build_matches_the_local_one(cluster):
    config = tiny_config(
        training={"epochs": 4, "seeds": [0, 1, 2], "batch_size": 16},
        execution={"scheduler": cluster.scheduler_address, "runs_per_task": 4},
    )
    runs = plan_runs(config)
    datasets = make_datasets(config.data, config.training.seeds)
    assert len(executor.tasks(runs, config)) >= 3  # several tasks, so runs are split across workers
    seen = []
    remote = executor.train(runs, datasets, config, lambda n, text: seen.append(n))
    local = train_runs(runs, datasets, config)
    assert [r.run.key for r in remote] == [r.run.key for r in local]
    for a, b in zip(remote, local):
        for wa, wb in zip(a.weights, b.weights):
            np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7, err_msg=a.run.key)
        assert (a.epochs_run, a.best_epoch, a.min_val_epoch) == (b.epochs_run, b.best_epoch, b.min_val_epoch)
    assert sum(seen) == len(runs) * config.training.epochs  # progress counted every run across the cluster
    assert len(cluster.workers) == 2


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    from reportgen import executor
    from tests.conftest import tiny_raw, write_study

    monkeypatch.setattr(executor, "CONNECT_TIMEOUT", "1s")  # the message, not the 10 s a build waits

    study = write_study(tmp_path / "s.toml", tiny_raw(output={"dir": "out"}))
    assert main(["build", "--config", str(study), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach the Dask scheduler" in err[0] and "tcp://127.0.0.1:9" in err[0]
    assert not (tmp_path / "out").exists()


def test_without_a_scheduler_dask_is_not_imported():
    import subprocess
    import sys

    code = (
        "import sys\nfrom reportgen import executor, pipeline, cli\nprint('distributed' in sys.modules or 'dask' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
