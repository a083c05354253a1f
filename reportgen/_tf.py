"""TensorFlow and Keras, imported when a name of theirs is first read, with the settings they read when they start (quiet
logs, the Keras backend, XLA's flags and cache): importing reportgen sets nothing, and a build that trains nothing never
starts TensorFlow."""

from __future__ import annotations

import contextlib
import os
import random
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


_seed_lock = threading.RLock()


@contextlib.contextmanager
def seeded(seed: int):
    """keras.utils.set_random_seed(seed) for the models built inside, one thread at a time: the seed every Keras
    initializer and random layer made without one draws when it is constructed comes, meanwhile, from a generator of
    its own seeded alike (the same numbers as Python's global one after random.seed(seed)). Python's global generator
    is shared with every thread of the process (a Dask client's or worker's event loop draws from it): one draw there
    between the seeding and a layer's construction changed that layer's numbers."""
    with _seed_lock:
        keras.utils.set_random_seed(seed)  # starts TensorFlow and Keras first, with their settings
        from keras.src.random import seed_generator

        shared = seed_generator.python_random
        seed_generator.python_random = random.Random(seed)
        try:
            yield
        finally:
            seed_generator.python_random = shared


class _OnFirstUse:
    """Stands for tensorflow or keras: reading any name of it loads both (load), then reads the module's own."""

    def __init__(self, index: int):
        self._index = index

    def __getattr__(self, name: str) -> Any:
        return getattr(load()[self._index], name)


tf: Any = _OnFirstUse(0)
keras: Any = _OnFirstUse(1)

__all__ = ["keras", "load", "seeded", "silenced_stderr", "tf"]
