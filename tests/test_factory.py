"""Your own Keras network ([model] factory): a study trains through it, a network that does not show its variant's
regularizers or a factory that cannot build one is one line and exit 2, runs are keyed by the factory file's contents."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from html import unescape
from pathlib import Path

import numpy as np
import pytest

from reportgen.cli import main
from tests.conftest import tiny_raw, write_study

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PLAIN = """
import keras


def build(n_features, n_classes, variant):  # ignores every regularizer it is given
    return keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(4, activation="relu"),
                             keras.layers.Dense(1, activation="sigmoid")])


def always_dropout(n_features, n_classes, variant):  # adds dropout whatever the variant asks for
    return keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(4, activation="relu"),
                             keras.layers.Dropout(0.5), keras.layers.Dense(1, activation="sigmoid")])


def raises(n_features, n_classes, variant):
    raise ValueError("no layer fits")


def number(n_features, n_classes, variant):
    return 42


def three(n_features, n_classes, variant):
    return keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(3, activation="softmax")])


not_a_function = 3
"""


def _study(tmp_path: Path, factory: str, variants: list[dict], **sections) -> Path:
    """A tiny study of tmp_path/f.py's factory (no sweeps), its output and cache in tmp_path."""
    (tmp_path / "f.py").write_text(PLAIN, encoding="utf-8")
    raw = tiny_raw(
        model={"factory": factory},
        variants=variants,
        sweeps={"l1": [], "l2": [], "dropout": []},
        output={"dir": "out", "formats": ["html"], "cache": "cache"},
        **sections,
    )
    return write_study(tmp_path / "study.toml", raw)


