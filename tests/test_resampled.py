"""Replicates that re-split one table's rows are not independent: the corrected resampled t-test keeps its level.

Each simulated study draws one table of rows, then re-splits it as reportgen's table replicates do (a new random
test share each time) and compares two learners that are equally good on average over tables but not on any one
table: a one-feature threshold classifier on x1 against the same classifier on x2, the two features exchangeable.
Their difference on one table is shared by every re-split of it, so the replicates' differences are correlated, and a
t-test that treats them as independent rejects a true null far more often than its level (STATISTICS.md, rule 15).
"""

import numpy as np

from reportgen import decision
from reportgen.stats import difference_test

STUDIES, ROWS, REPLICATES, TEST_SHARE = 2000, 300, 20, 0.2


def _differences(rng) -> np.ndarray:
    """Per study and replicate: test accuracy of the x1 classifier minus the x2 classifier's [studies, replicates]."""
    y = rng.integers(0, 2, (STUDIES, ROWS))
    x = rng.normal(0, 1, (STUDIES, ROWS, 2)) + 0.5 * (2 * y[..., None] - 1)  # both features equally informative
    test = rng.random((STUDIES, REPLICATES, ROWS)).argsort(axis=2) < int(TEST_SHARE * ROWS)  # a fresh test share
    label = np.broadcast_to(y[:, None, :], test.shape)
    accuracy = [_test_accuracy(np.broadcast_to(x[:, None, :, f], test.shape), label, test) for f in (0, 1)]
    return accuracy[0] - accuracy[1]


def _test_accuracy(value: np.ndarray, label: np.ndarray, test: np.ndarray) -> np.ndarray:
    """A one-feature classifier's test accuracy: its threshold halfway between the training classes' means."""
    train = ~test
    mean = [np.where(train & (label == c), value, 0).sum(2) / (train & (label == c)).sum(2) for c in (0, 1)]
    right = ((value > (mean[0] + mean[1])[..., None] / 2) == (label == 1)) & test
    return right.sum(2) / test.sum(2)


def test_the_corrected_test_keeps_its_level_where_the_plain_one_does_not():
    d = _differences(np.random.default_rng(0))
    mean, sd, n = decision.moments(d)
    correction = TEST_SHARE / (1 - TEST_SHARE)  # n_test / n_train
    plain = (decision.t_p(mean, sd, n, 0.0) < 0.05).mean()
    corrected = (decision.t_p(mean, sd, n, 0.0, correction=correction) < 0.05).mean()
    tolerance = 2 * np.sqrt(0.05 * 0.95 / STUDIES)
    assert plain > 0.05 + 3 * tolerance, f"uncorrected false-positive rate {plain:.3f}"
    assert corrected <= 0.05 + tolerance, f"corrected false-positive rate {corrected:.3f}"


def test_the_corrected_variance_is_nadeau_and_bengios():
    """s² (1/J + n_test/n_train): the interval of a study of J replicates widens by √(1 + J n_test/n_train)."""
    d = np.array([0.01, -0.02, 0.03, 0.0, 0.015, -0.005, 0.02, 0.01])
    plain, corrected = difference_test(d, None, 0.95, 0.01), difference_test(d, None, 0.95, 0.01, correction=0.25)
    width = lambda t: t.effect.high - t.effect.low  # noqa: E731
    assert np.isclose(width(corrected) / width(plain), np.sqrt(1 + d.size * 0.25))
    assert corrected.p_value > plain.p_value and corrected.correction == 0.25
