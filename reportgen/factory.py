"""Your own Keras network: `[model] factory = "file.py:function"` builds each variant's model, which reportgen compiles
and trains with stock fit (reportgen.training.factory_fit).

The function is called with the input width, the number of classes and the variant (a VariantConfig: its `l1`, `l2`,
`dropout`, `batchnorm`, `input_noise`, `max_norm`, ... as attributes) and returns an uncompiled Keras model that ends in
one sigmoid unit (two classes) or a softmax over the classes. The regularizers that are layers or parts of layers (kernel
penalties, dropout, batch normalization, input noise, max-norm) are the factory's to build; those that are part of the
training procedure (early stopping, label smoothing, decoupled weight decay) stay reportgen's.

Before anything trains, check() builds every variant's model once and refuses, one line each (ConfigError, exit 2), a
file that is missing or cannot be loaded, a function that is missing, raises or returns something that is not a Keras
model ending as above, and a network that does not show a layer-level regularizer its variant was given (or shows one
it was not given, or at another value): it would be reported under a regularizer it never had.

The file travels as its text (FactorySource): the run cache keys runs by its SHA-256, and a Dask worker builds the
model from the text it was sent, not from a path it may not have.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sys
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from reportgen.errors import ConfigError, shorten
from reportgen.regularizers import REGULARIZERS

OUTPUTS_VERSION = 1  # of what a factory's run stores beside its weights (reportgen.training.factory_fit): in the runs'
#                     cache keys, so bump it when that changes
# what the network itself must show: the records a layer or a part of one applies (reportgen.regularizers)
LAYER_LEVEL = tuple(r.key for r in REGULARIZERS if r.keras_penalty or r.keras_layer or r.keras_input or r.keras_constraint)
PROBE_ROWS = 8  # rows of random inputs a built model is called on: its output's shape and range are checked
_lock = threading.Lock()
BUILD_LOCK = threading.Lock()  # Keras' random state is global: one model at a time is seeded, built (and batched)
_loaded: dict[tuple[str, str], types.ModuleType] = {}  # (SHA-256 of a factory's text, its path) -> its module, run
#   once per process (the path: a file beside it that it imports may differ)


@dataclass(frozen=True)
class FactorySource:
    """A factory file as read once: how messages name it, its path, its function's name, its text and SHA-256."""

    shown: str  # 'my_models.py:build', relative to the study file's folder when it is inside it
    path: str
    function: str
    text: str = field(repr=False)
    sha256: str

    def where(self) -> str:
        """How a problem names the factory: 'model.factory my_models.py:build'."""
        return f"model.factory {shorten(self.shown, 120)}"


def source(config) -> FactorySource:
    """The study's factory file (config.model.factory), read now; ConfigError naming it when it cannot be read."""
    parts = config.model.factory_file()
    if parts is None:
        raise ValueError("the study has no model.factory")
    path, function = parts
    base = getattr(config, "_base", None)
    shown = str(path)
    if base is not None and path.is_absolute():
        shown = os.path.relpath(path, base) if path.resolve().is_relative_to(Path(base).resolve()) else str(path)
    try:
        stat = path.stat()
        if not path.is_file():
            raise IsADirectoryError(21, "not a file")
        text, digest = _read(str(path), stat.st_size, stat.st_mtime_ns)
    except FileNotFoundError:
        raise ConfigError([f"model.factory {shorten(shown, 120)}:{function}: factory file not found"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"model.factory {shorten(shown, 120)}:{function}: the factory file is not UTF-8 text"]) from None
    except OSError as err:
        raise ConfigError(
            [f"model.factory {shorten(shown, 120)}:{function}: the factory file cannot be read ({err.strerror or err})"]
        ) from None
    return FactorySource(f"{shown}:{function}", str(path), function, text, digest)


@lru_cache(maxsize=8)
def _read(path: str, size: int, mtime: int) -> tuple[str, str]:
    """A file's text and the SHA-256 of its bytes (size and time only make an edited file a new entry)."""
    raw = Path(path).read_bytes()
    return raw.decode("utf-8"), hashlib.sha256(raw).hexdigest()


