"""The helper process that draws half the figures and lays out the PDF: its jobs run there, and whatever goes wrong
there (a job that fails, a helper that dies, a Ctrl-C) ends with the job done in the build itself."""

import subprocess
import sys

CODE = r"""
import os, signal, sys, time
from reportgen.helper import Helper

def pid_or_fail(fail_in_helper):
    if fail_in_helper and os.getpid() != PARENT:
        raise ValueError("only in the helper")
    return os.getpid()

PARENT = os.getpid()
with Helper() as h:
    assert h.alive and h.ready(wait=True)  # its start-up imports are done
    h.submit(os.getpid)
    child = h.result(os.getpid)
    assert child != PARENT, "the job ran in the build, not in the helper"
    h.submit(time.sleep, 0.5)
    h.submit(os.getpid)  # queued behind the first: submit does not wait
    assert not h.ready(), "busy with two jobs"
    assert h.result(os.getpid) == child, "the last job's value (the first's reply is read and dropped)"
    assert h.ready(), "idle again"
    h.submit(pid_or_fail, True)
    assert h.result(pid_or_fail, True) == PARENT, "a job that failed there is done here"
    os.kill(child, signal.SIGINT)  # the terminal's Ctrl-C reaches the helper too: it carries on
    h.submit(os.getpid)
    assert h.result(os.getpid) == child
    os.kill(child, signal.SIGKILL)
    h.submit(os.getpid)
    assert h.result(os.getpid) == PARENT and not h.alive, "a dead helper: the job is done here"
sys.modules["tensorflow"] = object()  # once TensorFlow's threads may run, the helper is a new interpreter
with Helper() as h:
    assert h.alive
    h.submit(eval, "'tensorflow' in __import__('sys').modules")
    assert h.result(None) is False, "a fork that copied TensorFlow"
    h.submit(pid_or_fail, True)  # not a function it can import (this script's): done here, quietly
    assert h.result(pid_or_fail, True) == PARENT
    h.submit(os.getppid)
    assert h.result(os.getppid) == PARENT
    unpicklable = lambda: 0
    h.submit(callable, unpicklable)  # arguments that cannot be sent: the job is done here
    assert h.result(callable, unpicklable) is True and not h.alive
print("ok")
"""


def test_jobs_run_in_the_helper_and_fall_back_to_the_build():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


ORPHAN = r"""
import os, signal
from reportgen.helper import Helper
h = Helper()
h.submit(os.getpid)
print(h.result(os.getpid), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # the build dies without closing anything
"""


def test_the_helper_exits_when_the_build_is_killed():
    import os
    import time

    proc = subprocess.run([sys.executable, "-c", ORPHAN], capture_output=True, text=True, timeout=120)
    helper = int(proc.stdout.strip())  # the helper's pid (the build itself is gone)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{helper}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{helper}"), "the helper outlived its build"


POOL = r"""
import multiprocessing, os
from reportgen.helper import Helper

def in_a_worker(_):
    with Helper() as h:  # a daemonic Pool worker may not fork children: the helper is a new interpreter
        h.submit(os.getppid)
        return h.alive and h.result(os.getppid) == os.getpid()

with multiprocessing.get_context("fork").Pool(1) as pool:
    print(pool.map(in_a_worker, [0]))
"""


def test_a_build_inside_a_pool_worker_still_gets_a_helper():
    proc = subprocess.run([sys.executable, "-c", POOL], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[True]", proc.stderr
