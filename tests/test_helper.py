"""The helper process that draws half the figures and lays out the PDF: its jobs run there, and whatever goes wrong
there (a job that fails, a helper that dies, a Ctrl-C) ends with the job done in the build itself."""

import subprocess
import sys

CODE = r'''
import os, signal, sys
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
'''


def test_jobs_run_in_the_helper_and_fall_back_to_the_build():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
