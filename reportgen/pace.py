"""How long a build's training will take on this machine, said on the plan line before anything trains.

The time is the plan line's floating-point work (reportgen.budget.estimate) at a rate, plus a fixed cost (tracing
and compiling the engine's graphs): seconds = FIXED_SECONDS + flops / rate. The rate is, best first:

1. what the last build of a network of the same shape (engine, hidden widths, batch size) trained at on this machine,
   kept in the cache folder's pace.json after every build that trained here (its training seconds less the fixed cost,
   over the work of the runs it trained);
2. this machine's float32 matrix-product peak (numpy's @, measured once in about a second and kept in pace.json) times
   ENGINE_SHARE, the share of that peak the engine reached on the default study, slowed by memory traffic for a network
   too wide for the processor's cache: the engine trains a block of runs per core (reportgen.plan.block_runs), and
   when their weights, gradients and Adam moments do not fit in the last-level cache, each training step moves the
   part that does not fit PASSES times through memory (a weight is read by the forward and backward products, its gradient
   written, then Adam reads weight, gradient and two moments and writes three back) at this machine's memory
   bandwidth (numpy's in-place add of two 64 MB arrays, measured once and kept in pace.json).

Early stopping makes real training shorter than its work on paper; the kept rate of a study like this one knows by how
much, the peak alone does not (see the README's "Limits" for the estimate against real times).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

FILE = "pace.json"
# Fitted to cold trainings (empty XLA cache) of the default study here (benchmarks/estimate_accuracy.py, 2026-12-03):
# 16.3 s at 20 epochs and 69.4 s at 500 give 14.1 s whatever the epochs; the runs before and after gave 16.5 and 14.9 s.
# It is TensorFlow's import (4.8 to 6.7 s alone), tracing and compiling (about 5 s more with an empty XLA cache than
# with a warm one). Earlier fits gave 7 s (9.2 s and 44.5 s against 201 GFLOP/s); see the README's "Limits".
FIXED_SECONDS = 14.0  # TensorFlow's start, tracing, compiling and per-model work, whatever the epochs
ENGINE_SHARE = 0.3  # the engine's rate on the default study over matmul_peak() (65 of 201 GFLOP/s)
PASSES = 10  # float32 words moved per weight and training step once a block's state is out of cache (counted above)
CACHE_FALLBACK = 8 * 2**20  # last-level cache assumed where the system does not say
RATES = "engine_rates"  # pace.json's rates by shape_key, as flops / (seconds - FIXED_SECONDS): kept under a new name when
# FIXED_SECONDS went from 7 to 14 s, so that a rate kept with the old one is not used with the new one
RECORD_AFTER = 30.0
STALE_TMP = 3600  # seconds after which a temporary pace file is a killed build's leftover
LONG = 600.0  # seconds beyond which the plan line says that the build is long and names --scheduler


def shape_key(config) -> str:
    """What the engine's rate depends on besides the work: engine, hidden widths (every network shape a capacity sweep
    trains, joined by '+'; a factory: its file) and batch size."""
    from reportgen.plan import shapes

    t = config.training
    if config.model.factory is not None:  # a factory's network: the file's contents stand for its shape
        from reportgen import factory

        return f"{t.engine}:factory-{factory.source(config).sha256[:16]}:b{t.batch_size}"
    return f"{t.engine}:{'+'.join('x'.join(map(str, s)) for s in shapes(config))}:b{t.batch_size}"


def _read(folder: Path | None) -> dict:
    if folder is None:
        return {}
    with contextlib.suppress(OSError, ValueError):
        kept = json.loads((Path(folder) / FILE).read_text())
        if isinstance(kept, dict):
            return kept
    return {}


def _write(folder: Path | None, kept: dict) -> None:
    """Replace pace.json atomically (a build killed meanwhile leaves the old one); a folder that cannot take it (full,
    read-only) keeps the old one and no temporary file. Temporary files of killed builds go once an hour old."""
    if folder is None:
        return
    tmp = None
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for old in Path(folder).glob(".pace-*.tmp"):
            with contextlib.suppress(OSError):  # removed meanwhile by another build
                if old.stat().st_mtime < time.time() - STALE_TMP:
                    old.unlink()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".pace-", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(kept, f, indent=1, sort_keys=True)
        os.replace(tmp, Path(folder) / FILE)
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def matmul_peak(n: int = 2048, repeats: int = 3) -> float:
    """float32 FLOP/s of numpy's @ of two n x n matrices, best of `repeats` (about a second in all)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def memory_bandwidth(mib: int = 64, repeats: int = 5) -> float:
    """Bytes/s numpy moves adding one float32 array of `mib` MiB into another in place (read two, write one), best of
    `repeats`: beyond any cache, as a training step's Adam update is for a wide network (about 0.1 s in all)."""
    import numpy as np

    a, b = (np.ones(mib * 2**20 // 4, dtype=np.float32) for _ in range(2))
    np.add(a, b, out=a)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.add(a, b, out=a)
        best = min(best, time.perf_counter() - start)
    return 3 * a.nbytes / best


def last_level_cache() -> int:
    """Bytes of the processor's largest cache (Linux: /sys), else CACHE_FALLBACK."""
    sizes = []
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        with contextlib.suppress(OSError, ValueError):
            text = (index / "size").read_text().strip().upper()
            scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
            sizes.append(int(text.rstrip("KMG")) * scale)
    return max(sizes, default=CACHE_FALLBACK)


def machine(folder: Path | None) -> tuple[float, float]:
    """This machine's float32 matrix-product peak (FLOP/s) and memory bandwidth (bytes/s): measured once, then kept in
    the cache folder's pace.json."""
    kept = _read(folder)
    values: dict[str, float] = {}
    measured: dict[str, float] = {}
    for key, measure in (("matmul_peak", matmul_peak), ("memory_bandwidth", memory_bandwidth)):
        found = kept.get(key)
        if isinstance(found, (int, float)) and not isinstance(found, bool) and found > 0:
            values[key] = float(found)
        else:
            values[key] = measured[key] = measure()
    if measured:
        _write(folder, {**kept, **measured})
    return values["matmul_peak"], values["memory_bandwidth"]


def machine_rate(config, peak: float, bandwidth: float) -> float:
    """The engine's expected FLOP/s on this machine before it has trained a network of this shape: ENGINE_SHARE of the
    peak, slowed for each network shape by its memory traffic (module docstring); a study of several shapes (a
    capacity sweep) at their rates weighted by their sizes."""
    from reportgen.budget import network_weights
    from reportgen.plan import STATE_BYTES, block_runs, shapes

    compute = ENGINE_SHARE * peak
    if config.model.factory is not None:  # stock fit of the user's network: not the engine's blocks
        return compute
    blocks = os.cpu_count() or 1  # one block of runs per core at a time
    cache, batch = last_level_cache(), config.training.batch_size
    weights = [network_weights(config, None, list(s)) for s in shapes(config)]
    slowed = 0.0  # every shape's weights, each times its slowing by memory traffic
    for w in weights:
        spilled = max(0.0, 1 - cache / (blocks * block_runs(w) * w * STATE_BYTES))
        # a weight's training step: 6 FLOPs per example of the batch at the compute rate, and PASSES float32 words of
        # the part out of cache through memory
        traffic = spilled * PASSES * 4 / bandwidth / (6 * batch / compute)
        slowed += w * (1 + traffic)
    return compute / (slowed / sum(weights))


def rate(config, folder: Path | None) -> tuple[float, str]:
    """The engine's expected FLOP/s for this study here, and where it comes from ('kept' or 'peak')."""
    known = _read(folder).get(RATES, {}).get(shape_key(config))
    if isinstance(known, (int, float)) and known > 0:
        return float(known), "kept"
    return machine_rate(config, *machine(folder)), "peak"


def training_seconds(flops: float, config, folder: Path | None) -> float:
    """Expected seconds of training for `flops` of work (reportgen.budget.estimate) of this study on this machine."""
    return FIXED_SECONDS + flops / rate(config, folder)[0]


def record(config, folder: Path | None, flops: float, seconds: float) -> None:
    """Keep the rate a build trained at (flops of the runs it trained in `seconds`), when long enough to say: a build of
    less than RECORD_AFTER seconds is mostly its fixed cost (the default study at 20 epochs would have kept a rate 40
    times too low on a busy machine)."""
    if folder is None or seconds < RECORD_AFTER or flops <= 0:
        return
    kept = _read(folder)
    _write(folder, {**kept, RATES: {**kept.get(RATES, {}), shape_key(config): flops / (seconds - FIXED_SECONDS)}})


def say(seconds: float) -> str:
    """'45 s', '3 min', '1.5 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
