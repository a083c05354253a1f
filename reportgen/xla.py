"""The engine's XLA settings, compiler flags and a folder of compiled graphs, made just before TensorFlow starts (by _tf)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

from reportgen.versions import version

CACHE_ENTRIES = 64  # compiled graphs kept on disk between processes (1 to 3 MB each)
RESERVE = 64 * 2**20  # free bytes the folder needs: TensorFlow fails a compilation whose graph it cannot write
STALE_TMP = 600  # seconds after which a temporary graph is the leftover of a process killed or a disk full while writing
CHECK = ".crc"  # beside each graph: its size and CRC-32 as first seen intact, so a graph damaged later is found
FIELDS = {1, 2, 3}  # an XlaSerializedCacheEntry's key, HLO module and executable: every intact graph has all three


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
    """Have TensorFlow keep compiled graphs on disk: a later process loads them (~0.3 s) instead of compiling (~4 s).
    A folder that cannot be written or has too little room is one warning and graphs are compiled in every build."""
    directory = _cache_dir()
    if directory is None or "tensorflow" in sys.modules:  # TensorFlow reads TF_XLA_FLAGS once, when it is imported
        return
    if not prepare(directory):
        return
    flags = os.environ.get("TF_XLA_FLAGS", "")
    os.environ["TF_XLA_FLAGS"] = f"{flags} --tf_xla_persistent_cache_directory={directory}".strip()


def prepare(directory: Path) -> bool:
    """Make the folder ready for TensorFlow: writable with room for new graphs (else a warning and False), without the
    leftovers of interrupted writes, without damaged graphs (TensorFlow fails every build that loads one: removed, so
    they are compiled again and replaced), and with at most CACHE_ENTRIES graphs."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
        free = shutil.disk_usage(directory).free
    except OSError as err:
        _warn(f"compiled-graph cache {directory}: cannot be written ({err.strerror or err}); graphs are compiled anew")
        return False
    if free < RESERVE:
        _warn(
            f"compiled-graph cache {directory}: {free / 2**20:.1f} MB free, under {RESERVE // 2**20} MB; graphs are compiled anew"
        )
        return False
    _remove_stale(directory)
    for entry in sorted(directory.glob("*.pb")):
        problem = _damage(entry)
        if problem:
            _warn(f"compiled-graph cache entry {entry} is damaged ({problem}); removed, compiled again")
    _prune(directory)
    return True


def _warn(line: str) -> None:
    """One line on stderr, however long (CI logs keep it whole)."""
    sys.stderr.write("! " + " ".join(line.split()) + "\n")
    sys.stderr.flush()


def _remove_stale(directory: Path) -> None:
    """Remove temporary graphs (TensorFlow writes NAME.pb<host>-<pid>-<time>.tmp, then renames it) a process left behind
    when it was killed or its disk was full, and checks without their graph."""
    limit = time.time() - STALE_TMP
    for path in [*directory.glob("*.tmp"), *directory.glob(".probe-*")]:
        with contextlib.suppress(OSError):  # removed meanwhile by another process
            if path.stat().st_mtime < limit:
                path.unlink()
    for check in directory.glob(f"*.pb{CHECK}"):
        if not check.with_suffix("").exists():
            check.unlink(missing_ok=True)


def _damage(entry: Path) -> str | None:
    """What is wrong with a graph (then it is removed), or None. A graph first seen here must be a complete protocol
    buffer (a cut one is not); its size and CRC-32 are then kept beside it, and a graph that no longer has them is
    damaged."""
    check = Path(f"{entry}{CHECK}")
    try:
        blob = entry.read_bytes()
    except OSError:
        return None  # removed meanwhile by another process, or unreadable: TensorFlow compiles the graph anew
    seal = f"{len(blob)} {zlib.crc32(blob)}"
    try:
        kept = check.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        kept = None
    if kept is None or kept != seal:
        problem = _wire_problem(blob) if kept is None else f"{len(blob)} bytes with CRC-32 {zlib.crc32(blob)}, not {kept}"
        if problem is None:
            with contextlib.suppress(OSError):
                check.write_text(seal, encoding="ascii")
            return None
        for path in (entry, check):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        return problem
    return None


def _wire_problem(blob: bytes) -> str | None:
    """Why blob is not a complete serialized cache entry (protocol buffer wire format), or None."""
    seen, at = set(), 0

    def varint() -> int:
        nonlocal at
        value = shift = 0
        while True:
            if at >= len(blob) or shift > 63:
                raise ValueError
            byte = blob[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    try:
        while at < len(blob):
            tag = varint()
            field, kind = tag >> 3, tag & 7
            if kind == 0:
                varint()
            elif kind in (1, 5):
                at += 8 if kind == 1 else 4
            elif kind == 2:
                length = varint()  # read before at is: varint() moves it
                at += length
            else:
                raise ValueError
            if at > len(blob) or field == 0:
                raise ValueError
            seen.add(field)
    except ValueError:
        return f"cut or garbled: {len(blob)} bytes"
    if not FIELDS <= seen:
        return f"{len(blob)} bytes without " + ", ".join(
            ("key", "HLO module", "executable")[f - 1] for f in sorted(FIELDS - seen)
        )
    return None


def active() -> Path | None:
    """The folder TensorFlow keeps compiled graphs in for this process (from TF_XLA_FLAGS), or None."""
    for flag in os.environ.get("TF_XLA_FLAGS", "").split():
        if flag.startswith("--tf_xla_persistent_cache_directory="):
            return Path(flag.partition("=")[2])
    return None


def cache_failure(err: BaseException) -> str | None:
    """One line for an error of training that came from the compiled-graph cache, or None for any other. TensorFlow
    fails the graph's call when it cannot write a graph (a disk that filled up during the build, a folder made
    read-only) or read one back (damaged where no check found it, as in the same bytes before they were first seen):
    the cached graphs are then removed, and the next build compiles them again (the runs stored so far are kept)."""
    directory = active()
    if directory is None:
        return None
    kind, text = type(err).__name__, " ".join(str(err).split())
    reason = text.split(" [Op:")[0].split("; ")[-1] or kind
    if str(directory) in text:
        return (
            f"compiled-graph cache {directory}: cannot write a compiled graph ({reason}); free space there or set "
            "REPORTGEN_XLA_CACHE=0, then build again (the runs trained so far are kept)"
        )
    if kind not in ("OutOfRangeError", "DataLossError"):
        return None
    for entry in directory.glob("*.pb"):
        for path in (entry, Path(f"{entry}{CHECK}")):
            with contextlib.suppress(OSError):
                path.unlink()
    return (
        f"compiled-graph cache {directory}: a compiled graph could not be read ({reason}); the cached graphs were "
        "removed: build again (the runs trained so far are kept)"
    )


def _prune(directory: Path) -> None:
    """Keep the CACHE_ENTRIES most recently written graphs (TensorFlow itself never deletes any)."""

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:  # removed meanwhile by another process
            return 0.0

    entries = sorted(directory.glob("*.pb"), key=mtime)
    for entry in entries[:-CACHE_ENTRIES]:
        for path in (entry, Path(f"{entry}{CHECK}")):
            with contextlib.suppress(OSError):
                path.unlink()
