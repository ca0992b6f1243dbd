"""The sliding window: overlap-tile prediction of an already normalised array by any callable.

It knows the tiles' geometry (:mod:`.tiling`), mirror padding, the batching of tiles, blending
and what to do when memory runs out, and nothing of images, models or preprocessing: the array
is (channels, *spatial) float32 with any number of spatial axes (2 for an image, 3 for a
volume), and ``forward`` maps a batch of input tiles (B, channels, *tile_in) to output tiles
(B, classes, *tile_out) (:data:`Forward`). :class:`~.predictor.Predictor` builds one from a network.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace

import numpy as np

from ..base.arrays import Sizes, axes_of, read_box
from ..base.events import Progress
from .tiling import TileGrid, coverage, make_grid, ramp_window

log = logging.getLogger(__name__)

#: (tiles (B, channels, *tile_in) float32, tile_out) -> (B, classes, *tile_out) float32, the
#: centre of the network's output; raises MemoryError when the batch does not fit
Forward = Callable[[np.ndarray, tuple[int, ...]], np.ndarray]


@dataclass(frozen=True)
class SlidingWindow:
    """How an array is cut into tiles, and the loop that predicts them.

    Attributes
    ----------
    tile : input tile edge, a size the network accepts.
    margin : input pixels that a tile's output lacks (context on both sides).
    overlap : output pixels that neighbouring tiles share.
    grid : the network's pooling multiple: tile origins sit on it.
    min_out : the smallest output edge the network gives.
    (Each of these five is one size for every axis, or a tuple, one per axis: a volume's.)
    blend : blend overlapping outputs with linear ramps (padded networks); otherwise overwrite
        (a valid network's overlapping outputs are identical).
    batch_size : tiles per call of ``forward``.
    one_tile : (margin, overlap) to use instead where one tile covers the whole array.
    accept : the largest input edge the network accepts at or below a size: used to halve the
        tile when even one tile runs out of memory (None: not retried).
    note : what a user should know of the window, one line ("": nothing), e.g. that the tile
        asked for was below the network's smallest.
    """

    tile: Sizes
    margin: Sizes
    overlap: Sizes
    grid: Sizes
    min_out: Sizes
    blend: bool
    batch_size: int = 1
    one_tile: tuple[Sizes, Sizes] | None = None
    accept: Callable[[Sizes], Sizes] | None = None
    note: str = ""

    def plan(self, shape: tuple[int, ...]) -> TileGrid:
        """The tile grid for an array of spatial ``shape``."""
        if self.one_tile is not None:
            one = self._grid(shape, *self.one_tile)
            if len(one) == 1:
                return one
        return self._grid(shape, self.margin, self.overlap)

    def _grid(self, shape: tuple[int, ...], margin: Sizes, overlap: Sizes) -> TileGrid:
        nd = len(shape)
        edges = tuple(t - m for t, m in zip(axes_of(self.tile, nd), axes_of(margin, nd)))
        return make_grid(shape, edges, margin=margin, overlap=overlap, grid=self.grid,
                         min_out=self.min_out)  # fmt: skip

    def run(
        self, forward: Forward, array: np.ndarray, classes: int, out: np.ndarray | None = None
    ) -> Generator[Progress, None, np.ndarray]:
        """Predict ``array`` (channels, *spatial) float32, or anything with a ``shape`` that
        slices like one (read box by box: a lazy image is never read whole), into ``out``
        (classes, *spatial) float32 (allocated when None), yielding :class:`Progress` in tiles
        after each batch."""
        spatial = tuple(array.shape[1:])
        out = output_array(out, (classes, *spatial))
        grid = self.plan(spatial)
        window = ramp_window(grid.tile_out, grid.overlap) if self.blend else None
        origins = grid.origins()
        total = len(origins)
        log.debug("predicting %s in %d tiles of %s", spatial, total, grid.tile_in)
        yield Progress(0, total, "tiles")
        for first in range(0, total, self.batch_size):
            batch = origins[first : first + self.batch_size]
            starts_sizes = [grid.input_window(*origin) for origin in batch]
            tiles = [read_box(array, w[: grid.ndim], w[grid.ndim :], first=1) for w in starts_sizes]
            smaller = None
            try:
                probs = forward(np.stack(tiles), grid.tile_out)
            except MemoryError as exc:  # again, in smaller pieces, once the failure is let go
                smaller = self.smaller(exc)
            if smaller is not None:
                return (yield from smaller.run(forward, array, classes, out))
            for origin, p in zip(batch, probs):
                inside, part = grid.output_slices(*origin)
                if window is None:
                    out[(slice(None), *inside)] = p[(slice(None), *part)]
                else:
                    out[(slice(None), *inside)] += p[(slice(None), *part)] * window[part]
            yield Progress(first + len(batch), total, "tiles")
        if window is not None:
            divide_by_coverage(out, grid)
        return out

    def smaller(self, exc: MemoryError) -> SlidingWindow:
        """After running out of memory: half the tiles per batch, or half the tile edge; the
        error itself (one line) when the tile is already the smallest."""
        if self.batch_size > 1:
            smaller = replace(self, batch_size=self.batch_size // 2)
            what = f"{smaller.batch_size} tile(s) at a time"
        else:
            half = (self.tile // 2 if isinstance(self.tile, int)
                    else tuple(t // 2 for t in self.tile))  # fmt: skip
            edge = self.accept(half) if self.accept is not None else self.tile
            if np.all(np.asarray(edge) >= np.asarray(self.tile)):
                raise MemoryError(f"out of memory even with one tile of {self.tile} px "
                                  f"({exc})") from None  # fmt: skip
            smaller, what = replace(self, tile=edge), f"tiles of {edge} px"
        log.warning("out of memory: trying again with %s", what)
        return smaller


def output_array(out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """``out`` zeroed, checked to be float32 of ``shape``; a new array when None."""
    if out is None:
        return np.zeros(shape, np.float32)
    if tuple(out.shape) != tuple(shape) or out.dtype != np.float32:
        raise ValueError(f"out must be float32 of shape {shape}, got {out.dtype} {out.shape}")
    out[...] = 0
    return out


def divide_by_coverage(out: np.ndarray, grid: TileGrid, rows: int = 256) -> None:
    """Divide blended sums (classes, *spatial) by the tiles' total weight, in slabs of
    ``rows`` along the first spatial axis."""
    per_axis = [coverage(n, s, t, o)
                for n, s, t, o in zip(grid.shape, grid.starts, grid.tile_out,
                                      grid.overlaps)]  # fmt: skip
    rest = np.ones((), np.float32)
    for c in per_axis[1:]:
        rest = np.multiply.outer(rest, 1.0 / c)
    for y0 in range(0, grid.shape[0], rows):
        slab = slice(y0, y0 + rows)
        first = (1.0 / per_axis[0][slab]).reshape(-1, *([1] * (grid.ndim - 1)))
        out[:, slab] *= rest[None] * first[None]
