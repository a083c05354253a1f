"""A second process for the work after training, which would otherwise leave one of two cores idle.

Drawing figures and laying out the PDF are single-threaded Python. A build starts a helper process at once (forked
before TensorFlow is imported, a new interpreter once it is, so no TensorFlow thread is ever copied); after the
analysis the helper draws half of the figures while this process draws the other half, and it lays out the PDF while
this process writes results.json.

The helper is an optimisation only: without a second core, or when the helper fails in any way (it dies, a result
cannot be sent back), the work is done here, so the outputs are the same bytes either way.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _serve(conn, builds_end=None) -> None:
    """The helper's loop: run each (function, args) received and send back ('ok', value) or ('error', text).

    builds_end: the build's end of the pipe, which a fork inherits: closed at once, so that the helper sees the end of
    the pipe (and exits) when the build dies without closing it (kill -9, the OOM killer)."""
    if builds_end is not None:
        builds_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C reaches the whole group: the build decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # blocked across the fork: the build's handlers never run here
    with contextlib.suppress(OSError):
        os.nice(5)  # where both want a core (its imports beside the analysis' threads), the build goes first
    import warnings

    warnings.simplefilter("ignore")  # as in the build (reportgen.cli): library notes are noise to a report's reader
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        except Exception:  # noqa: BLE001  a job it cannot unpickle (a function only the build's __main__ has)
            conn.send(("error", traceback.format_exc()))
            continue
        if job is None:
            return
        fn, args = job
        try:
            reply = ("ok", fn(*args))
        except Exception:  # noqa: BLE001  the build then does the job itself and meets the error there
            reply = ("error", traceback.format_exc())
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return
        except Exception:  # noqa: BLE001  a value that cannot be pickled (nothing was written): the build does the job
            conn.send(("error", traceback.format_exc()))


# a first PDF loads the fonts and WeasyPrint's own stylesheet: done at start-up, while the helper would be idle anyway
WARM_PAGE = (
    "<p style=\"font-family: 'DejaVu Sans'\">reportgen <b>warm</b> <i>up</i> <code>1</code></p>"
    "<table><tr><th>a</th><td>1</td></tr></table>"
)


def warm_pdf() -> None:
    """What the helper does first: import what PDF layout needs and lay out one small page. A build that takes its
    analysis and figures from the cache (reportgen.memo) hands it the PDF about 1.5 s after it starts."""
    from reportgen.pdf import render_pdf

    render_pdf(WARM_PAGE)


def warm_figures() -> None:
    """Import what drawing needs (matplotlib, seaborn): given to the helper only by a build that will draw figures,
    so that it cannot delay the PDF of a build that draws none."""
    import reportgen.figures  # noqa: F401


def _can_fork() -> bool:
    """Whether forking this process is safe: no TensorFlow (its threads may hold locks a fork would copy), no other
    thread at all (a notebook's, a GUI's), and not a daemonic process (a multiprocessing Pool worker, which may not
    have children of its own)."""
    return "tensorflow" not in sys.modules and threading.active_count() == 1 and not multiprocessing.current_process().daemon


CLEAN_START = "import sys; from reportgen.helper import serve_fd; serve_fd(int(sys.argv[1]))"


def serve_fd(fd: int) -> None:
    """The entry point of a helper started as a new interpreter: serve jobs on the socket it was given."""
    from multiprocessing.connection import Connection

    _serve(Connection(fd))


class Helper:
    """One helper process taking one job at a time; a Helper that could not start runs every job in this process.

    Where forking is safe (a command-line build, before TensorFlow is imported: see _can_fork) the helper is a fork
    of this process: the cheapest start. Elsewhere (a build called from Python that trained before, a notebook, the
    tests) a fork could copy a lock another thread holds, so the helper is a new interpreter instead (not
    multiprocessing's spawn or forkserver, which run the caller's main script again in the child), given one end of
    a socket pair.
    """

    def __init__(self) -> None:
        self._conn = self._proc = None
        self._pending = 0  # jobs sent whose replies have not been read
        from reportgen.budget import helper_runs

        if not helper_runs():
            return
        try:
            if _can_fork():
                self._start_forked()
            else:
                self._start_clean()
            self.submit(warm_pdf)
        except (OSError, ValueError, AssertionError):
            self.close()

    def _start_forked(self) -> None:
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, self._conn), daemon=True, name="reportgen-helper")
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)  # until the child has its own handlers
        try:
            self._proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        child.close()

    def _start_clean(self) -> None:
        import socket
        import subprocess
        from multiprocessing.connection import Connection

        mine, theirs = socket.socketpair()
        with theirs:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", CLEAN_START, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # no Ctrl-C from the terminal before it ignores it
        self._conn = Connection(mine.detach())

    @property
    def pid(self) -> int | None:
        """The helper process's id, None without one."""
        return None if self._proc is None else self._proc.pid

    @property
    def alive(self) -> bool:
        """Whether jobs go to the helper process."""
        return self._proc is not None

    def ready(self, wait: bool = False) -> bool:
        """Whether the helper is alive and idle (every job given so far done), so that work given now starts at once;
        wait: block until it is idle (or gone)."""
        while self._pending:
            try:
                if not (wait or self._conn.poll()):
                    return False
            except (OSError, ValueError):
                self.close()
                return False
            self._reply()
        return self.alive

    def submit(self, fn: Callable, *args) -> None:
        """Queue fn(*args) in the helper (it runs after the jobs given before); its value comes from result(). Without
        a helper, nothing happens here. A job whose value is large is followed by its result() before the next job is
        given: the helper blocks on sending it until it is read, and a large job sent meanwhile would block too."""
        if not self.alive:
            return
        try:
            self._conn.send((fn, args))
            self._pending += 1
        except (OSError, ValueError, TypeError, AttributeError, pickle.PicklingError):  # a closed pipe, unpicklable args
            self.close()

    def _reply(self) -> tuple[str, Any]:
        """The next reply: ('ok', value), ('error', traceback text), or ('lost', None) when the helper is gone."""
        self._pending -= 1
        try:
            return self._conn.recv()
        except (EOFError, OSError, ValueError, TypeError, AttributeError, pickle.UnpicklingError):  # not Interrupted
            self.close()
            return "lost", None

    def result(self, fn: Callable | None, *args) -> Any:
        """The value of the job last submitted (the replies of earlier ones are read and dropped); fn(*args) computed
        here when the helper could not do it."""
        status = "never sent"
        while self._pending:
            status, value = self._reply()
        if status == "ok":
            return value
        # never sent, lost, or failed there (a failure then happens again here, with its own exception and traceback)
        return fn(*args) if fn is not None else None

    def close(self) -> None:
        """Stop the helper (at once: nothing it holds is needed any more)."""
        conn, proc = self._conn, self._proc
        self._conn = self._proc = None
        self._pending = 0
        if conn is not None:
            conn.close()
        if proc is not None:
            proc.terminate()
            if isinstance(proc, multiprocessing.process.BaseProcess):
                proc.join(timeout=5)
            else:
                proc.wait(timeout=5)

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
