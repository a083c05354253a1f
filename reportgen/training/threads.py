"""Run tasks in threads, one per core, and stop them all on the first failure (the engine's blocks, a factory's runs)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

from reportgen.plan import RunResult, check_cancel


def handed(done: Callable, results: list[RunResult]) -> list[RunResult]:
    """Hand a finished block's results to done, and return them."""
    done(results)
    return results


class Aborted(Exception):
    """Another group failed; this one stopped early and has nothing to report."""


def in_threads(tasks: list[Callable], cancel) -> list:
    """Run tasks(check) in threads, one per core; on the first failure stop the others, wait for them and re-raise."""
    abort = threading.Event()

    def check():  # called by the tasks between graph calls (the engine) or after every epoch (model.fit)
        check_cancel(cancel)
        if abort.is_set():
            raise Aborted

    # XLA compiles and TensorFlow runs outside the GIL, so two graphs (or two fits) overlap on two cores.
    with ThreadPoolExecutor(max_workers=min(len(tasks), os.cpu_count() or 1)) as pool:
        futures = [pool.submit(task, check) for task in tasks]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)  # all done, or one failed
        finally:
            abort.set()  # the others stop at their next graph call (also when this thread is interrupted) ...
            wait(futures)  # ... and we wait for them: no thread keeps training after we return
    errors = [e for f in futures if (e := f.exception()) is not None and not isinstance(e, Aborted)]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]
