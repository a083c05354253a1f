"""Handwritten digits (data.kind = 'digits'): the table, and the first layer's weights drawn as 8×8 images with the
share of near-zero weights per pixel (the analysis makes the numbers, the figure draws them)."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
from PIL import Image

from reportgen.analysis import DataInfo
from reportgen.config import validate
from reportgen.datasets import data_config
from reportgen.figures import draw, figure_specs
from reportgen.figures.common import Study, palette
from tests.handmade import REPS, hand_made

PIXELS, HIDDEN = 64, 10


def test_digits_are_scikit_learns_images_split_stratified():
    d = data_config(kind="digits").load(0)
    assert (len(d.y_train) + len(d.y_val) + len(d.y_test), d.n_features, d.n_classes) == (1797, 64, 10)
    assert d.class_names == tuple("0123456789") and d.feature_names[9] == "pixel_1_1" and d.rows is not None
    assert data_config(kind="digits").image_shape == (8, 8) and data_config(kind="iris").image_shape is None


def _image_study():
    """A hand-made digits analysis: the baseline's weights all away from zero; L1's zero on the left half of every
    image in every replicate, except on replicate 0's unit 1 (one pixel), whose failed run a replicate skips."""
    config = validate({"model": {"hidden_units": [HIDDEN, 4]}, "variants": [{"name": "baseline"}, {"name": "l1", "l1": 0.01}]})
    analysis = hand_made({}, config)
    rng = np.random.default_rng(0)
    base = rng.choice([-1, 1], (REPS, PIXELS, HIDDEN)) * rng.uniform(0.1, 0.3, (REPS, PIXELS, HIDDEN))
    sparse = base[1:].copy()  # replicate 0 failed for l1: its first trained replicate is 1
    sparse[:, np.arange(PIXELS) % 8 < 4] = 0.0
    failed = np.where((analysis.runs["variant"] == "l1") & (analysis.runs["seed"] == 0), "diverged", "")
    runs = analysis.runs.assign(failed=failed)
    return replace(
        analysis,
        runs=runs,
        main_runs=runs,
        first_layer={"baseline": base.ravel(), "l1": sparse.ravel()},
        data=replace(DataInfo(), image_shape=(8, 8), feature_names=tuple(f"p{i}" for i in range(PIXELS))),
    )


def test_the_analysis_gives_each_variant_its_units_and_near_zero_share_per_pixel():
    a = _image_study()
    base, l1 = a.weight_images("baseline", 6), a.weight_images("l1", 6)
    assert base.units.shape == (6, 8, 8) and base.near_zero.shape == (8, 8) and base.hidden == HIDDEN
    assert (base.seed, base.replicates, l1.seed, l1.replicates) == (0, REPS, 1, REPS - 1)
    assert np.all(base.near_zero == 0) and np.all(l1.near_zero[:, :4] == 1) and np.all(l1.near_zero[:, 4:] == 0)
    assert np.all(l1.units[:, :, :4] == 0) and l1.threshold == 0.01
    assert replace(a, data=DataInfo()).weight_images("l1") is None  # features that are no image


def test_the_weight_images_figure_draws_every_variant_and_says_what_to_see():
    a = _image_study()
    spec = next(s for s in figure_specs(a) if s.key == "weight_images")
    fig = draw(spec, Study(a, None, palette(a.variants)))
    width, height = Image.open(io.BytesIO(fig.png)).size
    assert 500 < width < 1200 and height > 300
    caption = fig.caption
    assert caption.startswith("Rows are variants; the first 6 tiles of a row are the weights from the 64 pixels")
    assert "baseline 0%, l1 50% (means over replicates)" in caption  # 11 replicates of l1, 12 of the baseline
    assert "each variant's first replicate" in caption and "|w| < 0.01" in caption and "all 10 units" in caption


def test_no_weight_images_without_an_image():
    a = _image_study()
    assert "weight_images" not in [s.key for s in figure_specs(replace(a, data=DataInfo()))]
    assert a.weight_images("l1 but unknown") is None