def load(src: FactorySource) -> Callable:
    """The factory function, from the file's text (once per process and text); ConfigError naming the file when the
    text cannot be run or does not define the function. The file's folder is on sys.path while it runs, so that it
    may import files beside it (on this machine)."""
    from reportgen import _tf

    _tf.load()  # TensorFlow and Keras start with reportgen's settings (quiet logs) before the file imports them
    with _lock:
        module = _loaded.get((src.sha256, src.path)) or _run(src)
        _loaded[src.sha256, src.path] = module
    function = module.__dict__.get(src.function)
    if function is None:
        raise ConfigError([f"{src.where()}: the factory file defines no function '{src.function}'"])
    if not callable(function):
        kind = type(function).__name__
        raise ConfigError([f"{src.where()}: '{src.function}' in the factory file is not a function (it is {kind})"])
    return function


def _run(src: FactorySource) -> types.ModuleType:
    """Run a factory file's text as a module of its own."""
    name = f"reportgen_factory_{src.sha256[:16]}"
    module = types.ModuleType(name)
    module.__file__ = src.path
    folder = str(Path(src.path).parent)
    sys.modules[name] = module  # dataclasses and pickling inside the file look their module up there
    sys.path.insert(0, folder)
    try:
        exec(compile(src.text, src.path, "exec"), module.__dict__)  # noqa: S102 - the user's own model code
    except Exception as err:  # noqa: BLE001 - whatever the file raises, it is the file's problem, said in one line
        sys.modules.pop(name, None)
        raise ConfigError([f"{src.where()}: the factory file cannot be loaded ({_one_line(err, src)})"]) from None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return module


def _one_line(err: BaseException, src: FactorySource) -> str:
    """An exception raised by the factory's code in one line, with the line of the file it was raised at."""
    text = " ".join(str(err).split()) or "no message"
    line = getattr(err, "lineno", None) if isinstance(err, SyntaxError) else None
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == src.path:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(err, SyntaxError):
        text = err.msg
    where = f" ({Path(src.path).name}, line {line})" if line else ""
    return shorten(f"{type(err).__name__}: {text}", 240) + where


def _call(src: FactorySource, function: Callable, n_features: int, n_classes: int, variant) -> Any:
    """Call the factory for one variant; ConfigError naming the file when it raises or returns no Keras model."""
    call = f"{src.function}({n_features}, {n_classes}, variant '{shorten(variant.name)}')"
    try:
        model = function(n_features, n_classes, variant)
    except Exception as err:  # noqa: BLE001 - the factory's own failure, said in one line
        raise ConfigError([f"{src.where()}: {call} raised {_one_line(err, src)}"]) from None
    keras = sys.modules.get("keras")  # a file that never imported Keras returned no Keras model
    if keras is None or not isinstance(model, keras.Model):
        got = "None" if model is None else f"a {type(model).__module__}.{type(model).__qualname__}"
        raise ConfigError([f"{src.where()}: {call} returned {shorten(got, 80)}, not a Keras model (keras.Model)"])
    return model


def build(src: FactorySource, variant, n_features: int, n_classes: int):
    """A variant's (uncompiled) model from the factory, its output checked (shape and probabilities)."""
    model = _call(src, load(src), n_features, n_classes, variant)
    _check_output(src, model, variant, n_features, n_classes)
    return model


def _check_output(src: FactorySource, model, variant, n_features: int, n_classes: int) -> None:
    """Call a model on a few random inputs: it must give one probability per row (two classes) or a distribution over
    the classes per row; ConfigError naming the file otherwise (a raising model too)."""
    x = np.random.default_rng(0).standard_normal((PROBE_ROWS, n_features)).astype(np.float32)
    call = f"the model of {src.function}({n_features}, {n_classes}, variant '{shorten(variant.name)}')"
    try:
        out = np.asarray(model(x, training=False), np.float64)
    except Exception as err:  # noqa: BLE001
        raise ConfigError([f"{src.where()}: {call} cannot take inputs of width {n_features} ({_one_line(err, src)})"]) from None
    width = 1 if n_classes == 2 else n_classes
    want = "one sigmoid unit" if width == 1 else f"a softmax over its {n_classes} classes"
    if out.shape != (PROBE_ROWS, width):
        shape = "(n, " + ", ".join(str(d) for d in out.shape[1:]) + ")"
        raise ConfigError(
            [
                f"{src.where()}: {call} gives outputs of shape {shape}; for {n_classes} classes it must end in {want}, "
                f"shape (n, {width})"
            ]
        )
    sums = out.sum(axis=1)
    if not np.isfinite(out).all() or out.min() < 0 or out.max() > 1 or (width > 1 and not np.allclose(sums, 1, atol=1e-3)):
        raise ConfigError(
            [
                f"{src.where()}: {call} gives outputs that are not probabilities (from {out.min():.3g} to {out.max():.3g}); "
                f"it must end in {want} (activation='{'sigmoid' if width == 1 else 'softmax'}')"
            ]
        )


