"""The output folder: where reportgen may write, which files are its own, and the swap that replaces them all at once.

reportgen owns only what its manifest (.reportgen-manifest.json) lists. A build writes its files into a fresh
temporary folder next to the output folder, then swaps: the previous outputs move into the temporary folder, the
new ones move in, and replacing the manifest commits. A failure before the commit moves the previous outputs back;
a build killed mid-swap leaves a journal from which the next build restores them, then removes the leftovers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from reportgen.config import shorten
from reportgen.errors import ConfigError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so a live build's temporary folder is not told from a stale one
    fcntl = None

MANIFEST = ".reportgen-manifest.json"
# every file a build writes: each is listed in the manifest and moves in the swap (a mixed folder is what follows
# from leaving one out); keep in step with the files pipeline.build writes
OUTPUT_NAMES = (
    "report.html",
    "report.pdf",
    "summary.md",
    "results.json",
    "report-data.npz",
    "runs.csv",
    "claims.csv",
    "models",
)
JOURNAL = ".reportgen-swap.json"
# Folders (and everything inside them) that belong to the operating system.
SYSTEM_TREES = tuple(
    Path(p)
    for p in (
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/proc",
        "/run",
        "/sbin",
        "/sys",
        "/usr",
        "/System",
        "/Library",
        "/Applications",
    )
)
# Shared top-level folders: a folder inside them is fine, the folder itself is not an output folder.
SYSTEM_FOLDERS = tuple(
    Path(p) for p in ("/home", "/root", "/tmp", "/var", "/opt", "/srv", "/mnt", "/media", "/Users", "/Volumes", "/private")
)


def _own_folders() -> list[tuple[Path, str]]:
    """List reportgen's package and templates folders and the Python environment it runs in."""
    package = Path(__file__).resolve().parent
    return [
        (package, "reportgen's package folder"),
        (package.parent / "templates", "reportgen's templates folder"),
        (package / "templates", "reportgen's templates folder"),
        (Path(sys.prefix).resolve(), "the Python environment"),
        (Path(sys.base_prefix).resolve(), "the Python installation"),
    ]


def forbidden(out: Path, study: Path | None = None) -> str | None:
    """Say why a folder can never be an output folder (even with --force), or return None."""
    out = out.resolve()
    if out == Path(out.anchor):
        return "is the root folder"
    for tree in SYSTEM_TREES:
        if out == tree or tree in out.parents:
            return f"is inside the system folder {tree}"
    if out in SYSTEM_FOLDERS:
        return f"is the system folder {out}"
    for own, what in _own_folders():
        if out == own or own in out.parents:
            return f"is inside {what} ({own})"
    return _overwrites_study(out, study.resolve()) if study is not None else None


def _overwrites_study(out: Path, study: Path) -> str | None:
    """Say whether writing or replacing outputs in `out` would touch the study file."""
    if study == out:
        return "is the study file"
    if out in study.parents and study.relative_to(out).parts[0] in OUTPUT_NAMES + (MANIFEST,):
        return f"writing the report there would replace the study file {study}"
    return None


def _exists(path: Path) -> bool:
    """Tell whether anything is at a path."""
    return os.path.lexists(path)  # a dangling symlink is still something in the way


def _present(out: Path) -> list[str]:
    """List the output files in a folder by relative path (the files inside models/ one by one)."""
    found = []
    for name in OUTPUT_NAMES:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            found += sorted(p.relative_to(out).as_posix() for p in path.rglob("*") if not p.is_dir() or p.is_symlink())
            found += [] if any(path.iterdir()) else [name]
        elif _exists(path):
            found.append(name)
    return found


def _visible(out: Path) -> list[str]:
    """List the entries that make a folder non-empty: dotfiles such as .gitkeep do not, dot-folders (.git) do."""
    return sorted(p.name for p in out.iterdir() if not (p.name.startswith(".") and not p.is_dir()))


def read_manifest(out: Path) -> dict | None:
    """Read an output folder's manifest; None when reportgen has not written there."""
    try:
        doc = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser goes
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("files"), list) else None


