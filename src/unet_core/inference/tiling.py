"""Overlap-tile geometry (Ronneberger et al. 2015, Fig. 2): pure functions, no torch.

Coordinates are in image pixels. A tile is described by the origin of its *output* window; its
input window starts ``context`` pixels earlier (half the network's margin) and is filled by
mirroring the image where it reaches past the border.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

import numpy as np


def plan_axis(
    length: int, max_out: int, overlap: int, grid: int, min_out: int
) -> tuple[int, list[int]]:
    """Tile output size and origins covering ``0..length`` along one axis.

    Every tile has the same output size ``out``, with ``out - overlap`` a multiple of ``grid``, so
    that origins ``k * (out - overlap)`` sit on the grid; the tile is the largest allowed that
    covers ``length`` with the fewest tiles, and no larger than needed (little wasted work).

    Returns
    -------
    out, starts
    """
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    step_max = (max_out - overlap) // grid * grid
    step_min = max(grid, math.ceil((min_out - overlap) / grid) * grid)
    if step_max < step_min:
        raise ValueError(f"tile output {max_out} is smaller than the smallest tile {min_out}")
    n = max(1, math.ceil((length - overlap) / step_max))
    step = max(step_min, math.ceil(math.ceil((length - overlap) / n) / grid) * grid)
    return step + overlap, [i * step for i in range(n)]


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles of one image go.

    Attributes
    ----------
    shape : (H, W) of the image.
    tile_in : (h, w) input size of every tile.
    tile_out : (h, w) output size of every tile.
    context : input pixels before the output origin (the network's margin // 2).
    ys, xs : output origins along each axis.
    overlap : output pixels neighbouring tiles share (blended by the padded network).
    """

    shape: tuple[int, int]
    tile_in: tuple[int, int]
    tile_out: tuple[int, int]
    context: int
    ys: tuple[int, ...]
    xs: tuple[int, ...]
    overlap: int = 0

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)

    def origins(self) -> list[tuple[int, int]]:
        """Output origins (y, x) of all tiles, row by row."""
        return list(product(self.ys, self.xs))

    def input_window(self, y: int, x: int) -> tuple[int, int, int, int]:
        """(y0, x0, h, w) of the input window of the tile whose output starts at (y, x)."""
        return y - self.context, x - self.context, self.tile_in[0], self.tile_in[1]

    def output_slices(self, y: int, x: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
        """(image slices, tile slices) of the part of a tile's output inside the image."""
        h = min(self.tile_out[0], self.shape[0] - y)
        w = min(self.tile_out[1], self.shape[1] - x)
        return (slice(y, y + h), slice(x, x + w)), (slice(0, h), slice(0, w))


def make_grid(
    shape: tuple[int, int],
    max_out: tuple[int, int],
    *,
    margin: int,
    overlap: int,
    grid: int,
    min_out: int,
) -> TileGrid:
    """Plan both axes of an image: see :func:`plan_axis`."""
    (oh, ys), (ow, xs) = (plan_axis(n, m, overlap, grid, min_out) for n, m in zip(shape, max_out))
    return TileGrid(
        shape=(int(shape[0]), int(shape[1])),
        tile_in=(oh + margin, ow + margin),
        tile_out=(oh, ow),
        context=margin // 2,
        ys=tuple(ys),
        xs=tuple(xs),
        overlap=overlap,
    )


def ramp_weights(n: int, overlap: int) -> np.ndarray:
    """Blending weights (float32, length ``n``) along one axis of a tile's output.

    1 in the middle and a linear ramp across ``overlap`` pixels at each end, so that the weights of
    two tiles overlapping by ``overlap`` sum to exactly 1; never 0, so a pixel covered by one tile
    only is still normalised. The 2-D window is the outer product of two of these.
    """
    i = np.arange(n, dtype=np.float32) + 0.5
    if overlap <= 0:
        return np.ones(n, np.float32)
    return np.minimum(1.0, np.minimum(i, n - i) / overlap).astype(np.float32)


def coverage(
    length: int, starts: list[int] | tuple[int, ...], out: int, overlap: int
) -> np.ndarray:
    """Sum of the tiles' ramp weights at each position of an axis of ``length`` (float32)."""
    total = np.zeros(length, np.float32)
    w = ramp_weights(out, overlap)
    for s in starts:
        n = min(out, length - s)
        total[s : s + n] += w[:n]
    return total