# ---- what a built network shows of the regularizers ---------------------------------------------------------------


def layers(model) -> list:
    """Every layer of a model, nested models' layers included, in order."""
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        if getattr(layer, "layers", None):
            out += layers(layer)
    return out


def _value(obj, key: str) -> float | None:
    """A setting of a Keras regularizer or constraint (get_config's key, else the attribute), None when it has none."""
    with contextlib.suppress(Exception):  # a custom object's get_config may fail or hold anything
        config = obj.get_config() if hasattr(obj, "get_config") else {}
        if isinstance(config, dict) and isinstance(config.get(key), (int, float)):
            return float(config[key])
    value = getattr(obj, key, None)
    return float(value) if isinstance(value, (int, float, np.floating)) else None


def shown(model) -> dict[str, list[tuple[str, float]]]:
    """What a network shows of each layer-level regularizer: (layer name, value) per layer that applies it, for l1 and
    l2 (its kernel regularizer's), dropout (the rate of a Dropout layer or a subclass), batchnorm (1 per
    BatchNormalization layer), input_noise (a GaussianNoise layer's stddev) and max_norm (a MaxNorm kernel constraint's
    max_value)."""
    keras = sys.modules["keras"]
    found: dict[str, list[tuple[str, float]]] = {k: [] for k in LAYER_LEVEL}
    for layer in layers(model):
        name = layer.name
        reg = getattr(layer, "kernel_regularizer", None)
        if reg is not None:
            for key in ("l1", "l2"):
                value = _value(reg, key)
                if value:
                    found[key].append((name, value))
        constraint = getattr(layer, "kernel_constraint", None)
        if isinstance(constraint, keras.constraints.MaxNorm):
            found["max_norm"].append((name, float(constraint.max_value)))
        if isinstance(layer, keras.layers.Dropout) and float(layer.rate) > 0:
            found["dropout"].append((name, float(layer.rate)))
        if isinstance(layer, keras.layers.BatchNormalization):
            found["batchnorm"].append((name, 1.0))
        if isinstance(layer, keras.layers.GaussianNoise) and float(layer.stddev) > 0:
            found["input_noise"].append((name, float(layer.stddev)))
    return found


LOOKS_FOR = {  # what shows a regularizer in a network, and how a factory adds it
    "l1": ("kernel regularizer with l1 = {v:g}", "kernel_regularizer=keras.regularizers.L1L2(l1=variant.l1, l2=variant.l2)"),
    "l2": ("kernel regularizer with l2 = {v:g}", "kernel_regularizer=keras.regularizers.L1L2(l1=variant.l1, l2=variant.l2)"),
    "dropout": ("Dropout layer of rate {v:g}", "keras.layers.Dropout(variant.dropout)"),
    "batchnorm": ("BatchNormalization layer", "keras.layers.BatchNormalization()"),
    "input_noise": ("GaussianNoise layer of stddev {v:g}", "keras.layers.GaussianNoise(variant.input_noise)"),
    "max_norm": ("MaxNorm kernel constraint of max_value {v:g}", "kernel_constraint=keras.constraints.MaxNorm(variant.max_norm)"),
}


def problems(model, variant) -> list[str]:
    """How a variant's network fails to show its layer-level regularizers (none: []), one sentence each naming the
    regularizer: one the variant has that no layer applies at its value, one applied at another value, or one the
    variant does not have."""
    from reportgen.regularizers import regularizer

    found = shown(model)
    out = []
    for key in LAYER_LEVEL:
        wanted, name = float(getattr(variant, key)), regularizer(key).name
        with_it = found[key]
        other = [(n, v) for n, v in with_it if key != "batchnorm" and not math.isclose(v, wanted, rel_tol=1e-6)]
        looks_for, add = LOOKS_FOR[key]
        if wanted and len(other) == len(with_it):
            losses = " (model.losses is empty)" if key in ("l1", "l2") and not _has_losses(model) else ""
            seen = f" (it has {_listed(other, key)})" if other else ""
            out.append(
                f"its network has no {looks_for.format(v=wanted)}{losses}{seen}: the factory ignores the variant's "
                f"{name} (add {add})"
            )
        elif wanted and other:
            out.append(f"its network has {_listed(other, key)}, not the variant's {name} of {wanted:g}")
        elif not wanted and with_it:
            out.append(f"its network has {_listed(with_it, key)}, which the variant does not ask for")
    return out


