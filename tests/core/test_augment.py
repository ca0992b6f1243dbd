"""Augmentation: injected randomness, integer labels, the elastic field."""

import numpy as np
import pytest

from unet_core.data.augment import Augmentation, dihedral, elastic_field, intensity, warp


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    image = rng.random((2, 40, 50)).astype(np.float32)
    labels = (rng.random((40, 50)) * 3).astype(np.int64)
    return image, labels


def test_same_generator_state_gives_identical_arrays(pair):
    aug = Augmentation(elastic_p=1.0)
    a = aug(*pair, np.random.default_rng(5))
    b = aug(*pair, np.random.default_rng(5))
    c = aug(*pair, np.random.default_rng(6))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_labels_stay_integer_and_in_their_set(pair):
    image, labels = Augmentation(elastic_p=1.0)(*pair, np.random.default_rng(1))
    assert labels.dtype == np.int64 and set(np.unique(labels)) <= {0, 1, 2}
    assert image.dtype == np.float32 and image.shape in ((2, 40, 50), (2, 50, 40))


def test_elastic_field_is_smooth_and_sized_like_the_paper():
    field = elastic_field((200, 200), np.random.default_rng(0), sigma=10, grid=3)
    assert field.shape == (2, 200, 200)
    # bicubic interpolation of a 3 x 3 grid: neighbouring pixels move almost together
    assert np.abs(np.diff(field, axis=1)).max() < 1.0
    fields = np.stack([elastic_field((9, 9), np.random.default_rng(s)) for s in range(300)])
    assert fields[:, :, ::4, ::4].std() == pytest.approx(10, rel=0.1)  # grid nodes ~ N(0, 10)


def test_zero_field_is_identity_and_one_field_moves_image_and_labels_together(pair):
    image, labels = pair
    same_img, same_lab = warp(image, labels, np.zeros((2, 40, 50), np.float32))
    np.testing.assert_allclose(same_img, image, atol=1e-5)
    np.testing.assert_array_equal(same_lab, labels)
    shift = np.zeros((2, 40, 50), np.float32)
    shift[1] = 3.0  # sample 3 pixels to the right
    moved_img, moved_lab = warp(image, labels, shift)
    np.testing.assert_allclose(moved_img[:, :, :-3], image[:, :, 3:], atol=1e-5)
    np.testing.assert_array_equal(moved_lab[:, :-3], labels[:, 3:])


def test_dihedral_covers_eight_distinct_transforms(pair):
    image, labels = pair[0][:, :40, :40], pair[1][:40, :40]
    outs = {dihedral(image, labels, k)[1].tobytes() for k in range(8)}
    assert len(outs) == 8


def test_intensity_is_off_at_zero_strength(pair):
    image = pair[0]
    assert intensity(image, np.random.default_rng(0), 0.0) is image
    assert not np.allclose(intensity(image, np.random.default_rng(0), 1.0), image)
