"""TensorFlow and Keras, imported when a name of theirs is first read, with the settings they read when they start (quiet
logs, the Keras backend, XLA's flags and cache): importing reportgen sets nothing, and a build that trains nothing never
starts TensorFlow."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from types import ModuleType
from typing import Any

from reportgen import xla

_lock = threading.Lock()
_loaded: tuple[ModuleType, ModuleType] | None = None  # tensorflow and keras, once started


@contextlib.contextmanager
def silenced_stderr():
    """Point file descriptor 2 at /dev/null: C++ logging bypasses Python's sys.stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load() -> tuple[ModuleType, ModuleType]:
    """Import TensorFlow and Keras now (once per process, whichever thread asks first) and return them."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = _start()
    return _loaded


def _start() -> tuple[ModuleType, ModuleType]:
    """Make the settings TensorFlow reads when it starts, then import it and Keras without their start-up chatter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    xla.configure()
    with silenced_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tensorflow
        import keras

        tensorflow.get_logger().setLevel("ERROR")
        # The first op creates the CPU device and prints oneDNN notes; do it while muted.
        tensorflow.constant(0.0) + 1.0
    return tensorflow, keras


class _OnFirstUse:
    """Stands for tensorflow or keras: reading any name of it loads both (load), then reads the module's own."""

    def __init__(self, index: int):
        self._index = index

    def __getattr__(self, name: str) -> Any:
        return getattr(load()[self._index], name)


tf: Any = _OnFirstUse(0)
keras: Any = _OnFirstUse(1)

__all__ = ["keras", "load", "silenced_stderr", "tf"]