def _listed(found: list[tuple[str, float]], key: str) -> str:
    """Layers that show a regularizer, e.g. "dropout of 0.5 (layer 'dropout_1')"."""
    from reportgen.regularizers import regularizer

    names = ", ".join(f"'{shorten(n, 30)}'" for n, _ in found[:3]) + (", …" if len(found) > 3 else "")
    layer = f"layer{'s' if len(found) > 1 else ''} {names}"
    if key == "batchnorm":
        return f"batch normalization ({layer})"
    values = sorted({v for _, v in found})
    return f"{regularizer(key).name} of {', '.join(f'{v:g}' for v in values)} ({layer})"


def _has_losses(model) -> bool:
    try:
        return bool(model.losses)
    except Exception:  # noqa: BLE001 - a model that cannot say: judged by its layers alone
        return True


def kernel_positions(model) -> list[int]:
    """Positions of the kernels (Dense, convolution, ... : every variable named kernel) in get_weights()'s order."""
    return [i for i, v in enumerate(model.weights) if v.name.endswith("kernel")]


def kernel_shapes(model) -> list[tuple[int, ...]]:
    """The kernels' shapes in order (what decides whether a variant can start from the reference's initial weights)."""
    weights = model.weights
    return [tuple(weights[i].shape) for i in kernel_positions(model)]


def plain():
    """The variant without any regularizer: the network whose initial weights every variant of a replicate starts from."""
    from reportgen.config import VariantConfig

    return VariantConfig(name="reference")


@dataclass(frozen=True)
class Checked:
    """What check() found: the largest network's number of weights, and the variants whose kernels differ in shape
    from the reference network's (they cannot start from its initial weights)."""

    weights: int
    unpaired: tuple[str, ...] = ()


_checked: dict[tuple, Checked] = {}


def check(config, n_features: int, n_classes: int, variants) -> Checked:
    """Build every variant's network once (distinct settings once) and refuse the study, one line per problem, when
    the factory cannot build it or a network does not show its layer-level regularizers (ConfigError, naming the file,
    the variant and the regularizer). Kept per process for the same file, data shape and variants."""
    from reportgen._tf import seeded
    from reportgen.plan import settings_key

    src = source(config)
    load(src)
    distinct = list({settings_key(v): v for v in variants}.values())
    memo = (src.sha256, src.function, n_features, n_classes, tuple(settings_key(v) for v in distinct))
    if memo in _checked:
        return _checked[memo]
    lines, weights, shapes = [], 0, {}
    with BUILD_LOCK:
        for variant in distinct:
            with seeded(0):
                model = build(src, variant, n_features, n_classes)
            weights = max(weights, sum(int(np.prod(v.shape)) for v in model.weights))
            what = variant.label or variant.describe()
            who = f"{src.where()}: variant '{shorten(variant.name)}' ({shorten(what)})"
            lines += [f"{who}: {problem}" for problem in problems(model, variant)]
            shapes[variant.name] = kernel_shapes(model)
        if not lines:  # the network every variant's initial kernels come from (the factory for a plain variant)
            with seeded(0):
                reference = kernel_shapes(build(src, plain(), n_features, n_classes))
    unpaired = [name for name, kernels in shapes.items() if not lines and kernels != reference]
    if lines:
        raise ConfigError(lines)
    _checked[memo] = Checked(weights, tuple(unpaired))
    return _checked[memo]


def check_study(config, shape) -> Checked:
    """check() of every variant and sweep point a study trains, on data of this shape (reportgen.datasets.DataShape)."""
    from reportgen.plan import plan_runs

    return check(config, shape.n_features, shape.n_classes, [r.variant for r in plan_runs(config)])