def _refused(capsys, study: Path, tmp_path: Path) -> str:
    """Build a study that must be refused: exit 2, one line on stderr (returned), nothing written."""
    assert main(["build", "--config", str(study), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
    return err[0]


@pytest.mark.parametrize(
    "setting, name",
    [
        ({"l1": 0.001}, "L1"),
        ({"l2": 0.001}, "L2"),
        ({"dropout": 0.2}, "dropout"),
        ({"batchnorm": True}, "batch normalization"),
        ({"input_noise": 0.1}, "input noise"),
        ({"max_norm": 2.0}, "max-norm"),
    ],
)
def test_a_factory_that_drops_a_regularizer_exits_2_naming_the_variant(tmp_path, capsys, setting, name):
    study = _study(tmp_path, "f.py:build", [{"name": "baseline"}, {"name": "mine", **setting}])
    line = _refused(capsys, study, tmp_path)
    assert line.startswith("reportgen: error: model.factory f.py:build: variant 'mine' (")
    assert f"the factory ignores the variant's {name} (add " in line


def test_every_layer_level_regularizer_is_one_the_check_knows_how_to_see():
    """A regularizer record a layer applies (a new one included) must be one a built network is checked for."""
    from reportgen import factory
    from reportgen.regularizers import REGULARIZERS

    layered = {r.key for r in REGULARIZERS if r.keras_penalty or r.keras_layer or r.keras_input or r.keras_constraint}
    assert layered == set(factory.LAYER_LEVEL) == set(factory.LOOKS_FOR)
    assert {"early_stopping", "weight_decay", "label_smoothing"}.isdisjoint(layered)  # reportgen applies those


def test_a_factory_that_adds_a_regularizer_it_was_not_given_is_refused(tmp_path, capsys):
    study = _study(tmp_path, "f.py:always_dropout", [{"name": "baseline"}])
    line = _refused(capsys, study, tmp_path)
    assert "variant 'baseline' (no regularization): its network has dropout of 0.5" in line
    assert "which the variant does not ask for" in line


@pytest.mark.parametrize(
    "factory, problem",
    [
        ("nope.py:build", "model.factory nope.py:build: factory file not found"),
        ("f.py:missing", "model.factory f.py:missing: the factory file defines no function 'missing'"),
        ("f.py:not_a_function", "model.factory f.py:not_a_function: 'not_a_function' in the factory file is not a function"),
        (
            "f.py:raises",
            "model.factory f.py:raises: raises(2, 2, variant 'baseline') raised ValueError: no layer fits (f.py, line",
        ),
        ("f.py:number", "model.factory f.py:number: number(2, 2, variant 'baseline') returned a builtins.int, not a Keras model"),
        ("f.py:three", "gives outputs of shape (n, 3); for 2 classes it must end in one sigmoid unit"),
        ("bad.py:build", "model.factory bad.py:build: the factory file cannot be loaded (SyntaxError: "),
    ],
)
def test_a_bad_factory_is_one_line_naming_the_file_and_exit_2(tmp_path, capsys, factory, problem):
    (tmp_path / "bad.py").write_text("def build(:\n", encoding="utf-8")
    study = _study(tmp_path, factory, [{"name": "baseline"}])
    line = _refused(capsys, study, tmp_path)
    assert problem in line and "Traceback" not in line


def test_the_fast_engine_or_the_mlp_settings_with_a_factory_are_one_line(tmp_path, capsys):
    study = _study(tmp_path, "f.py:build", [{"name": "baseline"}], training={"epochs": 2, "seeds": [0, 1], "engine": "fast"})
    line = _refused(capsys, study, tmp_path)
    assert line == (
        f"reportgen: error: {study}: training.engine: 'fast' cannot train the network of model.factory (its own Keras "
        "model trains with stock fit: set engine = 'keras' or leave it out)"
    )
    study = _study(tmp_path, "f.py:build", [{"name": "baseline"}], training={"engine": "keras"})
    assert main(["build", "--config", str(study), "--quiet", "--set", "model.hidden_units=[8]"]) == 2
    assert "model: hidden_units describes reportgen's MLP; the network of factory" in capsys.readouterr().err


def test_runs_are_keyed_by_the_factory_files_contents_not_its_path(tmp_path):
    from reportgen.cache import run_key
    from reportgen.config import load_config
    from reportgen.plan import plan_runs

    def key(folder: Path) -> str:
        config = load_config(folder / "study.toml")
        return run_key(plan_runs(config)[0], config)

    study = _study(tmp_path, "f.py:build", [{"name": "baseline"}])
    first = key(tmp_path)
    (tmp_path / "f.py").write_text(PLAIN + "# an edit\n", encoding="utf-8")
    edited = key(tmp_path)
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.copy(study, moved)
    shutil.copy(tmp_path / "f.py", moved)
    assert first != edited and key(moved) == edited
    (tmp_path / "f.py").write_text(PLAIN, encoding="utf-8")
    assert key(tmp_path) == first


def test_claims_whose_measures_a_network_cannot_offer_are_left_out_in_one_sentence():
    """A factory's network without kernels offers no weights to prune: the claims on the prunable share are not judged,
    and the report says which in the sentence `reportgen judge` writes for a table of runs without them."""
    from reportgen.arrange import _unmeasured_sentence
    from reportgen.claims import evaluate_claims, given_measures
    from tests.conftest import tiny_config
    from tests.handmade import hand_made

    config = tiny_config(variants=[{"name": "baseline"}, {"name": "l1", "l1": 0.001}])
    analysis = hand_made({}, config)
    judged = {c.key for c in evaluate_claims(analysis, given_measures(analysis)).claims}
    assert "sparsity:l1" in judged and given_measures(analysis) is None
    analysis = replace(analysis, unmeasured=("prunable",))
    left = {c.key for c in evaluate_claims(analysis, given_measures(analysis)).claims}
    assert left == judged - {"sparsity:l1"}
    assert _unmeasured_sentence(analysis) == (
        "Not measured, because the network has no kernel weights: share of weights prunable by magnitude without losing "
        "accuracy. Not judged, their measures could not be measured: sparsity:l1."
    )


# ---- a real build of examples/factory.toml (digits, the convolutional network of examples/my_models.py) ------------

TINY_DIGITS = [
    "--set",
    "training.epochs=3",
    "--set",
    "training.seeds=[0, 1]",
    "--set",
    "data.n_samples=200",
    "--set",
    "variants=[{name='baseline'}, {name='l2', l2=0.001}]",
    "--format",
    "html",
    "--quiet",
]


@pytest.fixture(scope="module")
def factory_build(tmp_path_factory):
    """examples/factory.toml trained for real through examples/my_models.py, tiny: 200 rows of digits, 2 variants, 2
    replicates, 3 epochs (this machine's matmul peak, which the plan line's estimate measures for a new cache folder,
    taken as known; its figures drawn, with their captions, but not rendered). Returns (output folder, cache folder,
    the study's command-line arguments)."""
    from tests.conftest import blank_pixels

    root = tmp_path_factory.mktemp("factory")
    args = ["--config", str(EXAMPLES / "factory.toml"), "--out", str(root / "out"), "--cache-dir", str(root / "cache")]
    args += TINY_DIGITS
    with pytest.MonkeyPatch.context() as mp, blank_pixels(mp):
        mp.setattr("reportgen.pace.matmul_peak", lambda: 100e9)
        mp.setattr("reportgen.pace.memory_bandwidth", lambda: 20e9)
        assert main(["build", *args]) == 0
    return root / "out", root / "cache", args


def test_a_study_with_a_factory_trains_through_it(factory_build):
    out, _, _ = factory_build
    doc = json.loads((out / "results.json").read_text())
    html = (out / "report.html").read_text()
    runs = doc["runs"]
    assert {(r["variant"], r["seed"]) for r in runs} == {("baseline", 0), ("baseline", 1), ("l2", 0), ("l2", 1)}
    # the layers of examples/my_models.py's network: a 3×3 convolution of 8 filters on one channel (72 weights), then
    # Dense 32 on the 4×4×8 pooled maps (4,096); its output layer's kernel is not a hidden one
    assert all([layer["weights"] for layer in r["layers"]] == [72, 4096] for r in runs)
    assert all(0 <= r["test_accuracy"] <= 1 and 0 < r["prunable"] < 1 and not r["failed"] for r in runs)
    assert doc["study"]["model"]["factory"] == "my_models.py:build" and doc["study"]["training"]["engine"] == "keras"
    figures = set(re.findall(r'id="fig-([a-z0-9-]+)"', html))
    assert {"boundaries", "loss-curves", "compare-l2", "pruning", "sparsity-curve", "reliability"} <= figures
    assert "weight-images" not in figures  # that picture needs a first layer of Dense units fed by the pixels
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))
    assert "the network of model.factory my_models.py:build (Adam at 0.001" in text
    assert "Every variant is the Keras network that model.factory my_models.py:build builds for it" in text
    assert "The first layer's weights are not drawn as 8×8 images here" in text
    assert "Dense 128" not in text and "hidden-layer network" not in text
    keys = {c["key"] for c in doc["claims"]}
    assert {"better_generalization:l2", "less_overfitting:l2", "better_calibration:l2"} <= keys
    assert any(c["metric"] == "kernel_l2" and c["variant"] == "l2" for c in doc["checks"])


