"""Augmentation: injected randomness, integer labels, the elastic field."""

import numpy as np
import pytest

from unet_core.data.augment import (
    Augmentation,
    dihedral,
    elastic_field,
    enlarged,
    illumination,
    intensity,
    noise,
    shrunk,
    warp,
)


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


def test_zoom_magnifies_about_the_centre_and_keeps_labels_with_the_image():
    disc = (np.hypot(*np.mgrid[-32:33, -32:33]) <= 10).astype(np.int64)  # radius 10, centred
    image = disc[None].astype(np.float32)
    big_img, big_lab = warp(image, disc, None, zoom=1.5)
    small_img, small_lab = warp(image, disc, None, zoom=1 / 1.5)
    assert big_lab.sum() == pytest.approx(disc.sum() * 1.5**2, rel=0.05)
    assert small_lab.sum() == pytest.approx(disc.sum() / 1.5**2, rel=0.1)
    assert big_lab[32, 32] == 1 and big_lab[32, 32 + 14] == 1 and disc[32, 32 + 14] == 0
    # one transform for both (bicubic and nearest disagree on a few rim pixels at most)
    assert (big_lab != (big_img[0] > 0.5)).sum() <= 0.05 * big_lab.sum()


def test_camera_augmentations_blur_shade_and_zoom_but_labels_stay_labels(pair):
    image, labels = pair
    aug = Augmentation(elastic_p=0.0, dihedral=False, intensity=0.0, scale_jitter=0.3,
                       blur_p=1.0, blur_sigma=2.0, illumination=1.0)  # fmt: skip
    out_img, out_lab = aug(image, labels, np.random.default_rng(3))
    assert out_lab.dtype == np.int64 and set(np.unique(out_lab)) <= {0, 1, 2}
    # blurred: neighbouring pixels differ far less than in the white-noise input
    assert np.abs(np.diff(out_img, axis=-1)).mean() < 0.5 * np.abs(np.diff(image, axis=-1)).mean()
    # off by default: the old recipe's random stream and output are unchanged
    plain = Augmentation(elastic_p=0.0, dihedral=False, intensity=0.0)
    same_img, _ = plain(image, labels, np.random.default_rng(3))
    np.testing.assert_array_equal(same_img, image)


def test_illumination_adds_a_smooth_gradient_of_bounded_size():
    flat = np.zeros((1, 64, 64), np.float32)
    shaded = illumination(flat, np.random.default_rng(1), 0.5)
    assert 0 < np.abs(shaded).max() <= 0.5 * 2 + 1e-6  # ramp (<= a) + radial (<= a)
    assert np.abs(np.diff(shaded, axis=-1)).max() < 0.05  # smooth, no texture added


def test_gray_augmentation_copies_the_green_channel_into_all_three():
    rng = np.random.default_rng(2)
    image = rng.random((3, 30, 40)).astype(np.float32)
    labels = (rng.random((30, 40)) > 0.5).astype(np.int64)
    keep = dict(elastic_p=0.0, dihedral=False, intensity=0.0)
    gray, out_lab = Augmentation(**keep, gray_p=1.0)(image, labels, np.random.default_rng(0))
    for c in range(3):
        np.testing.assert_array_equal(gray[c], image[1])
    np.testing.assert_array_equal(out_lab, labels)
    never, _ = Augmentation(**keep, gray_p=0.0)(image, labels, np.random.default_rng(0))
    np.testing.assert_array_equal(never, image)
    # p = 0.3: about 30 % of the draws
    aug, rng = Augmentation(**keep, gray_p=0.3), np.random.default_rng(1)
    hits = sum(np.array_equal((o := aug(image, labels, rng)[0])[0], o[2]) for _ in range(400))
    assert 90 <= hits <= 150


def test_noise_and_jpeg_degrade_the_image_like_another_sensor_but_not_the_labels():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:64, :64]
    image = np.stack([np.sin(xx / 5.0) + np.cos(yy / 7.0)]).astype(np.float32)  # smooth
    labels = (image[0] > 0).astype(np.int64)
    keep = dict(elastic_p=0.0, dihedral=False, intensity=0.0)
    noisy, lab = Augmentation(**keep, noise=0.3)(image, labels, np.random.default_rng(0))
    residual = noisy - image
    assert noisy.dtype == np.float32 and 0.0 < residual.std() <= 0.3
    assert abs(residual.mean()) < 0.05 and np.array_equal(lab, labels)
    compressed, lab = Augmentation(**keep, jpeg_p=1.0)(image, labels, rng)
    error = np.abs(compressed - image)
    span = image.max() - image.min()
    assert compressed.shape == image.shape and compressed.dtype == np.float32
    assert 0 < error.mean() < 0.05 * span and error.max() < 0.3 * span  # lossy, not destroyed
    assert np.array_equal(lab, labels)
    untouched, _ = Augmentation(**keep, jpeg_p=0.0, noise=0.0)(image, labels, rng)
    np.testing.assert_array_equal(untouched, image)


