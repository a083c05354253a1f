"""Measurements and statistics on hand-made numbers, where the right answer is known."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from reportgen.analysis import boundary_length, roughness
from reportgen.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, _verdict
from reportgen.stats import estimate, paired


def test_boundary_length_of_a_straight_and_a_zigzag_boundary():
    xs = np.linspace(0, 1, 11)
    straight = np.tile((xs > 0.5).astype(float), (11, 1))  # a vertical line crossing 11 rows
    assert boundary_length(straight, dx=0.1, dy=0.1) == pytest.approx(1.1)
    zigzag = straight.copy()
    zigzag[::2] = np.tile((xs > 0.25).astype(float), (6, 1))
    assert boundary_length(zigzag, 0.1, 0.1) > boundary_length(straight, 0.1, 0.1)


def test_roughness_uses_the_last_share_of_training():
    smooth = np.linspace(1, 0, 100)
    noisy = smooth + np.where(np.arange(100) % 2, 0.1, -0.1)
    assert roughness(smooth, 0.5) == pytest.approx(1 / 99)
    assert roughness(noisy, 0.5) > 10 * roughness(smooth, 0.5)
    assert math.isnan(roughness(np.array([1.0]), 0.5))


def test_estimate_matches_scipy_t_interval():
    v = np.array([0.9, 0.92, 0.95, 0.91, 0.94])
    e = estimate(v, 0.95)
    low, high = sps.t.interval(0.95, 4, loc=v.mean(), scale=sps.sem(v))
    assert (e.mean, e.low, e.high, e.n) == pytest.approx((v.mean(), low, high, 5))
    one = estimate([0.5], 0.95)
    assert one.n == 1 and not one.has_interval and one.excludes_zero() == 0


def test_paired_comparison_and_verdicts():
    ref = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    better = paired(ref - 0.5 + np.array([0.01, -0.02, 0.0, 0.02, -0.01]), ref, 0.95)
    assert better.diff.mean == pytest.approx(-0.5) and better.p_value < 1e-3
    assert _verdict(better, -1) == SUPPORTED and _verdict(better, +1) == NOT_SUPPORTED
    noise = paired(ref + np.array([0.3, -0.3, 0.2, -0.2, 0.0]), ref, 0.95)
    assert _verdict(noise, -1) == INCONCLUSIVE and noise.p_value > 0.5
