"""Vessel measurements against a synthetic tree of known length, branches and width."""

import numpy as np
import pytest

from unet_core.retina.vessels import measure_vessels


def tee() -> np.ndarray:
    """A 5-pixel-wide T: a bar of 101 px and a stem of 71 px, one branch point, three ends."""
    mask = np.zeros((140, 130), bool)
    mask[48:53, 10:111] = True
    mask[50:121, 58:63] = True
    return mask


def test_tree_measurements():
    m = measure_vessels(tee(), fov_diameter=130)
    print(m)
    # centrelines: 100 + 70 px, minus about half a width at each of the three free ends
    assert m["skeleton_length"] == pytest.approx(170, rel=0.06)
    assert m["branch_points"] == 1 and m["end_points"] == 3
    assert m["mean_width"] == pytest.approx(5, abs=0.6)
    assert m["area_fraction"] == pytest.approx(tee().sum() / tee().size)
    assert m["skeleton_length_per_fov"] == pytest.approx(m["skeleton_length"] / 130)


def test_fov_restricts_and_empty_mask():
    fov = np.zeros((140, 130), bool)
    fov[:, :40] = True  # keeps columns 10-39 of the bar only
    left = measure_vessels(tee(), fov=fov)
    assert 25 < left["skeleton_length"] < 32 and left["area_fraction"] > 0
    empty = measure_vessels(np.zeros((20, 20), bool))
    assert empty["skeleton_length"] == 0 and empty["mean_width"] == 0 and empty["end_points"] == 0


def test_distance_to_background_is_scipys_euclidean_distance_transform():
    from scipy import ndimage

    from unet_core.retina.vessels import distance_to_background

    rng = np.random.default_rng(0)
    for _ in range(40):
        h, w = rng.integers(1, 70, 2)
        mask = rng.random((h, w)) > rng.uniform(0.4, 0.99)
        mask = ndimage.binary_dilation(mask, iterations=int(rng.integers(0, 5)))
        if mask.all():
            mask[rng.integers(h), rng.integers(w)] = False
        ys, xs = np.nonzero(mask)
        want = ndimage.distance_transform_edt(mask)[ys, xs]
        np.testing.assert_allclose(distance_to_background(mask, ys, xs), want, rtol=1e-12)
    assert np.isinf(distance_to_background(np.ones((4, 5), bool), [1], [2])).all()
