"""Derived results kept beside the run cache: a build's analysis, its figures and the runs' texts of results.json,
reused when nothing they are made from has changed.

Both are pure functions of what the run cache already keys (the runs), the study's settings, reportgen's own code and
the libraries that compute and draw them. A build whose runs all come from the cache and whose study changed only in
its title, output settings or templates (what CI sees on most commits) takes its analysis and figures from here
instead of measuring 560 runs and drawing 16 figures again. The key covers:

- the SHA-256 of every run's cache entry, in the build's order: its weights and history themselves, not only its key
  (a run trained again after its entry was damaged may differ in its last bits on another CPU);
- the study's settings except its title, output and execution sections (which measure and draw nothing);
- a digest of every source file of the reportgen package (any change to the code makes every entry a miss);
- the versions of Python and of the libraries that measure and draw (LIBRARIES).

Figures are keyed by the digest of the stored analysis they were drawn from, so figures never outlive their analysis.
The runs' texts (reportgen.results.run_lines: 13 of results.json's 14 MB, and 3 s to make) have the analysis' key.
Entries are written atomically and carry their SHA-256 like run entries; a damaged one is a miss (and rewritten).
Only the newest KEEP entries of each kind are kept, so a cache restored in CI does not grow with every study edit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from reportgen.versions import installed

FORMAT = 1  # bump when what an entry holds changes
FOLDER = "derived"
# entries of each kind: every look of two adaptive builds (the default study: 3.4 MB of analysis, 1.6 MB of figures,
# 4.7 MB of runs' texts)
KEEP = 8
LIBRARIES = (
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "scikit-learn",
    "contourpy",
    "matplotlib",
    "kiwisolver",
    "seaborn",
    "pillow",
)
STALE_TMP = 3600  # seconds after which a temporary file is a killed build's leftover


def code_digest() -> str:
    """SHA-256 of every .py file of the installed reportgen package, names included: read at every build (3 ms), so a
    notebook that reloads an edited module does not meet results of the old code."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _versions() -> dict[str, str]:
    return installed(LIBRARIES)


def key(kind: str, *parts) -> str:
    """The key of a derived result: its kind, this module's format, reportgen's code, library versions and parts
    (JSON-serialisable)."""
    payload = [kind, FORMAT, code_digest(), _versions(), sys.version_info[:2], *parts]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:40]


def study_settings(config) -> dict:
    """What of a study can change its analysis or figures: everything but its title, output and execution (a data
    file's path relative to the study file, so a checkout in another folder still finds its entries)."""
    from reportgen.config import portable

    return portable(config).model_dump(mode="json", exclude={"title", "output", "execution"})


class Memo:
    """A folder of derived results (FOLDER inside the run cache); None as cache folder means none are kept."""

    def __init__(self, cache_folder: Path | None):
        self.folder = None if cache_folder is None else Path(cache_folder) / FOLDER

    def _path(self, kind: str, k: str) -> Path:
        return self.folder / f"{kind}-{k}.memo"

    def has(self, kind: str, k: str) -> bool:
        """Whether an entry is stored under (kind, key) (get() checks that it is intact)."""
        return self.folder is not None and self._path(kind, k).is_file()

    def get(self, kind: str, k: str) -> bytes | None:
        """The payload stored under (kind, key), or None when absent or damaged."""
        if self.folder is None:
            return None
        path = self._path(kind, k)
        try:
            blob = path.read_bytes()
        except OSError:
            return None
        payload = blob[64:]
        if hashlib.sha256(payload).hexdigest().encode("ascii") != blob[:64]:
            return None  # damaged: made again, and put() replaces it
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept by _prune
        return payload

    def put(self, kind: str, k: str, payload: bytes) -> None:
        """Store a payload atomically (a temporary file renamed into place), then drop the oldest entries of its kind."""
        if self.folder is None:
            return
        with contextlib.suppress(OSError):  # a cache folder that cannot be written loses only the saving of time
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".memo")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(hashlib.sha256(payload).hexdigest().encode("ascii") + payload)
                os.replace(tmp, self._path(kind, k))
            finally:
                Path(tmp).unlink(missing_ok=True)
            self._prune(kind)

    def _prune(self, kind: str) -> None:
        def mtime(p: Path) -> float:
            try:
                return p.stat().st_mtime
            except OSError:  # removed meanwhile by another build
                return 0.0

        for old in sorted(self.folder.glob(f"{kind}-*.memo"), key=mtime, reverse=True)[KEEP:]:
            old.unlink(missing_ok=True)
        now = time.time()
        for tmp in self.folder.glob(".tmp-*"):
            if 0 < mtime(tmp) < now - STALE_TMP:
                tmp.unlink(missing_ok=True)


def pack_figures(figures) -> bytes:
    """Figures as one blob: a JSON header (each figure's key, title, caption, width and PNG length), then the PNGs."""
    header = json.dumps([[f.key, f.title, f.caption, f.width_cm, len(f.png)] for f in figures]).encode()
    return len(header).to_bytes(4, "little") + header + b"".join(f.png for f in figures)


def unpack_figures(payload: bytes):
    """pack_figures()'s figures back, or None when the payload is not what pack_figures() wrote."""
    from reportgen.context import Figure

    try:
        size = int.from_bytes(payload[:4], "little")
        offset, figures = 4 + size, []
        for k, title, caption, width, n in json.loads(payload[4 : 4 + size]):
            figures.append(Figure(k, title, caption, payload[offset : offset + n], width))
            offset += n
    except (ValueError, TypeError):  # JSON errors and bad headers are ValueErrors
        return None
    return figures if offset == len(payload) else None
