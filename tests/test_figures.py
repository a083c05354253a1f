"""The report's figures, drawn from a small hand-made analysis (no training)."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reportgen.analysis import BoundarySet, Design, Setup, StudyAnalysis, log_bands, reference_variant
from reportgen.config import StudyConfig, SweepConfig, TrainingConfig, VariantConfig
from reportgen.data import Dataset
from reportgen.figures import Figure, make_figures
from reportgen.measures import Frame

ALL_KEYS = [
    "dataset",
    "boundaries",
    "snapshots@5",
    "snapshots@20",
    "snapshots@end",
    "loss_curves",
    "compare:l1 $x^$",
    "weights_box",
    "weights_hist",
    "weight_extremes",
    "sparsity_curve",
    "pruning",
    "sweeps",
    "sweep_boundaries",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EPOCHS, STOP, GRID = 30, 20, 20
# "$x^$" is broken mathtext: drawing it unescaped would raise, so these names also test the escaping.
NAMES = ["baseline", "l1 $x^$"]


def _dataset(rng) -> Dataset:
    def split(n):
        x = rng.normal(size=(n, 2)).astype(np.float32)
        return x, (x[:, 0] > 0).astype(np.float32)

    return Dataset(*split(40), *split(10), *split(200))


def _estimates(rng, keys: dict, metrics: list[str], n: int) -> list[dict]:
    """Summary rows (mean, low, high, n) for one group of keys; no interval with a single seed."""
    rows = []
    for metric in metrics:
        mean = rng.uniform(0.01, 0.9)
        half = 0.05 if n > 1 else np.nan
        rows.append({**keys, "metric": metric, "mean": mean, "low": mean - half, "high": mean + half, "n": n})
    return rows


def _curve(rng, variants, x, column, n, **extra) -> pd.DataFrame:
    """A rising mean with a band, per variant: the shape of analysis.sparsity_curves / pruning."""
    rows = []
    for v in variants:
        mean = np.linspace(0.1, 0.9, len(x)) * rng.uniform(0.5, 1)
        half = np.full(len(x), 0.05 if n > 1 else np.nan)
        rows += [{"variant": v, **extra, column: t, "mean": m, "low": m - h, "high": m + h} for t, m, h in zip(x, mean, half)]
    return pd.DataFrame(rows)


def _boundary(rng, n_seeds: int) -> BoundarySet:
    xs, ys = np.linspace(-2, 2, GRID), np.linspace(-1.5, 1.5, GRID)
    xx, yy = np.meshgrid(xs, ys)
    probs = np.stack([1 / (1 + np.exp(-(xx + rng.normal(0, 0.3) * yy) * 3)) for _ in range(n_seeds)])
    inside = probs.copy()
    inside[:, :2, :] = np.nan  # outside the data region, as analysis leaves it
    return BoundarySet(xs=xs, ys=ys, probs=inside, seeds=list(range(n_seeds)), background=probs[0])


def _histories(n_seeds: int, early: bool) -> dict[str, np.ndarray]:
    epochs = np.arange(1, EPOCHS + 1)
    train = np.tile(0.7 * np.exp(-epochs / 10) + 0.05, (n_seeds, 1))
    val = train + 0.1
    if early:  # the last seed stopped early: NaN after STOP, as analysis pads histories
        train[-1, STOP:], val[-1, STOP:] = np.nan, np.nan
    return {"train_loss": train, "val_loss": val}


def make_study(n_seeds: int = 2, sweeps: dict | None = None, names: list[str] = NAMES):
    """Build a small analysis by hand (with its setup and first replicate's data), shaped like a real build's;
    sweeps: kind -> strengths."""
    rng = np.random.default_rng(0)
    seeds, thresholds = list(range(n_seeds)), [1e-3, 1e-2]
    sweeps = {"l1": [1e-4, 1e-2], "dropout": [0.2]} if sweeps is None else sweeps  # a lone point in one column
    points = [(kind, s) for kind, strengths in sweeps.items() for s in strengths]
    metrics = ["test_accuracy", "gap", "first_min_abs", "first_max_abs", *(f"first_below_{t:g}" for t in thresholds)]
    runs = pd.DataFrame([{"variant": v, "seed": s, **{m: rng.uniform(1e-6, 1) for m in metrics}} for v in names for s in seeds])
    config = StudyConfig(
        variants=[VariantConfig(name=n, l1=0.001 * (i > 0)) for i, n in enumerate(names)],
        training=TrainingConfig(epochs=EPOCHS, seeds=seeds),
        sweeps=SweepConfig(**{kind: sweeps.get(kind, []) for kind in ("l1", "l2", "dropout")}),
        analysis={"sparsity_thresholds": thresholds, "grid_resolution": GRID},
    )
    xs, ys = np.linspace(-2, 2, GRID), np.linspace(-1.5, 1.5, GRID)
    analysis = StudyAnalysis(
        variants=names,
        reference=reference_variant(config),
        seeds=seeds,
        design=Design(n_seeds, True, [], ["the data", "the initial weights"]),
        runs=runs,
        main_runs=runs,
        layers=pd.DataFrame({"variant": names, "seed": 0, "layer": 1, "weights": 64}),
        summary=pd.DataFrame([r for v in names for r in _estimates(rng, {"variant": v}, metrics, n_seeds)]),
        sweeps=pd.DataFrame(
            [r for kind, strength in points for r in _estimates(rng, {"kind": kind, "strength": strength}, metrics, n_seeds)]
        ),
        sparsity_curves=pd.concat(
            [_curve(rng, names, np.logspace(-5, 0, 11), "threshold", n_seeds, layer=layer) for layer in (1, 2)]
        ),
        pruning=_curve(rng, names, np.array([0, 0.5, 0.9, 0.99]), "fraction", n_seeds),
        histories={v: _histories(n_seeds, early=i == len(names) - 1) for i, v in enumerate(names)},
        loss_bands={
            v: log_bands(h, 0.95) for v, h in ((v, _histories(n_seeds, early=i == len(names) - 1)) for i, v in enumerate(names))
        },
        paired=pd.DataFrame(),
        snapshots={v: {5: _boundary(rng, 1).background, 20: _boundary(rng, 1).background} for v in names},
        boundaries={v: _boundary(rng, n_seeds) for v in names},
        sweep_boundaries={point: _boundary(rng, 1) for point in points},
        first_layer={v: rng.laplace(0, 0.2, size=32 * n_seeds) for v in names},
        twins=pd.DataFrame(),
        diverged=[],
        bayes={},
        bayes_grid=np.tile((xs > 0).astype(float), (GRID, 1)),
        frame=Frame(xs, ys, np.ones((GRID, GRID), bool)),
        thresholds=thresholds,
        confidence=0.95,
        test_predictions={},
        setup=Setup.of(config),
        first=_dataset(rng),
        sweep_points={point: f"{point[0]}={point[1]:g}" for point in points},
    )
    return analysis


PYPLOT_CALLS: list[str] = []  # calls of pyplot's figure makers while this module draws (there must be none)


@pytest.fixture(scope="module", autouse=True)
def no_pyplot():
    """Count every call of pyplot's figure makers while this module's tests draw in this process: figures are bare
    matplotlib Figures, because pyplot keeps each figure it makes until it is closed (a leak in a long build)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("figure", "subplots", "subplot", "subplot_mosaic", "axes", "gcf", "gca", "savefig"):
            mp.setattr(plt, name, lambda *args, _name=name, **kwargs: PYPLOT_CALLS.append(_name))
        yield


@pytest.fixture(scope="module")
def figures() -> list[Figure]:
    from reportgen.helper import Helper

    with Helper() as helper:  # as a build draws them: every other figure in the helper process
        assert helper.ready(wait=True)
        return make_figures(make_study(), helper)


def one_seed_study():
    """A single seed, no sweeps, one variant: the smallest study there is."""
    return make_study(n_seeds=1, sweeps={}, names=["solo"])


@pytest.fixture(scope="module")
def one_seed_figures() -> list[Figure]:
    return make_figures(one_seed_study())


def test_every_figure_in_report_order(figures):
    assert [f.key for f in figures] == ALL_KEYS


def test_pngs_decode_to_real_images(figures):
    for f in figures:
        assert f.png.startswith(PNG_SIGNATURE), f.key
        with Image.open(io.BytesIO(f.png)) as image:
            image.load()  # decodes every pixel: a truncated or corrupt PNG raises here
            assert image.width >= 300 and image.height >= (150 if f.key.startswith("snapshots@") else 200), f.key
            darkest, lightest = image.convert("L").getextrema()
        assert darkest < 100 and lightest > 200, f.key  # ink on a light page, not a blank image
        assert 0 < f.width_cm <= 17, f.key


def test_titles_and_captions_describe_the_figure(figures):
    for f in figures:
        assert f.title and not f.title.endswith("."), f.key
        assert "2 replicates" in f.caption, f.key
    captions = {f.key: f.caption for f in figures}
    assert "95% confidence interval" in captions["loss_curves"]
    assert "penalty" in captions["loss_curves"] and "stopped early" in captions["loss_curves"]
    assert "0.001, 0.01" in captions["sparsity_curve"]
    assert "baseline variant (no regularization)" in captions["sweeps"]


def test_drawing_never_goes_through_pyplot(one_seed_figures):
    assert one_seed_figures and PYPLOT_CALLS == []  # every figure of a study drawn here, none through pyplot


def test_frames_of_training_share_one_layout_and_a_palette(figures):
    """Stepping through the frames moves only the boundaries: every frame has the same size; each is a palette PNG."""
    frames = [f for f in figures if f.key.startswith("snapshots@")]
    sizes = set()
    for f in frames:
        with Image.open(io.BytesIO(f.png)) as image:
            sizes.add(image.size)
            assert image.mode == "P" and len(image.getcolors(256)) <= 64, f.key
    assert len(frames) == 3 and len(sizes) == 1
    assert len({f.png for f in frames}) == 3  # the frames differ: the epoch label at least
    assert "after 5 and 20 epochs and at the end of training" in frames[0].caption


def test_a_variant_that_stopped_before_a_frame_says_so_on_a_white_ground():
    """A frame after a variant stopped shows "stopped earlier" in its panel, on an opaque white box drawn above the
    faded training points (they would otherwise run through the words)."""
    from matplotlib.figure import Figure as MplFigure

    from reportgen.figures.common import Study, palette, safe_text, style
    from reportgen.figures.maps import draw_snapshot

    analysis = make_study()
    stopped = analysis.variants[-1]
    del analysis.snapshots[stopped][20]
    with style():
        fig = MplFigure(layout="constrained")
        draw_snapshot(fig, Study(analysis, analysis.first, palette(analysis.variants)), 20)
    labels = [t for ax in fig.axes for t in ax.texts if t.get_text() == "stopped\nearlier"]
    assert len(labels) == 1 and labels[0].axes.get_title() == safe_text(stopped)
    box = labels[0].get_bbox_patch()
    assert box is not None and box.get_facecolor() == (1.0, 1.0, 1.0, 1.0)
    assert labels[0].get_zorder() > max(c.get_zorder() for c in labels[0].axes.collections)


@pytest.mark.parametrize(
    "epochs, text",
    [
        (
            [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 150, 200, 250, 300, 350, 400, 450],
            "10 to 100 (every 10) and 150 to 450 (every 50)",
        ),
        ([1, 2, 6], "1, 2 and 6"),
        ([5], "5"),
    ],
)
def test_epochs_are_named_briefly(epochs, text):
    from reportgen.figures.maps import _epochs_phrase

    assert _epochs_phrase(epochs) == text


def test_stills_are_the_snapshots_nearest_2_10_and_30_percent():
    from reportgen.plan import snapshot_epochs, still_epochs

    config = StudyConfig()
    assert config.training.epochs == 500
    assert still_epochs(list(snapshot_epochs(config)), 500) == [10, 50, 150]
    assert still_epochs([10, 50, 150], 500) == [10, 50, 150]  # a build of the three snapshots kept before
    assert still_epochs([], 500) == []


def test_one_seed_without_sweeps_skips_sweep_figures(one_seed_figures):
    assert [f.key for f in one_seed_figures] == [k for k in ALL_KEYS[:-2] if not k.startswith("compare:")]
    for f in one_seed_figures:
        assert "1 replicate" in f.caption and "confidence interval" not in f.caption, f.key
        assert f.png.startswith(PNG_SIGNATURE)


def test_same_input_gives_same_bytes(one_seed_figures):
    """Twice, and in the helper process as well as here: the same bytes."""
    from reportgen.helper import Helper

    with Helper() as helper:
        assert helper.ready(wait=True)
        again = make_figures(one_seed_study(), helper)
        assert helper.alive  # nothing was lost on the way
    assert [f.png for f in again] == [f.png for f in one_seed_figures]


def test_many_variants_with_odd_names_and_no_baseline():
    """Drawn half in the helper process, as a build draws them: the escaped names survive the trip there too."""
    from reportgen.helper import Helper

    names = ["plain $"] + [f"variant {i} $" + "a" * i for i in range(11)]
    with Helper() as helper:
        assert helper.ready(wait=True)
        figures = {f.key: f for f in make_figures(make_study(names=names, sweeps={"l2": [1e-3]}), helper)}
    assert (
        list(figures)
        == [k for k in ALL_KEYS if not k.startswith("compare:")][:6]
        + [f"compare:{n}" for n in names[1:]]
        + [k for k in ALL_KEYS if not k.startswith("compare:")][6:]
    )
    # The first, unregularized variant stands in for a baseline; captions (HTML) keep the name unescaped.
    assert "plain $ variant (no regularization)" in figures["sweeps"].caption


def test_long_sweeps_wrap_into_readable_rows():
    """The default study's 9 + 9 + 5 sweep points: rows of at most 5 panels, each >= 3 cm wide in print, no title
    overlapping another, one colorbar, and every panel on the same axes."""
    from matplotlib.figure import Figure as MplFigure

    from reportgen.figures import common, maps

    strengths = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
    analysis = make_study(n_seeds=1, sweeps={"l1": strengths, "l2": strengths, "dropout": [0.1, 0.2, 0.3, 0.4, 0.5]})
    study = common.Study(analysis, analysis.first, common.palette(analysis.variants))
    with common.style():
        fig = MplFigure(layout="constrained")
        maps.draw_sweep_boundaries(fig, study)
        fig.draw_without_rendering()
        panels = [ax for ax in fig.axes if ax.get_title()]
        titles = [ax.get_title() for ax in panels]
        assert titles[:2] == ["L1 1e-05", "L1 3e-05"] and titles[-1] == "dropout 0.5" and len(titles) == 23
        rows = sorted({round(ax.get_position().y0, 3) for ax in panels})
        cols = sorted({round(ax.get_position().x0, 3) for ax in panels})
        assert len(rows) == 5 and len(cols) == 5  # l1 and l2 take two rows each, dropout one
        png, width_cm = common.to_png(fig)
        with Image.open(io.BytesIO(png)) as image:
            scale = width_cm / (image.width / common.DPI * 2.54)  # print size over natural size
        assert image.height / image.width * width_cm < 25  # fits on an A4 page
        for ax in panels:
            assert ax.get_position().width * fig.get_figwidth() * 2.54 * scale >= 2.9, ax.get_title()
            assert ax.get_xlim() == panels[0].get_xlim() and ax.get_ylim() == panels[0].get_ylim()
        assert ax.title.get_fontsize() * scale >= 8
        boxes = [ax.title.get_window_extent() for ax in panels]
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
        assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) == 1
        assert sum(not ax.axison for ax in fig.axes) == 3 + 2  # three headers, two empty cells
