"""Each measure on a case with a known answer (STATISTICS.md rule 8)."""

import math

import numpy as np
import pytest

from reportgen.data import bayes_proba, make_dataset, reference_frame
from reportgen.datasets import data_config
from reportgen.measures import Frame, contour_length, prunable_share, prune, rebound, roughness, square_grid


def _circle(radius: float, cell: float, centre=(0.0, 0.0)) -> tuple[np.ndarray, Frame]:
    xs, ys = square_grid((-1.5, 1.5, -1.2, 1.2), cell)
    xx, yy = np.meshgrid(xs, ys)
    probs = 1 / (1 + np.exp(-(radius - np.hypot(xx - centre[0], yy - centre[1])) * 20))
    return probs, Frame(xs, ys, np.ones(probs.shape, bool))


@pytest.mark.parametrize("cell", [0.02, 0.05])
def test_contour_length_of_a_circle_is_its_circumference(cell):
    probs, frame = _circle(0.8, cell)
    length, pieces = contour_length(probs, frame)
    assert length == pytest.approx(2 * math.pi * 0.8, rel=0.01) and pieces == 1


def test_contour_length_counts_only_the_region_and_its_pieces():
    probs, frame = _circle(0.8, 0.02)
    right = Frame(frame.xs, frame.ys, np.tile(frame.xs > 0, (len(frame.ys), 1)))
    length, pieces = contour_length(probs, right)
    assert length == pytest.approx(math.pi * 0.8, rel=0.02) and pieces == 1
    band = Frame(frame.xs, frame.ys, np.tile(np.abs(frame.ys)[:, None] > 0.4, (1, len(frame.xs))))
    assert contour_length(probs, band)[1] == 2  # the circle leaves the band at the middle: two arcs


def test_two_circles_are_two_pieces():
    a, frame = _circle(0.3, 0.02, (-0.7, 0))
    b, _ = _circle(0.3, 0.02, (0.7, 0))
    length, pieces = contour_length(np.maximum(a, b), frame)
    assert pieces == 2 and length == pytest.approx(2 * 2 * math.pi * 0.3, rel=0.02)


def test_rebound_of_a_made_up_loss_curve():
    epochs = np.arange(1, 501)
    curve = 0.2 + 1e-5 * (epochs - 100.0) ** 2  # minimum 0.2 at epoch 100, ends at 0.2 + 1e-5 * 400**2 = 1.8
    value, epoch = rebound(curve)
    assert value == pytest.approx(1.6) and epoch == 100
    noisy = curve + np.random.default_rng(0).normal(0, 0.02, curve.size)
    value, epoch = rebound(noisy, window=10)
    assert value == pytest.approx(1.6, abs=0.05) and abs(epoch - 100) < 25
    assert rebound(np.linspace(1, 0.1, 200))[0] == 0.0  # a curve that only falls has no rebound


def test_roughness_reads_an_additive_wiggle_in_loss_units_at_any_level():
    """Noise model: additive. White noise of standard deviation 0.02 on a smooth curve reads 0.02, whether the curve
    sits at 0.8 or at 0.1 (on a log scale the second would read about 8 times rougher)."""
    rng = np.random.default_rng(1)
    epochs = np.arange(2000)
    wiggle = rng.normal(0, 0.02, epochs.size)
    high, low = 0.8 + 0.1 * np.exp(-epochs / 300) + wiggle, 0.1 + 0.1 * np.exp(-epochs / 300) + wiggle
    assert roughness(high, 0.5) == pytest.approx(0.02, rel=0.05)
    assert roughness(low, 0.5) == pytest.approx(roughness(high, 0.5), rel=1e-6)


def test_roughness_of_a_multiplicative_wiggle_is_proportional_to_the_level():
    rng = np.random.default_rng(2)
    wiggle = 1 + rng.normal(0, 0.05, 2000)  # 5% of the loss, whatever it is
    assert roughness(0.8 * wiggle, 0.5) == pytest.approx(0.8 * 0.05, rel=0.05)
    assert roughness(0.8 * wiggle, 0.5) / roughness(0.1 * wiggle, 0.5) == pytest.approx(8.0)


def test_roughness_ignores_smooth_trends_and_needs_a_curve():
    rising = np.exp(np.linspace(np.log(0.2), np.log(2.0), 400))
    assert roughness(rising, 0.5) < 1e-4  # a smooth rise is not rough
    assert roughness(np.linspace(1.0, 0.1, 400), 0.5) < 1e-12
    assert math.isnan(roughness(np.array([1.0, 2.0, 3.0]), 0.5))
    assert math.isnan(roughness(np.r_[np.ones(50), np.nan], 0.5))


def test_prune_removes_the_smallest_share():
    w = [np.array([[0.1, -0.2], [0.3, -0.4]]), np.array([1.0]), np.array([[0.5], [-0.6]])]
    pruned = prune(w, [0, 2], 0.5)
    assert np.count_nonzero(pruned[0]) + np.count_nonzero(pruned[2]) == 3 and pruned[1][0] == 1.0


