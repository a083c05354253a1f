"""Conformance checks every registered kind of data passes (in the spirit of scikit-learn's parametrize_with_checks):
a new kind that registers in reportgen.datasets.KINDS is held to the same contract as the others without a test of
its own. Kinds that need settings to exist (a CSV file's path) take them from SETTINGS."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from reportgen.cache import _data_key
from reportgen.config import StudyConfig
from reportgen.datasets import BY_KIND, KINDS, DataSettings, data_config
from reportgen.datasets.settings import SHARED_KEYS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SETTINGS = {"csv": {"path": str(EXAMPLES / "iris.csv"), "label": "species"}}  # what a kind cannot do without
CASES = {kind: {"kind": kind, **SETTINGS.get(kind, {})} for kind in BY_KIND} | {
    "csv with text and missing cells": {"path": str(EXAMPLES / "birds.csv"), "label": "species", "missing": "impute"},
}
SPLITS = ("train", "val", "test")


def _splits(d):
    return [(getattr(d, f"x_{s}"), getattr(d, f"y_{s}")) for s in SPLITS]


def test_every_registered_kind_is_checked():
    assert [k.model_fields["kind"].default for k in KINDS] == list(BY_KIND)
    assert set(SETTINGS) <= set(BY_KIND)


@pytest.fixture(params=list(CASES), scope="module")
def kind(request) -> tuple[DataSettings, object, object]:
    """A kind's default settings and two of its replicates (loaded once per module)."""
    cfg = data_config(CASES[request.param])
    return cfg, cfg.load(3), cfg.load(4)


def test_settings_round_trip_through_a_study_file_and_results_json(kind):
    cfg, *_ = kind
    dumped = cfg.model_dump(mode="json")
    assert list(dumped)[: len(SHARED_KEYS)] == list(SHARED_KEYS)  # every shared key, in the order builds write them
    assert data_config(dumped) == cfg
    assert StudyConfig.model_validate({"data": dumped}).data == cfg
    assert isinstance(cfg.name(), str) and cfg.name() and cfg.redraws


def test_a_replicate_is_a_function_of_its_seed(kind):
    cfg, a, b = kind
    again = cfg.load(3)
    for (x, y), (x2, y2) in zip(_splits(a), _splits(again), strict=True):
        assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(a.x_train, b.x_train)  # another replicate, another draw or split
    fixed = cfg.model_copy(update={"resample": False})
    assert np.array_equal(fixed.load(3).x_test, fixed.load(4).x_test)
    assert _data_key(cfg, 3) != _data_key(cfg, 4) and _data_key(fixed, 3) == _data_key(fixed, 4)


def test_splits_are_disjoint_of_the_declared_sizes_the_same_for_every_replicate(kind):
    cfg, a, b = kind
    sizes = tuple(len(y) for _, y in _splits(a))
    assert sizes == cfg.sizes() == tuple(len(y) for _, y in _splits(b))  # what a corrected variance needs
    if a.rows is None:  # drawn points: no point of one split is a point of another
        points = [set(map(tuple, x.tolist())) for x, _ in _splits(a)]
        assert not (points[0] & points[2]) and not (points[1] & points[2]) and not (points[0] & points[1])
    else:
        rows = [set(r.tolist()) for r in a.rows]
        assert [len(r) for r in rows] == list(sizes) and not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
    assert cfg.reuses_rows == (a.rows is not None and cfg.resample)


def test_inputs_are_finite_float32_standardised_on_the_training_split_only(kind):
    cfg, a, _ = kind
    for x, y in _splits(a):
        assert x.dtype == np.float32 and y.dtype == np.float32 and x.ndim == 2 and x.shape[1] == a.n_features
        assert np.isfinite(x).all() and len(x) == len(y)
    if a.shift is None:  # a 2-D generator's points as drawn
        assert cfg.planar and a.n_features == 2
        return
    std = a.x_train.std(axis=0)
    np.testing.assert_allclose(a.x_train.mean(axis=0), 0, atol=1e-5)  # fitted on all rows it would be off
    assert np.all((np.abs(std - 1) < 1e-3) | (std < 1e-6))  # a constant feature keeps scale 1
    for x, _ in _splits(a)[1:]:  # the others: the training split's shift and scale
        np.testing.assert_allclose(a.from_raw(a.to_raw(x)), x, atol=1e-5)


def test_classes_and_features_are_named(kind):
    cfg, a, _ = kind
    assert a.n_classes >= 2 and len(set(a.class_names)) == a.n_classes and all(isinstance(c, str) for c in a.class_names)
    assert len(a.feature_names) == a.n_features and len(set(a.feature_names)) == a.n_features and all(a.feature_names)
    for split, (_, y) in zip(SPLITS, _splits(a)):
        assert set(np.unique(y)) <= set(range(a.n_classes)) and np.array_equal(y, np.round(y))
        if split == "train" or a.rows is not None:  # a table's splits are stratified: every class in each
            assert set(np.unique(y)) == set(range(a.n_classes)), split
    if cfg.image_shape is not None:
        assert int(np.prod(cfg.image_shape)) == a.n_features


def test_a_generator_is_a_bayes_reference_and_only_a_generator_is(kind):
    cfg, a, _ = kind
    has = type(cfg).has_generator
    assert a.has_generator == has and (cfg.generator() is not None) == has
    proba = cfg.bayes_proba(a.x_test[:50])
    assert (proba is not None) == has and (cfg.bayes_note() == "") == has  # default settings have noise
    if proba is not None:
        assert proba.shape == (50, a.n_classes) and np.allclose(proba.sum(axis=1), 1)
    pruning = cfg.pruning_points(3, a)
    assert pruning is None if a.rows is not None else pruning[0].shape[1] == a.n_features


def test_a_replicate_loads_in_under_a_second_without_a_build(kind):
    cfg, *_ = kind  # imports and a file's parse are warm: this is what each further replicate costs
    start = time.perf_counter()
    cfg.load(7)
    assert time.perf_counter() - start < 1


def test_a_data_size_sweep_point_loads_with_its_size(kind):
    cfg, *_ = kind
    d = cfg.model_copy(update={"n_samples": 60}).load(3)
    assert len(d.y_train) + len(d.y_val) == 60 and len(d.y_val) in (12, 13)