def test_noise_p_adds_noise_to_that_share_of_the_patches_and_one_keeps_the_old_stream():
    image = np.zeros((1, 32, 32), np.float32)
    labels = np.zeros((32, 32), np.int64)
    keep = dict(elastic_p=0.0, dihedral=False, intensity=0.0, noise=0.2)
    aug, rng = Augmentation(**keep, noise_p=0.3), np.random.default_rng(2)
    clean = sum(not aug(image, labels, rng)[0].any() for _ in range(400))
    assert 240 <= clean <= 320  # about 70 % of the patches untouched
    # noise_p=1 (the default) draws no extra random number: recipes trained before it existed
    # see the same patches
    always = Augmentation(**keep)(image, labels, np.random.default_rng(5))[0]
    np.testing.assert_array_equal(always, noise(image, np.random.default_rng(5), 0.2))
    assert always.std() > 0


def test_coarse_camera_loses_fine_detail_and_adds_its_noise_at_its_own_size():
    """A small photograph enlarged to the model's scale: a pixel-fine pattern is gone, a smooth
    one stays, and the sensor's noise comes in grains as large as the camera's pixels."""
    yy, xx = np.mgrid[:64, :64]
    fine = ((yy + xx) % 2).astype(np.float32)[None]  # a 1-px checkerboard
    smooth = (np.sin(xx / 6.0) + np.cos(yy / 8.0)).astype(np.float32)[None]
    labels = (fine[0] > 0).astype(np.int64)
    keep = dict(elastic_p=0.0, dihedral=False, intensity=0.0)
    aug = Augmentation(**keep, coarse_p=1.0, coarse=2.0)
    out, lab = aug(fine, labels, np.random.default_rng(0))
    assert out.shape == fine.shape and out.dtype == np.float32 and np.array_equal(lab, labels)
    # the factor is drawn (1 to 2x); at 2x a pixel-fine pattern is gone, at 1.6x mostly
    for factor, kept in ((2.0, 0.05), (1.6, 0.3)):
        back = enlarged(shrunk(fine, factor), fine.shape[-2:])
        assert back.shape == fine.shape and back[:, 8:-8, 8:-8].std() < kept * fine.std()
    with pytest.raises(ValueError, match="coarse .* must be >= 1"):
        Augmentation(coarse=0.5)
    out = aug(smooth, labels, np.random.default_rng(0))[0]
    assert np.abs(out - smooth)[:, 4:-4, 4:-4].max() < 0.1 * np.ptp(smooth)
    zeros = np.zeros((1, 64, 64), np.float32)
    grains = Augmentation(**keep, coarse_p=1.0, coarse=2.0, noise=0.3)
    plain = Augmentation(**keep, noise=0.3)

    def neighbours(x):  # correlation of horizontally adjacent pixels
        return np.corrcoef(x[0, :, :-1].ravel(), x[0, :, 1:].ravel())[0, 1]

    rng = np.random.default_rng(1)
    assert np.mean([neighbours(grains(zeros, labels, rng)[0]) for _ in range(5)]) > 0.4
    assert abs(np.mean([neighbours(plain(zeros, labels, rng)[0]) for _ in range(5)])) < 0.1
    half = Augmentation(**keep, coarse_p=0.5, coarse=2.0)
    changed = sum(not np.array_equal(half(fine, labels, rng)[0], fine) for _ in range(200))
    assert 70 <= changed <= 130


def test_colour_augmentation_mixes_and_bends_the_channels_of_colour_patches_only():
    """Issue 35: another sensor's colours (per-channel gammas, crosstalk) for a colour model;
    each channel comes out z-scored as the model's input is, a gray patch as it was."""
    rng = np.random.default_rng(3)
    image = rng.normal(0, 1, (3, 40, 50)).astype(np.float32)
    image[1] += image[0]  # channels that differ in what they show
    labels = (rng.random((40, 50)) > 0.5).astype(np.int64)
    keep = dict(elastic_p=0.0, dihedral=False, intensity=0.0)
    out, out_lab = Augmentation(**keep, colour=1.0)(image, labels, np.random.default_rng(0))
    np.testing.assert_array_equal(out_lab, labels)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2)), 1, atol=1e-4)
    before = np.corrcoef(image.reshape(3, -1))
    after = np.corrcoef(out.reshape(3, -1))
    assert after[0, 2] > before[0, 2] + 0.02  # crosstalk: the channels share more
    assert not np.allclose(out[0], (image[0] - image[0].mean()) / image[0].std(), atol=0.05)
    gray = image[:1]
    same, _ = Augmentation(**keep, colour=1.0)(gray, labels, np.random.default_rng(0))
    np.testing.assert_array_equal(same, gray)
