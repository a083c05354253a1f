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
    """Two worker processes on loopback. They are started by a fork server, whose children leave with os._exit: a
    spawned worker that has loaded TensorFlow takes 3 to 4 s to tear its interpreter down when the cluster closes."""
    import dask

    from reportgen import _tf

    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        c = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=50
        )
    with c, distributed.Client(c, set_as_default=False) as client:
        # Each worker starts TensorFlow at once, while this process trains the local runs a test compares with: what
        # the workers' first tasks would otherwise wait for (the results, TensorFlow's modules, stay on the workers).
        started = [client.submit(_tf.load, workers=[w], pure=False) for w in client.scheduler_info()["workers"]]
        yield c
        del started


@pytest.mark.slow
def test_a_cluster_build_matches_the_local_one(cluster):
    config = tiny_config(
        training={"epochs": 4, "seeds": [0, 1], "batch_size": 16},
        execution={"scheduler": cluster.scheduler_address, "runs_per_task": 3},
    )
    runs = plan_runs(config)
    datasets = make_datasets(config.data, config.training.seeds)
    assert len(executor.tasks(runs, config)) >= 3  # several tasks, so runs are split across workers
    local = train_runs(runs, datasets, config)  # first: the workers start TensorFlow meanwhile (see cluster)
    seen = []
    remote = executor.train(runs, datasets, config, lambda n, text: seen.append(n))
    assert [r.run.key for r in remote] == [r.run.key for r in local]
    for a, b in zip(remote, local):
        for wa, wb in zip(a.weights, b.weights):
            np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7, err_msg=a.run.key)
        assert (a.epochs_run, a.best_epoch, a.min_val_epoch) == (b.epochs_run, b.best_epoch, b.min_val_epoch)
    assert sum(seen) == len(runs) * config.training.epochs  # progress counted every run across the cluster
    assert len(cluster.workers) == 2


DROPOUT_FACTORY = """
import keras


def build(n_features, n_classes, variant):
    layers = [keras.Input((n_features,)), keras.layers.Dense(8, activation="relu")]
    layers += [keras.layers.Dropout(variant.dropout)] if variant.dropout else []
    return keras.Sequential([*layers, keras.layers.Dense(1, activation="sigmoid")])
"""


@pytest.mark.slow
def test_a_factory_trains_on_the_cluster_as_it_does_here(cluster, tmp_path):
    """--scheduler with model.factory: the workers build the network from the file's text they are sent, and every
    run (its weights and what it measured where it trained) is the local one, bit for bit. One replicate of each
    variant, one run per task: each worker trains one network with stock fit."""
    from reportgen.config import load_config
    from tests.conftest import tiny_raw, write_study

    (tmp_path / "nets.py").write_text(DROPOUT_FACTORY, encoding="utf-8")
    raw = tiny_raw(
        model={"factory": "nets.py:build"},
        training={"epochs": 3, "seeds": [0], "batch_size": 16},
        variants=[{"name": "baseline"}, {"name": "dropout", "dropout": 0.3}],
        sweeps={"l1": [], "l2": [], "dropout": []},
        execution={"scheduler": cluster.scheduler_address, "runs_per_task": 1},
    )
    config = load_config(write_study(tmp_path / "study.toml", raw))
    runs = plan_runs(config)
    datasets = make_datasets(config.data, config.training.seeds)
    assert len(executor.tasks(runs, config, datasets)) == 2  # two workers, each with a task
    remote = executor.train(runs, datasets, config)
    local = train_runs(runs, datasets, config)
    for a, b in zip(remote, local, strict=True):
        assert a.run.key == b.run.key and a.outputs.keys() == b.outputs.keys() and "grid" in a.outputs
        assert all(np.array_equal(wa, wb) for wa, wb in zip(a.weights, b.weights, strict=True)), a.run.key
        assert all(np.array_equal(a.outputs[k], b.outputs[k]) for k in a.outputs), a.run.key


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


@pytest.fixture
def listener(request):
    """Something at a loopback port that is not a Dask scheduler: a web server, a listener that accepts and says
    nothing, or one that answers with garbage; yields its tcp:// address."""
    import http.server
    import socket
    import threading

    if request.param == "web server":

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # stderr is the build's, checked line by line
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
        server.shutdown()
        server.server_close()
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    accepted, stop = [], threading.Event()

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            accepted.append(conn)
            if request.param == "garbage":
                conn.sendall(bytes(range(256)) * 64)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    sock.close()


def _build_with_scheduler(tmp_path, capsys, address: str) -> tuple[int | None, list[str]]:
    """`reportgen build --scheduler address` in a thread; (its exit code, or None if it still runs after a minute)."""
    import threading

    from tests.conftest import tiny_raw, write_study

    study = write_study(tmp_path / "s.toml", tiny_raw(output={"dir": "out"}))
    codes = []
    thread = threading.Thread(
        target=lambda: codes.append(main(["build", "--config", str(study), "--scheduler", address])), daemon=True
    )
    thread.start()
    thread.join(60)  # a guard against the hang this is about, not a measure: it fails in CONNECT_TIMEOUT (1 s here)
    return (codes[0] if codes else None), capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("listener", ["web server", "silent", "garbage"], indirect=True)
def test_a_listener_that_is_not_dask_fails_in_the_connect_timeout_with_one_line(tmp_path, capsys, monkeypatch, listener):
    monkeypatch.setattr(executor, "CONNECT_TIMEOUT", "1s")  # the message, not the 10 s a build waits
    code, err = _build_with_scheduler(tmp_path, capsys, listener)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"reportgen: error: execution.scheduler {listener}: "), err
    assert "Dask" in err[0] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("scheme", ["ftp", "tls", "ucx", "inproc"])
def test_an_unsupported_protocol_is_one_line_and_exit_2(tmp_path, capsys, scheme):
    code, err = _build_with_scheduler(tmp_path, capsys, f"{scheme}://127.0.0.1:8786")
    assert code == 2 and err == [
        f"reportgen: error: execution.scheduler {scheme}://127.0.0.1:8786: the {scheme}:// protocol is not supported; "
        "give the scheduler's address as tcp://host:port"
    ]


def test_a_real_scheduler_passes_the_check(cluster):
    assert executor._not_a_scheduler(cluster.scheduler_address) is None
