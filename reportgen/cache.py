"""The run cache: every trained run stored under a key of everything that can change its weights.

Changing a title, a threshold, a margin, a template or the formats changes no key, so nothing is retrained. Entries are
written atomically (a temporary file renamed into place) and carry the SHA-256 of their content, so a damaged entry is
noticed when read and its run is trained again. Reading needs numpy only: a build whose runs are all cached never
imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from reportgen.config import StudyConfig
from reportgen.datasets import DataSettings
from reportgen.plan import HISTORY_KEYS, Run, RunResult, settings_key, snapshot_epochs, snapshotted
from reportgen.versions import installed

# bump when what an entry holds changes: 2 added the training loss at initialization, which divergence is judged
# against (an older entry's run was judged against its first epoch, and has no initial loss to judge its end by)
CACHE_FORMAT = 2
ENGINE_VERSION = {"fast": 4, "keras": 2}  # bump when an engine's arithmetic changes, so old weights are not reused
LIBRARIES = ("tensorflow", "tensorflow-cpu", "keras", "numpy")  # the libraries that shape a run's arithmetic
HASH_LEN = 64
SUFFIX = ".run"  # an entry's file; earlier versions wrote .npz entries, all under keys of CACHE_FORMAT 1: never read
HEADER_BYTES = 8192  # an entry's JSON header and alignment, at most (a few dozen arrays of 50 bytes each)
STALE_TMP = 3600  # seconds after which a temporary entry is the leftover of a build killed while storing


def entries(folder: Path) -> list[Path]:
    """Every entry file in a cache folder (an earlier version's .npz entries too: they take room until removed)."""
    return [p for p in folder.rglob("*") if p.suffix in (SUFFIX, ".npz") and not p.name.startswith(".tmp-")]


@lru_cache(maxsize=16)
def _file_digest(path: str, size: int, mtime: int) -> str:
    """SHA-256 of a data file (size and time only make a changed file a new entry)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _data_key(d: DataSettings, replicate: int) -> dict:
    """What of the data can change a run's weights: its source and settings, and the replicate's draw of it."""
    train_draw, _ = d.draws(replicate)  # a generator's test draw never touches the weights
    settings = d.model_dump(mode="json")  # every kind's settings, None where this kind has none (as keys always were)
    key = {
        "generator": "make_moons",
        "n_samples": settings["n_samples"],
        "noise": settings["noise"],
        "draw": train_draw,
        "validation_fraction": d.validation_fraction,
    }
    if d.kind == "moons":
        return key  # as keys were before other data existed: their cached runs stay valid
    # make_classification draws its test points with the training points, and a table's split takes its test rows first
    skip = {"path", "seed", "resample", "kind"} | d.unkeyed
    key.update(generator=d.kind, settings={k: v for k, v in settings.items() if k not in skip})
    if d.file is not None:
        stat = d.file.stat()
        key["file"] = _file_digest(str(d.file), stat.st_size, stat.st_mtime_ns)
    return {**key, **d.source_key()}


def run_key(run: Run, config: StudyConfig, snapshot_epochs: tuple[int, ...] = ()) -> str:
    """The cache key of a run: data draw, network, training settings, variant, replicate, engine and library versions."""
    d, m, t = config.data, config.model, config.training
    payload = {
        "format": CACHE_FORMAT,
        "engine": t.engine,
        "engine_version": ENGINE_VERSION[t.engine],
        "libraries": installed(LIBRARIES),
        "data": _data_key(run.point.apply(d) if run.point else d, run.seed),
        "model": run.model(m).keyed(),
        "training": {"epochs": t.epochs, "batch_size": t.batch_size, "shuffle": t.shuffle},
        "variant": json.loads(settings_key(run.variant)),
        "replicate": run.seed,
        "init_seed": run.init_seed,
        "snapshots": list(snapshot_epochs),
    }
    if m.factory is not None:
        payload["factory"] = factory_key(config)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:40]


def factory_key(config: StudyConfig) -> dict:
    """What of a factory's network can change its runs: the factory file's contents (its SHA-256, not its path) and
    function, and what its runs store beside their weights (reportgen.training.factory_fit): the version of those
    outputs, and for data without a generator the first replicate, whose data place the grid they are computed on."""
    from reportgen import factory

    src = factory.source(config)
    first = config.training.seeds[0] if config.data.generator() is None else None
    return {"function": src.function, "sha256": src.sha256, "outputs": factory.OUTPUTS_VERSION, "view_seed": first}


def run_keys(runs: list[Run], config: StudyConfig) -> dict[str, str]:
    """The cache key of every run (runs that keep epoch snapshots have them in their key)."""
    epochs = snapshot_epochs(config)
    return {r.key: run_key(r, config, epochs if snapshotted(r, config) else ()) for r in runs}


def entry_bytes(run: Run, config: StudyConfig, weights: int) -> int:
    """About the size of a run's entry, at most: its weights and best-validation weights, its snapshots, its history
    (float64 at most) and header, for a network of that many weights (reportgen.budget.network_weights)."""
    copies = 2 + (len(snapshot_epochs(config)) if snapshotted(run, config) else 0)
    return HASH_LEN + HEADER_BYTES + copies * weights * 4 + config.training.epochs * len(HISTORY_KEYS) * 8


MAGIC = b"RGC2"  # an entry's payload: MAGIC, the header's length (4 bytes), a JSON header, then the arrays' bytes
ALIGN = 16


def _pack(result: RunResult) -> bytes:
    """A run as one blob: a JSON header (its numbers, and each array's name, dtype, shape and offset), then the raw
    bytes of its weights, best-validation weights, snapshots and per-epoch history."""
    arrays = {f"w{i}": w for i, w in enumerate(result.weights)}
    arrays.update({f"m{i}": w for i, w in enumerate(result.min_val_weights or [])})
    arrays.update({f"h_{k}": np.asarray(result.history[k]) for k in HISTORY_KEYS})
    arrays.update({f"s{e}_{i}": w for e, ws in result.snapshots.items() for i, w in enumerate(ws)})
    arrays.update({f"o_{name}": np.asarray(a) for name, a in result.outputs.items()})
    meta = {
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "min_val_epoch": result.min_val_epoch,
        "diverged_at": result.diverged_at,
        "initial_loss": result.initial_loss,
    }
    table, chunks, offset = [], [], 0
    for name, a in arrays.items():
        raw = np.ascontiguousarray(a).tobytes()
        table.append([name, a.dtype.str, list(a.shape), offset])
        chunks.append(raw + b"\0" * (-len(raw) % ALIGN))
        offset += len(chunks[-1])
    header = json.dumps({"meta": meta, "arrays": table}).encode()
    header += b" " * (-(len(MAGIC) + 4 + len(header)) % ALIGN)
    return MAGIC + len(header).to_bytes(4, "little") + header + b"".join(chunks)


def _read(payload: memoryview) -> tuple[dict, dict[str, np.ndarray]]:
    """An entry's numbers and arrays. The arrays are views of the payload (a bytearray's memoryview, so they are
    writable, as np.load gives): nothing is copied."""
    if bytes(payload[: len(MAGIC)]) != MAGIC:
        raise ValueError("not an entry of this format")
    size = int.from_bytes(payload[len(MAGIC) : len(MAGIC) + 4], "little")
    start = len(MAGIC) + 4 + size
    header = json.loads(bytes(payload[len(MAGIC) + 4 : start]))
    arrays = {}
    for name, dtype, shape, offset in header["arrays"]:
        count = math.prod(shape)
        arrays[name] = np.frombuffer(payload, np.dtype(dtype), count, start + offset).reshape(shape)
    return header["meta"], arrays


def _unpack(run: Run, payload: memoryview) -> RunResult:
    meta, z = _read(payload)
    indexed = (
        lambda prefix: [
            z[k]
            for k in sorted(
                (k for k in z if k[0] == prefix and k[1:].isdigit()),  # noqa: E731
                key=lambda k: int(k[1:]),
            )
        ]
    )
    snaps: dict[int, list] = {}
    for k in sorted(k for k in z if k.startswith("s") and "_" in k):
        epoch, i = (int(p) for p in k[1:].split("_"))
        snaps.setdefault(epoch, []).append((i, z[k]))
    return RunResult(
        run=run,
        weights=indexed("w"),
        history={k: z[f"h_{k}"] for k in HISTORY_KEYS},
        epochs_run=meta["epochs_run"],
        best_epoch=meta["best_epoch"],
        min_val_epoch=meta["min_val_epoch"],
        min_val_weights=indexed("m") or None,
        diverged_at=meta["diverged_at"],
        initial_loss=meta["initial_loss"],
        snapshots={e: [w for _, w in sorted(ws)] for e, ws in snaps.items()},
        outputs={k[2:]: z[k] for k in z if k.startswith("o_")},
    )


@dataclass
class Lookup:
    """What the cache held for a build's runs."""

    hits: dict[str, RunResult] = field(default_factory=dict)  # run key -> result
    damaged: list[str] = field(default_factory=list)  # one line per damaged entry
    digests: dict[str, str] = field(default_factory=dict)  # run key -> SHA-256 of its entry's content


class RunCache:
    """A folder of cached runs; None as folder means no caching."""

    def __init__(self, folder: Path | None):
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{SUFFIX}"

    def _read(self, key: str) -> tuple[Path, bytearray] | None:
        """An entry's path and bytes, or None. Read into one writable buffer, which the run's arrays then share
        (reportgen.cache._read)."""
        path = self._path(key)
        try:
            with open(path, "rb", buffering=0) as f:
                blob = bytearray(os.fstat(f.fileno()).st_size)
                if f.readinto(blob) != len(blob):
                    raise OSError(f"{path}: shorter than its size")
            return path, blob
        except OSError:
            return None

    def missing(self, runs: list[Run], keys: dict[str, str]) -> list[Run]:
        """The runs that have no entry (whether each entry is intact only lookup() finds out)."""
        return [r for r in runs if self.folder is None or not self._path(keys[r.key]).is_file()]

    def problem(self, needed: int) -> str | None:
        """Why trained runs could not be stored here: the folder cannot be made or written, or has less room than
        needed bytes; None when they can (or without a cache)."""
        if self.folder is None:
            return None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=SUFFIX)
            os.close(fd)
            os.unlink(probe)
            free = shutil.disk_usage(self.folder).free
        except FileExistsError:
            return "is a file, not a folder"
        except OSError as err:
            return f"cannot be written ({err.strerror or err})"
        if free < needed:
            return f"has {free / 1e6:,.1f} MB free and the runs to train need about {needed / 1e6:,.1f} MB"
        return None

    def remove_stale(self) -> None:
        """Remove the temporary entries of builds killed while they stored a run (an hour old: no store lasts that long)."""
        if self.folder is None:
            return
        limit = time.time() - STALE_TMP
        for tmp in [*self.folder.glob(f".tmp-*{SUFFIX}"), *self.folder.glob(f"*/.tmp-*{SUFFIX}")]:
            with contextlib.suppress(OSError):  # removed meanwhile by another build
                if tmp.stat().st_mtime < limit:
                    tmp.unlink()

    def claimed_digests(self, runs: list[Run], keys: dict[str, str]) -> list[str] | None:
        """The SHA-256 each run's entry says it has (its first bytes), in the order of runs, or None when a run has no
        entry. Whether each entry is intact only lookup() finds out, by hashing it."""
        if self.folder is None:
            return None
        out = []
        for run in runs:
            try:
                with open(self._path(keys[run.key]), "rb") as f:
                    out.append(f.read(HASH_LEN).decode("ascii", "replace"))
            except OSError:
                return None
        return out

    def lookup(self, runs: list[Run], keys: dict[str, str]) -> Lookup:
        """Read every cached run; damaged entries are reported (and left for the build to overwrite)."""
        found = Lookup()
        if self.folder is None:
            return found
        self.remove_stale()
        for run in runs:
            entry = self._read(keys[run.key])
            if entry is None:
                continue
            path, blob = entry
            digest, payload = blob[:HASH_LEN].decode("ascii", "replace"), memoryview(blob)[HASH_LEN:]
            try:
                if hashlib.sha256(payload).hexdigest() != digest:
                    raise ValueError("checksum mismatch")
                found.hits[run.key] = _unpack(run, payload)
                found.digests[run.key] = digest
            except (
                ValueError,
                KeyError,
                TypeError,
                IndexError,
                SyntaxError,
                RecursionError,
                OSError,
            ) as err:  # a malformed header
                found.damaged.append(f"cache entry {path} for run '{run.key}' is damaged ({err}); training it again")
        return found

    def store(self, results: list[RunResult], keys: dict[str, str]) -> dict[str, str]:
        """Write results atomically: a temporary file in the entry's folder, renamed into place. Returns each run's
        SHA-256 of its entry's content (what derived results are keyed by: reportgen.memo). An OSError (a full disk, a
        folder that cannot be written, a file where a folder should be) leaves neither a temporary file nor a folder
        made for it behind, and the entries stored before it in place."""
        digests: dict[str, str] = {}
        if self.folder is None:
            return digests
        for r in results:
            payload = _pack(r)
            digest = hashlib.sha256(payload).hexdigest()
            _write(self._path(keys[r.run.key]), digest.encode("ascii") + payload)
            digests[r.run.key] = digest
        return digests


def _write(path: Path, blob: bytes) -> None:
    """Write blob at path atomically (two builds writing one key write the same bytes: the last rename wins harmlessly);
    on any failure remove the temporary file and the folders made for it (while empty), then raise."""
    made = [p for p in (path.parent, path.parent.parent) if not p.is_dir()]  # the entry's shard, the cache folder
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=SUFFIX)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # a folder made read-only meanwhile keeps it: removed once stale
            if tmp is not None:
                os.unlink(tmp)
            for folder in made:
                folder.rmdir()  # only if empty
        raise