def _legacy(out: Path) -> bool:
    """Tell a folder written by a reportgen from before manifests: only output names, and its results.json says so."""
    if not set(_visible(out)) <= set(OUTPUT_NAMES):
        return False
    try:
        return "reportgen" in json.loads((out / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, RecursionError):
        return False


def _few(names: list[str], limit: int = 3) -> str:
    """Name at most a few entries, each cut short."""
    shown = [shorten(n, 40) for n in names[:limit]]
    return ", ".join(shown) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _ownership_problem(out: Path, force: bool) -> str | None:
    """Say why this build may not replace what is in `out`, or return None."""
    if not _exists(out):
        return None
    if not out.is_dir():
        return "is a file, not a folder"
    if force:
        return None
    manifest = read_manifest(out)
    if manifest is None:
        visible = [] if _legacy(out) else _visible(out)
        return (
            f"holds files reportgen did not write ({_few(visible)}); choose a new or empty folder, or use --force "
            "to write reportgen's files there (report.*, results.json, report-data.npz, summary.md, runs.csv, claims.csv, "
            "models/; others are kept)"
            if visible
            else None
        )
    foreign = [p for p in _present(out) if p not in set(manifest["files"])]
    it = "it" if len(foreign) == 1 else "them"
    return (
        f"{_few(foreign)} {'was' if len(foreign) == 1 else 'were'} not written by reportgen (not in its {MANIFEST}); "
        f"move {it} away or use --force to replace {it}"
        if foreign
        else None
    )


def _unwritable(out: Path) -> str | None:
    """Say why the folder (or the place it would be made) cannot take new files, or return None."""
    folders = [out] if _exists(out) else []
    folders.append(next(p for p in out.parents if _exists(p)))  # the temporary folder goes next to `out`
    for folder in folders:
        if not folder.is_dir():
            return f"{folder} is a file, not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"{folder} is not writable"
    return None


def _unusable(out: Path) -> str | None:
    """Say why a path cannot name a folder on this system (a NUL character, a name too long), or return None."""
    if "\0" in str(out):
        return "contains a NUL character"
    anchor = next((p for p in out.parents if _exists(p)), None)
    if anchor is None:
        return None  # the root folder: refused for what it is, a little later
    try:
        name_max, path_max = os.pathconf(anchor, "PC_NAME_MAX"), os.pathconf(anchor, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    room = name_max - len(".tmp-XXXXXXXX.")  # the temporary folder's name is the output folder's name and more
    long = [part for part in out.relative_to(anchor).parts if len(os.fsencode(part)) > room]
    if long:
        return f"the name {shorten(long[0])!r} is longer than {room} bytes"
    # room for the temporary folder and the longest file inside it (models/<40-character name>-seedN.keras)
    return f"the path is longer than {path_max - 200} bytes" if len(os.fsencode(str(out))) > path_max - 200 else None


def check(out: Path, study: Path | None, force: bool, label: str) -> None:
    """Refuse, before anything is trained, an output folder this build must not write into."""
    reason = _unusable(Path(os.path.abspath(out)))
    if reason:
        raise ConfigError([f"{label}: {reason}; choose another output folder"])
    out = out.resolve()
    reason = forbidden(out, study)
    if reason:
        raise ConfigError([f"{label}: {reason}; choose another output folder"])
    recover(out)  # a build killed mid-swap: put its previous outputs back before judging the folder
    reason = _unwritable(out) or _ownership_problem(out, force)
    if reason:
        raise ConfigError([f"{label}: {reason}"])


LOCK = ".{}.lock"  # beside the output folder: the build writing into it holds it (its process id inside)


@contextlib.contextmanager
def hold(out: Path, label: str):
    """Hold the output folder for this build, from before training until its report is written: a second build into
    the same folder is refused at once, naming the process that holds it. An advisory lock on a file beside the folder
    (removed when released; a lock on a file already removed is taken again on the new one)."""
    if fcntl is None:
        yield
        return
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.parent / LOCK.format(out.name)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                [f"{label}: another build (process {_holder(path)}) is writing into it; wait for it to finish"]
            ) from None
        except OSError:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # its holder removed that file meanwhile: lock the one there now
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # still holding it: whoever opened this file finds it gone and locks a new one
        os.close(fd)


def _holder(path: Path) -> str:
    """The process id written in a lock file, or 'unknown' (a holder that has not written it yet)."""
    try:
        pid = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return "unknown"
    return pid if pid.isdigit() else "unknown"


def _lock(folder: Path):
    """Hold an advisory lock on a build's temporary folder so other builds know it is alive."""
    if fcntl is None:
        return None
    fd = os.open(folder, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _is_live(folder: Path) -> bool:
    """Tell whether a running build still holds the lock on its temporary folder."""
    if fcntl is None:
        return False
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the lock taken just to test it


def _read_json(path: Path) -> dict:
    """Read a JSON object; {} for a missing or damaged file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}  # a journal cut short by a kill was written before anything moved: nothing to undo
    return doc if isinstance(doc, dict) else {}


def _names(journal: dict, key: str) -> list[str]:
    """Read a list of output names from a journal."""
    # only output names: a damaged journal must never move anything else
    return [n for n in journal.get(key, []) if n in OUTPUT_NAMES]


def _undo(tmp: Path, out: Path) -> None:
    """Undo an uncommitted swap recorded in `tmp`'s journal, then remove `tmp`."""
    journal = _read_json(tmp / JOURNAL)
    build = journal.get("build")
    committed = build is not None and (read_manifest(out) or {}).get("build") == build
    if journal.get("state") == "swapping" and not committed and out.is_dir():
        for name in _names(journal, "new"):
            if not _exists(tmp / "new" / name) and _exists(out / name):  # moved in: take it out again
                os.replace(out / name, tmp / "new" / name)
        for name in _names(journal, "old"):
            if _exists(tmp / "old" / name):
                os.replace(tmp / "old" / name, out / name)
    shutil.rmtree(tmp, ignore_errors=True)


def _is_ours(tmp: Path) -> bool:
    """Tell a reportgen build's temporary folder: it has a journal, or (older versions) only output files."""
    return _exists(tmp / JOURNAL) or {p.name for p in tmp.iterdir()} <= set(OUTPUT_NAMES)


def recover(out: Path) -> None:
    """Restore what a killed build left half-swapped in `out` and remove the temporary folders of dead builds."""
    prefix = f".{out.name}.tmp-"
    if not out.parent.is_dir():
        return
    for tmp in out.parent.iterdir():
        if tmp.name.startswith(prefix) and tmp.is_dir() and not tmp.is_symlink() and _is_ours(tmp) and not _is_live(tmp):
            _undo(tmp, out)


def _new_temp(out: Path) -> Path:
    """Make a build's temporary folder next to `out` (same file system, so moves are renames)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    (tmp / JOURNAL).write_text(json.dumps({"state": "writing"}), encoding="utf-8")
    (tmp / "new").mkdir()
    (tmp / "old").mkdir()
    return tmp


def _swap(tmp: Path, out: Path, old: list[str]) -> list[str]:
    """Move the previous outputs aside and the new ones in; replacing the manifest commits, anything else undoes."""
    from reportgen import __version__

    new = sorted(p.name for p in (tmp / "new").iterdir())
    build = uuid.uuid4().hex
    manifest = {"reportgen": __version__, "build": build, "files": _present(tmp / "new")}
    (tmp / JOURNAL).write_text(json.dumps({"state": "swapping", "build": build, "old": old, "new": new}), encoding="utf-8")
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    created = not _exists(out)
    out.mkdir(exist_ok=True)
    try:
        for name in old:
            os.replace(out / name, tmp / "old" / name)
        for name in new:
            os.replace(tmp / "new" / name, out / name)
        os.replace(tmp / MANIFEST, out / MANIFEST)
    except BaseException:
        _undo(tmp, out)
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return new


def _user_error(err: OSError, tmp: Path, out: Path) -> OSError:
    """Return the same error naming the output folder's files, not the hidden temporary folder."""
    if err.errno is None:
        return err

    def shown(name):
        if name is None or not str(name).startswith(str(tmp)):
            return name
        rel = Path(name).relative_to(tmp).parts
        return str(out.joinpath(*rel[1:]) if rel[:1] in (("new",), ("old",)) else out)

    return OSError(err.errno, err.strerror, shown(err.filename), None, shown(err.filename2))


def replace_outputs(out: Path, fill: Callable[[Path], None], force: bool = False) -> list[Path]:
    """Write a new set of outputs with fill(folder), then swap it in for the previous set: all of it or none."""
    out = out.resolve()
    reason = forbidden(out)
    if reason:
        raise ConfigError([f"{out}: {reason}; choose another output folder"])
    recover(out)
    tmp = _new_temp(out)
    lock = _lock(tmp)
    try:
        fill(tmp / "new")
        reason = _ownership_problem(out, force)  # checked again: files may have appeared while the build ran
        if reason:
            raise ConfigError([f"{out}: {reason}"])
        old = sorted({p.split("/")[0] for p in _present(out)}) if _exists(out) else []
        return [out / name for name in _swap(tmp, out, old)]
    except OSError as err:
        raise _user_error(err, tmp, out) from None
    finally:
        if lock is not None:
            os.close(lock)
        if _read_json(tmp / JOURNAL).get("state") == "writing":  # the swap never began: nothing to keep
            shutil.rmtree(tmp, ignore_errors=True)
