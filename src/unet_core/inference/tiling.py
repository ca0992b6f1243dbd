"""Overlap-tile geometry (Ronneberger et al. 2015, Fig. 2) over N spatial axes: pure
functions, no torch.

Coordinates are in image pixels. A tile is described by the origin of its *output* window; its
input window starts ``context`` pixels earlier (half the network's margin) and is filled by
mirroring the image where it reaches past the border.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

import numpy as np

from ..base.arrays import Sizes, axes_of


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
    """Where the tiles of one image go, over any number of spatial axes (2 for an image, 3
    for a volume).

    Attributes
    ----------
    shape : the image's spatial shape, (H, W) or (D, H, W).
    tile_in : input size of every tile, per axis.
    tile_out : output size of every tile, per axis.
    context : input pixels before the output origin (the network's margin // 2), the same on
        every axis or one per axis (a volume's z axis may need less).
    starts : output origins along each axis.
    overlap : output pixels neighbouring tiles share (blended by the padded network), once or
        per axis.
    """

    shape: tuple[int, ...]
    tile_in: tuple[int, ...]
    tile_out: tuple[int, ...]
    context: Sizes
    starts: tuple[tuple[int, ...], ...]
    overlap: Sizes = 0

    @property
    def contexts(self) -> tuple[int, ...]:
        return axes_of(self.context, self.ndim)

    @property
    def overlaps(self) -> tuple[int, ...]:
        return axes_of(self.overlap, self.ndim)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return math.prod(len(s) for s in self.starts)

    def origins(self) -> list[tuple[int, ...]]:
        """Output origins of all tiles, the last axis fastest (row by row for an image)."""
        return list(product(*self.starts))

    def input_window(self, *origin: int) -> tuple[int, ...]:
        """(starts..., sizes...) of the input window of the tile whose output starts at
        ``origin``: ``(y0, x0, h, w)`` for an image."""
        return (*(o - c for o, c in zip(origin, self.contexts)), *self.tile_in)

    def output_slices(self, *origin: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
        """(image slices, tile slices) of the part of a tile's output inside the image."""
        sizes = [min(t, n - o) for o, t, n in zip(origin, self.tile_out, self.shape)]
        image = tuple(slice(o, o + s) for o, s in zip(origin, sizes))
        return image, tuple(slice(0, s) for s in sizes)


def make_grid(
    shape: tuple[int, ...],
    max_out: tuple[int, ...],
    *,
    margin: Sizes,
    overlap: Sizes,
    grid: Sizes,
    min_out: Sizes,
) -> TileGrid:
    """Plan every axis of an image or volume: see :func:`plan_axis`. ``margin``, ``overlap``,
    ``grid`` and ``min_out`` are the same on every axis or given per axis."""
    if len(shape) != len(max_out):
        raise ValueError(f"max_out {max_out} must give a size per axis of {shape}")
    nd = len(shape)
    margins, overlaps = axes_of(margin, nd), axes_of(overlap, nd)
    axes = [plan_axis(n, m, o, g, mo) for n, m, o, g, mo in
            zip(shape, max_out, overlaps, axes_of(grid, nd), axes_of(min_out, nd))]  # fmt: skip
    same = isinstance(margin, (int, np.integer))
    return TileGrid(
        shape=tuple(int(n) for n in shape),
        tile_in=tuple(out + m for (out, _), m in zip(axes, margins)),
        tile_out=tuple(out for out, _ in axes),
        context=int(margin) // 2 if same else tuple(m // 2 for m in margins),
        starts=tuple(tuple(starts) for _, starts in axes),
        overlap=overlap if isinstance(overlap, (int, np.integer)) else overlaps,
    )


def ramp_weights(n: int, overlap: int) -> np.ndarray:
    """Blending weights (float32, length ``n``) along one axis of a tile's output.

    1 in the middle and a linear ramp across ``overlap`` pixels at each end, so that the weights of
    two tiles overlapping by ``overlap`` sum to exactly 1; never 0, so a pixel covered by one tile
    only is still normalised. A tile's window is the outer product of one per axis
    (:func:`ramp_window`).
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


def ramp_window(tile_out: tuple[int, ...], overlap: Sizes) -> np.ndarray:
    """A tile's blending weights: the outer product of :func:`ramp_weights` along each axis
    (``overlap`` once or per axis)."""
    window = np.ones((), np.float32)
    for n, o in zip(tile_out, axes_of(overlap, len(tile_out))):
        window = np.multiply.outer(window, ramp_weights(n, o))
    return window.astype(np.float32, copy=False)
