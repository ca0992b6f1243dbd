"""Pure tiling geometry: mirror padding, tile plans, blending weights."""

import numpy as np
import pytest

from unet_core.base.arrays import mirror_indices, read_window
from unet_core.inference.tiling import coverage, make_grid, plan_axis, ramp_weights


def test_mirror_indices_reflect_without_repeating_the_edge():
    assert mirror_indices(4, -3, 7).tolist() == [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
    assert mirror_indices(1, -2, 3).tolist() == [0, 0, 0, 0, 0]
    # the same as numpy's reflect padding, also when the pad exceeds the axis
    a = np.arange(5)
    np.testing.assert_array_equal(a[mirror_indices(5, -12, 17)], np.pad(a, (12, 12), "reflect"))


def test_read_window_inside_is_a_view_and_outside_is_mirrored():
    image = np.arange(30).reshape(5, 6)
    inside = read_window(image, 1, 2, 3, 3)
    assert np.shares_memory(inside, image)
    np.testing.assert_array_equal(read_window(image, -2, -2, 9, 10), np.pad(image, 2, "reflect"))
    rgb = np.stack([image] * 3, -1)
    assert read_window(rgb, -4, 3, 10, 8).shape == (10, 8, 3)


@pytest.mark.parametrize("length", [1, 5, 16, 100, 388, 389, 1000, 4099])
@pytest.mark.parametrize(
    ("max_out", "overlap", "grid", "min_out"), [(388, 4, 16, 4), (96, 16, 16, 16)]
)
def test_plan_axis_covers_the_axis_on_the_grid(length, max_out, overlap, grid, min_out):
    out, starts = plan_axis(length, max_out, overlap, grid, min_out)
    assert min_out <= out <= max_out
    assert (out - overlap) % grid == 0
    assert starts[0] == 0 and all(s % grid == 0 for s in starts)
    assert starts[-1] + out >= length  # covered
    assert all(b - a == out - overlap for a, b in zip(starts, starts[1:]))
    # no wasted tile: the last but one tile does not already reach the end
    if len(starts) > 1:
        assert starts[-2] + out < length


def test_plan_axis_fits_the_tile_to_the_image():
    out, starts = plan_axis(565, 388, 4, 16, 4)  # two tiles, not a 388 tile and a mostly empty one
    assert len(starts) == 2 and out == 292 and starts[-1] + out - 565 < 16


def test_plan_axis_rejects_too_small_tiles():
    with pytest.raises(ValueError, match="smallest tile"):
        plan_axis(100, 3, 4, 16, 4)


def test_make_grid_windows():
    grid = make_grid((300, 200), (100, 100), margin=88, overlap=4, grid=8, min_out=4)
    assert grid.tile_in == (grid.tile_out[0] + 88, grid.tile_out[1] + 88)
    y, x = grid.origins()[-1]
    assert grid.input_window(y, x)[:2] == (y - 44, x - 44)
    (iy, ix), (ty, tx) = grid.output_slices(y, x)
    assert iy.stop == 300 and ix.stop == 200
    assert ty.stop - ty.start == iy.stop - iy.start
    assert len(grid) == len(grid.starts[0]) * len(grid.starts[1])


def test_ramp_weights_of_overlapping_tiles_sum_to_one():
    out, overlap = 48, 16
    w = ramp_weights(out, overlap)
    assert w.min() > 0 and w.max() == 1
    np.testing.assert_allclose(w[-overlap:] + w[:overlap], 1.0, atol=1e-6)
    total = coverage(200, [0, 32, 64, 96, 128, 160], out, overlap)
    np.testing.assert_allclose(total[overlap:150], 1.0, atol=1e-6)
    assert np.all(total > 0)
