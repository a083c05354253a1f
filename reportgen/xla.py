"""The engine's XLA settings, compiler flags and a folder of compiled graphs, made just before TensorFlow starts (by _tf)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import sys
from pathlib import Path

from reportgen.versions import version

CACHE_ENTRIES = 64  # compiled graphs kept on disk between processes (1 to 3 MB each)


def configure() -> None:
    """Set the engine's XLA flags and, unless TensorFlow has started already, its cache of compiled graphs."""
    _set_flags()
    _enable_cache()


def _cache_dir() -> Path | None:
    """Where compiled graphs are kept between processes: $REPORTGEN_XLA_CACHE ("" or "0": nowhere), else the user's
    cache folder, one subfolder per TensorFlow version and CPU (their executables are not interchangeable)."""
    configured = os.environ.get("REPORTGEN_XLA_CACHE")
    if configured is not None:
        return Path(configured) if configured.strip() not in ("", "0") else None
    tf_version = _tf_version()
    if tf_version is None:
        return None
    # The cache's key is the graph, not the compiler's flags: graphs compiled with other flags go elsewhere.
    cpu = hashlib.sha256(f"{platform.machine()} {_cpu_flags()} {_flags(tf_version)}".encode()).hexdigest()[:12]
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reportgen" / f"xla-{tf_version}-{cpu}"


def _flags(tf_version: str | None) -> str:
    """The XLA compiler flags the engine needs with this TensorFlow (an XLA that does not know a flag aborts).

    From TensorFlow 2.21 on, YNNPACK takes over XLA's reductions above a size threshold and rounds differently: a
    run's weights would then depend on how many runs share its graph, and 500 epochs amplify the last bits of a
    difference into another model. Without its reductions every stack size gives the same numbers, as fast.
    """
    major_minor = tuple(int(part) for part in (tf_version or "0.0").split(".")[:2] if part.isdigit())
    return "--xla_cpu_experimental_ynn_fusion_type=-reduce" if major_minor >= (2, 21) else ""


def _set_flags() -> None:
    """Add the engine's XLA flags to XLA_FLAGS, which XLA reads at its first compilation."""
    flags = _flags(_tf_version())
    current = os.environ.get("XLA_FLAGS", "")
    if flags and flags not in current:
        os.environ["XLA_FLAGS"] = f"{current} {flags}".strip()


def _tf_version() -> str | None:
    """The installed TensorFlow's version (the CPU wheel's on Linux x86_64)."""
    return version("tensorflow-cpu") or version("tensorflow")


def _cpu_flags() -> str:
    """The instruction-set extensions of this CPU (compiled graphs use them), or '' where /proc/cpuinfo is missing."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next((line for line in info if line.startswith("flags")), "")
    except OSError:
        return platform.processor()


def _enable_cache() -> None:
    """Have TensorFlow keep compiled graphs on disk: a later process loads them (~0.3 s) instead of compiling (~4 s)."""
    directory = _cache_dir()
    if directory is None or "tensorflow" in sys.modules:  # TensorFlow reads TF_XLA_FLAGS once, when it is imported
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # TensorFlow fails a compilation whose result it cannot write
    if not os.access(directory, os.W_OK):
        return
    flags = os.environ.get("TF_XLA_FLAGS", "")
    os.environ["TF_XLA_FLAGS"] = f"{flags} --tf_xla_persistent_cache_directory={directory}".strip()
    _prune(directory)


def _prune(directory: Path) -> None:
    """Keep the CACHE_ENTRIES most recently written graphs (TensorFlow itself never deletes any)."""
    entries = sorted(directory.glob("*.pb"), key=lambda p: p.stat().st_mtime)
    for entry in entries[:-CACHE_ENTRIES]:
        with contextlib.suppress(OSError):
            entry.unlink()
