"""What a build will cost, estimated from the study alone before anything is trained, and whether it fits this machine.

Memory (bytes), measured against peak RSS of real builds (see the README's "Limits"):

    base                                  the interpreter with TensorFlow, Keras, pandas, matplotlib (and WeasyPrint)
  + HELPER_BYTES                          the helper process that draws half the figures and lays out the PDF
  + runs x RUN_BYTES                      per run: its share of a compiled graph, its rows, its lines in the figures
  + replicates x REPLICATE_BYTES          per replicate: its data and its rows in the analysis' tables
  + runs x weights x 4 B x WEIGHT_COPIES  every run's weights, Adam's two moments, gradients, best and min-validation
                                          weights, and XLA's temporaries
  + runs x epochs x keys x HISTORY_BYTES  per-epoch histories, held as float32, float64, Python floats and JSON text
  + activation x ACTIVATION_COPIES       the largest forward pass of the analysis: the runs of one batched call on the
                                          boundary grid or the test set, at most reportgen.forward.ACTIVATION_BYTES
                                          unless one run's points x widest layer x 4 B alone is larger
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen.config import StudyConfig
from reportgen.errors import ConfigError

if TYPE_CHECKING:
    from reportgen.plan import Run

# Refitted after the engine shared one graph per network shape and analysis bounded its batched calls, to the peak RSS
# of six builds (16 to 560 models, 6 to 3,000 epochs, layers of 128 to 1,024 units, grids of 150 and 200): the
# estimate came out at 0.98 to 1.3 times the measured peak (see the README's "Limits").
BASE_BYTES = {False: 950e6, True: 1_000e6}  # without / with the PDF renderer loaded
HELPER_BYTES = 350e6  # measured: the builds' process trees peaked 0.25 to 0.34 GB above the build alone
RUN_BYTES = 0.4e6
REPLICATE_BYTES = 2e6
WEIGHT_COPIES = 8
HISTORY_BYTES = 150
ACTIVATION_COPIES = 3.5
HISTORY_KEYS = 5  # train and validation loss and accuracy, penalty (reportgen.plan.HISTORY_KEYS)
COMPLEXITY_POINTS = 100 * 100  # the grid every run's boundary length is measured on


@dataclass(frozen=True)
class Estimate:
    """A build's size: models, epochs, weights per model, floating-point work and peak memory."""

    models: int
    epochs: int
    weights: int  # of the largest network trained
    flops: float
    memory: float
    smallest: int = 0  # weights of the smallest network trained, when a capacity sweep trains several (0: as weights)

    def size(self) -> str:
        """Say how big the build is, e.g. '580 models × 500 epochs × 17k weights' ('× 337 to 67k weights' when a
        capacity sweep trains networks of several sizes)."""
        low = f"{_si(self.smallest, '')} to " if self.smallest and self.smallest != self.weights else ""
        return f"{self.models:,} models × {self.epochs:,} epochs × {low}{_si(self.weights, '')} weights"

    def line(self) -> str:
        """Say it in one line, e.g. '580 models × 500 epochs × 17k weights ≈ 2.9 TFLOP, ≈ 1.6 GB of memory'."""
        return f"{self.size()} ≈ {_si(self.flops, 'FLOP')}, ≈ {_si(self.memory, 'B')} of memory"


