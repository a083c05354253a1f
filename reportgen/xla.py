"""The engine's XLA settings, compiler flags and a folder of compiled graphs, made just before TensorFlow starts (by _tf).

TensorFlow keeps every graph it compiles in that folder (its persistent cache) and a later process loads it instead of
compiling (~0.3 s against ~4 s). An entry it cannot use fails the graph's call, and so does a graph it cannot write (a
disk that filled up during the build, a folder made read-only): each is one warning here, and the build goes on.

- Before TensorFlow starts (prepare): an entry that is cut or garbled, holds another graph's key or no executable, or
  no longer has the size and CRC-32 it had when first seen, is removed; TensorFlow compiles the graph and writes it anew.
  The check names the time the graph it describes was written: a graph written since (another build's, renamed into
  place) is a new entry, checked as one.
- After training (seal): the entries the build wrote get their size and CRC-32 at once, so damage from then on is found.
- During training (recover): a call that failed on an entry TensorFlow could not load removes the entry, and the graph
  is traced and compiled again; a call that failed to write a graph points TensorFlow's folder elsewhere (it was given
  a private link to the folder, not the folder). The caller (reportgen.training.train) then makes its call again.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

from reportgen.versions import version

CACHE_ENTRIES = 64  # compiled graphs kept on disk between processes (1 to 3 MB each)
RESERVE = 64 * 2**20  # free bytes the folder needs: TensorFlow fails a compilation whose graph it cannot write
STALE_TMP = 600  # seconds after which a temporary graph is the leftover of a process killed or a disk full while writing
CHECK = ".crc"  # beside each graph: its size, CRC-32, inode and time written as first seen intact (damage is found)
CHECK_TMP = ".check-"  # a check being written, renamed into place when whole
FIELDS = {1, 2, 3}  # an XlaSerializedCacheEntry's key, HLO module and executable: every intact graph has all three
LINK_PREFIX = "reportgen-xla-"  # a process's private folder (LINK_PREFIX<pid>-*) with the link TensorFlow is given
LOAD_FAILURES = ("OutOfRangeError", "DataLossError")  # TensorFlow could not read an entry
# ... or read it and could not use it: another graph's key or HLO, no executable, an executable it cannot parse or whose
# parameters are another graph's (TensorFlow 2.21's messages)
UNUSABLE = re.compile(r"(?i)serialized|AotCompilationResult|does not match host shape")

_state: dict = {}  # folder: the cache; link: what TensorFlow was given; private: the link's folder; detached: bool
_recovered: set[str] = set()  # graph functions whose entry was removed (threads that failed on it too trace again)
_lock = threading.Lock()


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
    os.environ["TF_XLA_FLAGS"] = f"{flags} --tf_xla_persistent_cache_directory={_linked(directory)}".strip()


def _scratch() -> str | None:
    """Where this process's private folder goes: /dev/shm (memory: room when the disk is full) where it can be written,
    else the temporary folder."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _linked(directory: Path) -> Path:
    """A symbolic link to directory, in a private folder of this process removed at exit: what TensorFlow is given
    instead of the folder, so that _detach() can point it elsewhere. The folder itself where no link can be made."""
    _remove_dead_links()
    try:
        private = Path(tempfile.mkdtemp(prefix=f"{LINK_PREFIX}{os.getpid()}-", dir=_scratch()))
    except OSError:
        return directory
    link = private / "graphs"
    try:
        link.symlink_to(directory, target_is_directory=True)
    except OSError:
        shutil.rmtree(private, ignore_errors=True)
        return directory
    atexit.register(shutil.rmtree, private, True)
    _state.clear()
    _state.update(folder=directory, link=link, private=private, detached=False)
    return link


