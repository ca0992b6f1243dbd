"""The simulated user of ``benchmarks/loop.py``: strokes on the left half only, with the true
class; later rounds brush over the largest wrong regions first, within the pixel budget."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from loop import brush_errors, first_strokes, halves, iou  # noqa: E402

from unet_core.base.labels import IGNORE_LABEL  # noqa: E402


@pytest.fixture
def scene():
    truth = np.zeros((120, 160), np.int64)
    truth[20:60, 10:50] = 1
    truth[80:100, 30:60] = 1
    truth[30:70, 100:140] = 1
    return truth, *halves(np.ones(truth.shape, bool))


def test_the_halves_do_not_touch(scene):
    truth, left, right = scene
    assert not (left & right).any() and left[:, :80].all() and not right[:, :88].any()
    assert right[:, 88:].all()


def test_first_strokes_are_true_and_on_the_left(scene):
    truth, left, right = scene
    strokes = first_strokes(truth, left)
    painted = strokes != IGNORE_LABEL
    assert painted.any() and not painted[:, 80:].any()
    np.testing.assert_array_equal(strokes[painted], truth[painted])
    assert set(np.unique(strokes[painted])) == {0, 1}


def test_brushing_goes_to_the_largest_errors_within_the_budget(scene):
    truth, left, right = scene
    answer = np.zeros_like(truth)  # misses every object: the 40x40 one is the largest error
    strokes = np.full(truth.shape, IGNORE_LABEL)
    out = brush_errors(answer, truth, left, strokes, budget=300)
    new = out != IGNORE_LABEL
    assert 100 < new.sum() <= 300 and not new[:, 80:].any()
    assert (truth[new] == 1).all() and (answer[new] != truth[new]).all()
    # a stroke along the largest wrong region's centre line first, then the next largest
    assert new[20:60, 10:50].any() and new[20:60, 10:50].sum() + new[80:100, 30:60].sum() == \
        new.sum()  # fmt: skip
    little = brush_errors(answer, truth, left, strokes, budget=20) != IGNORE_LABEL
    assert little[20:60, 10:50].sum() == little.sum() == 20  # a small budget: the largest only
    more = brush_errors(answer, truth, left, out, budget=5000)
    assert (more[new] == out[new]).all() and (more != IGNORE_LABEL).sum() > new.sum()
    assert iou(truth, truth, right) == 1.0 and iou(answer, truth, right) == 0.0
