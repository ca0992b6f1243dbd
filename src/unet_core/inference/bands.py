"""Prediction of images larger than memory, one band of rows at a time (one slab of slices of
a volume, for a 3-D model).

The image may be lazy (a memory-mapped TIFF or a zarr array): each band is read with enough
rows of real context above and below that its interior matches a whole-image prediction, the
normalisation statistics come from the whole image, and the caller writes each band's
probabilities away before the next is read. Memory is bounded by one band and the tile batch.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from ..base.arrays import read_box
from ..base.events import Partial, Progress
from ..base.jobs import relay
from ..data.preprocess import check_channels
from .predictor import Predictor

#: rows per band; a multiple of the usual TIFF tile and strip sizes
BAND_ROWS = 1024
#: voxels per slab of a volume (slices of H x W), unless given
SLAB_VOXELS = 1 << 25


@dataclass(frozen=True)
class Band:
    """The (classes, rows, W) float32 probabilities of rows ``y0 .. y0 + rows`` of an image
    ((classes, slices, H, W) of slices ``y0 ..`` of a volume)."""

    y0: int
    prob: np.ndarray


def band_halo(predictor: Predictor) -> int:
    """Rows (or slices) of context read before and after each band along the first axis: for
    padded convolutions, which see far beyond the tiles' margin, at least half the receptive
    field, so that a band's joins match a whole-image pass too."""
    model = predictor.model
    g = model.grids[0]
    margin, overlap = (np.atleast_1d(v)[0] for v in (predictor.margin, predictor.overlap))
    need = max(margin, overlap, g)
    if model.padding == "same":
        need = max(need, model.receptive_fields[0] // 2)
    return int(np.ceil(need / g) * g)


def predict_bands(
    predictor: Predictor, image, rows: int | None = None
) -> Generator[Progress | Partial, None, None]:
    """Predict ``image`` (H, W[, C], any array that slices) band by band, at its own scale;
    for a 3-D model a (D, H, W[, C]) volume, slab by slab of ``rows`` slices (default: about
    :data:`SLAB_VOXELS` voxels a slab).

    Yields :class:`Progress` in tiles after each tile batch (counted over the whole image) and
    a :class:`Partial` of each :class:`Band` in turn. Closing the generator stops between tile
    batches.
    """
    model = predictor.model
    nd = model.spatial_dims
    if rows is None:
        rows = BAND_ROWS if nd == 2 else max(1, SLAB_VOXELS // int(np.prod(image.shape[1:3])))
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    check_channels(image, predictor.card.preprocessing.channels, model.in_channels, nd)
    if predictor.card.preprocessing.local_contrast != "none":
        raise ValueError("this model equalises the whole image's contrast first (CLAHE): an "
                         "image too large to load cannot be segmented with it")  # fmt: skip
    H, rest = image.shape[0], tuple(image.shape[1:nd])
    halo = band_halo(predictor)
    norm = predictor.normalizer().fit(image)
    starts = list(range(0, H, rows))
    per_band = [len(predictor.plan((sum(_extent(y0, rows, halo, H)), *rest)).origins())
                for y0 in starts]  # fmt: skip
    total, done = sum(per_band), 0
    yield Progress(0, total, "tiles")
    for y0, n in zip(starts, per_band):
        top, h, bottom = _extent(y0, rows, halo, H)
        band = read_box(image, (y0 - top, *[0] * len(rest)), (top + h + bottom, *rest))
        job = predictor.run_normalized(band, norm)
        prob = yield from relay(job, lambda e, ahead=done: Progress(ahead + e.done, total, "tiles"))
        done += n
        yield Partial(Band(y0, prob[:, top : top + h]))


def _extent(y0: int, rows: int, halo: int, H: int) -> tuple[int, int, int]:
    """(context above, rows, context below) of the band at ``y0``: no context beyond the
    image's edges, where the predictor mirrors the image as it does for a whole-image pass."""
    h = min(rows, H - y0)
    return min(halo, y0), h, min(halo, H - y0 - h)
