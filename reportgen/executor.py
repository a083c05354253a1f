"""Where training happens: in this process (the engine's threads over the cores) or on a Dask cluster.

One interface, `train(runs, datasets, config, progress, cancel)`; nothing above it knows which one ran. On a cluster,
work goes out in tasks of whole engine groups (runs of one network shape, chunked so a task lasts seconds to a
minute), the replicates' data travels once per worker, and Dask retries the tasks of a worker that dies. A run's
result does not depend on which runs share its graph, so a cluster build gives the numbers of a local one.
Without a scheduler, Dask is never imported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from reportgen import training
from reportgen.config import StudyConfig
from reportgen.data import Dataset
from reportgen.errors import ConfigError
from reportgen.models import Network
from reportgen.plan import Run, RunResult, check_cancel

CONNECT_TIMEOUT = "10s"
RETRIES = 2  # a task whose worker died is run again this many times on another worker


def train(
    runs: list[Run],
    datasets: dict[int, Dataset],
    config: StudyConfig,
    progress: Callable | None = None,
    cancel=None,
    done: Callable | None = None,
) -> list[RunResult]:
    """Train runs here or on the study's Dask scheduler; results in the order of runs. done: called with each block's
    (or task's) results as soon as they are trained, so that a build stopped later keeps them."""
    done = done or (lambda results: None)
    if config.execution.scheduler is None:
        return training.train_runs(runs, datasets, config, progress, cancel, done=done)  # looked up now: tests replace it
    return _on_cluster(runs, datasets, config, progress or (lambda n, text: None), cancel, done)


def tasks(runs: list[Run], config: StudyConfig, datasets: dict | None = None) -> list[list[Run]]:
    """Split runs into tasks: runs of one engine graph (network shape and data size), at most runs_per_task each."""
    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        key = (
            training.group_key(run, datasets[run.data_key], config)
            if datasets
            else Network.of(run.variant, run.model(config.model))
        )
        groups[key].append(run)
    size = config.execution.runs_per_task
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


def train_task(runs: list[Run], datasets: dict[int, Dataset], config: StudyConfig, factory_source=None) -> list[RunResult]:
    """Train one task's runs on a worker (Keras models stay behind: their weights travel, which is all a report needs).
    A factory's network is built from the file's text it was sent (factory_source), never from a path on the worker;
    its runs also need the first replicate's data (the plane of the boundary grid they are measured on)."""
    from dataclasses import replace

    needed = {r.data_key: datasets[r.data_key] for r in runs}
    if factory_source is not None:
        needed[config.training.seeds[0]] = datasets[config.training.seeds[0]]
    return [replace(r, extras={}) for r in training.train_runs(runs, needed, config, factory_source=factory_source)]


def connect(address: str):
    """A Dask client for the scheduler at address, or a one-line error when it cannot be reached, is no Dask scheduler
    (a web server, a silent or garbling listener: none answers Dask's handshake) or has a protocol reportgen cannot use;
    each fails within about CONNECT_TIMEOUT."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError([f"execution.scheduler {address}: Dask is not installed (pip install 'reportgen[dask]')"]) from None
    problem = _not_a_scheduler(address)
    if problem:
        raise ConfigError([f"execution.scheduler {address}: {problem}"])
    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise ConfigError([f"execution.scheduler {address}: cannot reach the Dask scheduler ({_one_line(err)})"]) from None


def _one_line(err: BaseException) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())


def _not_a_scheduler(address: str) -> str | None:
    """Why address is no Dask scheduler reportgen can use, or None: a protocol other than tcp (tls needs certificates
    reportgen does not pass, ucx and inproc are not for a build's machine), or no Dask scheduler answering there. Its
    handshake and an identity request each have a deadline, which Client's timeout does not impose on a listener that
    accepts the connection and then says nothing."""
    import asyncio

    from dask.utils import parse_timedelta
    from distributed.comm import connect as open_comm
    from distributed.comm.addressing import parse_address

    scheme = address.partition("://")[0].lower() if "://" in address else "tcp"
    if scheme != "tcp":
        return f"the {scheme}:// protocol is not supported; give the scheduler's address as tcp://host:port"
    try:
        parse_address(address)
    except ValueError as err:
        return f"not an address ({_one_line(err)})"
    deadline = parse_timedelta(CONNECT_TIMEOUT)

    async def identity():
        comm = await open_comm(address, timeout=deadline, handshake_overrides={})
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:
        reply = asyncio.run(asyncio.wait_for(identity(), deadline))
    except TimeoutError:
        return f"cannot reach the Dask scheduler (nothing there answered Dask's handshake within {CONNECT_TIMEOUT})"
    except Exception as err:  # noqa: BLE001 - whatever a listener that is not Dask makes the reader raise
        return f"cannot reach the Dask scheduler ({_one_line(err)})"
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        kind = reply.get("type") if isinstance(reply, dict) else None
        return f"a {kind} answered there, not a Dask scheduler" if kind else "what answered there is not a Dask scheduler"
    return None


def _on_cluster(runs, datasets, config, progress, cancel, done) -> list[RunResult]:
    from distributed import as_completed

    client = connect(config.execution.scheduler)
    source = None
    if config.model.factory is not None:
        from reportgen import factory

        source = factory.source(config)  # its text travels: a worker may not have the file
    try:
        data = client.scatter([datasets], broadcast=True)[0]  # one object, sent once per worker, not once per task
        futures = {
            client.submit(train_task, chunk, data, config, source, retries=RETRIES, pure=False): chunk
            for chunk in tasks(runs, config, datasets)
        }
        progress(0, f"{len(futures)} tasks on {config.execution.scheduler}")
        finished: dict[str, RunResult] = {}
        for future in as_completed(futures, loop=client.loop):  # not the default client: this one is private
            if cancel is not None and cancel.is_set():
                client.cancel(list(futures))  # the workers stop too
                check_cancel(cancel)
            results = future.result()
            finished.update({result.run.key: result for result in results})
            done(results)
            progress(len(futures[future]) * config.training.epochs, f"{len(finished)} of {len(runs)} runs done on the cluster")
        return [finished[r.key] for r in runs]
    finally:
        client.close()