def test_prunable_share_is_the_last_fraction_before_the_first_failure():
    fractions, acc = [0.0, 0.5, 0.7, 0.9], [0.9, 0.9, 0.895, 0.7]
    assert prunable_share(fractions, acc, tolerance=0.01) == 0.7
    assert prunable_share(fractions, acc, tolerance=0.0) == 0.5
    # harmed at 0.4, by chance within the tolerance again at 0.6: the harm counts, not the recovery
    assert prunable_share([0.0, 0.2, 0.4, 0.6, 0.8], [0.9, 0.9, 0.8, 0.9, 0.5], 0.01) == 0.2
    one_class = [False, False, False, True]  # accuracy holds (a class-1-heavy sample), but one class everywhere fails
    assert prunable_share(fractions, [0.9, 0.9, 0.9, 0.9], 0.01, one_class) == 0.7
    assert prunable_share(fractions, [0.5] * 4, 0.01, [True] * 4) == 0.0  # one class before pruning: not prunable
    assert prunable_share(fractions, [0.9] * 4, 0.01) == 0.9  # nothing failed: censored by the last fraction tried


def _two_path_network(width: int, rng) -> tuple:
    """A one-hidden-layer network whose sign is sign(x1) through four weights of magnitude 1 to 1.3; every other
    kernel weight is tiny. The smallest of the four is the output weight of the positive path: without it, every
    point with x1 > 0 gets class 0 (half the accuracy is lost)."""
    from reportgen.models import Network

    network = Network((width,), False, 2, 1)
    k0 = rng.uniform(1e-6, 1e-4, (2, width)) * rng.choice([-1, 1], (2, width))
    k1 = rng.uniform(1e-6, 1e-4, (width, 1))
    k0[0, 0], k0[0, 1], k1[0, 0], k1[1, 0] = 1.2, -1.3, 1.0, -1.1
    weights = [k0.astype(np.float32), np.zeros(width, np.float32), k1.astype(np.float32), np.zeros(1, np.float32)]
    return network, weights


def _points(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    x1 = rng.uniform(0.1, 1.0, n) * rng.choice([-1, 1], n)  # away from the boundary, where the tiny weights could matter
    x = np.column_stack([x1, rng.uniform(-1, 1, n)]).astype(np.float32)
    return x, (x1 > 0).astype(np.float32)


def test_prunable_share_of_a_network_built_to_need_four_weights():
    """12 kernel weights, 8 of them tiny: a fraction f removes round(12 f) weights, so 8 go up to 70% and the 9th (a
    weight that matters) at 72%: the prunable share is 70% (the old search took the largest passing fraction)."""
    from types import SimpleNamespace

    from reportgen.analysis import PRUNE_SEARCH, _prunable

    rng = np.random.default_rng(3)
    network, weights = _two_path_network(4, rng)
    ((share, flagged),) = _prunable([SimpleNamespace(weights=weights)], network, [_points(2000, rng)], 0.01, False)
    assert (share, flagged) == (0.7, False)
    assert max(f for f in PRUNE_SEARCH if round(f * 12) <= 8) == 0.7


def test_a_network_that_needs_a_thousandth_of_its_weights_is_not_censored_at_98_percent():
    """4 weights that matter among 6,000: every fraction up to 99.9% keeps them, and 100% (no weight left: one class
    everywhere) fails, so the share is the search's last fraction below 100%, where the old search stopped at 98%."""
    from types import SimpleNamespace

    from reportgen.analysis import PRUNE_SEARCH, _prunable

    rng = np.random.default_rng(4)
    network, weights = _two_path_network(2000, rng)
    ((share, flagged),) = _prunable([SimpleNamespace(weights=weights)], network, [_points(100, rng)], 0.01, False)
    assert share == PRUNE_SEARCH[-2] == 0.999 and PRUNE_SEARCH[-1] == 1.0 and not flagged


def test_a_network_that_predicts_one_class_is_not_prunable_without_harm():
    """Its accuracy cannot drop (it is at the class share whatever is removed), so the accuracy rule alone would call
    all of it prunable; predicting one class before any pruning makes it 0, and flags it."""
    from types import SimpleNamespace

    from reportgen.analysis import _prunable

    rng = np.random.default_rng(5)
    network, weights = _two_path_network(4, rng)
    weights[3] = np.array([-50.0], np.float32)  # an output bias that drowns everything: class 0 everywhere
    ((share, flagged),) = _prunable([SimpleNamespace(weights=weights)], network, [_points(500, rng)], 0.01, False)
    assert (share, flagged) == (0.0, True)


def test_bayes_rule_of_make_moons_beats_chance_and_is_unbeatable_on_average():
    cfg = data_config(noise=0.3)
    data = make_dataset(cfg, 0)
    p = bayes_proba(cfg, data.x_test)[:, 1]  # P(class 1)
    acc = np.mean((p > 0.5) == data.y_test)
    assert 0.85 < acc < 0.97
    # The Bayes posterior is calibrated: among points with P ~ 0.8, about 80% are class 1.
    big = make_dataset(data_config(noise=0.3, test_samples=40000), 1)
    q = bayes_proba(cfg, big.x_test)[:, 1]
    band = (q > 0.7) & (q < 0.9)
    assert big.y_test[band].mean() == pytest.approx(0.8, abs=0.03)


def test_reference_frame_has_square_cells_and_holds_the_data():
    cfg = data_config()
    frame = reference_frame(cfg)
    assert np.allclose(np.diff(frame.xs), frame.cell) and np.allclose(np.diff(frame.ys), frame.cell)
    data = make_dataset(cfg, 3)
    col = np.rint((data.x_test[:, 0] - frame.xs[0]) / frame.cell).astype(int)
    row = np.rint((data.x_test[:, 1] - frame.ys[0]) / frame.cell).astype(int)
    assert frame.region[row, col].mean() > 0.97  # the 99% region holds (nearly) all of a fresh draw
    assert frame.region.mean() < 0.6  # and leaves out the empty corners