def test_a_factory_build_comes_from_the_cache_and_a_thread_trains_the_bits_a_lone_run_does(factory_build, tmp_path):
    """The runs trained one per core are bitwise the runs trained alone, and a rebuild takes them from the cache."""
    from reportgen import factory
    from reportgen.cache import RunCache, run_keys
    from reportgen.config import load_config
    from reportgen.data import make_datasets, reference_view
    from reportgen.plan import plan_runs
    from reportgen.training.factory_fit import train_one

    out, cache, args = factory_build
    sets = [v for flag, v in zip(args, args[1:]) if flag == "--set"]
    config = load_config(EXAMPLES / "factory.toml", sets, {"output.cache": cache, "output.dir": tmp_path / "out"})
    runs = plan_runs(config)
    found = RunCache(cache).lookup(runs, run_keys(runs, config))
    assert len(found.hits) == len(runs) == 4 and not found.damaged
    run = runs[-1]  # l2, replicate 1: trained beside another run in the build
    datasets = make_datasets(config.data, {r.data_key for r in runs})
    first = datasets[config.training.seeds[0]]
    alone = train_one(
        run,
        datasets[run.seed],
        config,
        factory.source(config),
        (*reference_view(config.data, first), first),
        lambda n, t: None,
        lambda: None,
    )
    kept = found.hits[run.key]
    assert all(np.array_equal(a, b) for a, b in zip(alone.weights, kept.weights, strict=True))
    assert alone.outputs.keys() == kept.outputs.keys()
    assert all(np.array_equal(alone.outputs[k], kept.outputs[k]) for k in kept.outputs)


