"""Image reading and writing: TIFF (LZW, 8/16-bit, gray/RGB), PNG, JPEG, GIF, bad files."""

import numpy as np
import pytest
import tifffile
from PIL import Image

from unet_core import ImageReadError, read_image, write_tiff
from unet_core.data.io import write_png


@pytest.fixture
def gray():
    return (np.arange(40 * 30).reshape(40, 30) % 251).astype(np.uint8)


@pytest.mark.parametrize("compression", [None, "lzw", "zlib"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_tiff_round_trip(tmp_path, gray, compression, dtype):
    data = gray.astype(dtype) * (257 if dtype == np.uint16 else 1)
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, data, compression=compression)
    out = read_image(path)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, data)


def test_rgb_lzw_tiff_and_channel_first(tmp_path, gray):
    rgb = np.stack([gray, gray // 2, 255 - gray], -1)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, compression="lzw", photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.tif"), rgb)
    planar = np.moveaxis(rgb, -1, 0)
    tifffile.imwrite(tmp_path / "cf.tif", planar, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_image(tmp_path / "cf.tif"), rgb)
    tifffile.imwrite(tmp_path / "planes.tif", planar, photometric="minisblack")
    np.testing.assert_array_equal(read_image(tmp_path / "planes.tif"), planar)


def test_png_jpeg_gif(tmp_path, gray):
    write_png(tmp_path / "a.png", gray)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), gray)
    Image.fromarray(gray).save(tmp_path / "a.jpg", quality=95)
    assert np.abs(read_image(tmp_path / "a.jpg").astype(int) - gray).mean() < 3
    # a palette GIF with a gray palette reads as gray; {0, 255} masks keep their values
    mask = np.where(gray > 100, 255, 0).astype(np.uint8)
    Image.fromarray(mask).convert("P").save(tmp_path / "m.gif")
    out = read_image(tmp_path / "m.gif")
    assert out.ndim == 2
    np.testing.assert_array_equal(out, mask)
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).convert("P").save(tmp_path / "c.gif")
    assert read_image(tmp_path / "c.gif").shape == (10, 10, 3)


def test_write_tiff_is_atomic_and_readable(tmp_path, gray):
    path = write_tiff(tmp_path / "sub" / "m.tif", gray)
    np.testing.assert_array_equal(read_image(path), gray)
    assert [p.name for p in path.parent.iterdir()] == ["m.tif"]  # no temporary left behind


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("empty.tif", b"", "empty"),
        ("junk.png", b"this is not a png", "cannot be read"),
        ("notes.txt", b"hello", "not a supported image type"),
    ],
)
def test_bad_files_give_one_line_reasons(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=match) as err:
        read_image(path)
    assert "\n" not in str(err.value) and name in str(err.value)


def test_truncated_tiff(tmp_path, gray):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, np.tile(gray, (20, 20)), compression="lzw")
    path.write_bytes(path.read_bytes()[:400])
    with pytest.raises(ImageReadError, match="t.tif"):
        read_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.tif")


def test_real_drive_lzw_tiff_and_gif(shared_data):
    image = read_image(shared_data / "drive/training/images/21_training.tif")
    assert image.shape == (584, 565, 3) and image.dtype == np.uint8
    label = read_image(shared_data / "drive/training/1st_manual/21_manual1.gif")
    assert label.shape == (584, 565) and set(np.unique(label)) == {0, 255}
    em = read_image(shared_data / "isbi2012/train/images/00.png")
    assert em.shape == (512, 512)


def test_written_files_get_the_usual_permissions_not_the_temp_files_0600(tmp_path):
    import os
    import stat

    from unet_core.data.io import write_tiff

    mask = os.umask(0o022)
    try:
        path = write_tiff(tmp_path / "m.tif", np.zeros((4, 4), np.uint8))
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
