"""Entropy of probabilities, and the most uncertain region not yet corrected."""

import numpy as np
import pytest

from unet_core.uncertainty import entropy, most_uncertain_region


def test_entropy_is_zero_when_sure_and_one_when_undecided():
    prob = np.zeros((3, 4, 4), np.float32)
    prob[0] = 1.0
    prob[:, 0, 0] = 1 / 3
    u = entropy(prob)
    assert u[0, 0] == pytest.approx(1.0, abs=1e-5) and u[1, 1] == pytest.approx(0.0, abs=1e-5)
    two = np.stack([np.full((2, 2), 0.5), np.full((2, 2), 0.5)])
    np.testing.assert_allclose(entropy(two), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="classes >= 2"):
        entropy(np.zeros((4, 4)))


def test_most_uncertain_region_skips_what_was_corrected():
    u = np.zeros((200, 200), np.float32)
    u[20:40, 30:50] = 1.0  # the most uncertain blob...
    u[150:170, 140:160] = 0.8  # ...and a second one
    row, col, score = most_uncertain_region(u, window=20)
    assert (row, col) == (30, 40) and score == pytest.approx(1.0)
    done = np.zeros(u.shape, bool)
    done[10:50, 20:60] = True  # the user corrected the first
    row, col, score = most_uncertain_region(u, done, window=20)
    assert (row, col) == (160, 150) and score == pytest.approx(0.8)