def test_a_network_without_hidden_kernels_is_measured_without_them(factory_build, tmp_path):
    """The fixture's runs as a network with one kernel, its last layer's, would have stored them (no training): the
    kernel measures are left out and said so, the runs' texts have no layers, and the comparison figure has no
    first-layer panel."""
    from reportgen import analysis
    from reportgen.arrange import _unmeasured_sentence
    from reportgen.cache import RunCache, run_keys
    from reportgen.config import load_config
    from reportgen.data import make_datasets
    from reportgen.figures import FigureSpec, draw
    from reportgen.figures.beside import draw_comparison
    from reportgen.figures.common import Study, palette
    from reportgen.plan import plan_runs
    from reportgen.results import run_lines

    _, cache, args = factory_build
    sets = [v for flag, v in zip(args, args[1:]) if flag == "--set"]
    config = load_config(EXAMPLES / "factory.toml", sets, {"output.cache": cache, "output.dir": tmp_path / "out"})
    runs = plan_runs(config)
    found = RunCache(cache).lookup(runs, run_keys(runs, config)).hits
    last = [
        replace(found[r.key], outputs={**found[r.key].outputs, "kernels": found[r.key].outputs["kernels"][-1:]}) for r in runs
    ]
    measured = analysis.analyse(last, make_datasets(config.data, {r.data_key for r in runs}), config)
    assert set(measured.unmeasured) == {*analysis.HIDDEN_KERNEL_METRICS, "first_below_0.001", "first_below_0.01", "max_unit_norm"}
    assert measured.layers.empty and not measured.first_layer and measured.runs["kernel_l2"].isna().all()
    assert measured.runs["prunable"].notna().all()  # the last layer's kernel is still pruned
    assert all('"layers": []' in line for line in run_lines(last, measured))
    assert _unmeasured_sentence(measured).startswith(
        "Not measured, because the network has no kernel weights before its last layer: L1 norm"
    )
    figure = draw(
        FigureSpec("compare:l2", "l2", lambda fig, study: draw_comparison(fig, study, "l2")),
        Study(measured, measured.first, palette(measured.variants)),
    )
    assert figure is not None and figure.caption.endswith(
        "No first-layer weights are drawn: the network has no kernel before its last layer."
    )


def test_a_draw_from_pythons_global_random_while_a_model_is_built_changes_none_of_its_numbers():
    """Keras draws the seed of every initializer and random layer made without one from Python's global generator,
    which a Dask event loop in another thread draws from too: a model built under reportgen._tf.seeded takes its seeds
    from a generator of its own, seeded alike, so such a draw (made here, between the seeding and the layers) changes
    neither its initial weights nor its dropout stream."""
    import random

    from reportgen._tf import keras, seeded

    def made(interleaved: bool):
        with seeded(7):
            if interleaved:
                random.random()
            init = keras.initializers.GlorotUniform()
            dropout = keras.layers.Dropout(0.5)
        return np.asarray(init((4, 3))), np.asarray(dropout.seed_generator.state)

    (alone, stream), (interleaved, stream2) = made(False), made(True)
    assert np.array_equal(alone, interleaved) and np.array_equal(stream, stream2)
    keras.utils.set_random_seed(7)  # and the numbers are Keras' own after set_random_seed
    assert np.array_equal(alone, np.asarray(keras.initializers.GlorotUniform()((4, 3))))