def _remove_dead_links() -> None:
    """Remove the private folders of processes that were killed (no exit removed them): this user's, whose process
    is gone, made over STALE_TMP seconds ago (a process of another pid namespace sharing the folder keeps its own)."""
    root = Path(_scratch() or tempfile.gettempdir())
    for private in root.glob(f"{LINK_PREFIX}*"):
        pid = private.name[len(LINK_PREFIX) :].partition("-")[0]
        with contextlib.suppress(OSError, ValueError):
            made = private.stat()
            if made.st_uid == os.getuid() and made.st_mtime < time.time() - STALE_TMP and not _alive(int(pid)):
                shutil.rmtree(private, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether a process of this pid runs (another user's too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        pass
    return True


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
    """Remove temporary graphs (TensorFlow writes NAME.pb<host>-<pid>-<time>.tmp, then renames it) and checks a process
    left behind when it was killed or its disk was full, and checks without their graph."""
    limit = time.time() - STALE_TMP
    for path in [*directory.glob("*.tmp"), *directory.glob(".probe-*"), *directory.glob(f"{CHECK_TMP}*")]:
        with contextlib.suppress(OSError):  # removed meanwhile by another process
            if path.stat().st_mtime < limit:
                path.unlink()
    for check in directory.glob(f"*.pb{CHECK}"):
        if not check.with_suffix("").exists():
            check.unlink(missing_ok=True)


def _damage(entry: Path) -> str | None:
    """What is wrong with a graph (then it is removed), or None. A graph first seen here must be a complete entry with
    an executable, under the key its file name spells (_entry_problem); its size and CRC-32 are then kept beside it
    with the file they were read from (inode and time written), and that file no longer having them is damage.

    A graph renamed into place by a build sharing this cache (its compiler gives other bytes) was written at another
    time: a new entry, checked as one. That holds however the two builds interleave: the check names the time the file
    whose bytes it holds was written (read through one open descriptor), so a graph replaced between our read and our
    check is told apart. Damage on disk, or in a copy of the cache that keeps the times (cp -a, tar), leaves that time
    as it was, and is found."""
    check = Path(f"{entry}{CHECK}")
    try:
        with entry.open("rb") as graph:
            blob, seen = graph.read(), os.fstat(graph.fileno())
    except OSError:
        return None  # removed meanwhile by another process, or unreadable: TensorFlow compiles the graph anew
    now = f"{len(blob)} {zlib.crc32(blob)}"
    try:
        kept = check.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        kept = []
    if len(kept) < 2:  # none, or cut while another process wrote it: a graph first seen
        return _first_seen(entry, blob, now, seen, check)
    if len(kept) >= 4:  # the time the graph it describes was written
        rewritten = kept[3] != str(seen.st_mtime_ns)
    else:  # a check written before it named that time: the graph was written after the check was
        rewritten = _newer(seen, check)
    if " ".join(kept[:2]) == now:
        if rewritten:
            _write_check(check, now, seen)
        return None
    if rewritten:
        return _first_seen(entry, blob, now, seen, check)
    _remove(entry)
    return f"{len(blob)} bytes with CRC-32 {zlib.crc32(blob)}, not {' '.join(kept[:2])}"


def _first_seen(entry: Path, blob: bytes, now: str, seen: os.stat_result, check: Path) -> str | None:
    """A graph not checked before: kept with its check when it is a whole entry of its own key, else removed."""
    problem = _entry_problem(blob, entry.name)
    if problem is None:
        _write_check(check, now, seen)
    else:
        _remove(entry)
    return problem


def _write_check(check: Path, now: str, seen: os.stat_result) -> None:
    """Keep a graph's size and CRC-32 with the file they were read from; written whole and renamed into place, so a
    build reading it meanwhile sees the old check or the new one (readable as the umask allows, like the graphs)."""
    temporary = check.parent / f"{CHECK_TMP}{os.getpid()}-{threading.get_ident()}-{check.name}"
    with contextlib.suppress(OSError):
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(f"{now} {seen.st_ino} {seen.st_mtime_ns}")
            os.replace(temporary, check)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise


def _remove(entry: Path) -> None:
    """Remove a graph and its check (either may be gone already, removed by another process)."""
    for path in (entry, Path(f"{entry}{CHECK}")):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _newer(seen: os.stat_result, check: Path) -> bool:
    """Whether a graph was written after its check was (TensorFlow writes a whole graph and renames it into place)."""
    try:
        return seen.st_mtime_ns > check.stat().st_mtime_ns
    except OSError:
        return False


def _fields(blob: bytes) -> dict[int, int | bytes]:
    """The fields of a protocol buffer (wire format) by number: varints as ints, length-delimited fields as bytes (the
    last of a repeated one); ValueError when blob is cut or garbled. Fixed-width fields are skipped."""
    fields: dict[int, int | bytes] = {}
    at = 0
    while at < len(blob):
        tag, at = _varint(blob, at)
        field, kind = tag >> 3, tag & 7
        if kind == 0:
            fields[field], at = _varint(blob, at)
        elif kind in (1, 5):
            at += 8 if kind == 1 else 4
        elif kind == 2:
            length, at = _varint(blob, at)
            fields[field] = blob[at : at + length]
            at += length
        else:
            raise ValueError
        if at > len(blob) or field == 0:
            raise ValueError
    return fields


def _varint(blob: bytes, at: int) -> tuple[int, int]:
    """The varint at `at` and where the next field begins; ValueError past the end or beyond 64 bits."""
    value = shift = 0
    while True:
        if at >= len(blob) or shift > 63:
            raise ValueError
        byte = blob[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _wire_problem(blob: bytes) -> str | None:
    """Why blob is not a complete serialized cache entry (protocol buffer wire format), or None."""
    try:
        seen = set(_fields(blob))
    except ValueError:
        return f"cut or garbled: {len(blob)} bytes"
    if not FIELDS <= seen:
        return f"{len(blob)} bytes without " + ", ".join(
            ("key", "HLO module", "executable")[f - 1] for f in sorted(FIELDS - seen)
        )
    return None


def _entry_problem(blob: bytes, name: str) -> str | None:
    """Why blob cannot be the entry TensorFlow wrote under this file name, or None: it must be complete, its executable
    not empty, and its key (XlaSerializedCacheKey: signature and cluster fingerprints, device type) the one the file
    name spells (TensorFlow names a file PREFIX__SIGNATURE__CLUSTER__DEVICE.pb after the key inside it)."""
    problem = _wire_problem(blob)
    if problem:
        return problem
    fields = _fields(blob)
    if not fields[3]:
        return f"{len(blob)} bytes with an empty executable"
    try:
        key = _fields(fields[1]) if isinstance(fields[1], bytes) else {}
    except ValueError:
        key = {}
    fingerprints = [str(key.get(i)) for i in (1, 2)]  # varints: ints (a garbled key: bytes or None, never in a name)
    if not set(fingerprints) <= set(name.removesuffix(".pb").split("__")):
        return "another graph's key, " + "__".join(fingerprints)
    return None


def active() -> Path | None:
    """The folder TensorFlow keeps compiled graphs in for this process (from TF_XLA_FLAGS: the link to the cache
    folder, see _linked), or None."""
    given = [f for f in os.environ.get("TF_XLA_FLAGS", "").split() if f.startswith("--tf_xla_persistent_cache_directory=")]
    return Path(given[-1].partition("=")[2]) if given else None  # TensorFlow takes the last


def folder() -> Path | None:
    """The cache folder of this process (what its link points to when it was given one), or None."""
    given = active()
    return _state["folder"] if given is not None and given == _state.get("link") else given


def _reason(err: BaseException) -> tuple[str, str]:
    """An error's message on one line, and its reason: the message without TensorFlow's op and file (or its kind),
    naming the cache folder where it names the link to it."""
    text = " ".join(str(err).split())
    reason = text.split(" [Op:")[0].split("; ")[-1] or type(err).__name__
    given, cache = active(), folder()
    return text, reason.replace(str(given), str(cache)) if given is not None and cache is not None else reason


def recover(err: BaseException) -> tuple[str, str | None] | None:
    """After a graph call failed: ('retry', warning) when the graph could not be written (TensorFlow's link now points
    at a private folder, so the same call can be made again), ('retrace', warning) when the graph's entry could not be
    loaded (it was removed: trace the graph again, which compiles it), or None when the cache is not why (the error
    stands). The warning is None when another thread already gave it. The caller makes its call again once, and gives
    the warning (warn) when that call succeeds."""
    given, cache = active(), folder()
    if given is None or cache is None:
        return None
    text, reason = _reason(err)
    with _lock:
        if str(given) in text or str(cache) in text:  # TensorFlow names the graph it failed to write
            if _state.get("detached"):
                return "retry", None
            if not _detach():
                return None
            for tmp in cache.glob(f"*-{os.getpid()}-*.tmp"):  # what this process began to write there
                with contextlib.suppress(OSError):
                    tmp.unlink()
            return "retry", (
                f"compiled-graph cache {cache}: cannot write a compiled graph ({reason}); this build compiles its graphs "
                "without the cache"
            )
        function = re.search(r"\[Op:([^\]\s]+)\]", text)
        name = function.group(1) if function else None
        if name is not None and name in _recovered:
            return "retrace", None
        entries = _entries_of(cache, name) if name is not None else []
        if not entries and type(err).__name__ not in LOAD_FAILURES and not UNUSABLE.search(text):
            return None
        line = (
            f"compiled-graph cache entry {entries[0]} could not be loaded ({reason}); removed, compiled again"
            if len(entries) == 1
            else f"compiled-graph cache {cache}: a compiled graph could not be loaded ({reason}); the cached graphs were "
            "removed, compiled again"
        )
        for entry in entries or list(cache.glob("*.pb")):
            _remove(entry)
        if name is not None:
            _recovered.add(name)
        return "retrace", line


def warn(line: str | None) -> None:
    """Give a warning of recover(), if any."""
    if line:
        _warn(line)


def _entries_of(cache: Path, function: str) -> list[Path]:
    """The entries whose HLO module was made from a graph function of this name (its name begins with the function's):
    the ones a call of that function loads."""
    found = []
    for entry in sorted(cache.glob("*.pb")):
        try:
            with open(entry, "rb") as f:
                head = f.read(4096)
        except OSError:
            continue
        if (_module_name(head) or "").startswith(f"{function}["):
            found.append(entry)
    return found


def _module_name(head: bytes) -> str | None:
    """The HLO module's name (its field 1) from the first bytes of an entry, or None."""
    at = 0
    try:
        while at < len(head):
            tag = head[at]
            if tag & 7 != 2:
                return None
            length, at = _varint(head, at + 1)
            if tag >> 3 == 2:  # the HLO module: its name comes first
                if head[at] != 0x0A:
                    return None
                size, start = _varint(head, at + 1)
                return head[start : start + size].decode("utf-8", "replace")
            at += length
    except (IndexError, ValueError):
        return None
    return None


def seal() -> None:
    """After training: give the entries written since prepare() their size and CRC-32 (checked as entries first seen
    are: a damaged one is removed with a warning), so that damage from now on is found before TensorFlow loads them."""
    cache = folder()
    if cache is None:
        return
    for entry in sorted(cache.glob("*.pb")):
        if not Path(f"{entry}{CHECK}").exists():
            problem = _damage(entry)
            if problem:
                _warn(f"compiled-graph cache entry {entry} is damaged ({problem}); removed, the next build compiles it again")


def cache_failure(err: BaseException) -> str | None:
    """One line for an error of training that came from the compiled-graph cache and that recover() could not deal with
    (no private link, or the graph failed again), or None for any other error. The cached graphs are removed after a
    read failure, and the next build compiles them again (the runs stored so far are kept)."""
    given, cache = active(), folder()
    if given is None or cache is None:
        return None
    text, reason = _reason(err)
    if str(given) in text or str(cache) in text:
        return (
            f"compiled-graph cache {cache}: cannot write a compiled graph ({reason}); free space there or set "
            "REPORTGEN_XLA_CACHE=0, then build again (the runs trained so far are kept)"
        )
    if type(err).__name__ not in LOAD_FAILURES:
        return None
    for entry in cache.glob("*.pb"):
        _remove(entry)
    return (
        f"compiled-graph cache {cache}: a compiled graph could not be read ({reason}); the cached graphs were "
        "removed: build again (the runs trained so far are kept)"
    )


def _detach() -> bool:
    """Point TensorFlow's link at a private folder (removed at exit): graphs this process compiles from now on are
    written there, not in the cache. False when TensorFlow was given the folder itself or no such folder can be made."""
    link, private = _state.get("link"), _state.get("private")
    if link is None or private is None or active() != link:
        return False
    try:
        aside, new = private / "aside", private / "graphs.new"
        aside.mkdir(exist_ok=True)
        new.unlink(missing_ok=True)
        new.symlink_to(aside, target_is_directory=True)
        os.replace(new, link)  # at once: TensorFlow never meets a missing folder
    except OSError:
        return False
    _state["detached"] = True
    return True


def _prune(directory: Path) -> None:
    """Keep the CACHE_ENTRIES most recently written graphs (TensorFlow itself never deletes any)."""

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:  # removed meanwhile by another process
            return 0.0

    entries = sorted(directory.glob("*.pb"), key=mtime)
    for entry in entries[:-CACHE_ENTRIES]:
        _remove(entry)
