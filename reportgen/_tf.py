"""Import TensorFlow and Keras without their start-up chatter on the terminal."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


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


with silenced_stderr(), warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import tensorflow as tf  # noqa: E402
    import keras  # noqa: E402

    tf.get_logger().setLevel("ERROR")
    # The first op creates the CPU device and prints oneDNN notes; do it while muted.
    tf.constant(0.0) + 1.0

__all__ = ["tf", "keras", "silenced_stderr"]