def _si(value: float, unit: str) -> str:
    """Write a number with an SI prefix: 17k, 2.9 TFLOP, 1.6 GB."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            scaled = value / factor
            return f"{scaled:.{0 if scaled >= 100 or not unit else 1}f}{' ' if unit else ''}{prefix}{unit}"
    return f"{value:.0f}{' ' if unit else ''}{unit}"


def network_weights(config: StudyConfig, shape=None, hidden_units=None) -> int:
    """Count the weights of the study's largest network (Dense kernels and biases, plus batch-norm state if any variant
    has it) on data of the given shape (default: two features, two classes); hidden_units: of that network shape
    instead (default: the largest the study trains, its capacity sweep's shapes among them)."""
    if config.model.factory is not None:  # the largest of the factory's networks, built once (reportgen.factory.check)
        from reportgen import factory
        from reportgen.datasets import DataShape

        return factory.check_study(config, shape or DataShape(0, 0, 0, 2, 2)).weights
    from reportgen.models import Network, output_width

    inputs, outputs = (shape.n_features, output_width(shape.n_classes)) if shape else (2, 1)
    batchnorm = any(v.batchnorm for v in config.variants)

    def count(hidden) -> int:
        return Network(tuple(hidden), batchnorm, inputs, outputs).size()

    return count(hidden_units) if hidden_units is not None else max(count(h) for h in _shapes(config))


def _shapes(config: StudyConfig) -> list[tuple[int, ...]]:
    from reportgen.plan import shapes

    return shapes(config)


def estimate(config: StudyConfig, runs: int | Sequence[Run], shape=None) -> Estimate:
    """Estimate the work (models × epochs × network size) and peak memory of a study's build; runs: the runs (each
    counted with its own network: a capacity sweep trains several), or how many runs of the study's own network;
    shape: the first replicate's DataShape (rows, features, classes), default the study's generator settings with two
    features."""
    counted: dict[tuple[int, ...], int] = {}  # one count per network shape

    def weights(hidden) -> int:
        key = tuple(hidden)
        if key not in counted:
            counted[key] = network_weights(config, shape, list(key))
        return counted[key]

    own = weights(config.model.hidden_units)
    sizes = [own] * runs if isinstance(runs, int) else [weights(r.model(config.model).hidden_units) for r in runs]
    n_runs, epochs, total = len(sizes), config.training.epochs, sum(sizes)
    n_train, n_val, n_test = (shape.n_train, shape.n_val, shape.n_test) if shape else config.data.sizes()
    # a training step costs ~6 flops per weight and example (forward 2, backward 4); validation is forward only
    flops = total * epochs * (6 * n_train + 2 * n_val)
    replicates = len(config.training.seeds)
    from reportgen.forward import ACTIVATION_BYTES

    # a factory's runs are measured where they trained (reportgen.training.factory_fit): no forward pass here
    widest = 0 if config.model.factory is not None else max(max(h) for h in _shapes(config))
    one_run = max(config.analysis.grid_resolution**2, n_test, COMPLEXITY_POINTS) * widest * 4
    activation = max(min(replicates * one_run, ACTIVATION_BYTES), one_run)
    memory = (
        BASE_BYTES["pdf" in config.output.formats]
        + (HELPER_BYTES if helper_runs() else 0)
        + n_runs * RUN_BYTES
        + replicates * REPLICATE_BYTES
        + total * 4 * WEIGHT_COPIES
        + n_runs * epochs * HISTORY_KEYS * HISTORY_BYTES
        + activation * ACTIVATION_COPIES
    )
    smallest = min(sizes, default=own)
    return Estimate(
        models=n_runs, epochs=epochs, weights=max(sizes, default=own), flops=float(flops), memory=float(memory), smallest=smallest
    )


def resident(pid: int) -> float:
    """Resident bytes of a running process, from /proc (0 where unknown)."""
    import os

    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0.0


def check_fits_now(est: Estimate, pids: list[int], source: str = "study") -> None:
    """check_fits for a build already under way: the memory its processes (pids) hold is part of the estimate, and is
    no longer in what the machine has available."""
    available = available_memory()
    check_fits(est, None if available is None else available + sum(resident(p) for p in pids), source)


def helper_runs() -> bool:
    """Whether a build here starts the helper process (reportgen.helper: two cores or more, not switched off)."""
    import os

    return (os.cpu_count() or 1) >= 2 and not os.environ.get("REPORTGEN_NO_HELPER")


def available_memory() -> float | None:
    """Return the memory this process can still take: MemAvailable, lowered to a cgroup's limit when there is one; None
    if unknown."""
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return None  # not Linux: no check rather than a guess
    kib = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemAvailable:")), None)
    available = kib * 1024 if kib is not None else None
    room = _cgroup_room()
    return min(x for x in (available, room) if x is not None) if (available, room) != (None, None) else None


def _cgroup_room() -> float | None:
    """Return the bytes left under a cgroup v2 memory limit (containers), or None without one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
    except OSError:
        return None
    return None if limit == "max" else max(int(limit) - int(used), 0)


def check_fits(est: Estimate, available: float | None, source: str = "study") -> None:
    """Refuse a build whose estimated memory exceeds what this machine has available."""
    if available is None or est.memory <= available:
        return
    raise ConfigError(
        [
            f"{source}: this build ({est.size()}) needs about {_si(est.memory, 'B')} of memory but this "
            f"machine has {_si(available, 'B')} available; lower training.epochs, training.seeds, model.hidden_units, "
            "analysis.grid_resolution or the number of variants and sweep points"
        ]
    )
