"""Images too large to load: their shape without reading them, and lazy arrays over TIFFs.

An uncompressed TIFF is memory-mapped (``tifffile.memmap``); a compressed or tiled one is read
through tifffile's zarr store, which decodes only the tiles or strips a slice touches. Either
way ``image[y0:y1, x0:x1]`` reads that window and no more.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from .io import TIFF_SUFFIXES, ImageReadError


def image_shape(path: str | os.PathLike) -> tuple[int, ...] | None:
    """Shape of a TIFF's first series (squeezed) without reading its pixels; None for other
    file types or files tifffile cannot parse (the full reader then reports why)."""
    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return None
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            shape = tif.series[0].shape
    except Exception:
        return None
    return tuple(n for n in shape if n != 1) or (1, 1)


class ChannelLast:
    """A (C, H, W) lazy array seen as (H, W, C)."""

    def __init__(self, array):
        self.array = array
        c, h, w = array.shape
        self.shape, self.dtype, self.ndim = (h, w, c), array.dtype, 3

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        ys, xs = (tuple(key) + (slice(None), slice(None)))[:2]
        return np.moveaxis(np.asarray(self.array[:, ys, xs]), 0, -1)


class Squeezed:
    """A lazy array with its singleton axes dropped (e.g. (1, H, W, 1) -> (H, W))."""

    def __init__(self, array):
        self.array = array
        self.keep = [i for i, n in enumerate(array.shape) if n != 1]
        self.shape = tuple(array.shape[i] for i in self.keep)
        self.dtype, self.ndim = array.dtype, len(self.shape)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        full: list = [0] * len(self.array.shape)
        for k, i in enumerate(self.keep):
            full[i] = key[k] if k < len(key) else slice(None)
        return np.asarray(self.array[tuple(full)])


def open_lazy(path: str | os.PathLike, volume: bool = False):
    """A lazily read (H, W) or (H, W, C) view of a 2-D TIFF image, or with ``volume`` a
    (D, H, W[, C]) view of a TIFF stack (ImageReadError if not)."""
    import tifffile

    path = Path(path)
    array = None
    with contextlib.suppress(ValueError, OSError):
        array = tifffile.memmap(path, mode="r")  # uncompressed and contiguous
    if array is None:
        import zarr

        try:
            array = zarr.open(tifffile.imread(path, aszarr=True), mode="r")
        except Exception as exc:
            raise ImageReadError(f"{path.name}: cannot be read lazily ({exc})") from exc
    if any(n == 1 for n in array.shape) and array.ndim > 2:
        array = Squeezed(array)
    if volume:
        if not (array.ndim == 3 or (array.ndim == 4 and array.shape[-1] <= 4)):
            raise ImageReadError(f"{path.name}: expected a volume, got shape {array.shape}")
        return array
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[-1] > 4:
        array = ChannelLast(array)
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] <= 4)):
        raise ImageReadError(f"{path.name}: expected a 2-D image, got shape {array.shape}")
    return array
