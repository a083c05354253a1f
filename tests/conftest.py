"""Shared fixtures: a tiny valid study with overrides, the fake trainer, and one tiny end-to-end build per test session."""

from __future__ import annotations

import contextlib
import copy
import io
import shutil
from pathlib import Path

import pytest

from reportgen.config import StudyConfig, validate

TINY = {
    "title": "Tiny study <b>&</b>",
    "data": {"n_samples": 60, "test_samples": 200},
    "training": {"epochs": 6, "seeds": [0, 1], "batch_size": 16},
    "variants": [
        {"name": "baseline"},
        {"name": "l1", "l1": 0.001},
        {"name": "l1+drop <i>", "l1": 0.001, "dropout": 0.2, "early_stopping": {"patience": 2}},
    ],
    "sweeps": {"l1": [0.01], "l2": [], "dropout": []},
    "analysis": {"grid_resolution": 30},
}


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def tiny_raw(**overrides) -> dict:
    """A tiny study as a raw dict; keyword arguments replace or merge top-level sections."""
    return _merge(TINY, overrides)


def tiny_config(**overrides) -> StudyConfig:
    """A validated tiny study (a few epochs, two seeds) with overrides."""
    return validate(tiny_raw(**overrides), "tiny")


def write_study(path: Path, raw: dict) -> Path:
    """Write a raw study dict as TOML."""
    import tomli_w

    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory):
    """Run `reportgen build` once on the tiny study (real training); return (output folder, study file). Read-only: a
    test that builds from its study gives the build a copy of the run cache (tiny_cache) and another output folder."""
    from reportgen.cli import main

    root = tmp_path_factory.mktemp("build")
    study = write_study(root / "study.toml", tiny_raw(output={"dir": "out"}))
    assert main(["build", "--config", str(study), "--quiet"]) == 0
    return root / "out", study


@pytest.fixture
def fake_training(monkeypatch):
    """Builds in this test train with tests/fake_training.py (fast, no TensorFlow): for tests of files, claims, reports,
    caching and the command line, never of learning."""
    from tests.fake_training import fake_train

    monkeypatch.setattr("reportgen.executor.train", fake_train)


@contextlib.contextmanager
def light(mp: pytest.MonkeyPatch):
    """Builds train with the fake trainer and make their report with a blank PNG for every figure, without a helper
    process and with this machine's matmul peak taken as known (it is measured for a cache folder that has none):
    milliseconds instead of seconds, for tests of caches, files and messages (never of figures or learning)."""
    from PIL import Image

    from reportgen import figures
    from reportgen.context import Figure
    from tests.fake_training import fake_train

    blank = io.BytesIO()
    Image.new("RGB", (1, 1)).save(blank, "PNG")

    def stand_ins(analysis, helper=None):
        return [Figure(s.key, s.title, "A stand-in figure.", blank.getvalue(), 8.0) for s in figures.figure_specs(analysis)]

    mp.setattr("reportgen.executor.train", fake_train)
    mp.setattr("reportgen.figures.make_figures", stand_ins)
    mp.setattr("reportgen.pace.matmul_peak", lambda: 100e9)
    mp.setattr("reportgen.pace.memory_bandwidth", lambda: 20e9)
    mp.setenv("REPORTGEN_NO_HELPER", "1")
    yield


@pytest.fixture
def light_build(monkeypatch):
    """Builds in this test are light (see light): the fake trainer, stand-in figures, no helper process."""
    with light(monkeypatch):
        yield


@pytest.fixture(scope="session")
def light_tiny_build(tmp_path_factory):
    """`reportgen build` of the tiny study made light (see light: fake training, stand-in figures), HTML only; return
    (output folder, study file). Read-only, for tests of what reads a finished build (render, compare, tampered or
    mutated outputs): a copy is theirs to change."""
    from reportgen.cli import main

    root = tmp_path_factory.mktemp("light-build")
    study = write_study(root / "study.toml", tiny_raw(output={"dir": "out", "formats": ["html"]}))
    with pytest.MonkeyPatch.context() as mp, light(mp):
        assert main(["build", "--config", str(study), "--quiet"]) == 0
    return root / "out", study


@pytest.fixture(scope="session")
def tiny_runs(tiny_build):
    """The shared build's trained runs, read from its run cache (never written): (config, datasets, results)."""
    from reportgen.cache import RunCache, run_keys
    from reportgen.config import load_config
    from reportgen.data import make_datasets
    from reportgen.plan import plan_runs

    config = load_config(tiny_build[1])
    runs = plan_runs(config)
    found = RunCache(config.output.cache).lookup(runs, run_keys(runs, config))
    assert len(found.hits) == len(runs) and not found.damaged
    return config, make_datasets(config.data, {r.data_key for r in runs}), [found.hits[r.key] for r in runs]


@pytest.fixture
def tiny_cache(tiny_build, tmp_path):
    """A copy of the shared build's run cache, for a test whose builds read and write one (the shared one stays as the
    build left it, whatever order the tests run in)."""
    cache = tmp_path / "tiny-cache"
    shutil.copytree(tiny_build[1].parent / ".reportgen-cache", cache)
    return cache


@contextlib.contextmanager
def blank_pixels(mp: pytest.MonkeyPatch):
    """Builds draw every figure as usual (each figure's function, caption and whether it has one are the real ones) but
    do not render it: each is a blank PNG, and there is no helper process. For tests of what a build with real
    training writes besides the figures' pixels (their presence, titles and captions included)."""
    from PIL import Image

    blank = io.BytesIO()
    Image.new("RGB", (1, 1)).save(blank, "PNG")
    mp.setattr("reportgen.figures.to_png", lambda fig, colours=0: (blank.getvalue(), 8.0))
    mp.setenv("REPORTGEN_NO_HELPER", "1")
    yield
